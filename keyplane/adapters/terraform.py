"""Facts from Terraform-plan resources: a Terraform type and its snake_case values.

The plan form is read by turning it back into the Pulumi wire form and handing it to the Pulumi
adapter's reader of the equivalent type, so that each resource type is read in one place
(`keyplane.adapters.pulumi`) whichever engine asks. The way back mirrors `keyplane.terraform.to_plan`:

- aws_* and google_* types: the Pulumi token whose Terraform type it is (`aws_kms_key` →
  `aws:kms/key:Key`), snake_case attributes to camelCase, one-element block lists to objects;
- azurerm_* types: the inverse of `keyplane.terraform.to_plan.AZURE_MAPPERS` (`azurerm_key_vault` →
  `azure-native:keyvault:Vault`, `purge_protection_enabled` → `properties.enablePurgeProtection`).

Two sources are read: plain plan `values` (with the change's `after_unknown`), and the resource
configuration checkov hands a custom check (`conf`: every scalar wrapped in a one-element list,
JSON policies parsed, references to other resources put in place of values unknown until apply,
and, when `EVAL_TF_PLAN_AFTER_UNKNOWN` is set, `true_after_unknown` for the other unknown values).
Unknown values become Pulumi's unknown sentinel, so a rule answers "cannot judge until deployed"
exactly where it would on the Pulumi form, never a pass.

This module, like the facts and rules it feeds, imports only the standard library: checkov runs
it from its own environment, without keyplane's dependencies.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from keyplane.adapters.pulumi import (
    SECRET_SIG,
    SIG_KEY,
    PulumiResource,
    facts_from_resource,
)
from keyplane.adapters.pulumi import (
    SUPPORTED_TYPES as PULUMI_TYPES,
)
from keyplane.facts.model import Facts, StackFacts
from keyplane.facts.values import UNKNOWN
from keyplane.terraform.to_plan import (
    BLOCK_NAMES,
    MAP_ATTRIBUTES,
    SECRET_PLACEHOLDER,
    terraform_type,
)

#: What the Pulumi adapter reads as an unknown string, number, bool or object alike.
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: checkov's stand-in for a value known only after apply (checkov.common.util.consts).
CHECKOV_AFTER_UNKNOWN = "true_after_unknown"
#: checkov's own keys in a resource configuration (checkov CustomAttributes, plan_parser).
CHECKOV_ADDRESS = "__address__"
CHECKOV_REFERENCES = "references_"
_CHECKOV_KEYS = frozenset({"start_line", "end_line", "__startline__", "__endline__"})
#: Attributes checkov parses from JSON text into an object (plan_parser.RESOURCE_TYPES_JSONIFY):
#: kept as the object, not unwrapped like a block.
_JSON_ATTRIBUTES = frozenset({"policy", "assume_role_policy", "policy_data"})
#: Blocks the Pulumi adapter reads as lists by index even when they hold one element.
_LIST_BLOCKS = frozenset({"rules", "versionings"})


def camel(name: str) -> str:
    """snake_case → camelCase (`enable_key_rotation` → `enableKeyRotation`)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def _wire(value: Any, *, in_map: bool = False) -> Any:
    """Plain Terraform values → the Pulumi wire form (keys, blocks, secrets)."""
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if in_map:
                result[key] = item if isinstance(item, dict) else _wire(item)
                continue
            name = camel(key)
            if key in MAP_ATTRIBUTES:
                result[name] = _wire(item, in_map=True)
            elif (
                isinstance(item, list)
                and len(item) == 1
                and isinstance(item[0], dict)
                and key not in _LIST_BLOCKS
            ):
                # A nested block: Terraform's one-element list is Pulumi's object.
                result[name] = _wire(item[0])
            else:
                result[name] = _wire(item)
        return result
    if isinstance(value, list):
        return [_wire(item) for item in value]
    if value == SECRET_PLACEHOLDER:
        return _secret(value)
    if value == CHECKOV_AFTER_UNKNOWN:
        return UNKNOWN_SENTINEL
    return value


