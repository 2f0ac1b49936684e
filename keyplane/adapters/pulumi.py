"""Facts from Pulumi resources: a type token and properties in the engine's wire form.

The properties are what the analyzer receives (and what `keyplane.render` records): camelCase
names, numbers as floats, secrets as `{SIG: SECRET_SIG, value: ...}`, unknowns as sentinel
strings (or simply missing during preview). Raw resources of every relevant type are read, not
only keyplane's components. Each reader judges nothing: it says what the resource declares, and
leaves joins across resources (an alias, a separate rotation or object-lock resource) to the
stack-level rules.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Protocol

from keyplane.adapters import tls
from keyplane.adapters.common import (
    advanced_selector_logs_kms,
    alert_destinations,
    as_int,
    as_list,
    aws_metric,
    days_from_seconds,
    event_rule_enabled,
    event_rule_signals,
    gcp_duration_days,
    iso_duration_days,
    policy_grants,
    policy_problem,
    ref,
    rotation_rules_days,
    sns_target,
    text_signals,
)
from keyplane.adapters.coverage import key_bearing
from keyplane.adapters.tls import ACM_DEFAULT_ALGORITHM
from keyplane.facts.access import (
    Condition,
    Grant,
    aws_managed_policy_actions,
    azure_access_policy_actions,
    azure_role_by_name,
)
from keyplane.facts.model import (
    AccessBinding,
    Alert,
    AlertTarget,
    AuditConfig,
    Certificate,
    DiagnosticSetting,
    Facts,
    HsmCluster,
    Immutability,
    Key,
    KeyContainer,
    KeyOrigin,
    LogBucket,
    LogMetric,
    LogSink,
    ObjectLock,
    PolicyAttachment,
    Role,
    RoleDefinition,
    Secret,
    SecretRotation,
    SecretValue,
    StackFacts,
    Tags,
    TlsEndpoint,
    Trail,
    Unparseable,
    Unread,
    Vault,
    Versioning,
)
from keyplane.facts.signals import COMPUTED_DESTINATION, Signal, signals_in
from keyplane.facts.values import UNKNOWN, Maybe, Ref, Unknown
from keyplane.standard import (
    Algorithm,
    Cloud,
    Usage,
    algorithm_from_aws,
    algorithm_from_azure,
    algorithm_from_gcp,
    rotates_automatically,
)
from keyplane.terraform.azure import CLASSIC_BY_TOKEN, CLASSIC_SECRET_FIELDS, NATIVE_REFERENCES
from keyplane.terraform.to_plan import BLOCK_NAMES, convert_inputs
from keyplane.wire import SECRET_SIG, SIG_KEY
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

#: Unknown sentinels of every type (pulumi_policy/proxy.py); a string one is the most common.
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # bool
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        WIRE_UNKNOWN,  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)


class ResourceLike(Protocol):
    """What the adapter reads of a resource (`keyplane.render.Registration` fits)."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def inputs(self) -> Mapping[str, Any]: ...
    @property
    def protect(self) -> bool: ...


