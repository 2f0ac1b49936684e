"""Pulumi resources as a Terraform plan JSON, so that checkov (or any Terraform-plan scanner) can
judge a Pulumi program.

pulumi-aws and pulumi-gcp are bridged from the Terraform providers: their type tokens map to
Terraform types (`aws:kms/key:Key` → `aws_kms_key`) and their camelCase inputs to snake_case
attributes almost one to one. azure-native is generated from Azure's REST specs instead, so the
types checkov has checks for are mapped to their `azurerm_*` counterparts deliberately
(`keyplane.terraform.azure`, one table read both ways); the rest of azure-native is left out (the CrossGuard pack covers it).

Secret inputs are written as "[secret]" and listed in `sensitive_values`; unknown inputs are left
out of `values` and listed in `after_unknown`, as Terraform does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyplane.terraform.azure import BY_TOKEN, CLASSIC_BY_TOKEN, CLASSIC_TYPES
from keyplane.wire import SECRET_SIG, SIG_KEY, UNKNOWN, Registration

TERRAFORM_VERSION = "1.9.8"
FORMAT_VERSION = "1.2"
SECRET_PLACEHOLDER = "[secret]"

#: Attributes whose values are maps with user-chosen keys, not nested blocks.
MAP_ATTRIBUTES = frozenset(
    {
        "tags",
        "tags_all",
        "labels",
        "effective_labels",
        "terraform_labels",
        "annotations",
        "default_tags",
    }
)

#: Repeated blocks the bridge names in the plural (Terraform `rule`, Pulumi `rules`), per type.
BLOCK_NAMES: Mapping[str, Mapping[str, str]] = {
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
    "aws_s3_bucket_lifecycle_configuration": {"rules": "rule"},
    "aws_cloudtrail": {
        "event_selectors": "event_selector",
        "advanced_event_selectors": "advanced_event_selector",
        "insight_selectors": "insight_selector",
    },
    "aws_iam_role": {"inline_policies": "inline_policy"},
    "aws_secretsmanager_secret": {"replicas": "replica"},
    "google_project_iam_audit_config": {"audit_log_configs": "audit_log_config"},
    "google_storage_bucket": {"lifecycle_rules": "lifecycle_rule"},
    # pulumi-azure (classic): its table beside azure-native's.
    **{row.terraform_type: row.blocks for row in CLASSIC_TYPES if row.blocks},
}

#: Modules whose Terraform names differ from the Pulumi module name.
_MODULE_PREFIX = {
    ("aws", "ec2"): "",
    ("aws", "cloudhsmv2"): "cloudhsm_v2_",
    ("gcp", "projects"): "project_",
    ("gcp", "organizations"): "",
    ("gcp", "secretmanager"): "secret_manager_",
    ("gcp", "certificatemanager"): "certificate_manager_",
    ("gcp", "serviceaccount"): "service_account_",
}
#: Tokens whose Terraform type the generic rule gets wrong.
_TYPE_OVERRIDES = {
    "aws:cloudtrail/trail:Trail": "aws_cloudtrail",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:s3/bucketV2:BucketV2": "aws_s3_bucket",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2": "aws_s3_bucket_object_lock_configuration",
    "aws:s3/bucketVersioningV2:BucketVersioningV2": "aws_s3_bucket_versioning",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": "aws_s3_bucket_server_side_encryption_configuration",
    "gcp:organizations/project:Project": "google_project",
    "gcp:serviceaccount/account:Account": "google_service_account",
    # Organisation IAM: google_organization_iam_* (the organizations module has no prefix).
    "gcp:organizations/iAMMember:IAMMember": "google_organization_iam_member",
    "gcp:organizations/iAMBinding:IAMBinding": "google_organization_iam_binding",
    "gcp:organizations/iAMPolicy:IAMPolicy": "google_organization_iam_policy",
    "gcp:organizations/iAMCustomRole:IAMCustomRole": "google_organization_iam_custom_role",
}


def snake(name: str) -> str:
    """camelCase → snake_case, keeping acronyms together (`iAMAuditConfig` → `iam_audit_config`)."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def terraform_type(token: str) -> str | None:
    """The Terraform type of a Pulumi type token, or None when keyplane does not map it."""
    if token in _TYPE_OVERRIDES:
        return _TYPE_OVERRIDES[token]
    if token in BY_TOKEN:
        return BY_TOKEN[token].terraform_type
    if token in CLASSIC_BY_TOKEN:
        return CLASSIC_BY_TOKEN[token].terraform_type
    parts = token.split(":")
    if len(parts) != 3 or parts[0] not in ("aws", "gcp"):
        return None
    provider, module_path, name = parts
    module = module_path.split("/")[0]
    prefix = _MODULE_PREFIX.get((provider, module), f"{module}_")
    tf_provider = "google" if provider == "gcp" else "aws"
    return f"{tf_provider}_{prefix}{snake(name)}"


@dataclass(frozen=True)
class Converted:
    """A resource's Terraform values and what Terraform would record about them."""

    values: dict[str, Any]
    sensitive: dict[str, Any]
    unknown: dict[str, Any]


