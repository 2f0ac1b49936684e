"""Facts from Terraform-plan resources: a Terraform type and its snake_case values.

The plan form is read by turning it back into the Pulumi wire form and handing it to the Pulumi
adapter's reader of the equivalent type, so that each resource type is read in one place
(`keyplane.adapters.pulumi`) whichever engine asks. The way back mirrors `keyplane.terraform.to_plan`:

- aws_* and google_* types: the Pulumi token whose Terraform type it is (`aws_kms_key` →
  `aws:kms/key:Key`), snake_case attributes to camelCase, one-element block lists to objects;
- azurerm_* types: `keyplane.terraform.azure`'s table read backwards (`azurerm_key_vault` →
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
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from keyplane.adapters.coverage import key_bearing
from keyplane.adapters.pulumi import (
    SUPPORTED_TYPES as PULUMI_TYPES,
)
from keyplane.adapters.pulumi import (
    PulumiResource,
    facts_from_resource,
)
from keyplane.facts.model import Facts, SecretValue, StackFacts, Unread
from keyplane.facts.values import UNKNOWN
from keyplane.standard import Cloud
from keyplane.terraform.azure import (
    BY_TERRAFORM_TYPE,
    CLASSIC_SECRET_FIELDS,
    NATIVE_REFERENCES,
    drop_none,
)
from keyplane.terraform.to_plan import (
    BLOCK_NAMES,
    MAP_ATTRIBUTES,
    SECRET_PLACEHOLDER,
    terraform_type,
)
from keyplane.wire import SECRET_SIG, SIG_KEY
from keyplane.wire import UNKNOWN as UNKNOWN_SENTINEL

#: What the Pulumi adapter reads as an unknown string, number, bool or object alike.
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


@lru_cache(maxsize=4096)
def camel(name: str) -> str:
    """snake_case → camelCase (`enable_key_rotation` → `enableKeyRotation`). Cached: every
    resource of a type repeats its attribute names (about 20 names converted per resource)."""
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


def _pulumi_tokens() -> dict[str, str]:
    """Terraform type → the Pulumi token keyplane reads it as (the first one tfplan maps)."""
    tokens: dict[str, str] = {}
    for token in sorted(PULUMI_TYPES):
        if token.startswith("azure-native:"):
            continue
        tf_type = terraform_type(token)
        if tf_type is not None:
            tokens.setdefault(tf_type, token)
    for tf_type, azure in BY_TERRAFORM_TYPE.items():
        tokens[tf_type] = azure.token
    return tokens


#: Terraform type → Pulumi token, for every type keyplane reads facts from.
PULUMI_TOKEN: Mapping[str, str] = MappingProxyType(_pulumi_tokens())
#: The Terraform types keyplane reads.
SUPPORTED_TYPES = frozenset(PULUMI_TOKEN)


def wire_inputs(tf_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain plan values of a `tf_type` resource as the Pulumi wire-form inputs of its token."""
    azure = BY_TERRAFORM_TYPE.get(tf_type)
    if azure is not None and azure.from_azurerm is not None:
        return drop_none(azure.from_azurerm(_wire_scalars(values)))
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
        return unread(tf_type, address)
    marked = mark_unknown(values, after_unknown or {})
    resource = PulumiResource(
        type=token,
        name=resource_name(tf_type, address),
        urn=address,
        inputs=wire_inputs(tf_type, marked),
    )
    return tuple(_as_planned(f, tf_type) for f in facts_from_resource(resource))


def _as_planned(facts: Facts, tf_type: str) -> Facts:
    """Facts read through the Pulumi form, as the plan names them: its Terraform type, a
    secret value by its azurerm attribute (`value`, not azure-native's `properties.value`)."""
    # Terraform has no `protect`; a plan cannot say whether the stack protects the resource.
    if isinstance(facts, SecretValue) and tf_type in BY_TERRAFORM_TYPE:
        field = CLASSIC_SECRET_FIELDS.get(facts.field, facts.field)
        return dataclasses.replace(facts, type=tf_type, protect=UNKNOWN, field=field)
    return dataclasses.replace(facts, type=tf_type, protect=UNKNOWN)


def unread(tf_type: str, address: str) -> tuple[Facts, ...]:
    """A Terraform type keyplane does not map: reported when it holds or grants access to keys,
    secrets or certificates (KM-COV-001; `keyplane.adapters.coverage`)."""
    cloud = _TERRAFORM_CLOUDS.get(tf_type.split("_", 1)[0])
    if cloud is None or not key_bearing(tf_type):
        return ()
    return (
        Unread(
            urn=address,
            name=resource_name(tf_type, address),
            type=tf_type,
            cloud=cloud,
            protect=UNKNOWN,
        ),
    )


_TERRAFORM_CLOUDS = MappingProxyType(
    {"aws": Cloud.AWS, "google": Cloud.GCP, "azurerm": Cloud.AZURE}
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
        # azurerm types are read by the azure-native readers, which follow azure-native names.
        native = str(configured.get("type")) in BY_TERRAFORM_TYPE
        for attribute, expression in (configured.get("expressions") or {}).items():
            references = expression.get("references") if isinstance(expression, Mapping) else None
            named = tuple(dict.fromkeys(r for r in references or () if r in addresses))
            if named:
                name = camel(attribute)
                by_attribute[NATIVE_REFERENCES.get(name, name) if native else name] = named
        dependencies[str(configured.get("address"))] = by_attribute
    facts: list[Facts] = []
    for resource in resources:
        if resource.get("mode", "managed") != "managed":
            continue
        tf_type, address = str(resource.get("type")), str(resource.get("address"))
        token = PULUMI_TOKEN.get(tf_type)
        if token is None:
            facts.extend(unread(tf_type, address))
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
        facts.extend(_as_planned(f, tf_type) for f in facts_from_resource(pulumi_form))
    return StackFacts(tuple(facts))