@dataclass(frozen=True)
class PulumiResource:
    """A Pulumi resource as the engine hands it to an analyzer."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    protect: bool = False
    parent: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    retain_on_delete: bool = False
    #: The provider reference (`<provider URN>::<provider ID>`), "" for the default provider.
    provider: str = ""

    @classmethod
    def of(cls, resource: ResourceLike) -> PulumiResource:
        if isinstance(resource, PulumiResource):
            return resource
        return cls(
            type=resource.type,
            name=resource.name,
            urn=resource.urn,
            inputs=resource.inputs,
            protect=resource.protect,
            parent=str(getattr(resource, "parent", "") or ""),
            dependencies=tuple(getattr(resource, "dependencies", ()) or ()),
            property_dependencies={
                k: tuple(v)
                for k, v in (getattr(resource, "property_dependencies", {}) or {}).items()
            },
            retain_on_delete=bool(getattr(resource, "retain_on_delete", False)),
            provider=str(getattr(resource, "provider", "") or ""),
        )


class _Secret:
    """A value the program marked secret."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _parse(value: Any) -> Any:
    """Wire form to Python: secrets wrapped, unknown sentinels to UNKNOWN, mappings to dicts."""
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _Secret(_parse(value.get("value")))
        return {str(k): _parse(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_parse(v) for v in value]
    return value


def _reveal(value: Any) -> Any:
    """The value with secret wrappers removed (rules judge settings, not secrecy)."""
    if isinstance(value, _Secret):
        return _reveal(value.value)
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


class _Props:
    """Read access to parsed properties: `get("a", "b")` walks nested mappings."""

    def __init__(self, resource: PulumiResource, secrets_marked: bool = True) -> None:
        self.resource = resource
        #: False when the caller could not keep secret marks: plain text cannot be told then.
        self.secrets_marked = secrets_marked
        self.raw: dict[str, Any] = _parse(dict(resource.inputs))
        self.plain: dict[str, Any] = _reveal(self.raw)

    def get(self, *path: str | int) -> Any:
        value: Any = self.plain
        for part in path:
            if isinstance(value, Unknown):
                return UNKNOWN
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return None
                value = value[part]
            else:
                if not isinstance(value, dict):
                    return None
                value = value.get(part)
        return value

    def raw_value(self, name: str) -> Any:
        return self.raw.get(name)

    def text(self, *path: str | int) -> Maybe[str | None]:
        value = self.get(*path)
        if value is None or value is UNKNOWN:
            return value
        return value if isinstance(value, str) else str(value)

    def flag(self, *path: str | int, default: bool | None = None) -> Any:
        value = self.get(*path)
        if value is None:
            return default
        if value is UNKNOWN or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return default

    def number(self, *path: str | int) -> Maybe[int | None]:
        return as_int(self.get(*path))

    def ref(self, name: str) -> Ref:
        return ref(self.get(name), self.resource.property_dependencies.get(name, ()))

    def tags(self, name: str = "tags") -> Maybe[Tags]:
        value = self.get(name)
        if isinstance(value, Unknown):
            return UNKNOWN
        if not isinstance(value, dict):
            return MappingProxyType({})
        return MappingProxyType(
            {str(k): (v if v is UNKNOWN else str(v)) for k, v in value.items() if v is not None}
        )

    def ids(self, *names: str) -> frozenset[str]:
        found = set()
        for name in names:
            value = self.get(name)
            if isinstance(value, str) and value:
                found.add(value)
        return frozenset(found)


def _cloud(type_: str) -> Cloud | None:
    if type_.startswith(("aws:", "aws-native:")):
        return Cloud.AWS
    if type_.startswith("gcp:"):
        return Cloud.GCP
    if type_.startswith(("azure-native:", "azure:")):
        return Cloud.AZURE
    return None


def _base(p: _Props, cloud: Cloud, *, tags: str | None = "tags") -> dict[str, Any]:
    r = p.resource
    return {
        "urn": r.urn,
        "name": r.name,
        "type": r.type,
        "cloud": cloud,
        "protect": r.protect or r.retain_on_delete,
        "tags": p.tags(tags) if tags else MappingProxyType({}),
        "parent": r.parent,
        "dependencies": r.dependencies,
    }


def _plaintext(value: Any, secrets_marked: bool) -> Maybe[bool]:
    """A value is plain text when it is a literal: not a secret, not computed."""
    if value is None or isinstance(value, _Secret):
        return False
    if isinstance(value, Unknown) or not secrets_marked:
        return UNKNOWN
    if isinstance(value, str):
        return bool(value)
    return True


# --- AWS ------------------------------------------------------------------------------------

_AWS_USAGE = {
    "ENCRYPT_DECRYPT": Usage.ENCRYPT,
    "SIGN_VERIFY": Usage.SIGN,
    "GENERATE_VERIFY_MAC": Usage.MAC,
}


_IMPORTED_KEY_TYPES = frozenset(
    {"aws:kms/externalKey:ExternalKey", "aws:kms/replicaExternalKey:ReplicaExternalKey"}
)
_REPLICA_KEY_TYPES = frozenset(
    {"aws:kms/replicaKey:ReplicaKey", "aws:kms/replicaExternalKey:ReplicaExternalKey"}
)


def _aws_key(p: _Props) -> tuple[Facts, ...]:
    """aws:kms Key, ExternalKey, ReplicaKey, ReplicaExternalKey (and aws-native:kms:Key, read
    through `_aws_native_key`).

    A replica shares its primary's key material, spec, usage and rotation (https://docs.aws.
    amazon.com/kms/latest/developerguide/multi-region-keys-overview.html) but has its own key
    policy, tags and deletion window: its rotation and algorithm are judged on the primary
    (`replica_of`), everything else on the replica itself.
    """
    type_ = p.resource.type
    replica = type_ in _REPLICA_KEY_TYPES
    native_origin = p.text("origin")
    imported = type_ in _IMPORTED_KEY_TYPES or native_origin == "EXTERNAL"
    spec = p.text("customerMasterKeySpec")
    if spec is None:
        spec = p.text("keySpec")
    spec = "SYMMETRIC_DEFAULT" if spec is None else spec
    usage_name = p.text("keyUsage")
    usage: Maybe[Usage | None] = (
        UNKNOWN if usage_name is UNKNOWN else _AWS_USAGE.get(usage_name or "ENCRYPT_DECRYPT")
    )
    algorithm: Maybe[Algorithm | str] = (
        UNKNOWN if spec is UNKNOWN else (algorithm_from_aws(spec) or spec)
    )
    store = p.text("customKeyStoreId")
    xks = p.get("xksKeyId") is not None or native_origin == "EXTERNAL_KEY_STORE"
    origin: Maybe[KeyOrigin]
    if imported:
        origin, protection = KeyOrigin.IMPORTED, "EXTERNAL"
    elif xks:
        origin, protection = KeyOrigin.EXTERNAL, "EXTERNAL_KEY_STORE"
    elif store is not None:
        origin, protection = KeyOrigin.DEDICATED_HSM, "AWS_CLOUDHSM"
    else:
        origin, protection = KeyOrigin.CLOUD_HSM, "AWS_KMS"
    can_rotate: Maybe[bool]
    if imported or xks:
        can_rotate = False
    elif isinstance(algorithm, Algorithm):
        can_rotate = rotates_automatically(
            Cloud.AWS, algorithm, in_custom_key_store=store is not None
        )
    elif algorithm is UNKNOWN:
        can_rotate = UNKNOWN
    else:
        can_rotate = False
    enabled = False if imported else p.flag("enableKeyRotation", default=False)
    period = p.number("rotationPeriodInDays")
    rotation_days: Maybe[int | None]
    if enabled is UNKNOWN:
        rotation_days = period if period is not None else UNKNOWN
    elif enabled:
        # AWS rotates yearly unless a period is given.
        rotation_days = 365 if period is None else period
    else:
        rotation_days = None
    window = p.number("deletionWindowInDays")
    replica_of: Ref | None = None
    if replica:
        # Spec, usage and rotation are the primary's: not this resource's to judge.
        replica_of = p.ref("primaryKeyArn")
        algorithm = can_rotate = enabled = rotation_days = UNKNOWN
        usage = None
    key = Key(
        **_base(p, Cloud.AWS),
        ids=p.ids("arn", "keyId", "id"),
        algorithm=algorithm,
        usage=usage,
        can_rotate_automatically=can_rotate,
        rotation_enabled=enabled,
        rotation_days=rotation_days,
        deletion_window_days=30 if window is None else window,
        origin=origin,
        protection=protection,
        custom_key_store=store,
        grants=policy_grants(p.get("policy")),
        replica_of=replica_of,
    )
    if not imported:
        return (key,)
    # Imported key material in the program is a secret value like any other (KM-STO-001).
    material = _secret_values(p, Cloud.AWS, Ref(None, (p.resource.urn,)), ("keyMaterialBase64",))
    return (key, *material)


def _native(p: _Props, renames: Mapping[str, str]) -> _Props:
    """An aws-native resource's properties under the names of its `aws:` twin, so that one
    reader serves both: `renames` maps native names to classic ones, and the native tag list
    (`[{key, value}]`) becomes the classic tag map."""
    inputs = dict(p.resource.inputs)
    dependencies = dict(p.resource.property_dependencies)
    for native, classic in renames.items():
        if native in inputs:
            inputs[classic] = inputs.pop(native)
        if native in dependencies:
            dependencies[classic] = dependencies.pop(native)
    tags = inputs.get("tags")
    if isinstance(tags, list | tuple):
        inputs["tags"] = {
            str(t.get("key")): t.get("value")
            for t in tags
            if isinstance(t, Mapping) and t.get("key") is not None
        }
    record = dataclasses.replace(p.resource, inputs=inputs, property_dependencies=dependencies)
    return _Props(record, p.secrets_marked)


def _aws_native_key(p: _Props) -> tuple[Facts, ...]:
    # aws-native:kms:Key (CloudFormation AWS::KMS::Key): KeyPolicy is an object, Origin says
    # imported or external, PendingWindowInDays is the deletion window.
    return _aws_key(
        _native(p, {"keyPolicy": "policy", "pendingWindowInDays": "deletionWindowInDays"})
    )


def _aws_key_policy(p: _Props) -> tuple[Facts, ...]:
    return (
        AccessBinding(
            **_base(p, Cloud.AWS, tags=None),
            grants=policy_grants(p.get("policy")),
            target=p.ref("keyId"),
        ),
    )


def _aws_kms_grant(p: _Props) -> tuple[Facts, ...]:
    principal = p.text("granteePrincipal")
    operations = p.get("operations")
    actions: Maybe[tuple[str, ...]]
    if operations is UNKNOWN or any(o is UNKNOWN for o in as_list(operations)):
        actions = UNKNOWN
    else:
        actions = tuple(f"kms:{o}" for o in as_list(operations))
    grant = Grant(UNKNOWN if principal is UNKNOWN else (principal or ""), actions)
    return (
        AccessBinding(**_base(p, Cloud.AWS, tags=None), grants=(grant,), target=p.ref("keyId")),
    )


def role_principal(role_name: str) -> str:
    """How keyplane names an in-stack IAM role when its ARN is not known yet."""
    return f"aws-role:{role_name}"


def _aws_role(p: _Props) -> tuple[Facts, ...]:
    name = p.text("name")
    identity: str | Unknown = (
        UNKNOWN
        if name is UNKNOWN
        else role_principal(name)
        if name
        else role_principal(p.resource.name)
    )
    inline: list[Grant] = []
    inline_unknown = False
    inline_policies = p.get("inlinePolicies")
    if inline_policies is UNKNOWN:
        inline_unknown = True
    for item in as_list(inline_policies):
        grants = policy_grants(item.get("policy") if isinstance(item, dict) else item, identity)
        if grants is UNKNOWN:
            inline_unknown = True
        else:
            inline.extend(grants)
    managed = p.get("managedPolicyArns")
    inline_grants: Maybe[tuple[Grant, ...]] = UNKNOWN if inline_unknown else tuple(inline)
    role: tuple[Facts, ...] = (
        Role(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn", "id"),
            role_name=name,
            trust=policy_grants(p.get("assumeRolePolicy")),
            policies=inline_grants,
            managed_policies=UNKNOWN
            if managed is UNKNOWN
            else tuple(str(m) for m in as_list(managed) if m is not UNKNOWN),
        ),
    )
    managed_grants = (
        ()
        if isinstance(identity, Unknown)
        else _managed_policy_grants(managed, identity, p.ref("managedPolicyArns"))
    )
    if managed_grants:
        role = (
            *role,
            AccessBinding(**_base(p, Cloud.AWS), grants=managed_grants, target=None, identity=True),
        )
    if inline_grants == ():
        return role
    # The inline policies as an identity policy of the role, for the rules on grants.
    return (
        *role,
        AccessBinding(
            **_base(p, Cloud.AWS),
            grants=inline_grants,
            target=Ref(None, p.resource.property_dependencies.get("inlinePolicies", ())),
            identity=True,
        ),
    )


def _aws_role_policy(p: _Props) -> tuple[Facts, ...]:
    role = p.ref("role")
    principal: str | Unknown = (
        UNKNOWN
        if role.value is UNKNOWN
        else role_principal(role.value.rsplit("/", 1)[-1])
        if role.value
        else ""
    )
    grants = policy_grants(p.get("policy"), principal)
    if isinstance(grants, tuple):
        grants = tuple(
            Grant(g.principal, g.actions, g.effect, g.conditions, g.resources, role) for g in grants
        )
    return (
        AccessBinding(
            **_base(p, Cloud.AWS, tags=None),
            grants=grants,
            target=Ref(None, p.resource.property_dependencies.get("policy", ())),
            identity=True,
        ),
    )


def user_principal(user_name: str) -> str:
    """How keyplane names an in-stack IAM user when its ARN is not known yet."""
    return f"aws-user:{user_name}"


def group_principal(group_name: str) -> str:
    """How keyplane names an in-stack IAM group (its members) when its ARN is not known yet."""
    return f"aws-group:{group_name}"


def _aws_user_or_group_policy(p: _Props, field: str) -> tuple[Facts, ...]:
    """An inline policy of an IAM user (`user`) or group (`group`): an identity policy whose
    principal is the user or the group's members, judged like a role's (KM-ACC-001)."""
    target = p.ref(field)
    name_of = user_principal if field == "user" else group_principal
    principal: str | Unknown = (
        UNKNOWN
        if target.value is UNKNOWN
        else name_of(target.value.rsplit("/", 1)[-1])
        if target.value
        else ""
    )
    return (
        AccessBinding(
            **_base(p, Cloud.AWS, tags=None),
            grants=policy_grants(p.get("policy"), principal),
            target=Ref(None, p.resource.property_dependencies.get("policy", ())),
            identity=True,
        ),
    )


def sso_principal(permission_set: str) -> str:
    """How keyplane names the users of an IAM Identity Center permission set (they act through
    the `AWSReservedSSO_<set>_...` role it provisions in each account)."""
    return f"aws-sso:{permission_set}"


def _permission_set_principal(p: _Props) -> str | Unknown:
    """The principal of a permission set's policy: the set's ID from its ARN, else the Pulumi
    name of the in-stack `PermissionSet` it is computed from; UNKNOWN when neither is known."""
    value = p.get("permissionSetArn")
    if isinstance(value, str) and value:
        return sso_principal(value.rsplit("/", 1)[-1])
    sources = p.resource.property_dependencies.get("permissionSetArn", ())
    if sources:
        return sso_principal(sources[0].rsplit("::", 1)[-1])
    return UNKNOWN


def _aws_sso_inline_policy(p: _Props) -> tuple[Facts, ...]:
    """`aws:ssoadmin/permissionSetInlinePolicy`: an identity policy of a permission set's users,
    judged like a role's (key-policy delegation applies: they act through an IAM role)."""
    return (
        AccessBinding(
            **_base(p, Cloud.AWS, tags=None),
            grants=policy_grants(p.get("inlinePolicy"), _permission_set_principal(p)),
            target=Ref(None, p.resource.property_dependencies.get("inlinePolicy", ())),
            identity=True,
        ),
    )


def _aws_sso_managed_policy(p: _Props) -> tuple[Facts, ...]:
    """`aws:ssoadmin/managedPolicyAttachment`: an AWS managed policy on a permission set (the
    ones keyplane knows, such as AdministratorAccess, are read; `_managed_policy_grants`)."""
    principal = _permission_set_principal(p)
    arn = p.get("managedPolicyArn")
    if isinstance(principal, Unknown) or isinstance(arn, Unknown):
        grants: Maybe[tuple[Grant, ...]] = UNKNOWN
    else:
        grants = _managed_policy_grants(arn, principal, None)
    return (
        AccessBinding(**_base(p, Cloud.AWS, tags=None), grants=grants, target=None, identity=True),
    )


def _aws_policy(p: _Props) -> tuple[Facts, ...]:
    # A managed policy has no principal until it is attached (PolicyAttachment, stack level).
    return (
        AccessBinding(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn", "id"),
            grants=policy_grants(p.get("policy"), ""),
            target=Ref(None, p.resource.property_dependencies.get("policy", ())),
            identity=True,
        ),
    )


def _managed_policy_grants(
    arns: Any, principal: str, principal_ref: Ref | None
) -> tuple[Grant, ...]:
    """The grants of the AWS managed policies keyplane knows among `arns`, to `principal`."""
    grants: list[Grant] = []
    for arn in as_list(arns):
        actions = aws_managed_policy_actions(arn) if isinstance(arn, str) else None
        if actions is not None:
            label = arn.rsplit("/", 1)[-1]
            grants.append(
                Grant(
                    principal, actions, resources=("*",), principal_ref=principal_ref, label=label
                )
            )
    return tuple(grants)


def _aws_policy_attachment(p: _Props) -> tuple[Facts, ...]:
    """RolePolicyAttachment, UserPolicyAttachment, GroupPolicyAttachment (one identity each)
    and PolicyAttachment (lists of roles, users and groups)."""
    policy = p.ref("policyArn")
    fields = (("role", "role"), ("user", "user"), ("group", "group"))
    lists = (("roles", "role"), ("users", "user"), ("groups", "group"))
    found: list[Facts] = []
    for name, kind in fields:
        if p.get(name) is not None:
            found.append(
                PolicyAttachment(
                    **_base(p, Cloud.AWS, tags=None),
                    role=p.ref(name),
                    policy=policy,
                    principal_kind=kind,
                )
            )
    for name, kind in lists:
        deps = p.resource.property_dependencies.get(name, ())
        for value in as_list(p.get(name)):
            found.append(
                PolicyAttachment(
                    **_base(p, Cloud.AWS, tags=None),
                    role=ref(value, deps),
                    policy=policy,
                    principal_kind=kind,
                )
            )
    # An AWS managed policy attached by ARN: its statements, to each attached identity.
    managed: list[Grant] = []
    for attachment in [f for f in found if isinstance(f, PolicyAttachment)]:
        value = attachment.role.value
        if isinstance(value, str) and value:
            who = f"aws-{attachment.principal_kind}:{value.rsplit('/', 1)[-1]}"
            ref_ = attachment.role if attachment.principal_kind == "role" else None
            managed.extend(_managed_policy_grants(p.get("policyArn"), who, ref_))
    if managed:
        found.append(
            AccessBinding(
                **_base(p, Cloud.AWS, tags=None), grants=tuple(managed), target=None, identity=True
            )
        )
    return tuple(found)


def _aws_trail(p: _Props) -> tuple[Facts, ...]:
    excludes: Maybe[bool] = False
    selectors = p.get("eventSelectors")
    advanced = p.get("advancedEventSelectors")
    if selectors is UNKNOWN or advanced is UNKNOWN:
        excludes = UNKNOWN
    elif advanced:
        excludes = not any(advanced_selector_logs_kms(s) for s in as_list(advanced))
    elif selectors:
        excludes = not any(
            isinstance(s, dict)
            and s.get("includeManagementEvents", True) is not False
            and "kms.amazonaws.com" not in as_list(s.get("excludeManagementEventSources"))
            for s in as_list(selectors)
        )
    return (
        Trail(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn", "id"),
            multi_region=p.flag("isMultiRegionTrail", default=False),
            log_file_validation=p.flag("enableLogFileValidation", default=False),
            kms_key=p.text("kmsKeyId"),
            logging_enabled=p.flag("enableLogging", default=True),
            excludes_kms_events=excludes,
            bucket=p.ref("s3BucketName"),
            log_group=p.ref("cloudWatchLogsGroupArn")
            if p.get("cloudWatchLogsGroupArn") is not None
            or "cloudWatchLogsGroupArn" in p.resource.property_dependencies
            else None,
        ),
    )


def _lock_rule(p: _Props, config: str) -> tuple[Any, Any]:
    """(mode, days) of an S3 object lock rule: `rule` (v7) or `rules[0]` (BucketV2)."""
    prefix: tuple[str, ...] = (config,) if config else ()
    rule = p.get(*prefix, "rule")
    if rule is None:
        rule = p.get(*prefix, "rules", 0)
    if isinstance(rule, Unknown):
        return UNKNOWN, UNKNOWN
    if not isinstance(rule, dict):
        return None, None
    retention = rule.get("defaultRetention")
    if isinstance(retention, Unknown):
        return UNKNOWN, UNKNOWN
    if not isinstance(retention, dict):
        return None, None
    days = as_int(retention.get("days"))
    years = as_int(retention.get("years"))
    if days is None and isinstance(years, int):
        days = years * 365
    elif days is None and years is UNKNOWN:
        days = UNKNOWN
    return retention.get("mode"), days


def _immutability(mode: Any) -> Maybe[Immutability | None]:
    if mode is None or mode is UNKNOWN:
        return mode
    try:
        return Immutability(str(mode).upper())
    except ValueError:
        return None


def _aws_bucket(p: _Props) -> tuple[Facts, ...]:
    mode, days = _lock_rule(p, "objectLockConfiguration")
    versioning = p.get("versioning")
    if versioning is None:
        versioning = p.get("versionings", 0)
    enabled: Maybe[bool | None] = None
    if versioning is UNKNOWN:
        enabled = UNKNOWN
    elif isinstance(versioning, dict) and versioning.get("enabled") is not None:
        flag = versioning["enabled"]
        enabled = UNKNOWN if flag is UNKNOWN else flag is True
    lock_enabled = p.get("objectLockEnabled")
    if lock_enabled is None:
        lock_enabled = p.get("objectLockConfiguration", "objectLockEnabled")
    lock: Maybe[bool | None] = (
        UNKNOWN
        if lock_enabled is UNKNOWN
        else None
        if lock_enabled is None
        else lock_enabled is True or lock_enabled == "Enabled"
    )
    return (
        LogBucket(
            **_base(p, Cloud.AWS),
            ids=p.ids("bucket", "id", "arn"),
            bucket_name=p.text("bucket"),
            immutability=_immutability(mode),
            retention_days=days,
            versioning=enabled,
            object_lock_enabled=lock,
        ),
    )


def _aws_object_lock(p: _Props) -> tuple[Facts, ...]:
    mode, days = _lock_rule(p, "")
    return (
        ObjectLock(
            **_base(p, Cloud.AWS, tags=None),
            bucket=p.ref("bucket"),
            immutability=_immutability(mode),
            retention_days=days,
        ),
    )


def _aws_versioning(p: _Props) -> tuple[Facts, ...]:
    status = p.text("versioningConfiguration", "status")
    return (
        Versioning(
            **_base(p, Cloud.AWS, tags=None),
            bucket=p.ref("bucket"),
            enabled=UNKNOWN if status is UNKNOWN else status == "Enabled",
        ),
    )


def _aws_secret(p: _Props) -> tuple[Facts, ...]:
    return (
        Secret(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn", "id"),
            kms_key=p.text("kmsKeyId"),
            kms_key_ref=p.ref("kmsKeyId"),
            grants=policy_grants(p.get("policy")),
        ),
    )


def _aws_secret_rotation(p: _Props) -> tuple[Facts, ...]:
    """aws:secretsmanager SecretRotation and aws-native:secretsmanager:RotationSchedule."""
    days, problem = rotation_rules_days(
        p.get("rotationRules", "automaticallyAfterDays"),
        p.get("rotationRules", "scheduleExpression"),
        field="rotationRules.scheduleExpression",
    )
    return (
        SecretRotation(
            **_base(p, Cloud.AWS, tags=None),
            secret=p.ref("secretId"),
            enabled=p.flag("rotationEnabled", default=True),
            rotation_days=days,
            schedule_problem=problem,
        ),
    )


def _aws_native_secret(p: _Props) -> tuple[Facts, ...]:
    # aws-native:secretsmanager:Secret writes its value on the secret itself (SecretString).
    q = _native(p, {})
    secret = _aws_secret(q)
    values = _secret_values(q, Cloud.AWS, Ref(None, (p.resource.urn,)), ("secretString",))
    return (*secret, *values)


def _aws_native_trail(p: _Props) -> tuple[Facts, ...]:
    # aws-native:cloudtrail:Trail requires IsLogging (the classic EnableLogging).
    return _aws_trail(_native(p, {"isLogging": "enableLogging"}))


def _aws_native_bucket(p: _Props) -> tuple[Facts, ...]:
    q = _native(p, {"bucketName": "bucket"})
    status = q.get("versioningConfiguration", "status")
    if status is not None:
        inputs = dict(q.resource.inputs)
        inputs["versioning"] = {
            "enabled": WIRE_UNKNOWN if status is UNKNOWN else status == "Enabled"
        }
        q = _Props(dataclasses.replace(q.resource, inputs=inputs), q.secrets_marked)
    return _aws_bucket(q)


def _self_secret_values(
    *fields: str, cloud: Cloud = Cloud.AWS
) -> Callable[[_Props], tuple[Facts, ...]]:
    """A reader of resources that hold secret material in their own inputs (a certificate's
    private key, a database password): each field set is a `SecretValue` (KM-STO-001)."""

    def read(p: _Props) -> tuple[Facts, ...]:
        return tuple(_secret_values(p, cloud, Ref(None, (p.resource.urn,)), fields))

    return read


def _aws_secret_policy(p: _Props) -> tuple[Facts, ...]:
    return (
        AccessBinding(
            **_base(p, Cloud.AWS, tags=None),
            grants=policy_grants(p.get("policy")),
            target=p.ref("secretArn"),
        ),
    )


def _secret_values(p: _Props, cloud: Cloud, secret: Ref, fields: Sequence[str]) -> list[Facts]:
    result: list[Facts] = []
    for name in fields:
        path = name.split(".")
        value: Any = p.raw
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, _Secret) and part != path[-1]:
                value = value.value
        if value is None:
            continue
        result.append(
            SecretValue(
                **_base(p, cloud, tags=None),
                secret=secret,
                field=name,
                plaintext=_plaintext(value, p.secrets_marked),
            )
        )
    return result


