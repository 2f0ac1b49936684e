"""The one azure-native <-> azurerm table, read in both directions.

azure-native is generated from Azure's REST specs, not bridged from Terraform, so its resources
do not map to `azurerm_*` attributes one to one. Each `AzureType` row pairs an azure-native token
with its azurerm type and the two conversions side by side:

- `to_azurerm` (Pulumi wire-form inputs -> azurerm plan values): `keyplane.terraform.to_plan`
  writes the Terraform-plan form checkov scans;
- `from_azurerm` (azurerm plan values -> Pulumi wire-form inputs): `keyplane.adapters.terraform`
  reads a plan back as facts (None: the type is written but not read back, or another token
  reads it).

Only the types checkov has checks for are mapped; the rest of azure-native is left out (the
CrossGuard pack covers it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from keyplane.wire import UNKNOWN as UNKNOWN_SENTINEL

Conversion = Callable[[Mapping[str, Any]], dict[str, Any]]


# --- azure-native -> azurerm ---------------------------------------------------------------


def _obj(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def _props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return _obj(inputs, "properties")


def _network_acls(acls: Any) -> list[dict[str, Any]]:
    if not isinstance(acls, dict):
        return []
    return [
        {
            "default_action": acls.get("defaultAction"),
            "bypass": acls.get("bypass"),
            "ip_rules": [r.get("value") for r in acls.get("ipRules", []) if isinstance(r, dict)],
            "virtual_network_subnet_ids": [
                r.get("id") for r in acls.get("virtualNetworkRules", []) if isinstance(r, dict)
            ],
        }
    ]


def _vault_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    p = _props(inputs)
    sku = _obj(p, "sku")
    return {
        "name": inputs.get("vaultName"),
        "location": inputs.get("location"),
        "resource_group_name": inputs.get("resourceGroupName"),
        "tenant_id": p.get("tenantId"),
        "sku_name": str(sku.get("name", "")).lower() or None,
        "enable_rbac_authorization": p.get("enableRbacAuthorization", False),
        "rbac_authorization_enabled": p.get("enableRbacAuthorization", False),
        "purge_protection_enabled": p.get("enablePurgeProtection", False),
        "soft_delete_retention_days": p.get("softDeleteRetentionInDays", 90),
        "public_network_access_enabled": p.get("publicNetworkAccess", "Enabled") != "Disabled",
        "network_acls": _network_acls(p.get("networkAcls")),
        "access_policy": [_access_policy_to_azurerm(e) for e in _entries(p.get("accessPolicies"))],
        "tags": inputs.get("tags", {}),
    }


def _entries(value: Any) -> list[Any]:
    """A list property's entries (a single block as one entry; absent as none)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _access_policy_to_azurerm(entry: Any) -> Any:
    """A legacy access policy entry (`{tenantId, objectId, permissions}`) as azurerm's block."""
    if not isinstance(entry, Mapping):
        return entry  # kept as found: the reader reports a shape it cannot read
    permissions = _obj(entry, "permissions")
    return {
        "tenant_id": entry.get("tenantId"),
        "object_id": entry.get("objectId"),
        "key_permissions": permissions.get("keys", []),
        "secret_permissions": permissions.get("secrets", []),
        "certificate_permissions": permissions.get("certificates", []),
    }


def _access_policy_from_azurerm(block: Any) -> Any:
    if not isinstance(block, Mapping):
        return block
    return {
        "tenantId": block.get("tenant_id"),
        "objectId": block.get("object_id"),
        "permissions": {
            "keys": block.get("key_permissions"),
            "secrets": block.get("secret_permissions"),
            "certificates": block.get("certificate_permissions"),
        },
    }


def _vault_access_policy_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    policy = _access_policy_to_azurerm(_obj(inputs, "policy"))
    return {"key_vault_id": inputs.get("vaultName"), **policy}


def _vault_access_policy_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "vaultName": v.get("key_vault_id"),
        "policy": _access_policy_from_azurerm(v),
    }


def _managed_hsm_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    p = _props(inputs)
    return {
        "name": inputs.get("name"),
        "location": inputs.get("location"),
        "resource_group_name": inputs.get("resourceGroupName"),
        "tenant_id": p.get("tenantId"),
        "admin_object_ids": p.get("initialAdminObjectIds", []),
        "purge_protection_enabled": p.get("enablePurgeProtection", False),
        "soft_delete_retention_days": p.get("softDeleteRetentionInDays", 90),
        "public_network_access_enabled": p.get("publicNetworkAccess", "Enabled") != "Disabled",
        "network_acls": _network_acls(p.get("networkAcls")),
        "tags": inputs.get("tags", {}),
    }