def mark_unknown(values: Mapping[str, Any], after_unknown: Any) -> dict[str, Any]:
    """`values` with every value `after_unknown` marks (Terraform's plan) set to the unknown
    sentinel."""
    result = dict(values)
    if not isinstance(after_unknown, Mapping):
        return result
    for key, mark in after_unknown.items():
        if mark is True:
            result[key] = UNKNOWN_SENTINEL
        elif isinstance(mark, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = mark_unknown(result[key], mark)
        elif isinstance(mark, list) and isinstance(result.get(key), list):
            items = list(result[key])
            for index, item_mark in enumerate(mark):
                if item_mark is True:
                    if index < len(items):
                        items[index] = UNKNOWN_SENTINEL
                    else:
                        items.append(UNKNOWN_SENTINEL)
                elif index < len(items) and isinstance(items[index], Mapping):
                    items[index] = mark_unknown(items[index], item_mark)
            result[key] = items
    return result


def _unwrap(value: Any) -> Any:
    """checkov's wrapping undone inside a block: `["x"]` → `"x"`, `[["a", "b"]]` → `["a", "b"]`."""
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items() if k not in _CHECKOV_KEYS}
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return [_unwrap(item) for item in value]
        if len(value) == 1:
            return value[0]
    return value


def values_from_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Plain plan values from checkov's resource configuration."""
    references = {
        ref
        for group in conf.get(CHECKOV_REFERENCES) or ()
        for ref in (group if isinstance(group, list) else [group])
        if isinstance(ref, str)
    }
    values: dict[str, Any] = {}
    for key, raw in conf.items():
        if key.startswith("__") or key in _CHECKOV_KEYS or key == CHECKOV_REFERENCES:
            continue
        if key in _JSON_ATTRIBUTES and isinstance(raw, list) and len(raw) == 1:
            # Parsed JSON: its lists are the document's own, not checkov's wrapping.
            values[key] = raw[0]
            continue
        value = _unwrap(raw)
        if key in MAP_ATTRIBUTES and isinstance(value, list) and len(value) == 1:
            value = value[0]  # a map is a block to checkov
        if isinstance(value, str) and value in references:
            # checkov puts the reference in place of a value known only after apply.
            value = UNKNOWN_SENTINEL
        values[key] = value
    return values


# --- azurerm → azure-native (the inverse of keyplane.terraform.to_plan.AZURE_MAPPERS) ----------------------


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


def _drop_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in mapping.items():
        value = _drop_none(item) if isinstance(item, Mapping) else item
        if value is not None and value != {}:
            result[key] = value
    return result


def _azure_vault(v: Mapping[str, Any]) -> dict[str, Any]:
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
        },
    }


def _azure_managed_hsm(v: Mapping[str, Any]) -> dict[str, Any]:
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


def _azure_key(v: Mapping[str, Any]) -> dict[str, Any]:
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
                actions.append({"action": {"type": "rotate"}, "trigger": _drop_none(trigger)})
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


def _azure_secret(v: Mapping[str, Any]) -> dict[str, Any]:
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


def _azure_storage_account(v: Mapping[str, Any]) -> dict[str, Any]:
    policy = v.get("immutability_policy")
    if isinstance(policy, list):
        policy = _drop_none(
            {
                "state": _block(v, "immutability_policy").get("state"),
                "immutabilityPeriodSinceCreationInDays": _block(v, "immutability_policy").get(
                    "period_since_creation_in_days"
                ),
                "allowProtectedAppendWrites": _block(v, "immutability_policy").get(
                    "allow_protected_append_writes"
                ),
            }
        )
    immutable = _drop_none(
        {
            "enabled": _block(v, "blob_properties").get("versioning_enabled"),
            "immutabilityPolicy": policy,
        }
    )
    return _drop_none(
        {
            "accountName": v.get("name"),
            "location": v.get("location"),
            "resourceGroupName": v.get("resource_group_name"),
            "kind": v.get("account_kind"),
            "tags": v.get("tags"),
            "publicNetworkAccess": _enabled(v.get("public_network_access_enabled")),
            "immutableStorageWithVersioning": immutable or None,
        }
    )