def _aws_access_key(p: _Props) -> tuple[Facts, ...]:
    """`aws:iam/accessKey:AccessKey`: its secret access key and SES SMTP password are outputs,
    kept in the stack's state as they are unless `pgpKey` is set, when AWS's answer is
    encrypted to that key and only `encryptedSecret` is kept (https://registry.terraform.io/
    providers/hashicorp/aws/latest/docs/resources/iam_access_key). Read from the inputs, as the
    engine hands them to a pack: no `pgpKey` means both outputs are kept in clear."""
    pgp = p.get("pgpKey")
    plaintext: Maybe[bool] = UNKNOWN if pgp is UNKNOWN else not pgp
    return (
        SecretValue(
            **_base(p, Cloud.AWS, tags=None),
            secret=Ref(None, (p.resource.urn,)),
            field="secret",
            plaintext=plaintext,
            location="stack state, as does sesSmtpPasswordV4 (the access key has no pgpKey)",
            remedy="set pgpKey to a PGP public key (or keybase:<user>) so that only the encrypted "
            "secret is kept, or give the workload a role instead of an access key",
        ),
    )


def _aws_secret_version(p: _Props) -> tuple[Facts, ...]:
    return tuple(
        _secret_values(
            p, Cloud.AWS, p.ref("secretId"), ("secretString", "secretBinary", "secretStringWo")
        )
    )


def _aws_hsm_cluster(p: _Props) -> tuple[Facts, ...]:
    return (HsmCluster(**_base(p, Cloud.AWS), ids=p.ids("clusterId", "id")),)


# --- GCP ------------------------------------------------------------------------------------

_GCP_USAGE = {
    "ENCRYPT_DECRYPT": Usage.ENCRYPT,
    "ASYMMETRIC_DECRYPT": Usage.ENCRYPT,
    "RAW_ENCRYPT_DECRYPT": Usage.ENCRYPT,
    "ASYMMETRIC_SIGN": Usage.SIGN,
    "MAC": Usage.MAC,
}
_GCP_ORIGIN = {
    "HSM": KeyOrigin.CLOUD_HSM,
    "HSM_SINGLE_TENANT": KeyOrigin.CLOUD_HSM,
    "SOFTWARE": KeyOrigin.SOFTWARE,
    "EXTERNAL": KeyOrigin.EXTERNAL,
    "EXTERNAL_VPC": KeyOrigin.EXTERNAL,
}


def _gcp_key(p: _Props) -> tuple[Facts, ...]:
    purpose = p.text("purpose")
    purpose = "ENCRYPT_DECRYPT" if purpose is None else purpose
    name = p.text("versionTemplate", "algorithm")
    if name is None and purpose == "ENCRYPT_DECRYPT":
        name = "GOOGLE_SYMMETRIC_ENCRYPTION"
    algorithm: Maybe[Algorithm | str] = (
        UNKNOWN if name is UNKNOWN else (algorithm_from_gcp(name or "") or (name or "unspecified"))
    )
    level = p.text("versionTemplate", "protectionLevel")
    level = "SOFTWARE" if level is None else level
    imported = p.flag("importOnly", default=False)
    origin: Maybe[KeyOrigin]
    if imported is True:
        origin = KeyOrigin.IMPORTED
    elif level is UNKNOWN or imported is UNKNOWN:
        origin = UNKNOWN
    else:
        origin = _GCP_ORIGIN.get(level, KeyOrigin.SOFTWARE)
    can_rotate: Maybe[bool]
    if purpose is UNKNOWN or algorithm is UNKNOWN:
        can_rotate = UNKNOWN
    else:
        can_rotate = (
            purpose == "ENCRYPT_DECRYPT"
            and isinstance(algorithm, Algorithm)
            and rotates_automatically(Cloud.GCP, algorithm, in_custom_key_store=False)
        )
    period = p.get("rotationPeriod")
    rotation_days, rotation_problem = gcp_duration_days(
        period, field="rotationPeriod", round_up=True
    )
    window = days_from_seconds(p.get("destroyScheduledDuration"), round_up=False)
    return (
        Key(
            **_base(p, Cloud.GCP, tags="labels"),
            ids=p.ids("name", "id"),
            algorithm=algorithm,
            usage=UNKNOWN if purpose is UNKNOWN else _GCP_USAGE.get(purpose),
            can_rotate_automatically=can_rotate,
            rotation_enabled=UNKNOWN if period is UNKNOWN else period is not None,
            rotation_days=rotation_days,
            # GCP's default destroy-scheduled duration is 30 days.
            deletion_window_days=30 if window is None else window,
            origin=origin,
            protection=level,
            container=p.ref("keyRing"),
            rotation_problem=rotation_problem,
        ),
    )