def _key_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    p = _props(inputs)
    attributes = _obj(p, "attributes")
    policy = _obj(p, "rotationPolicy")
    rotation: list[dict[str, Any]] = []
    if policy:
        policy_attrs = _obj(policy, "attributes")
        automatic: list[dict[str, Any]] = []
        notify = None
        for action in policy.get("lifetimeActions", []):
            if not isinstance(action, dict):
                continue
            kind = str((action.get("action") or {}).get("type", "")).lower()
            trigger = action.get("trigger") or {}
            if kind == "rotate":
                automatic.append(
                    {
                        "time_after_creation": trigger.get("timeAfterCreate"),
                        "time_before_expiry": trigger.get("timeBeforeExpiry"),
                    }
                )
            elif kind == "notify":
                notify = trigger.get("timeBeforeExpiry")
        rotation = [
            {
                "expire_after": policy_attrs.get("expiryTime"),
                "notify_before_expiry": notify,
                "automatic": automatic,
            }
        ]
    return {
        "name": inputs.get("keyName"),
        "key_vault_id": inputs.get("vaultName"),
        "key_type": p.get("kty"),
        "key_size": p.get("keySize"),
        "curve": p.get("curveName"),
        "key_opts": p.get("keyOps", []),
        "expiration_date": attributes.get("expires"),
        "rotation_policy": rotation,
        "tags": inputs.get("tags", {}),
    }


def _secret_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    p = _props(inputs)
    attributes = _obj(p, "attributes")
    return {
        "name": inputs.get("secretName"),
        "key_vault_id": inputs.get("vaultName"),
        "value": p.get("value"),
        "content_type": p.get("contentType"),
        "expiration_date": attributes.get("expires"),
        "tags": inputs.get("tags", {}),
    }


def _storage_account_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    sku = _obj(inputs, "sku")
    tier, _, replication = str(sku.get("name", "Standard_LRS")).partition("_")
    return {
        "name": inputs.get("accountName"),
        "location": inputs.get("location"),
        "resource_group_name": inputs.get("resourceGroupName"),
        "account_kind": inputs.get("kind"),
        "account_tier": tier,
        "account_replication_type": replication,
        "min_tls_version": inputs.get("minimumTlsVersion"),
        "https_traffic_only_enabled": inputs.get("enableHttpsTrafficOnly", True),
        "enable_https_traffic_only": inputs.get("enableHttpsTrafficOnly", True),
        "allow_nested_items_to_be_public": inputs.get("allowBlobPublicAccess", False),
        "shared_access_key_enabled": inputs.get("allowSharedKeyAccess", True),
        "public_network_access_enabled": inputs.get("publicNetworkAccess", "Enabled") != "Disabled",
        # Account-level immutability (KM-LOG-002): an unknown policy stays unknown.
        "immutability_policy": _account_immutability(inputs),
        "blob_properties": [{"versioning_enabled": versioning}]
        if (versioning := _obj(inputs, "immutableStorageWithVersioning").get("enabled")) is not None
        else None,
        "tags": inputs.get("tags", {}),
    }


def _account_immutability(inputs: Mapping[str, Any]) -> Any:
    """`immutableStorageWithVersioning.immutabilityPolicy` as azurerm's `immutability_policy`
    block; the value itself when it is not an object (absent, or unknown until apply)."""
    container = inputs.get("immutableStorageWithVersioning")
    if container is not None and not isinstance(container, Mapping):
        return container
    policy = container.get("immutabilityPolicy") if container else None
    if not isinstance(policy, Mapping):
        return policy
    return [
        {
            "state": policy.get("state"),
            "period_since_creation_in_days": policy.get("immutabilityPeriodSinceCreationInDays"),
            "allow_protected_append_writes": policy.get("allowProtectedAppendWrites", False),
        }
    ]


def _diagnostic_setting_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    logs = [
        {"category": log.get("category"), "category_group": log.get("categoryGroup")}
        for log in inputs.get("logs", [])
        if isinstance(log, dict) and log.get("enabled", True)
    ]
    return {
        "name": inputs.get("name"),
        "target_resource_id": inputs.get("resourceUri"),
        "storage_account_id": inputs.get("storageAccountId"),
        "log_analytics_workspace_id": inputs.get("workspaceId"),
        "enabled_log": logs,
    }