def _azure_diagnostic_setting(v: Mapping[str, Any]) -> dict[str, Any]:
    logs = v.get("enabled_log")
    return {
        "name": v.get("name"),
        "resourceUri": v.get("target_resource_id"),
        "storageAccountId": v.get("storage_account_id"),
        "workspaceId": v.get("log_analytics_workspace_id"),
        "logs": [
            _drop_none(
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


def _azure_role_assignment(v: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "roleAssignmentName": v.get("name"),
        "scope": v.get("scope"),
        "roleDefinitionId": v.get("role_definition_id"),
        "principalId": v.get("principal_id"),
        "principalType": v.get("principal_type"),
    }


def _azure_container_policy(v: Mapping[str, Any]) -> dict[str, Any]:
    # `locked` is the plan's form of the policy's `state` (an output of azure-native): unknown
    # until the policy is locked after deployment, as the Pulumi form says.
    locked = v.get("locked")
    state = ("Locked" if locked else "Unlocked") if isinstance(locked, bool) else locked
    return _drop_none(
        {
            "containerName": v.get("storage_container_resource_manager_id"),
            "immutabilityPeriodSinceCreationInDays": v.get("immutability_period_in_days"),
            "allowProtectedAppendWrites": v.get("protected_append_writes_enabled"),
            "state": state,
        }
    )


_AzureReader = Callable[[Mapping[str, Any]], dict[str, Any]]
#: azurerm type → (azure-native token, values → wire form).
AZURE_TYPES: Mapping[str, tuple[str, _AzureReader]] = MappingProxyType(
    {
        "azurerm_key_vault": ("azure-native:keyvault:Vault", _azure_vault),
        "azurerm_key_vault_managed_hardware_security_module": (
            "azure-native:keyvault:ManagedHsm",
            _azure_managed_hsm,
        ),
        "azurerm_key_vault_key": ("azure-native:keyvault:Key", _azure_key),
        "azurerm_key_vault_secret": ("azure-native:keyvault:Secret", _azure_secret),
        "azurerm_storage_account": ("azure-native:storage:StorageAccount", _azure_storage_account),
        "azurerm_storage_container_immutability_policy": (
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            _azure_container_policy,
        ),
        "azurerm_monitor_diagnostic_setting": (
            "azure-native:monitor:DiagnosticSetting",
            _azure_diagnostic_setting,
        ),
        "azurerm_role_assignment": (
            "azure-native:authorization:RoleAssignment",
            _azure_role_assignment,
        ),
    }
)


def _pulumi_tokens() -> dict[str, str]:
    """Terraform type → the Pulumi token keyplane reads it as (the first one tfplan maps)."""
    tokens: dict[str, str] = {}
    for token in sorted(PULUMI_TYPES):
        if token.startswith("azure-native:"):
            continue
        tf_type = terraform_type(token)
        if tf_type is not None:
            tokens.setdefault(tf_type, token)
    for tf_type, (token, _) in AZURE_TYPES.items():
        tokens[tf_type] = token
    return tokens


#: Terraform type → Pulumi token, for every type keyplane reads facts from.
PULUMI_TOKEN: Mapping[str, str] = MappingProxyType(_pulumi_tokens())
#: The Terraform types keyplane reads.
SUPPORTED_TYPES = frozenset(PULUMI_TOKEN)


def wire_inputs(tf_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain plan values of a `tf_type` resource as the Pulumi wire-form inputs of its token."""
    azure = AZURE_TYPES.get(tf_type)
    if azure is not None:
        return _drop_none(azure[1](_wire_scalars(values)))
    renames = {tf: pulumi for pulumi, tf in BLOCK_NAMES.get(tf_type, {}).items()}
    wire = _wire({renames.get(k, k): v for k, v in values.items()})
    assert isinstance(wire, dict)
    return wire


def _wire_scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    """Secrets and checkov's unknown marks in the wire form, keys untouched (azurerm readers)."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            result[key] = _wire_scalars(value)
        elif isinstance(value, list):
            result[key] = [
                _wire_scalars(v) if isinstance(v, Mapping) else _wire_value(v) for v in value
            ]
        else:
            result[key] = _wire_value(value)
    return result


def _wire_value(value: Any) -> Any:
    if value == SECRET_PLACEHOLDER:
        return _secret(value)
    if value == CHECKOV_AFTER_UNKNOWN:
        return UNKNOWN_SENTINEL
    return value


_ADDRESS_INDEX = re.compile(r"\[[^\]]*\]$")


def resource_name(tf_type: str, address: str) -> str:
    """The name messages use: the address's resource name (`aws_kms_key.orders` → `orders`)."""
    _, _, tail = address.rpartition(f"{tf_type}.")
    return tail or address


def facts_from_values(
    tf_type: str,
    values: Mapping[str, Any],
    *,
    address: str,
    after_unknown: Mapping[str, Any] | None = None,
) -> tuple[Facts, ...]:
    """The facts of one plan resource (`planned_values` values and the change's
    `after_unknown`); none for types keyplane does not read."""
    token = PULUMI_TOKEN.get(tf_type)
    if token is None:
        return ()
    marked = mark_unknown(values, after_unknown or {})
    resource = PulumiResource(
        type=token,
        name=resource_name(tf_type, address),
        urn=address,
        inputs=wire_inputs(tf_type, marked),
    )
    # Terraform has no `protect`; a plan cannot say whether the stack protects the resource.
    return tuple(
        dataclasses.replace(f, type=tf_type, protect=UNKNOWN) for f in facts_from_resource(resource)
    )


def facts_from_conf(tf_type: str, conf: Mapping[str, Any]) -> tuple[Facts, ...]:
    """The facts of the resource configuration checkov passes a custom check."""
    address = str(conf.get(CHECKOV_ADDRESS) or f"{tf_type}.unknown")
    return facts_from_values(tf_type, values_from_conf(conf), address=address)


def _plan_resources(module: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resources of a plan module and of its child modules."""
    found = [r for r in module.get("resources") or () if isinstance(r, Mapping)]
    for child in module.get("child_modules") or ():
        if isinstance(child, Mapping):
            found += _plan_resources(child)
    return found


def facts_from_plan(plan: Mapping[str, Any]) -> StackFacts:
    """The facts of every managed resource of a Terraform plan (JSON format 1.x), joined as a
    stack: a resource's `urn` is its address, and the configuration's references
    (`configuration...expressions.<attribute>.references`) become the property dependencies
    through which stack rules join resources (a rotation to its secret, a lock to its bucket).
    Values the plan marks unknown (`resource_changes[].change.after_unknown`) are unknown."""
    planned = plan.get("planned_values") or {}
    resources = _plan_resources(planned.get("root_module") or {})
    addresses = {str(r.get("address")) for r in resources}
    after_unknown: dict[str, Any] = {}
    for change in plan.get("resource_changes") or ():
        if isinstance(change, Mapping) and isinstance(change.get("change"), Mapping):
            after_unknown[str(change.get("address"))] = change["change"].get("after_unknown")
    configuration = plan.get("configuration") or {}
    dependencies: dict[str, dict[str, tuple[str, ...]]] = {}
    for configured in _plan_resources(configuration.get("root_module") or {}):
        by_attribute: dict[str, tuple[str, ...]] = {}
        for attribute, expression in (configured.get("expressions") or {}).items():
            references = expression.get("references") if isinstance(expression, Mapping) else None
            named = tuple(dict.fromkeys(r for r in references or () if r in addresses))
            if named:
                by_attribute[camel(attribute)] = named
        dependencies[str(configured.get("address"))] = by_attribute
    facts: list[Facts] = []
    for resource in resources:
        if resource.get("mode", "managed") != "managed":
            continue
        tf_type, address = str(resource.get("type")), str(resource.get("address"))
        token = PULUMI_TOKEN.get(tf_type)
        if token is None:
            continue
        unknown = after_unknown.get(address)
        marked = mark_unknown(resource.get("values") or {}, unknown or {})
        pulumi_form = PulumiResource(
            type=token,
            name=resource_name(tf_type, address),
            urn=address,
            inputs=wire_inputs(tf_type, marked),
            property_dependencies=dependencies.get(address, {}),
        )
        facts.extend(
            dataclasses.replace(f, type=tf_type, protect=UNKNOWN)
            for f in facts_from_resource(pulumi_form)
        )
    return StackFacts(tuple(facts))