def _gcp_key_ring(p: _Props) -> tuple[Facts, ...]:
    return (KeyContainer(**_base(p, Cloud.GCP, tags=None), ids=p.ids("name", "id")),)


def _gcp_members(p: _Props, target: str, *, hierarchy: str | None = None) -> tuple[Facts, ...]:
    role = p.text("role")
    condition = p.get("condition")
    conditions: tuple[Condition, ...] = ()
    if isinstance(condition, dict) and condition.get("expression"):
        conditions = (Condition("expression", "iam", (str(condition.get("expression")),)),)
    grants: Maybe[tuple[Grant, ...]]
    if p.get("policyData") is not None:
        grants = _gcp_policy_data(p.get("policyData"))
    else:
        members = p.get("members") if p.get("member") is None else [p.get("member")]
        if members is UNKNOWN or role is UNKNOWN:
            grants = UNKNOWN
        else:
            grants = tuple(
                Grant(
                    UNKNOWN if m is UNKNOWN else str(m),
                    (role or "",),
                    conditions=conditions,
                )
                for m in as_list(members)
            )
    return (
        AccessBinding(
            **_base(p, Cloud.GCP, tags=None),
            grants=grants,
            target=p.ref(target),
            role=p.ref("role"),
            hierarchy=hierarchy,
        ),
    )


def _gcp_hierarchy_members(level: str, target: str) -> Callable[[_Props], tuple[Facts, ...]]:
    """IAM on a project, folder or organisation: its roles reach every key and secret below."""
    return lambda p: _gcp_members(p, target, hierarchy=level)


def _gcp_custom_role(p: _Props) -> tuple[Facts, ...]:
    """A GCP custom role (`gcp:projects/iAMCustomRole`, `gcp:organizations/iAMCustomRole`):
    what its bindings allow is its `permissions`."""
    permissions = p.get("permissions")
    allowed: Maybe[tuple[str, ...]] = (
        UNKNOWN
        if permissions is UNKNOWN or any(v is UNKNOWN for v in as_list(permissions))
        else tuple(str(v) for v in as_list(permissions))
    )
    role_id = p.text("roleId")
    owner = p.text("project") if p.get("project") is not None else p.text("orgId")
    kind = "projects" if p.get("project") is not None else "organizations"
    names = set(p.ids("name", "id"))
    if isinstance(role_id, str) and isinstance(owner, str):
        names.add(f"{kind}/{owner}/roles/{role_id}")
    return (
        RoleDefinition(
            **_base(p, Cloud.GCP, tags=None),
            ids=frozenset(names),
            role_id=role_id,
            role_name=p.text("name") if isinstance(p.get("name"), str) else role_id,
            actions=allowed,
            not_actions=(),
        ),
    )


def _gcp_policy_data(value: Any) -> Maybe[tuple[Grant, ...]]:
    if isinstance(value, Unknown):
        return UNKNOWN
    data: Any
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return UNKNOWN  # an unreadable policy is never "no grants"
    if not isinstance(data, dict):
        return UNKNOWN
    grants: list[Grant] = []
    for binding in as_list(data.get("bindings")):
        if not isinstance(binding, dict):
            return UNKNOWN
        role = str(binding.get("role", ""))
        grants.extend(Grant(str(m), (role,)) for m in as_list(binding.get("members")))
    return tuple(grants)


def _gcp_secret(p: _Props) -> tuple[Facts, ...]:
    auto = p.get("replication", "auto")
    kms_key: Maybe[str | None]
    if auto is UNKNOWN:
        kms_key = UNKNOWN
    elif isinstance(auto, dict):
        kms_key = p.text("replication", "auto", "customerManagedEncryption", "kmsKeyName")
    else:
        replicas = p.get("replication", "userManaged", "replicas")
        if replicas is UNKNOWN:
            kms_key = UNKNOWN
        else:
            keys = [
                r.get("customerManagedEncryption", {}).get("kmsKeyName")
                if isinstance(r, dict) and isinstance(r.get("customerManagedEncryption"), dict)
                else None
                for r in as_list(replicas)
            ]
            if any(k is UNKNOWN for k in keys):
                kms_key = UNKNOWN
            elif keys and all(keys):
                kms_key = str(keys[0])
            else:
                kms_key = None
    return (
        Secret(
            **_base(p, Cloud.GCP, tags="labels"),
            ids=p.ids("secretId", "name", "id"),
            kms_key=kms_key,
            rotation_days=days_from_seconds(p.get("rotation", "rotationPeriod"), round_up=True),
        ),
    )


def _gcp_secret_version(p: _Props) -> tuple[Facts, ...]:
    return tuple(_secret_values(p, Cloud.GCP, p.ref("secret"), ("secretData", "secretDataWo")))


def _gcp_audit_config(p: _Props) -> tuple[Facts, ...]:
    configs = p.get("auditLogConfigs")
    log_types: Maybe[frozenset[str]]
    if configs is UNKNOWN:
        log_types = UNKNOWN
    else:
        log_types = frozenset(
            str(c.get("logType")) for c in as_list(configs) if isinstance(c, dict)
        )
    return (
        AuditConfig(
            **_base(p, Cloud.GCP, tags=None), service=p.text("service") or "", log_types=log_types
        ),
    )


def _gcp_sink(p: _Props) -> tuple[Facts, ...]:
    destination = p.get("destination")
    deps = p.resource.property_dependencies.get("destination", ())
    if isinstance(destination, str) and destination.startswith("storage.googleapis.com/"):
        target = ref(destination.removeprefix("storage.googleapis.com/"), deps)
    else:
        target = ref(destination, deps)
    return (
        LogSink(
            **_base(p, Cloud.GCP, tags=None),
            destination=target,
            filter=p.text("filter"),
            disabled=p.flag("disabled", default=False),
        ),
    )


def _gcp_bucket(p: _Props) -> tuple[Facts, ...]:
    policy = p.get("retentionPolicy")
    immutability: Maybe[Immutability | None]
    if policy is UNKNOWN:
        immutability, days = UNKNOWN, UNKNOWN
    elif isinstance(policy, dict):
        locked = policy.get("isLocked")
        immutability = (
            UNKNOWN
            if locked is UNKNOWN
            else Immutability.LOCKED
            if locked is True
            else Immutability.UNLOCKED
        )
        days = days_from_seconds(policy.get("retentionPeriod"), round_up=False)
    else:
        immutability, days = None, None
    return (
        LogBucket(
            **_base(p, Cloud.GCP, tags="labels"),
            ids=p.ids("name", "id", "url"),
            bucket_name=p.text("name"),
            immutability=immutability,
            retention_days=days,
            versioning=p.flag("versioning", "enabled"),
        ),
    )


# --- Azure ----------------------------------------------------------------------------------

_AZURE_ENCRYPT_OPS = frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey"})
_AZURE_SIGN_OPS = frozenset({"sign", "verify"})


def _azure_key(p: _Props) -> tuple[Facts, ...]:
    kty = p.text("properties", "kty")
    size = p.number("properties", "keySize")
    curve = p.text("properties", "curveName")
    algorithm: Maybe[Algorithm | str]
    if isinstance(kty, Unknown) or isinstance(size, Unknown) or isinstance(curve, Unknown):
        algorithm = UNKNOWN
    else:
        found = algorithm_from_azure(kty or "", size, curve)
        algorithm = found or " ".join(str(x) for x in (kty, size, curve) if x) or "unspecified"
    ops = p.get("properties", "keyOps")
    usage: Maybe[Usage | None]
    if ops is UNKNOWN:
        usage = UNKNOWN
    elif ops:
        names = {str(o) for o in as_list(ops)}
        usage = (
            Usage.SIGN
            if names <= _AZURE_SIGN_OPS
            else Usage.ENCRYPT
            if names <= _AZURE_ENCRYPT_OPS
            else None
        )
    elif isinstance(algorithm, Algorithm) and len(algorithm.usages) == 1:
        usage = next(iter(algorithm.usages))
    else:
        usage = None
    actions = p.get("properties", "rotationPolicy", "lifetimeActions")
    enabled: Maybe[bool]
    rotation_days: Maybe[int | None]
    if actions is UNKNOWN:
        enabled, rotation_days = UNKNOWN, UNKNOWN
    else:
        rotate = [
            a
            for a in as_list(actions)
            if isinstance(a, dict)
            and isinstance(a.get("action"), dict)
            and str(a["action"].get("type", "")).lower() == "rotate"
        ]
        enabled = bool(rotate)
        rotation_days = None
        if rotate:
            trigger = rotate[0].get("trigger") or {}
            rotation_days = iso_duration_days(trigger.get("timeAfterCreate"))
            if rotation_days is None and trigger.get("timeBeforeExpiry") is not None:
                expiry = iso_duration_days(
                    p.get("properties", "rotationPolicy", "attributes", "expiryTime")
                )
                before = iso_duration_days(trigger.get("timeBeforeExpiry"))
                if isinstance(expiry, int) and isinstance(before, int):
                    rotation_days = expiry - before
                elif expiry is UNKNOWN or before is UNKNOWN:
                    rotation_days = UNKNOWN
    origin: Maybe[KeyOrigin] = (
        UNKNOWN
        if kty is UNKNOWN
        else KeyOrigin.CLOUD_HSM
        if (kty or "").endswith("-HSM")
        else KeyOrigin.SOFTWARE
    )
    return (
        Key(
            **_base(p, Cloud.AZURE),
            ids=p.ids("keyName", "id", "keyUri"),
            algorithm=algorithm,
            usage=usage,
            can_rotate_automatically=True,
            rotation_enabled=enabled,
            rotation_days=rotation_days,
            deletion_window_days=None,
            origin=origin,
            protection=UNKNOWN if kty is UNKNOWN else (kty or "unspecified"),
            container=p.ref("vaultName"),
        ),
    )


def _access_policy_grants(entries: Any) -> Maybe[tuple[Grant, ...]]:
    """Grants of legacy Key Vault access policies (`[{objectId, permissions: {keys, secrets}}]`):
    each object ID with the key and secret operations its permissions allow."""
    if isinstance(entries, Unknown):
        return UNKNOWN
    grants: list[Grant] = []
    for entry in as_list(entries):
        if isinstance(entry, Unknown):
            return UNKNOWN
        if not isinstance(entry, dict):
            return UNKNOWN  # an access policy keyplane cannot read is never "no access"
        principal = entry.get("objectId")
        permissions = entry.get("permissions")
        if isinstance(principal, Unknown) or isinstance(permissions, Unknown):
            return UNKNOWN
        if not isinstance(permissions, dict):
            permissions = {}
        names: dict[str, list[str]] = {}
        for kind in ("keys", "secrets"):
            values = as_list(permissions.get(kind))
            if any(isinstance(v, Unknown) for v in values):
                return UNKNOWN
            names[kind] = [str(v) for v in values]
        actions = azure_access_policy_actions(names["keys"], names["secrets"])
        if actions:
            grants.append(Grant(str(principal or ""), actions, label="access policy"))
    return tuple(grants)