def _role_assignment_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": inputs.get("roleAssignmentName"),
        "scope": inputs.get("scope"),
        "role_definition_id": inputs.get("roleDefinitionId"),
        "principal_id": inputs.get("principalId"),
        "principal_type": inputs.get("principalType"),
    }


def _immutability_policy_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "storage_container_resource_manager_id": inputs.get("containerName"),
        "immutability_period_in_days": inputs.get("immutabilityPeriodSinceCreationInDays"),
        "protected_append_writes_enabled": inputs.get("allowProtectedAppendWrites", False),
        # The policy's state is an output (locked by an action after deployment): unknown in
        # the plan unless the program states it, as the Pulumi form says (KM-LOG-002).
        "locked": _locked(inputs.get("state")),
    }


def _locked(state: Any) -> Any:
    if isinstance(state, str) and state != UNKNOWN_SENTINEL:
        return state.lower() == "locked"
    return UNKNOWN_SENTINEL


def _activity_alert_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    leaves = {
        c.get("field"): c.get("equals")
        for c in _obj(inputs, "condition").get("allOf", [])
        if isinstance(c, dict)
    }
    return {
        "name": inputs.get("activityLogAlertName"),
        "scopes": inputs.get("scopes"),
        "enabled": inputs.get("enabled", True),
        "criteria": {
            "category": leaves.get("category"),
            "operation_name": leaves.get("operationName"),
        },
        "action": [
            {"action_group_id": g.get("actionGroupId")}
            for g in _obj(inputs, "actions").get("actionGroups", [])
            if isinstance(g, dict)
        ],
    }


def _query_alert_to_azurerm(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": inputs.get("ruleName"),
        "scopes": inputs.get("scopes"),
        "enabled": inputs.get("enabled", True),
        "criteria": [
            {
                "query": c.get("query"),
                "operator": c.get("operator"),
                "threshold": c.get("threshold"),
                "time_aggregation_method": c.get("timeAggregation"),
            }
            for c in _obj(inputs, "criteria").get("allOf", [])
            if isinstance(c, dict)
        ],
        "action": {"action_groups": _obj(inputs, "actions").get("actionGroups")},
    }


# --- azurerm -> azure-native ---------------------------------------------------------------


def _block(values: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = values.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return dict(value) if isinstance(value, Mapping) else {}


def _enabled(value: Any) -> Any:
    """azurerm's `public_network_access_enabled` → azure-native's `publicNetworkAccess`."""
    if value is None or value == UNKNOWN_SENTINEL:
        return value
    return "Enabled" if value is True else "Disabled"


def drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in mapping.items():
        value = drop_none(item) if isinstance(item, Mapping) else item
        if value is not None and value != {}:
            result[key] = value
    return result


def _vault_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    rbac = v.get("enable_rbac_authorization", v.get("rbac_authorization_enabled"))
    return {
        "vaultName": v.get("name"),
        "location": v.get("location"),
        "resourceGroupName": v.get("resource_group_name"),
        "tags": v.get("tags"),
        "properties": {
            "tenantId": v.get("tenant_id"),
            "sku": {"name": v.get("sku_name")},
            "enableRbacAuthorization": rbac,
            "enablePurgeProtection": v.get("purge_protection_enabled"),
            "softDeleteRetentionInDays": v.get("soft_delete_retention_days"),
            "publicNetworkAccess": _enabled(v.get("public_network_access_enabled")),
            "accessPolicies": [
                _access_policy_from_azurerm(b) for b in _entries(v.get("access_policy"))
            ]
            or None,
        },
    }


def _managed_hsm_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": v.get("name"),
        "location": v.get("location"),
        "resourceGroupName": v.get("resource_group_name"),
        "tags": v.get("tags"),
        "sku": {"name": v.get("sku_name")},
        "properties": {
            "tenantId": v.get("tenant_id"),
            "initialAdminObjectIds": v.get("admin_object_ids"),
            "enablePurgeProtection": v.get("purge_protection_enabled"),
            "softDeleteRetentionInDays": v.get("soft_delete_retention_days"),
            "publicNetworkAccess": _enabled(v.get("public_network_access_enabled")),
        },
    }


