"""Facts from Azure's REST answers (the live audit of Azure environments), through the Pulumi
adapter: an ARM resource's JSON is close to the azure-native inputs of the same resource, so each
answer is mapped to those inputs (`*_resource`: a `PulumiResource` of the azure-native type) and
read by `keyplane.adapters.pulumi.facts_from_resource`. There is one reader of Azure's key, vault,
role, diagnostic, storage and alert shapes, and the preview, checkov and the audit judge alike.

What differs from the inputs, and is mapped here:
- the resource's ARM ID is its URN (the audit's findings name ARM IDs, as AWS's name ARNs) and one
  of its identifiers (`id`), so role assignment scopes and diagnostic targets resolve to it;
- `properties` of storage accounts, alerts and immutability policies are flattened (azure-native
  takes them at the top level); key and secret attributes say `exp`/`nbf` on the wire and
  `expires`/`notBefore` as inputs;
- `protect` is UNKNOWN: Pulumi's protect option lives in the stack state, not in Azure;
- Key Vault certificates have no azure-native resource: `certificate_facts` builds their facts
  from the certificate policy (`GET {vault}/certificates/{name}/policy`, data plane).

Pure: no I/O and no Azure SDK import (the collector, `keyplane.engines.audit.azure`, reads).
Shapes: https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/get and the sibling pages
(keys, secrets, managed-hsms), authorization role-assignments/role-definitions, monitor
diagnostic-settings, activity-log-alerts and scheduled-query-rules, storage blob-containers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource
from keyplane.facts.model import Certificate, Facts
from keyplane.facts.values import UNKNOWN, Maybe, Unknown
from keyplane.standard import Cloud

#: Azure Monitor writes each resource-log category a diagnostic setting sends to a storage account
#: to a container of its own, `insights-logs-<category>`: a vault's `AuditEvent` logs to this one
#: (https://learn.microsoft.com/azure/azure-monitor/essentials/resource-logs#send-to-azure-storage).
#: The components create it with its immutability policy; the audit reads that policy
#: (KM-LOG-002).
AUDIT_LOG_CONTAINER = "insights-logs-auditevent"

__all__ = [
    "ACTIVITY_ALERT_TYPE",
    "CERTIFICATE_TYPE",
    "DIAGNOSTIC_TYPE",
    "IMMUTABILITY_TYPE",
    "KEY_TYPE",
    "MANAGED_HSM_TYPE",
    "QUERY_ALERT_TYPE",
    "ROLE_ASSIGNMENT_TYPE",
    "ROLE_DEFINITION_TYPE",
    "SECRET_TYPE",
    "STORAGE_ACCOUNT_TYPE",
    "VAULT_TYPE",
    "activity_alert_resource",
    "arm_facts",
    "certificate_facts",
    "diagnostic_resource",
    "immutability_resource",
    "key_resource",
    "managed_hsm_resource",
    "query_alert_resource",
    "resource_group_of",
    "role_assignment_resource",
    "role_definition_resource",
    "secret_resource",
    "storage_account_resource",
    "timestamp",
    "vault_resource",
]

VAULT_TYPE = "azure-native:keyvault:Vault"
MANAGED_HSM_TYPE = "azure-native:keyvault:ManagedHsm"
KEY_TYPE = "azure-native:keyvault:Key"
SECRET_TYPE = "azure-native:keyvault:Secret"
ROLE_ASSIGNMENT_TYPE = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION_TYPE = "azure-native:authorization:RoleDefinition"
DIAGNOSTIC_TYPE = "azure-native:monitor:DiagnosticSetting"
STORAGE_ACCOUNT_TYPE = "azure-native:storage:StorageAccount"
IMMUTABILITY_TYPE = "azure-native:storage:BlobContainerImmutabilityPolicy"
ACTIVITY_ALERT_TYPE = "azure-native:monitor:ActivityLogAlert"
QUERY_ALERT_TYPE = "azure-native:monitor:ScheduledQueryRule"
#: Key Vault certificates have no azure-native type; named like the others for the report.
CERTIFICATE_TYPE = "azure:keyvault:Certificate"


def _props(arm: Mapping[str, Any]) -> dict[str, Any]:
    found = arm.get("properties")
    return dict(found) if isinstance(found, Mapping) else {}


def _id(arm: Mapping[str, Any]) -> str:
    return str(arm.get("id") or arm.get("name") or "")


def resource_group_of(arm_id: str) -> str | None:
    """The resource group an ARM ID names (`/subscriptions/s/resourceGroups/<rg>/...`)."""
    parts = arm_id.split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered:
        at = lowered.index("resourcegroups")
        if at + 1 < len(parts):
            return parts[at + 1]
    return None


def _segment(arm_id: str, kind: str) -> str | None:
    """The name after `kind` in an ARM ID (`vaults` -> the vault's name)."""
    parts = arm_id.split("/")
    lowered = [p.lower() for p in parts]
    if kind.lower() in lowered:
        at = lowered.index(kind.lower())
        if at + 1 < len(parts):
            return parts[at + 1]
    return None


def _resource(
    type_: str, arm: Mapping[str, Any], name: str, inputs: dict[str, Any]
) -> PulumiResource:
    arm_id = _id(arm)
    group = resource_group_of(arm_id)
    if group is not None:
        inputs.setdefault("resourceGroupName", group)
    inputs.setdefault("id", arm_id)
    if isinstance(arm.get("tags"), Mapping):
        inputs.setdefault("tags", dict(arm["tags"]))
    return PulumiResource(type=type_, name=name, urn=arm_id, inputs=inputs)


def _attributes(attributes: Any) -> dict[str, Any]:
    """Key and secret attributes with azure-native's input names (`exp` -> `expires`)."""
    if not isinstance(attributes, Mapping):
        return {}
    renames = {"exp": "expires", "nbf": "notBefore"}
    return {renames.get(str(k), str(k)): v for k, v in attributes.items()}


def vault_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """`GET .../providers/Microsoft.KeyVault/vaults/{name}` as an azure-native Vault."""
    name = str(arm.get("name") or "")
    return _resource(
        VAULT_TYPE,
        arm,
        name,
        {"vaultName": name, "location": arm.get("location"), "properties": _props(arm)},
    )


def managed_hsm_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """`GET .../providers/Microsoft.KeyVault/managedHSMs/{name}` as an azure-native ManagedHsm."""
    name = str(arm.get("name") or "")
    return _resource(
        MANAGED_HSM_TYPE,
        arm,
        name,
        {
            "name": name,
            "location": arm.get("location"),
            "sku": arm.get("sku"),
            "properties": _props(arm),
        },
    )


def key_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """`GET .../vaults/{vault}/keys/{name}` (management plane: type, size or curve, operations,
    attributes and rotation policy) as an azure-native Key; `vaultName` from its ID."""
    name = str(arm.get("name") or "")
    properties = _props(arm)
    properties["attributes"] = _attributes(properties.get("attributes"))
    vault = _segment(_id(arm), "vaults") or _segment(_id(arm), "managedHSMs")
    return _resource(
        KEY_TYPE, arm, name, {"keyName": name, "vaultName": vault, "properties": properties}
    )


def secret_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """`GET .../vaults/{vault}/secrets/{name}` (management plane: attributes and content type,
    never the value) as an azure-native Secret."""
    name = str(arm.get("name") or "")
    properties = _props(arm)
    properties["attributes"] = _attributes(properties.get("attributes"))
    properties.pop("value", None)  # never read, never kept
    vault = _segment(_id(arm), "vaults")
    return _resource(
        SECRET_TYPE, arm, name, {"secretName": name, "vaultName": vault, "properties": properties}
    )


def role_assignment_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """A role assignment (`properties.scope`, `roleDefinitionId`, `principalId`)."""
    properties = _props(arm)
    name = str(arm.get("name") or "")
    return _resource(
        ROLE_ASSIGNMENT_TYPE,
        arm,
        name,
        {
            "roleAssignmentName": name,
            "scope": properties.get("scope"),
            "roleDefinitionId": properties.get("roleDefinitionId"),
            "principalId": properties.get("principalId"),
            "principalType": properties.get("principalType"),
        },
    )


def role_definition_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """A role definition (`properties.roleName`, `permissions`, `assignableScopes`)."""
    properties = _props(arm)
    name = str(properties.get("roleName") or arm.get("name") or "")
    return _resource(
        ROLE_DEFINITION_TYPE,
        arm,
        name,
        {
            "roleDefinitionId": arm.get("name"),
            "roleName": properties.get("roleName"),
            "roleType": properties.get("type"),
            "permissions": properties.get("permissions") or [],
            "assignableScopes": properties.get("assignableScopes") or [],
        },
    )


def diagnostic_resource(arm: Mapping[str, Any], resource_uri: str) -> PulumiResource:
    """A diagnostic setting of `resource_uri` (a vault or Managed HSM)."""
    name = str(arm.get("name") or "")
    return _resource(
        DIAGNOSTIC_TYPE, arm, name, {"name": name, "resourceUri": resource_uri, **_props(arm)}
    )


def storage_account_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """A storage account (the audit log destination) with its properties at the top level."""
    name = str(arm.get("name") or "")
    return _resource(
        STORAGE_ACCOUNT_TYPE,
        arm,
        name,
        {
            "accountName": name,
            "location": arm.get("location"),
            "kind": arm.get("kind"),
            "sku": arm.get("sku"),
            **_props(arm),
        },
    )


def immutability_resource(arm: Mapping[str, Any], account: str, container: str) -> PulumiResource:
    """A container's time-based immutability policy (`properties.state`: `Locked`/`Unlocked`,
    `immutabilityPeriodSinceCreationInDays`) of `container` in storage account `account`."""
    name = f"{account}/{container}"
    return _resource(
        IMMUTABILITY_TYPE,
        arm,
        name,
        {"accountName": account, "containerName": container, **_props(arm)},
    )


def activity_alert_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """An activity log alert (`properties.condition`, `actions`, `enabled`, `scopes`)."""
    name = str(arm.get("name") or "")
    return _resource(
        ACTIVITY_ALERT_TYPE, arm, name, {"location": arm.get("location"), **_props(arm)}
    )


def query_alert_resource(arm: Mapping[str, Any]) -> PulumiResource:
    """A scheduled query rule (log search alert: `properties.criteria`, `actions`)."""
    name = str(arm.get("name") or "")
    return _resource(
        QUERY_ALERT_TYPE,
        arm,
        name,
        {"location": arm.get("location"), "kind": arm.get("kind"), **_props(arm)},
    )


def arm_facts(resource: PulumiResource) -> tuple[Facts, ...]:
    """The facts of one mapped resource, as the Pulumi adapter reads them, with `protect`
    UNKNOWN (a live resource does not say whether its stack protects it)."""
    return tuple(replace(f, protect=UNKNOWN) for f in facts_from_resource(resource))


def timestamp(value: Any) -> datetime | None:
    """An attribute's Unix time (`created`, `updated`, `exp`) as an aware datetime, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


#: Key Vault certificate key types and sizes or curves -> the neutral names KM-CRT-001 judges.
_CERTIFICATE_CURVES = {"P-256": "ECDSA-P256", "P-384": "ECDSA-P384", "P-521": "ECDSA-P521"}


def certificate_facts(
    arm_id: str, name: str, policy: Mapping[str, Any], tags: Maybe[Mapping[str, str]]
) -> Certificate:
    """A Key Vault certificate from its policy, in the data plane's REST form
    (`key_props`: `kty`, `key_size`, `crv`; `issuer.name`; `lifetime_actions[].action.action_type`).

    Key Vault renews a certificate by itself when its policy has an `AutoRenew` lifetime action
    and an issuer it can ask (`Self` or a configured CA); issuer `Unknown` means the certificate
    is merged by hand (https://learn.microsoft.com/azure/key-vault/certificates/overview-renew-certificate).
    """
    key = _mapping(policy.get("key_props"))
    kty = str(key.get("kty") or "")
    algorithm: str | None
    if kty.startswith("RSA"):
        size = key.get("key_size")
        algorithm = f"RSA-{size}" if isinstance(size, int) else f"{kty} (size not set)"
    elif kty.startswith("EC"):
        curve = str(key.get("crv") or "")
        algorithm = _CERTIFICATE_CURVES.get(curve, f"{kty} {curve}".strip())
    else:
        algorithm = kty or "unspecified"
    issuer_name = str(_mapping(policy.get("issuer")).get("name") or "Unknown")
    actions = [
        str(_mapping(a.get("action")).get("action_type") or "")
        for a in policy.get("lifetime_actions") or ()
        if isinstance(a, Mapping)
    ]
    auto_renew = "AutoRenew" in actions
    renews = auto_renew and issuer_name.lower() != "unknown"
    setting = f"lifetime action {'AutoRenew' if auto_renew else 'EmailContacts only'}, issuer {issuer_name}"
    fields = {k: key[k] for k in ("kty", "key_size", "crv") if key.get(k) is not None}
    return Certificate(
        urn=arm_id,
        name=name,
        type=CERTIFICATE_TYPE,
        cloud=Cloud.AZURE,
        protect=UNKNOWN,
        tags=UNKNOWN
        if isinstance(tags, Unknown)
        else MappingProxyType({str(k): str(v) for k, v in tags.items()}),
        ids=frozenset({arm_id, name}),
        renews_automatically=renews,
        renewal_setting=setting,
        origin="issued" if issuer_name.lower() != "unknown" else "imported",
        algorithm=algorithm,
        algorithm_field=" ".join(f"{k} {v}" for k, v in fields.items()),
        not_after=_expiry(policy.get("expires")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _expiry(value: Any) -> date | None:
    moment = timestamp(value)
    return moment.date() if moment else None