def _azure_vault(p: _Props) -> tuple[Facts, ...]:
    hsm = p.resource.type == "azure-native:keyvault:ManagedHsm"
    access = p.text("properties", "publicNetworkAccess")
    soft_delete = p.number("properties", "softDeleteRetentionInDays")
    rbac = True if hsm else p.flag("properties", "enableRbacAuthorization", default=False)
    # Access policies count unless the vault authorises by RBAC (Azure then ignores them).
    policies: tuple[Facts, ...] = ()
    if rbac is not True and p.get("properties", "accessPolicies") is not None:
        policies = (
            AccessBinding(
                **_base(p, Cloud.AZURE, tags=None),
                grants=_access_policy_grants(p.get("properties", "accessPolicies")),
                target=Ref(None, (p.resource.urn,)),
            ),
        )
    return (
        *policies,
        Vault(
            **_base(p, Cloud.AZURE),
            ids=p.ids("vaultName", "name", "id"),
            vault_name=p.text("name" if hsm else "vaultName"),
            managed_hsm=hsm,
            purge_protection=p.flag("properties", "enablePurgeProtection", default=False),
            # Azure keeps deleted vault objects 90 days unless told otherwise.
            soft_delete_days=90 if soft_delete is None else soft_delete,
            rbac_authorization=rbac,
            public_network_access=UNKNOWN
            if access is UNKNOWN
            else (access or "Enabled").lower() != "disabled",
            sku=p.text("sku", "name") if hsm else p.text("properties", "sku", "name"),
            soft_delete=True if hsm else p.flag("properties", "enableSoftDelete", default=True),
        ),
    )


def _azure_access_policy(p: _Props) -> tuple[Facts, ...]:
    """`azure-native:keyvault:AccessPolicy`: one legacy access policy on a vault."""
    return (
        AccessBinding(
            **_base(p, Cloud.AZURE, tags=None),
            grants=_access_policy_grants([p.get("policy")]),
            target=p.ref("vaultName"),
        ),
    )


def _expiry_date(value: Any) -> Maybe[date | None]:
    """Key Vault's `expires` (seconds since the epoch, as ARM takes it) or azurerm's
    `expiration_date` (RFC 3339 text, as Terraform and pulumi-azure take it) as a date; None
    when absent or unreadable (read as no expiry, which the rules report)."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(\.0*)?\s*", value):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
        except ValueError:
            return None
    seconds = as_int(value)
    return (
        None
        if seconds is None or isinstance(seconds, Unknown)
        else (datetime.fromtimestamp(seconds, UTC).date())
    )


def _azure_secret(p: _Props) -> tuple[Facts, ...]:
    secret = Secret(
        **_base(p, Cloud.AZURE),
        ids=p.ids("secretName", "id"),
        container=p.ref("vaultName"),
        expires=_expiry_date(p.get("properties", "attributes", "expires")),
    )
    values = _secret_values(p, Cloud.AZURE, Ref(None, (p.resource.urn,)), ("properties.value",))
    return (secret, *values)


def _azure_role_assignment(p: _Props) -> tuple[Facts, ...]:
    principal = p.text("principalId")
    role = p.text("roleDefinitionId")
    # A custom role's ID may be unknown until deployed: the stack rules resolve it by `role`.
    grants: Maybe[tuple[Grant, ...]] = (
        UNKNOWN
        if isinstance(principal, Unknown)
        else (Grant(principal or "", UNKNOWN if isinstance(role, Unknown) else (role or "",)),)
    )
    return (
        AccessBinding(
            **_base(p, Cloud.AZURE, tags=None),
            grants=grants,
            target=p.ref("scope"),
            role=p.ref("roleDefinitionId"),
        ),
    )


def _azure_role_definition(p: _Props) -> tuple[Facts, ...]:
    permissions = p.get("permissions")
    allowed: Maybe[tuple[str, ...]]
    denied: Maybe[tuple[str, ...]]
    entries = [e for e in as_list(permissions) if isinstance(e, dict)]
    values = [
        v
        for e in entries
        for name in ("actions", "dataActions", "notActions", "notDataActions")
        for v in as_list(e.get(name))
    ]
    if permissions is UNKNOWN or any(v is UNKNOWN for v in values):
        allowed = denied = UNKNOWN
    else:
        allowed = tuple(
            str(v) for e in entries for k in ("actions", "dataActions") for v in as_list(e.get(k))
        )
        denied = tuple(
            str(v)
            for e in entries
            for k in ("notActions", "notDataActions")
            for v in as_list(e.get(k))
        )
    return (
        RoleDefinition(
            **_base(p, Cloud.AZURE, tags=None),
            ids=p.ids("roleDefinitionId", "id", "name"),
            role_id=p.text("roleDefinitionId"),
            role_name=p.text("roleName"),
            actions=allowed,
            not_actions=denied,
        ),
    )


def _azure_diagnostic(p: _Props) -> tuple[Facts, ...]:
    logs = p.get("logs")
    enabled: Maybe[frozenset[str]]
    if logs is UNKNOWN:
        enabled = UNKNOWN
    else:
        enabled = frozenset(
            str(entry.get("category") or entry.get("categoryGroup"))
            for entry in as_list(logs)
            if isinstance(entry, dict)
            and entry.get("enabled") is True
            and (entry.get("category") or entry.get("categoryGroup"))
        )
    storage = p.ref("storageAccountId")
    workspace = p.ref("workspaceId")
    return (
        DiagnosticSetting(
            **_base(p, Cloud.AZURE, tags=None),
            target=p.ref("resourceUri"),
            enabled_logs=enabled,
            storage=storage if storage.known else None,
            workspace=workspace if workspace.known else None,
        ),
    )


_AZURE_STATE = {
    "locked": Immutability.LOCKED,
    "unlocked": Immutability.UNLOCKED,
}


def _azure_storage_account(p: _Props) -> tuple[Facts, ...]:
    state = p.text("immutableStorageWithVersioning", "immutabilityPolicy", "state")
    return (
        LogBucket(
            **_base(p, Cloud.AZURE),
            ids=p.ids("accountName", "id"),
            bucket_name=p.text("accountName"),
            immutability=UNKNOWN if state is UNKNOWN else _AZURE_STATE.get((state or "").lower()),
            retention_days=p.number(
                "immutableStorageWithVersioning",
                "immutabilityPolicy",
                "immutabilityPeriodSinceCreationInDays",
            ),
            versioning=p.flag("immutableStorageWithVersioning", "enabled"),
        ),
        _azure_storage_tls(p),
    )


def _azure_container_policy(p: _Props) -> tuple[Facts, ...]:
    # A container's time-based policy is created unlocked and locked by an action after
    # deployment (https://learn.microsoft.com/azure/storage/blobs/immutable-policy-configure-
    # container-scope); `state` is an output: unknown in a first preview, then read back.
    state = p.text("state")
    return (
        ObjectLock(
            **_base(p, Cloud.AZURE, tags=None),
            bucket=p.ref("accountName"),
            immutability=UNKNOWN
            if state is None or isinstance(state, Unknown)
            else _AZURE_STATE.get(state.lower(), Immutability.UNLOCKED),
            retention_days=p.number("immutabilityPeriodSinceCreationInDays"),
        ),
    )


# --- alerts on key misuse (KM-MON-001) ------------------------------------------------------
#
# What a filter or pattern matches is read with `keyplane.facts.signals`, whose names the
# alerting components write: one table for both.


def _aws_metric_filter(p: _Props) -> tuple[Facts, ...]:
    metric = (
        UNKNOWN
        if p.get("metricTransformation") is UNKNOWN
        else aws_metric(
            p.get("metricTransformation", "namespace"), p.get("metricTransformation", "name")
        )
    )
    return (
        LogMetric(
            **_base(p, Cloud.AWS, tags=None),
            ids=p.ids("name"),
            metric=metric,
            signals=text_signals(p.get("pattern"), Cloud.AWS),
            log_group=p.ref("logGroupName"),
        ),
    )


def _aws_metric_alarm(p: _Props) -> tuple[Facts, ...]:
    watched: set[str] = set()
    unknown_metric = False
    queries = [q.get("metric") for q in as_list(p.get("metricQueries")) if isinstance(q, dict)]
    for where in [p.plain, *[q for q in queries if isinstance(q, dict)]]:
        metric = aws_metric(where.get("namespace"), where.get("metricName"))
        if isinstance(metric, Unknown):
            unknown_metric = True
        elif metric:
            watched.add(metric)
    if p.get("metricQueries") is UNKNOWN:
        unknown_metric = True
    return (
        Alert(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn"),
            metrics=UNKNOWN if unknown_metric and not watched else frozenset(watched),
            destinations=alert_destinations(p.get("alarmActions"), ":sns:"),
            enabled=p.flag("actionsEnabled", default=True),
        ),
    )


def _aws_event_rule(p: _Props) -> tuple[Facts, ...]:
    enabled = event_rule_enabled(p.get("state"))
    if enabled is None:
        enabled = p.flag("isEnabled", default=True)
    return (
        Alert(
            **_base(p, Cloud.AWS),
            ids=p.ids("name", "arn"),
            signals=event_rule_signals(p.get("eventPattern"), p.get("state")),
            destinations=(),
            enabled=enabled,
            targets_apart=True,
        ),
    )


def _aws_event_target(p: _Props) -> tuple[Facts, ...]:
    arn = p.get("arn")
    destination = COMPUTED_DESTINATION if arn is UNKNOWN else sns_target(arn)
    return (
        AlertTarget(**_base(p, Cloud.AWS, tags=None), rule=p.ref("rule"), destination=destination),
    )


_GCP_USER_METRIC = re.compile(r"logging\.googleapis\.com/user/([A-Za-z0-9_./-]+)")


def _gcp_log_metric(p: _Props) -> tuple[Facts, ...]:
    return (
        LogMetric(
            **_base(p, Cloud.GCP, tags=None),
            ids=p.ids("name", "id"),
            metric=p.text("name"),
            signals=text_signals(p.get("filter"), Cloud.GCP),
        ),
    )


def _gcp_alert_policy(p: _Props) -> tuple[Facts, ...]:
    conditions = p.get("conditions")
    metrics: Maybe[frozenset[str]]
    signals: Maybe[frozenset[Signal]]
    if conditions is UNKNOWN:
        metrics, signals = UNKNOWN, UNKNOWN
    else:
        names: set[str] = set()
        found: set[Signal] = set()
        undecided = False
        for condition in [c for c in as_list(conditions) if isinstance(c, dict)]:
            for block in ("conditionThreshold", "conditionAbsent"):
                text = (condition.get(block) or {}).get("filter")
                if text is UNKNOWN:
                    undecided = True
                elif isinstance(text, str):
                    names.update(m.strip('"') for m in _GCP_USER_METRIC.findall(text))
            text = (condition.get("conditionMatchedLog") or {}).get("filter")
            if text is UNKNOWN:
                undecided = True
            elif isinstance(text, str):
                found.update(signals_in(text, Cloud.GCP))
        metrics = UNKNOWN if undecided and not names else frozenset(names)
        signals = UNKNOWN if undecided and not found else frozenset(found)
    return (
        Alert(
            **_base(p, Cloud.GCP, tags="userLabels"),
            signals=signals,
            metrics=metrics,
            destinations=alert_destinations(p.get("notificationChannels"), "notificationChannels"),
            enabled=p.flag("enabled", default=True),
        ),
    )


def _azure_activity_alert(p: _Props) -> tuple[Facts, ...]:
    condition = p.get("condition")
    signals: Maybe[frozenset[Signal]]
    if condition is UNKNOWN:
        signals = UNKNOWN
    else:
        values = [
            v
            for c in as_list((condition or {}).get("allOf"))
            if isinstance(c, dict)
            for v in [
                c.get("equals"),
                *(a.get("equals") for a in as_list(c.get("anyOf")) if isinstance(a, dict)),
            ]
            if isinstance(v, str)
        ]
        signals = signals_in(" ".join(values), Cloud.AZURE)
    groups = p.get("actions", "actionGroups")
    ids = (
        UNKNOWN
        if groups is UNKNOWN
        else [g.get("actionGroupId") if isinstance(g, dict) else g for g in as_list(groups)]
    )
    return (
        Alert(
            **_base(p, Cloud.AZURE),
            signals=signals,
            destinations=alert_destinations(ids, "actionGroups"),
            enabled=p.flag("enabled", default=True),
        ),
    )


def _azure_query_alert(p: _Props) -> tuple[Facts, ...]:
    criteria = p.get("criteria", "allOf")
    signals: Maybe[frozenset[Signal]]
    if criteria is UNKNOWN or any(
        isinstance(c, dict) and c.get("query") is UNKNOWN for c in as_list(criteria)
    ):
        signals = UNKNOWN
    else:
        queries = [c.get("query") for c in as_list(criteria) if isinstance(c, dict)]
        signals = signals_in(" ".join(q for q in queries if isinstance(q, str)), Cloud.AZURE)
    return (
        Alert(
            **_base(p, Cloud.AZURE),
            signals=signals,
            destinations=alert_destinations(p.get("actions", "actionGroups"), "actionGroups"),
            enabled=p.flag("enabled", default=True),
        ),
    )


# --- TLS certificates and endpoints (KM-CRT-001, KM-CRT-002) ---------------------------------


def _certificate(
    p: _Props,
    cloud: Cloud,
    *,
    renews: Maybe[bool],
    renewal_setting: str,
    origin: str,
    algorithm: Maybe[str | None],
    algorithm_field: str = "",
    algorithm_problem: str | None = None,
    private_key: str | None = None,
    tags: str | None = "tags",
    ids: Sequence[str] = ("arn", "id", "name"),
) -> tuple[Facts, ...]:
    """A `Certificate`, and the private key's `SecretValue` (KM-STO-001) when one is written."""
    key_value = p.raw_value(private_key) if private_key else None
    if private_key and "." in private_key:
        outer, inner = private_key.split(".", 1)
        holder = p.raw_value(outer)
        holder = holder.value if isinstance(holder, _Secret) else holder
        key_value = holder.get(inner) if isinstance(holder, dict) else None
    certificate = Certificate(
        **_base(p, cloud, tags=tags),
        ids=p.ids(*ids),
        renews_automatically=renews,
        renewal_setting=renewal_setting,
        origin=origin,
        algorithm=algorithm,
        algorithm_field=algorithm_field,
        algorithm_problem=algorithm_problem,
        private_key_field=private_key if key_value is not None else None,
        private_key_plaintext=_plaintext(key_value, p.secrets_marked),
    )
    values = (
        _secret_values(p, cloud, Ref(None, (p.resource.urn,)), (private_key,))
        if private_key
        else []
    )
    return (certificate, *values)