def _key_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    policy = _block(v, "rotation_policy")
    rotation: dict[str, Any] | None = None
    if policy:
        actions: list[dict[str, Any]] = []
        automatic = policy.get("automatic")
        for rotate in automatic if isinstance(automatic, list) else [automatic]:
            if isinstance(rotate, Mapping):
                trigger = {
                    "timeAfterCreate": rotate.get("time_after_creation"),
                    "timeBeforeExpiry": rotate.get("time_before_expiry"),
                }
                actions.append({"action": {"type": "rotate"}, "trigger": drop_none(trigger)})
        if policy.get("notify_before_expiry") is not None:
            actions.append(
                {
                    "action": {"type": "notify"},
                    "trigger": {"timeBeforeExpiry": policy["notify_before_expiry"]},
                }
            )
        rotation = {"attributes": {"expiryTime": policy.get("expire_after")}}
        rotation["lifetimeActions"] = actions
    return {
        "keyName": v.get("name"),
        "vaultName": v.get("key_vault_id"),
        "tags": v.get("tags"),
        "properties": {
            "kty": v.get("key_type"),
            "keySize": v.get("key_size"),
            "curveName": v.get("curve"),
            "keyOps": v.get("key_opts"),
            "attributes": {"expires": v.get("expiration_date")},
            "rotationPolicy": rotation,
        },
    }


def _secret_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "secretName": v.get("name"),
        "vaultName": v.get("key_vault_id"),
        "tags": v.get("tags"),
        "properties": {
            "value": v.get("value"),
            "contentType": v.get("content_type"),
            "attributes": {"expires": v.get("expiration_date")},
        },
    }


def _storage_account_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    policy = v.get("immutability_policy")
    if isinstance(policy, list):
        block = _block(v, "immutability_policy")
        policy = drop_none(
            {
                "state": block.get("state"),
                "immutabilityPeriodSinceCreationInDays": block.get("period_since_creation_in_days"),
                "allowProtectedAppendWrites": block.get("allow_protected_append_writes"),
            }
        )
    immutable = drop_none(
        {
            "enabled": _block(v, "blob_properties").get("versioning_enabled"),
            "immutabilityPolicy": policy,
        }
    )
    return drop_none(
        {
            "accountName": v.get("name"),
            "location": v.get("location"),
            "resourceGroupName": v.get("resource_group_name"),
            "kind": v.get("account_kind"),
            "tags": v.get("tags"),
            "publicNetworkAccess": _enabled(v.get("public_network_access_enabled")),
            "immutableStorageWithVersioning": immutable or None,
            "minimumTlsVersion": v.get("min_tls_version"),
        }
    )


def _immutability_policy_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    # `locked` is the plan's form of the policy's `state` (an output of azure-native): unknown
    # until the policy is locked after deployment, as the Pulumi form says.
    locked = v.get("locked")
    state = ("Locked" if locked else "Unlocked") if isinstance(locked, bool) else locked
    return drop_none(
        {
            "containerName": v.get("storage_container_resource_manager_id"),
            "immutabilityPeriodSinceCreationInDays": v.get("immutability_period_in_days"),
            "allowProtectedAppendWrites": v.get("protected_append_writes_enabled"),
            "state": state,
        }
    )


def _diagnostic_setting_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    logs = v.get("enabled_log")
    logs = [*(logs if isinstance(logs, list) else [logs]), *_deprecated_logs(v.get("log"))]
    return {
        "name": v.get("name"),
        "resourceUri": v.get("target_resource_id"),
        "storageAccountId": v.get("storage_account_id"),
        "workspaceId": v.get("log_analytics_workspace_id"),
        "logs": [
            drop_none(
                {
                    "category": log.get("category"),
                    "categoryGroup": log.get("category_group"),
                    "enabled": True,
                }
            )
            for log in (logs if isinstance(logs, list) else [logs])
            if isinstance(log, Mapping)
        ],
    }


def _deprecated_logs(blocks: Any) -> list[Any]:
    """azurerm's deprecated `log` blocks (`category`, `enabled`): the enabled ones."""
    return [
        b
        for b in (blocks if isinstance(blocks, list) else [blocks])
        if isinstance(b, Mapping) and b.get("enabled", True) is True
    ]


def _role_assignment_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "roleAssignmentName": v.get("name"),
        "scope": v.get("scope"),
        "roleDefinitionId": v.get("role_definition_id"),
        "principalId": v.get("principal_id"),
        "principalType": v.get("principal_type"),
    }