def convert_value(value: Any, *, in_map: bool = False) -> tuple[Any, Any, Any]:
    """(value, sensitive marks, unknown marks) of one wire-form value."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return SECRET_PLACEHOLDER, True, False
        out: dict[str, Any] = {}
        sensitive: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, item in value.items():
            name = key if in_map else snake(key)
            converted, sens, unk = convert_value(item, in_map=name in MAP_ATTRIBUTES and not in_map)
            if unk is True:
                unknown[name] = True
                continue
            block = not (in_map or name in MAP_ATTRIBUTES) and isinstance(converted, dict)
            # A nested block is a one-element list, and so are its sensitive and unknown marks.
            if sens:
                sensitive[name] = [sens] if block and isinstance(sens, dict) else sens
            if unk:
                unknown[name] = [unk] if block and isinstance(unk, dict) else unk
            out[name] = [converted] if block else converted
        return out, sensitive, unknown
    if isinstance(value, list):
        items = [convert_value(v) for v in value]
        return (
            [v for v, _, unk in items if unk is not True],
            [s for _, s, _ in items] if any(s for _, s, _ in items) else False,
            [u for _, _, u in items] if any(u for _, _, u in items) else False,
        )
    if value == UNKNOWN:
        return None, False, True
    if isinstance(value, float) and value.is_integer():
        return int(value), False, False
    return value, False, False


def convert_inputs(inputs: Mapping[str, Any]) -> Converted:
    values, sensitive, unknown = convert_value(dict(inputs))
    return Converted(values, sensitive or {}, unknown or {})


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerraformPlan:
    plan: dict[str, Any]
    #: Terraform address (`aws_kms_key.acme_orders_db`) → Pulumi URN.
    urn_by_address: dict[str, str]
    #: URNs of custom resources keyplane could not map (reported in the docs, judged by CrossGuard).
    unmapped: tuple[str, ...]


def _tf_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() or cleaned[:1] == "_" else f"r_{cleaned}"


def _references(registration: Registration, address_by_urn: Mapping[str, str]) -> dict[str, Any]:
    """Each property's dependencies as the `references` of its expression: the address of each
    resource it depends on. Terraform also lists the attribute read (`<address>.id`), which
    Pulumi does not record; checkov resolves such a reference to the same resource only after
    scanning every name of the resource's type (`_get_possible_vertices`' fallback), quadratic
    in the plan's size: at 9,919 resources checkov took 58.2 s with them and 44.3 s without,
    with the same 16,550 passed and 7 failed checks."""
    expressions: dict[str, Any] = {}
    for prop, urns in registration.property_dependencies.items():
        refs: list[str] = []
        for urn in urns:
            address = address_by_urn.get(urn)
            if address:
                refs.append(address)
        if refs:
            expressions[snake(prop)] = {"references": refs}
    return expressions


def to_terraform_plan(resources: Iterable[Registration]) -> TerraformPlan:
    """Convert custom resources to a Terraform plan JSON (format 1.2) of one root module."""
    chosen: list[tuple[Registration, str, str]] = []
    taken: set[str] = set()
    unmapped: list[str] = []
    for registration in resources:
        if not registration.custom or registration.type.startswith("pulumi:providers:"):
            continue
        tf_type = terraform_type(registration.type)
        if tf_type is None:
            unmapped.append(registration.urn)
            continue
        base = _tf_name(registration.name)
        name, counter = base, 1
        while f"{tf_type}.{name}" in taken:
            counter += 1
            name = f"{base}_{counter}"
        taken.add(f"{tf_type}.{name}")
        chosen.append((registration, tf_type, name))

    address_by_urn = {r.urn: f"{t}.{n}" for r, t, n in chosen}
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configuration: list[dict[str, Any]] = []
    for registration, tf_type, name in chosen:
        address = f"{tf_type}.{name}"
        azure = BY_TOKEN.get(registration.type)
        wire = azure.to_azurerm(registration.inputs) if azure else registration.inputs
        converted = convert_inputs(wire)
        renames = BLOCK_NAMES.get(tf_type)
        if renames:
            converted = Converted(
                *(
                    {renames.get(k, k): v for k, v in part.items()}
                    for part in (converted.values, converted.sensitive, converted.unknown)
                )
            )
        values = (
            {k: v for k, v in converted.values.items() if v is not None}
            if azure
            else converted.values
        )
        provider = tf_type.split("_", 1)[0]
        provider_name = f"registry.terraform.io/hashicorp/{provider}"
        planned.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": provider_name,
                "schema_version": 0,
                "values": values,
                "sensitive_values": converted.sensitive,
            }
        )
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": provider_name,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": converted.unknown,
                    "before_sensitive": False,
                    "after_sensitive": converted.sensitive,
                },
            }
        )
        configuration.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_config_key": provider,
                "expressions": _references(registration, address_by_urn),
                "schema_version": 0,
            }
        )
    plan = {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                p: {"name": p, "full_name": f"registry.terraform.io/hashicorp/{p}"}
                for p in sorted({t.split("_", 1)[0] for _, t, _ in chosen})
            },
            "root_module": {"resources": configuration},
        },
    }
    return TerraformPlan(plan, {a: u for u, a in address_by_urn.items()}, tuple(unmapped))


# --- the plan in parts, for checkov ----------------------------------------------------------

#: Resources per file of a plan handed to checkov in parts (`split_plan`). checkov's plan reader
#: looks each resource up in a list of its file's resources twice (its configuration in
#: `plan_parser.parse_tf_plan`, its context in `plan_utils.get_entity_context`): quadratic in
#: the resources of one file, so files of this many keep that cost a fixed share per resource.
PART_RESOURCES = 500


def split_plan(
    plan: Mapping[str, Any], resources_per_part: int = PART_RESOURCES
) -> list[dict[str, Any]]:
    """`plan` (a plan of one root module, as `to_terraform_plan` writes) as plans of at most
    `resources_per_part` resources each, in order, each resource with its change and its
    configuration; `merge_plans` joins them back.

    checkov judges the parts as the whole when they are handed to it as files of one folder: it
    resolves references between the files of a folder, as Terraform does between the files of a
    module. The provider configuration is in the first part only (checkov judges providers once
    per file). A plan with child modules, or of no more resources than a part, is one part.
    """
    planned = plan.get("planned_values") or {}
    root = planned.get("root_module") or {}
    resources = root.get("resources") or []
    configuration = plan.get("configuration") or {}
    configured_root = configuration.get("root_module") or {}
    if (
        len(resources) <= resources_per_part
        or root.get("child_modules")
        or configured_root.get("child_modules")
    ):
        return [dict(plan)]
    changes: dict[str, list[Any]] = {}
    for change in plan.get("resource_changes") or ():
        changes.setdefault(str(change.get("address")), []).append(change)
    configured: dict[str, list[Any]] = {}
    for resource in configured_root.get("resources") or ():
        configured.setdefault(str(resource.get("address")), []).append(resource)
    parts: list[dict[str, Any]] = []
    for start in range(0, len(resources), resources_per_part):
        chunk = resources[start : start + resources_per_part]
        addresses = list(dict.fromkeys(str(r.get("address")) for r in chunk))
        part_configuration: dict[str, Any] = {
            key: value
            for key, value in configuration.items()
            if key != "root_module" and (not parts or key != "provider_config")
        }
        part_configuration["root_module"] = {
            **{k: v for k, v in configured_root.items() if k != "resources"},
            "resources": [c for a in addresses for c in configured.get(a, ())],
        }
        parts.append(
            {
                **{k: v for k, v in plan.items() if k not in _PARTED},
                "planned_values": {
                    **{k: v for k, v in planned.items() if k != "root_module"},
                    "root_module": {
                        **{k: v for k, v in root.items() if k != "resources"},
                        "resources": chunk,
                    },
                },
                "resource_changes": [c for a in addresses for c in changes.get(a, ())],
                "configuration": part_configuration,
            }
        )
    # Changes and configurations of no planned resource (none in keyplane's plans) stay too.
    planned_addresses = {str(r.get("address")) for r in resources}
    parts[0]["resource_changes"] += [
        c for a, cs in changes.items() if a not in planned_addresses for c in cs
    ]
    parts[0]["configuration"]["root_module"]["resources"] += [
        c for a, cs in configured.items() if a not in planned_addresses for c in cs
    ]
    return parts


#: The sections of a plan that `split_plan` divides between the parts.
_PARTED = frozenset({"planned_values", "resource_changes", "configuration"})


def merge_plans(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One plan of the resources, changes and configuration of `parts` (in order; the parts of
    `split_plan`, or plans given side by side); the other sections are the first part's, the
    provider configurations all of theirs."""
    if len(parts) == 1:
        return dict(parts[0])
    merged: dict[str, Any] = dict(parts[0]) if parts else {}
    resources: list[Any] = []
    child_modules: list[Any] = []
    changes: list[Any] = []
    configured: list[Any] = []
    configured_children: list[Any] = []
    providers: dict[str, Any] = {}
    for part in parts:
        root = (part.get("planned_values") or {}).get("root_module") or {}
        resources += root.get("resources") or []
        child_modules += root.get("child_modules") or []
        changes += part.get("resource_changes") or []
        configuration = part.get("configuration") or {}
        configured_root = configuration.get("root_module") or {}
        configured += configured_root.get("resources") or []
        configured_children += configured_root.get("child_modules") or []
        providers.update(configuration.get("provider_config") or {})
    merged["planned_values"] = {
        "root_module": {"resources": resources, "child_modules": child_modules}
    }
    merged["resource_changes"] = changes
    merged["configuration"] = {
        "provider_config": providers,
        "root_module": {"resources": configured, "child_modules": configured_children},
    }
    return merged


def describe_mapping(tokens: Sequence[str]) -> list[tuple[str, str | None]]:
    """(Pulumi token, Terraform type or None) for documentation and tests."""
    return [(token, terraform_type(token)) for token in tokens]