def _pem_algorithm(what: str) -> str:
    return (
        f"the key algorithm of {what} is inside its PEM, which keyplane does not parse; check "
        "the key by hand (RSA >= 2048 bits, ECDSA P-256 or P-384) and record an exception, or "
        "use a managed certificate"
    )


def _aws_acm_certificate(p: _Props) -> tuple[Facts, ...]:
    """ACM: requested (DNS- or e-mail-validated, or from a private CA) or imported."""
    if p.get("privateKey") is not None or p.get("certificateBody") is not None:
        # ACM never renews an imported certificate
        # (https://docs.aws.amazon.com/acm/latest/userguide/import-reimport.html).
        algorithm = p.text("keyAlgorithm")
        return _certificate(
            p,
            Cloud.AWS,
            renews=False,
            renewal_setting="imported into ACM (ACM does not renew imported certificates)",
            origin="imported",
            algorithm=tls.acm_algorithm(algorithm) if isinstance(algorithm, str) else UNKNOWN,
            algorithm_field=f"keyAlgorithm {algorithm}" if isinstance(algorithm, str) else "",
            private_key="privateKey",
        )
    method = p.text("validationMethod")
    authority = p.text("certificateAuthorityArn")
    renews: Maybe[bool]
    if isinstance(authority, str) and authority:
        renews, setting = True, "issued by a private CA (ACM renews it)"
    elif isinstance(method, Unknown) or isinstance(authority, Unknown):
        renews, setting = UNKNOWN, "validationMethod"
    else:
        # ACM renews e-mail-validated certificates only when someone answers the renewal mail.
        renews = method == "DNS"
        setting = f"validationMethod {method}" if method else "validationMethod unset"
    raw = p.text("keyAlgorithm")
    native = ACM_DEFAULT_ALGORITHM if raw is None else raw
    return _certificate(
        p,
        Cloud.AWS,
        renews=renews,
        renewal_setting=setting,
        origin="issued",
        algorithm=UNKNOWN if isinstance(native, Unknown) else tls.acm_algorithm(native),
        algorithm_field=""
        if isinstance(native, Unknown)
        else f"keyAlgorithm {native}" + (" (ACM's default)" if raw is None else ""),
    )


def _aws_server_certificate(p: _Props) -> tuple[Facts, ...]:
    return _certificate(
        p,
        Cloud.AWS,
        renews=False,
        renewal_setting="an IAM server certificate (IAM never renews certificates)",
        origin="imported",
        algorithm=UNKNOWN,
        algorithm_problem=_pem_algorithm("an IAM server certificate"),
        private_key="privateKey",
    )


def _gcp_certificate_manager(p: _Props) -> tuple[Facts, ...]:
    managed = p.get("managed")
    if managed is not None or p.get("selfManaged") is None:
        # Google picks the key of a managed certificate (RSA-2048 or ECDSA-P256, both approved)
        # and renews it (https://cloud.google.com/certificate-manager/docs/certificates).
        return _certificate(
            p,
            Cloud.GCP,
            renews=UNKNOWN if managed is UNKNOWN else managed is not None,
            renewal_setting="Google-managed"
            if managed is not None
            else "neither managed nor selfManaged set",
            origin="issued",
            algorithm=None,
            tags="labels",
        )
    return _certificate(
        p,
        Cloud.GCP,
        renews=False,
        renewal_setting="selfManaged (Google does not renew it)",
        origin="imported",
        algorithm=UNKNOWN,
        algorithm_problem=_pem_algorithm("a self-managed certificate"),
        private_key="selfManaged.pemPrivateKey"
        if p.get("selfManaged", "pemPrivateKey") is not None
        else "selfManaged.privateKeyPem",
        tags="labels",
    )


def _gcp_compute_certificate(p: _Props) -> tuple[Facts, ...]:
    return _certificate(
        p,
        Cloud.GCP,
        renews=False,
        renewal_setting="a self-managed Compute Engine SSL certificate (Google does not renew it)",
        origin="imported",
        algorithm=UNKNOWN,
        algorithm_problem=_pem_algorithm("a self-managed SSL certificate"),
        private_key="privateKey",
        tags=None,
        ids=("name", "id", "selfLink"),
    )


def _gcp_managed_certificate(p: _Props) -> tuple[Facts, ...]:
    return _certificate(
        p,
        Cloud.GCP,
        renews=True,
        renewal_setting="Google-managed",
        origin="issued",
        algorithm=None,
        tags=None,
        ids=("name", "id", "selfLink"),
    )


def _azure_certificate_order(p: _Props) -> tuple[Facts, ...]:
    auto_renew = p.flag("autoRenew", default=True)  # the API's default: renew
    size = p.number("keySize")
    return _certificate(
        p,
        Cloud.AZURE,
        renews=auto_renew,
        renewal_setting=f"autoRenew {str(auto_renew).lower()}",
        origin="issued",
        algorithm=UNKNOWN if isinstance(size, Unknown) else f"RSA-{size or 2048}",
        algorithm_field=f"keySize {size}" if isinstance(size, int) else "keySize unset (2048)",
        ids=("certificateOrderName", "id"),
    )


def _tls(
    p: _Props,
    cloud: Cloud,
    *,
    field: str,
    value: Maybe[str | None],
    minimum_of: Callable[[str], tls.TlsVersion | None],
    what: str,
    default: str | None = None,
    default_note: str = "",
) -> TlsEndpoint:
    """A `TlsEndpoint` from one setting: its value (or `default` when unset) read with
    `minimum_of`; an unknown name is a problem, never a pass."""
    base = {**_base(p, cloud, tags=None), "field": field}
    if isinstance(value, Unknown):
        return TlsEndpoint(**base, minimum=UNKNOWN, setting=field)
    name = value if value is not None else default
    if name is None:
        return TlsEndpoint(**base, minimum=None, setting=f"{field} unset")
    setting = f"{field} {name}" if value is not None else f"{field} unset ({default_note or name})"
    minimum = minimum_of(name)
    if minimum is None:
        return TlsEndpoint(
            **base,
            minimum=UNKNOWN,
            setting=setting,
            problem=f"{field} {name!r} is not {what} keyplane knows, so the TLS versions it "
            "accepts are unknown",
        )
    return TlsEndpoint(**base, minimum=minimum, setting=setting)


def _aws_listener(p: _Props) -> tuple[Facts, ...]:
    protocol = p.text("protocol")
    if isinstance(protocol, str) and protocol.upper() not in ("HTTPS", "TLS"):
        return (
            TlsEndpoint(
                **_base(p, Cloud.AWS, tags=None),
                minimum=None,
                setting=f"protocol {protocol}",
                field="sslPolicy",
            ),
        )
    return (
        _tls(
            p,
            Cloud.AWS,
            field="sslPolicy",
            value=UNKNOWN if isinstance(protocol, Unknown) else p.text("sslPolicy"),
            minimum_of=tls.elb_policy,
            what="an Elastic Load Balancing security policy",
            default=tls.ELB_DEFAULT_POLICY,
            default_note=f"the API's default is {tls.ELB_DEFAULT_POLICY}",
        ),
    )


def _aws_api_domain(p: _Props) -> tuple[Facts, ...]:
    return (
        _tls(
            p,
            Cloud.AWS,
            field="securityPolicy",
            value=p.text("securityPolicy"),
            minimum_of=tls.apigateway_minimum,
            what="an API Gateway security policy",
            default="TLS_1_0",
            default_note="API Gateway may apply TLS_1_0",
        ),
    )


def _aws_api_domain_v2(p: _Props) -> tuple[Facts, ...]:
    return (
        _tls(
            p,
            Cloud.AWS,
            field="domainNameConfiguration.securityPolicy",
            value=p.text("domainNameConfiguration", "securityPolicy"),
            minimum_of=tls.apigateway_minimum,
            what="an API Gateway security policy",
        ),
    )


def _aws_distribution(p: _Props) -> tuple[Facts, ...]:
    default_certificate = p.flag("viewerCertificate", "cloudfrontDefaultCertificate")
    if default_certificate is True:
        # The *.cloudfront.net certificate is CloudFront's, not a declared one (and CloudFront
        # then ignores minimumProtocolVersion).
        return (
            TlsEndpoint(
                **_base(p, Cloud.AWS, tags=None),
                minimum=None,
                setting="viewerCertificate.cloudfrontDefaultCertificate true",
                field="viewerCertificate.minimumProtocolVersion",
            ),
        )
    return (
        _tls(
            p,
            Cloud.AWS,
            field="viewerCertificate.minimumProtocolVersion",
            value=p.text("viewerCertificate", "minimumProtocolVersion"),
            minimum_of=tls.cloudfront_minimum,
            what="a CloudFront security policy",
            default="TLSv1",
            default_note="CloudFront's default is TLSv1",
        ),
    )