def _activity_alert_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    criteria = _block(v, "criteria")
    actions = v.get("action")
    return {
        "activityLogAlertName": v.get("name"),
        "scopes": v.get("scopes"),
        "enabled": v.get("enabled"),
        "condition": {
            "allOf": [
                {"field": field, "equals": criteria.get(key)}
                for field, key in (("category", "category"), ("operationName", "operation_name"))
                if criteria.get(key) is not None
            ]
        },
        "actions": {
            "actionGroups": [
                {"actionGroupId": a.get("action_group_id")}
                for a in (actions if isinstance(actions, list) else [actions])
                if isinstance(a, Mapping)
            ]
        },
    }


def _query_alert_from_azurerm(v: Mapping[str, Any]) -> dict[str, Any]:
    criteria = v.get("criteria")
    return {
        "ruleName": v.get("name"),
        "scopes": v.get("scopes"),
        "enabled": v.get("enabled"),
        "criteria": {
            "allOf": [
                {"query": c.get("query"), "operator": c.get("operator")}
                for c in (criteria if isinstance(criteria, list) else [criteria])
                if isinstance(c, Mapping)
            ]
        },
        "actions": {"actionGroups": _block(v, "action").get("action_groups")},
    }


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AzureType:
    """One azure-native token and its azurerm type, with a conversion each way."""

    token: str
    terraform_type: str
    to_azurerm: Conversion
    from_azurerm: Conversion | None


AZURE_TYPES: tuple[AzureType, ...] = (
    AzureType(
        "azure-native:keyvault:Vault", "azurerm_key_vault", _vault_to_azurerm, _vault_from_azurerm
    ),
    AzureType(
        "azure-native:keyvault:AccessPolicy",
        "azurerm_key_vault_access_policy",
        _vault_access_policy_to_azurerm,
        _vault_access_policy_from_azurerm,
    ),
    AzureType(
        "azure-native:keyvault:ManagedHsm",
        "azurerm_key_vault_managed_hardware_security_module",
        _managed_hsm_to_azurerm,
        _managed_hsm_from_azurerm,
    ),
    AzureType(
        "azure-native:keyvault:Key", "azurerm_key_vault_key", _key_to_azurerm, _key_from_azurerm
    ),
    AzureType(
        "azure-native:keyvault:Secret",
        "azurerm_key_vault_secret",
        _secret_to_azurerm,
        _secret_from_azurerm,
    ),
    AzureType(
        "azure-native:storage:StorageAccount",
        "azurerm_storage_account",
        _storage_account_to_azurerm,
        _storage_account_from_azurerm,
    ),
    AzureType(
        "azure-native:storage:BlobContainerImmutabilityPolicy",
        "azurerm_storage_container_immutability_policy",
        _immutability_policy_to_azurerm,
        _immutability_policy_from_azurerm,
    ),
    AzureType(
        "azure-native:monitor:DiagnosticSetting",
        "azurerm_monitor_diagnostic_setting",
        _diagnostic_setting_to_azurerm,
        _diagnostic_setting_from_azurerm,
    ),
    # The older module name of the same resource: written alike, read back as monitor's.
    AzureType(
        "azure-native:insights:DiagnosticSetting",
        "azurerm_monitor_diagnostic_setting",
        _diagnostic_setting_to_azurerm,
        None,
    ),
    AzureType(
        "azure-native:monitor:ActivityLogAlert",
        "azurerm_monitor_activity_log_alert",
        _activity_alert_to_azurerm,
        _activity_alert_from_azurerm,
    ),
    AzureType(
        "azure-native:monitor:ScheduledQueryRule",
        "azurerm_monitor_scheduled_query_rules_alert_v2",
        _query_alert_to_azurerm,
        _query_alert_from_azurerm,
    ),
    AzureType(
        "azure-native:authorization:RoleAssignment",
        "azurerm_role_assignment",
        _role_assignment_to_azurerm,
        _role_assignment_from_azurerm,
    ),
)

#: azure-native token -> its row (the Terraform-plan writer's direction).
BY_TOKEN: Mapping[str, AzureType] = MappingProxyType({row.token: row for row in AZURE_TYPES})
#: azurerm type -> the row that reads it back (the plan reader's direction).
BY_TERRAFORM_TYPE: Mapping[str, AzureType] = MappingProxyType(
    {row.terraform_type: row for row in AZURE_TYPES if row.from_azurerm is not None}
)