def _gcp_ssl_policy(p: _Props) -> tuple[Facts, ...]:
    # Named by its ids, so that a target proxy naming it (`sslPolicy`) finds it in the stack.
    return (
        dataclasses.replace(
            _tls(
                p,
                Cloud.GCP,
                field="minTlsVersion",
                value=p.text("minTlsVersion"),
                minimum_of=tls.gcp_minimum,
                what="a TLS version",
                default="TLS_1_0",
                default_note="GCP's default is TLS_1_0",
            ),
            ids=p.ids("name", "id", "selfLink"),
        ),
    )


def _gcp_proxy(p: _Props) -> tuple[Facts, ...]:
    policy = p.get("sslPolicy")
    if policy is not None:
        # The SSL policy decides; it is judged as a resource of its own.
        return (
            TlsEndpoint(
                **_base(p, Cloud.GCP, tags=None),
                minimum=None,
                setting="sslPolicy",
                field="sslPolicy",
                policy=p.ref("sslPolicy"),
            ),
        )
    # Without an SSL policy Google's default applies: TLS 1.0 and later
    # (https://cloud.google.com/load-balancing/docs/ssl-policies-concepts#defaultsslpolicy).
    return (
        TlsEndpoint(
            **_base(p, Cloud.GCP, tags=None),
            minimum=(1, 0),
            setting="sslPolicy unset (Google's default SSL policy accepts TLS 1.0)",
            field="sslPolicy",
        ),
    )


def _azure_application_gateway(p: _Props) -> tuple[Facts, ...]:
    listeners = p.get("httpListeners")
    https = (
        UNKNOWN
        if isinstance(listeners, Unknown)
        else any(
            isinstance(item, dict) and str(item.get("protocol", "")).lower() == "https"
            for item in listeners or ()
        )
    )
    if https is False:
        return (
            TlsEndpoint(
                **_base(p, Cloud.AZURE, tags=None),
                minimum=None,
                setting="no Https listener",
                field="sslPolicy",
            ),
        )
    policy_type = p.text("sslPolicy", "policyType")
    if isinstance(policy_type, str) and policy_type.lower().startswith("custom"):
        return (
            _tls(
                p,
                Cloud.AZURE,
                field="sslPolicy.minProtocolVersion",
                value=p.text("sslPolicy", "minProtocolVersion"),
                minimum_of=tls.appgw_protocol,
                what="a TLS version",
                default="TLSv1_0",
            ),
        )
    name = p.text("sslPolicy", "policyName")
    return (
        _tls(
            p,
            Cloud.AZURE,
            field="sslPolicy.policyName",
            value=UNKNOWN
            if isinstance(https, Unknown) or isinstance(policy_type, Unknown)
            else name,
            minimum_of=tls.appgw_policy,
            what="an Application Gateway predefined policy",
            default=tls.APPGW_DEFAULT_POLICY,
            default_note=f"the API's default is {tls.APPGW_DEFAULT_POLICY}",
        ),
    )


def _azure_storage_tls(p: _Props) -> TlsEndpoint:
    # A storage account without minimumTlsVersion accepts TLS 1.0
    # (https://learn.microsoft.com/azure/storage/common/transport-layer-security-configure-minimum-version).
    return _tls(
        p,
        Cloud.AZURE,
        field="minimumTlsVersion",
        value=p.text("minimumTlsVersion"),
        minimum_of=tls.azure_storage_minimum,
        what="a TLS version",
        default="TLS1_0",
        default_note="Azure's default is TLS1_0",
    )


# --- Azure, the Terraform-bridged provider (pulumi-azure, "classic") ---------------------------


def _azure_classic(p: _Props) -> tuple[Facts, ...]:
    """A pulumi-azure resource read as its azurerm values, through the azure-native reader of
    the same azurerm type (`keyplane.terraform.azure.CLASSIC_TYPES`): exactly the way checkov's
    plan of it is read back, so the pack, checkov and the diff get the same facts from either
    form. Facts keep the classic token and name its inputs (`value`, not `properties.value`)."""
    # The plan reader's own conversion, so both forms are read alike; imported here because
    # keyplane.adapters.terraform reads plans through this module's readers.
    from keyplane.adapters.terraform import mark_unknown, wire_inputs  # noqa: PLC0415

    record = p.resource
    row = CLASSIC_BY_TOKEN[record.type]
    assert row.native is not None
    converted = convert_inputs(record.inputs)
    renames = BLOCK_NAMES.get(row.terraform_type, {})
    values = {renames.get(k, k): v for k, v in converted.values.items()}
    unknown = {renames.get(k, k): v for k, v in converted.unknown.items()}
    native = dataclasses.replace(
        record,
        type=row.native,
        inputs=wire_inputs(row.terraform_type, mark_unknown(values, unknown)),
        property_dependencies={
            NATIVE_REFERENCES.get(name, name): urns
            for name, urns in record.property_dependencies.items()
        },
    )
    facts = _READERS[row.native](_Props(native, p.secrets_marked))
    return tuple(_as_classic(f, record.type) for f in facts)


def _as_classic(facts: Facts, token: str) -> Facts:
    if isinstance(facts, SecretValue):
        field = CLASSIC_SECRET_FIELDS.get(facts.field, facts.field)
        return dataclasses.replace(facts, type=token, field=field)
    return dataclasses.replace(facts, type=token)


def _azure_classic_assignment(p: _Props) -> tuple[Facts, ...]:
    """`azure:authorization/assignment:Assignment`: a built-in role may be named rather than
    given by ID (`roleDefinitionName: Key Vault Crypto Officer`); it is read as its ID, so that
    a role named is judged like the same role given by ID."""
    name = p.get("roleDefinitionName")
    if p.get("roleDefinitionId") is None and isinstance(name, str):
        role = azure_role_by_name(name)
        inputs = {**p.resource.inputs, "roleDefinitionId": role or name}
        p = _Props(dataclasses.replace(p.resource, inputs=inputs), p.secrets_marked)
    return _azure_classic(p)


def _azure_classic_role_definition(p: _Props) -> tuple[Facts, ...]:
    """`azure:authorization/roleDefinition:RoleDefinition`: azure-native's shape (`permissions`
    with `actions`, `dataActions` and their `not` lists), the role's name in `name`."""
    inputs = {**p.resource.inputs, "roleName": p.resource.inputs.get("name")}
    native = _Props(dataclasses.replace(p.resource, inputs=inputs), p.secrets_marked)
    return tuple(
        dataclasses.replace(f, type=p.resource.type) for f in _azure_role_definition(native)
    )


#: Key Vault's key types for certificates (`keyProperties.keyType`).
_AZURE_CERTIFICATE_KEY_TYPES = {"RSA": "RSA", "RSA-HSM": "RSA", "EC": "ECDSA", "EC-HSM": "ECDSA"}


def _azure_classic_certificate(p: _Props) -> tuple[Facts, ...]:
    """`azure:keyvault/certificate:Certificate`: generated by Key Vault from `certificatePolicy`
    (renewed by an `AutoRenew` lifetime action, https://learn.microsoft.com/azure/key-vault/
    certificates/overview-renew-certificate) or imported (`certificate.contents`, which Key
    Vault never renews, its private key inside the PFX/PEM and `certificate.password`)."""
    policy = p.get("certificatePolicy")
    imported = p.get("certificate") is not None
    actions = [] if policy is UNKNOWN else _classic_lifetime_actions(policy)
    renews: Maybe[bool]
    if imported:
        renews, setting = False, "imported (Key Vault does not renew imported certificates)"
    elif policy is UNKNOWN or any(a is UNKNOWN for a in actions):
        renews, setting = UNKNOWN, "certificatePolicy.lifetimeActions"
    else:
        kinds = [
            str((a.get("action") or {}).get("actionType", ""))
            for a in actions
            if isinstance(a, dict)
        ]
        renews = any(k.lower() == "autorenew" for k in kinds)
        setting = (
            "lifetime action " + ", ".join(kinds) if kinds else "no lifetime action (no renewal)"
        )
    key = p.get("certificatePolicy", "keyProperties")
    algorithm: Maybe[str | None]
    field = ""
    if imported and key is None:
        algorithm, problem = UNKNOWN, _pem_algorithm("an imported Key Vault certificate")
    elif key is UNKNOWN or not isinstance(key, dict):
        algorithm, problem = UNKNOWN, None
    else:
        kty, size, curve = key.get("keyType"), as_int(key.get("keySize")), key.get("curve")
        problem = None
        if UNKNOWN in (kty, size, curve):
            algorithm = UNKNOWN
        else:
            family = _AZURE_CERTIFICATE_KEY_TYPES.get(str(kty), str(kty))
            if family == "ECDSA":
                algorithm = f"ECDSA-{str(curve or 'P-256').replace('-', '')}"
            else:
                algorithm = f"{family}-{size}" if size else family
            field = "keyProperties " + " ".join(
                f"{k} {v}" for k, v in (("keyType", kty), ("keySize", size), ("curve", curve)) if v
            )
    return _certificate(
        p,
        Cloud.AZURE,
        renews=renews,
        renewal_setting=setting,
        origin="imported" if imported else "issued",
        algorithm=algorithm,
        algorithm_field=field,
        algorithm_problem=problem,
        private_key="certificate.contents" if imported else None,
        ids=("name", "id", "secretId"),
    )


def _classic_lifetime_actions(policy: Any) -> list[Any]:
    """`lifetimeActions` (Pulumi's name) or `lifetimeAction` (a plan's block read back), one
    action or a list."""
    if not isinstance(policy, dict):
        return []
    actions = policy.get("lifetimeActions", policy.get("lifetimeAction"))
    if actions is UNKNOWN:
        return [UNKNOWN]
    return as_list(actions)


_CLASSIC_READERS: Mapping[str, Callable[[_Props], tuple[Facts, ...]]] = {
    **{row.token: _azure_classic for row in CLASSIC_BY_TOKEN.values() if row.native},
    "azure:authorization/assignment:Assignment": _azure_classic_assignment,
    "azure:keyvault/certificate:Certificate": _azure_classic_certificate,
    "azure:authorization/roleDefinition:RoleDefinition": _azure_classic_role_definition,
}


_CERTIFICATE_READERS: Mapping[str, Callable[[_Props], tuple[Facts, ...]]] = {
    "aws:acm/certificate:Certificate": _aws_acm_certificate,
    "aws:iam/serverCertificate:ServerCertificate": _aws_server_certificate,
    "gcp:certificatemanager/certificate:Certificate": _gcp_certificate_manager,
    "gcp:compute/sSLCertificate:SSLCertificate": _gcp_compute_certificate,
    "gcp:compute/regionSslCertificate:RegionSslCertificate": _gcp_compute_certificate,
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": _gcp_managed_certificate,
    "azure-native:certificateregistration:AppServiceCertificateOrder": _azure_certificate_order,
    "aws:lb/listener:Listener": _aws_listener,
    "aws:alb/listener:Listener": _aws_listener,
    "aws:apigateway/domainName:DomainName": _aws_api_domain,
    "aws:apigatewayv2/domainName:DomainName": _aws_api_domain_v2,
    "aws:cloudfront/distribution:Distribution": _aws_distribution,
    "gcp:compute/sSLPolicy:SSLPolicy": _gcp_ssl_policy,
    "gcp:compute/regionSslPolicy:RegionSslPolicy": _gcp_ssl_policy,
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": _gcp_proxy,
    "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy": _gcp_proxy,
    "gcp:compute/targetSSLProxy:TargetSSLProxy": _gcp_proxy,
    "azure-native:network:ApplicationGateway": _azure_application_gateway,
}