# --- the Terraform-bridged azure provider (pulumi-azure, "classic") -----------------------------
# pulumi-azure is bridged from azurerm: its tokens map to azurerm types and its camelCase inputs
# to azurerm's snake_case attributes one to one (repeated blocks in the plural, `accessPolicies`
# for `access_policy`; single blocks as objects). So a classic resource is written to the plan as
# any bridged resource is (`keyplane.terraform.to_plan`), and read as its azurerm values read back
# through the row above: the classic and azure-native forms of a vault give the same facts.


@dataclass(frozen=True)
class ClassicType:
    """One pulumi-azure token, its azurerm type, and the azure-native token whose reader reads
    it (None: keyplane reads the classic form itself)."""

    token: str
    terraform_type: str
    native: str | None
    #: Repeated blocks Pulumi names in the plural: Pulumi's snake_case name → Terraform's.
    blocks: Mapping[str, str] = field(default_factory=dict)


CLASSIC_TYPES: tuple[ClassicType, ...] = (
    ClassicType(
        "azure:keyvault/keyVault:KeyVault",
        "azurerm_key_vault",
        "azure-native:keyvault:Vault",
        MappingProxyType({"access_policies": "access_policy", "contacts": "contact"}),
    ),
    ClassicType(
        "azure:keyvault/managedHardwareSecurityModule:ManagedHardwareSecurityModule",
        "azurerm_key_vault_managed_hardware_security_module",
        "azure-native:keyvault:ManagedHsm",
    ),
    ClassicType("azure:keyvault/key:Key", "azurerm_key_vault_key", "azure-native:keyvault:Key"),
    ClassicType(
        "azure:keyvault/secret:Secret", "azurerm_key_vault_secret", "azure-native:keyvault:Secret"
    ),
    ClassicType(
        "azure:keyvault/accessPolicy:AccessPolicy",
        "azurerm_key_vault_access_policy",
        "azure-native:keyvault:AccessPolicy",
    ),
    ClassicType("azure:keyvault/certificate:Certificate", "azurerm_key_vault_certificate", None),
    ClassicType(
        "azure:authorization/roleDefinition:RoleDefinition", "azurerm_role_definition", None
    ),
    ClassicType(
        "azure:authorization/assignment:Assignment",
        "azurerm_role_assignment",
        "azure-native:authorization:RoleAssignment",
    ),
    ClassicType(
        "azure:monitoring/diagnosticSetting:DiagnosticSetting",
        "azurerm_monitor_diagnostic_setting",
        "azure-native:monitor:DiagnosticSetting",
        MappingProxyType(
            {
                "enabled_logs": "enabled_log",
                "logs": "log",
                "enabled_metrics": "enabled_metric",
                "metrics": "metric",
            }
        ),
    ),
    ClassicType(
        "azure:monitoring/activityLogAlert:ActivityLogAlert",
        "azurerm_monitor_activity_log_alert",
        "azure-native:monitor:ActivityLogAlert",
        MappingProxyType({"actions": "action"}),
    ),
    ClassicType(
        "azure:monitoring/scheduledQueryRulesAlertV2:ScheduledQueryRulesAlertV2",
        "azurerm_monitor_scheduled_query_rules_alert_v2",
        "azure-native:monitor:ScheduledQueryRule",
        MappingProxyType({"criterias": "criteria"}),
    ),
    ClassicType(
        "azure:storage/account:Account",
        "azurerm_storage_account",
        "azure-native:storage:StorageAccount",
    ),
    ClassicType(
        "azure:storage/containerImmutabilityPolicy:ContainerImmutabilityPolicy",
        "azurerm_storage_container_immutability_policy",
        "azure-native:storage:BlobContainerImmutabilityPolicy",
    ),
)

#: pulumi-azure token -> its row.
CLASSIC_BY_TOKEN: Mapping[str, ClassicType] = MappingProxyType(
    {row.token: row for row in CLASSIC_TYPES}
)

#: azurerm attributes that reference another resource (camelCase, as Pulumi and a plan's
#: expressions name them) -> the azure-native input the readers follow the reference by.
NATIVE_REFERENCES: Mapping[str, str] = MappingProxyType(
    {
        "keyVaultId": "vaultName",
        "targetResourceId": "resourceUri",
        "logAnalyticsWorkspaceId": "workspaceId",
        "storageContainerResourceManagerId": "containerName",
    }
)
#: Secret-bearing inputs as the azure-native reader names them -> the azurerm attribute
#: (camelCase), so that a finding and the report's redaction name the classic input.
CLASSIC_SECRET_FIELDS: Mapping[str, str] = MappingProxyType({"properties.value": "value"})