_READERS: Mapping[str, Callable[[_Props], tuple[Facts, ...]]] = MappingProxyType(
    {
        "aws:kms/key:Key": _aws_key,
        "aws:kms/externalKey:ExternalKey": _aws_key,
        "aws:kms/replicaKey:ReplicaKey": _aws_key,
        "aws:kms/replicaExternalKey:ReplicaExternalKey": _aws_key,
        "aws-native:kms:Key": _aws_native_key,
        "aws-native:secretsmanager:Secret": _aws_native_secret,
        "aws-native:secretsmanager:RotationSchedule": _aws_secret_rotation,
        "aws-native:cloudtrail:Trail": _aws_native_trail,
        "aws-native:s3:Bucket": _aws_native_bucket,
        "aws:iam/userPolicy:UserPolicy": lambda p: _aws_user_or_group_policy(p, "user"),
        "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": _aws_sso_inline_policy,
        "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment": _aws_sso_managed_policy,
        "aws:iam/groupPolicy:GroupPolicy": lambda p: _aws_user_or_group_policy(p, "group"),
        "aws:iam/userPolicyAttachment:UserPolicyAttachment": _aws_policy_attachment,
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": _aws_policy_attachment,
        "aws:iam/policyAttachment:PolicyAttachment": _aws_policy_attachment,
        "aws:iam/accessKey:AccessKey": _aws_access_key,
        "aws:rds/instance:Instance": _self_secret_values("password"),
        "aws:rds/cluster:Cluster": _self_secret_values("masterPassword"),
        "aws:kms/keyPolicy:KeyPolicy": _aws_key_policy,
        "aws:kms/grant:Grant": _aws_kms_grant,
        "aws:iam/role:Role": _aws_role,
        "aws:iam/rolePolicy:RolePolicy": _aws_role_policy,
        "aws:iam/policy:Policy": _aws_policy,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _aws_policy_attachment,
        "aws:cloudtrail/trail:Trail": _aws_trail,
        "aws:s3/bucket:Bucket": _aws_bucket,
        "aws:s3/bucketV2:BucketV2": _aws_bucket,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _aws_object_lock,
        "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2": _aws_object_lock,
        "aws:s3/bucketVersioning:BucketVersioning": _aws_versioning,
        "aws:s3/bucketVersioningV2:BucketVersioningV2": _aws_versioning,
        "aws:secretsmanager/secret:Secret": _aws_secret,
        "aws:secretsmanager/secretRotation:SecretRotation": _aws_secret_rotation,
        "aws:secretsmanager/secretPolicy:SecretPolicy": _aws_secret_policy,
        "aws:secretsmanager/secretVersion:SecretVersion": _aws_secret_version,
        "aws:cloudhsmv2/cluster:Cluster": _aws_hsm_cluster,
        "gcp:kms/cryptoKey:CryptoKey": _gcp_key,
        "gcp:kms/keyRing:KeyRing": _gcp_key_ring,
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": lambda p: _gcp_members(p, "cryptoKeyId"),
        "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding": lambda p: _gcp_members(p, "cryptoKeyId"),
        "gcp:kms/cryptoKeyIAMPolicy:CryptoKeyIAMPolicy": lambda p: _gcp_members(p, "cryptoKeyId"),
        "gcp:kms/keyRingIAMMember:KeyRingIAMMember": lambda p: _gcp_members(p, "keyRingId"),
        "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding": lambda p: _gcp_members(p, "keyRingId"),
        "gcp:kms/keyRingIAMPolicy:KeyRingIAMPolicy": lambda p: _gcp_members(p, "keyRingId"),
        "gcp:secretmanager/secretIamMember:SecretIamMember": lambda p: _gcp_members(p, "secretId"),
        "gcp:secretmanager/secretIamBinding:SecretIamBinding": lambda p: _gcp_members(
            p, "secretId"
        ),
        "gcp:secretmanager/secretIamPolicy:SecretIamPolicy": lambda p: _gcp_members(p, "secretId"),
        "gcp:secretmanager/secret:Secret": _gcp_secret,
        "gcp:secretmanager/secretVersion:SecretVersion": _gcp_secret_version,
        "gcp:projects/iAMAuditConfig:IAMAuditConfig": _gcp_audit_config,
        **{
            f"{module}/iAM{kind}:IAM{kind}": _gcp_hierarchy_members(level, target)
            for module, level, target in (
                ("gcp:projects", "project", "project"),
                ("gcp:folder", "folder", "folder"),
                ("gcp:organizations", "organization", "orgId"),
            )
            for kind in ("Member", "Binding", "Policy")
        },
        "gcp:projects/iAMCustomRole:IAMCustomRole": _gcp_custom_role,
        "gcp:organizations/iAMCustomRole:IAMCustomRole": _gcp_custom_role,
        "gcp:logging/projectSink:ProjectSink": _gcp_sink,
        # Organisation and folder sinks export the audit logs of every project below them.
        "gcp:logging/organizationSink:OrganizationSink": _gcp_sink,
        "gcp:logging/folderSink:FolderSink": _gcp_sink,
        "gcp:logging/billingAccountSink:BillingAccountSink": _gcp_sink,
        "gcp:storage/bucket:Bucket": _gcp_bucket,
        "azure-native:keyvault:Vault": _azure_vault,
        "azure-native:keyvault:ManagedHsm": _azure_vault,
        "azure-native:keyvault:Key": _azure_key,
        "azure-native:keyvault:Secret": _azure_secret,
        "azure-native:keyvault:AccessPolicy": _azure_access_policy,
        "azure-native:authorization:RoleAssignment": _azure_role_assignment,
        "azure-native:authorization:RoleDefinition": _azure_role_definition,
        "azure-native:monitor:DiagnosticSetting": _azure_diagnostic,
        "azure-native:insights:DiagnosticSetting": _azure_diagnostic,
        "azure-native:storage:StorageAccount": _azure_storage_account,
        "azure-native:storage:BlobContainerImmutabilityPolicy": _azure_container_policy,
        **_CERTIFICATE_READERS,
        **_CLASSIC_READERS,
        "aws:cloudwatch/logMetricFilter:LogMetricFilter": _aws_metric_filter,
        "aws:cloudwatch/metricAlarm:MetricAlarm": _aws_metric_alarm,
        "aws:cloudwatch/eventRule:EventRule": _aws_event_rule,
        "aws:cloudwatch/eventTarget:EventTarget": _aws_event_target,
        "gcp:logging/metric:Metric": _gcp_log_metric,
        "gcp:monitoring/alertPolicy:AlertPolicy": _gcp_alert_policy,
        "azure-native:monitor:ActivityLogAlert": _azure_activity_alert,
        "azure-native:insights:ActivityLogAlert": _azure_activity_alert,
        "azure-native:monitor:ScheduledQueryRule": _azure_query_alert,
        "azure-native:insights:ScheduledQueryRule": _azure_query_alert,
    }
)

#: The Pulumi types keyplane reads.
SUPPORTED_TYPES = frozenset(_READERS)
#: The types whose readers may report a secret value of their inputs (`SecretValue`): the
#: report redacts what KM-STO-001 flags in them (`keyplane.reports.redaction`).
SECRET_VALUE_TYPES = frozenset(
    {
        "aws:kms/externalKey:ExternalKey",
        "aws:kms/replicaExternalKey:ReplicaExternalKey",
        "aws-native:secretsmanager:Secret",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:acm/certificate:Certificate",
        "aws:iam/serverCertificate:ServerCertificate",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "gcp:compute/sSLCertificate:SSLCertificate",
        "gcp:compute/regionSslCertificate:RegionSslCertificate",
        "gcp:certificatemanager/certificate:Certificate",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "azure-native:keyvault:Secret",
        "azure:keyvault/secret:Secret",
        "azure:keyvault/certificate:Certificate",
    }
)


def facts_from_resource(
    resource: ResourceLike, *, secrets_marked: bool = True
) -> tuple[Facts, ...]:
    """The facts one Pulumi resource declares (none for types no rule judges).

    `secrets_marked`: whether the properties still carry Pulumi's secret marks (they do in the
    wire form); without them a literal value cannot be told from a secret.
    """
    record = PulumiResource.of(resource)
    cloud = _cloud(record.type)
    if cloud is None:
        return ()
    reader = _READERS.get(record.type)
    if reader is None:
        return _unread(record, cloud)
    props = _Props(record, secrets_marked)
    return (*reader(props), *_unparseable(props, cloud))


#: Inputs that hold a policy document as JSON text, on the types keyplane reads.
_POLICY_FIELDS = ("policy", "assumeRolePolicy", "keyPolicy", "policyData", "policyDocument")


def _unparseable(p: _Props, cloud: Cloud) -> tuple[Facts, ...]:
    """A policy document the readers cannot parse, as a fact of its own: read as granting
    nothing, it must be reported, never passed (KM-COV-001)."""
    documents = [(name, p.get(name)) for name in _POLICY_FIELDS]
    inline = p.get("inlinePolicies")
    if isinstance(inline, list):
        documents += [
            (f"inlinePolicies[{i}].policy", item.get("policy"))
            for i, item in enumerate(inline)
            if isinstance(item, dict)
        ]
    found: list[Facts] = []
    for name, value in documents:
        problem = policy_problem(value)
        if problem is not None:
            found.append(Unparseable(**_base(p, cloud, tags=None), field=name, problem=problem))
    return tuple(found)


def unread_type(type_: str) -> bool:
    """Whether resources of `type_` hold or grant access to keys, secrets or certificates and
    no reader handles them (KM-COV-001): what a report counts as "not judged"."""
    return _cloud(type_) is not None and type_ not in _READERS and key_bearing(type_)


def _unread(record: PulumiResource, cloud: Cloud) -> tuple[Facts, ...]:
    """A type no reader handles: reported when it holds or grants access to keys, secrets or
    certificates (KM-COV-001), so that nothing key-bearing passes unseen."""
    if not unread_type(record.type):
        return ()
    return (
        Unread(
            urn=record.urn,
            name=record.name,
            type=record.type,
            cloud=cloud,
            protect=record.protect or record.retain_on_delete,
            parent=record.parent,
            dependencies=record.dependencies,
        ),
    )


def stack_facts(resources: Sequence[ResourceLike], *, secrets_marked: bool = True) -> StackFacts:
    return StackFacts(
        tuple(f for r in resources for f in facts_from_resource(r, secrets_marked=secrets_marked))
    )


#: Types whose facts may govern keys and secrets they do not name (identity policies reach
#: whatever their resources match, a trail or log sink covers the account or project): a change
#: to one is judged with the whole stack (`keyplane.diff`).
_WIDE_PREFIXES = (
    "aws:iam/",
    "aws:cloudtrail/",
    "aws-native:cloudtrail:",
    "gcp:projects/",
    "gcp:logging/",
    "gcp:organizations/",
    "gcp:folder/",
    "azure-native:authorization:",
    "azure-native:monitor:",
    "azure-native:insights:",
)


def reaches_widely(type_: str) -> bool:
    """Whether a resource of `type_` may govern resources it does not reference."""
    return type_.startswith(_WIDE_PREFIXES)
