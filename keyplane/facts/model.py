"""The provider-neutral view of resources that rules judge.

An adapter (Pulumi properties, Terraform-plan values, boto3 describe calls) turns one native
resource into one or more facts records; rules never see native property names. Every record
carries where it came from (`urn`: a Pulumi URN, a Terraform address or an ARN), the `name`
messages and exceptions use, the native `type` and the `cloud`.

Values that can be unknown during preview are typed `Maybe[...]` (UNKNOWN). Values that an
adapter cannot see at all (Pulumi's `protect` from a live audit) are UNKNOWN too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import TypeAlias, TypeVar, cast

from keyplane.facts.access import Grant
from keyplane.facts.signals import Signal
from keyplane.facts.values import UNKNOWN, Maybe, Ref, Unknown
from keyplane.standard import (
    TAG_ENVIRONMENT,
    TAG_PURPOSE,
    TAG_RENEW_BY,
    TAG_RENEWAL_OWNER,
    TAG_ROTATE_BY,
    TAG_ROTATION_OWNER,
    TAG_TENANT,
    Algorithm,
    Cloud,
    Usage,
)

Tags: TypeAlias = Mapping[str, "str | Unknown"]
_NO_TAGS: Tags = MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Resource:
    urn: str
    name: str
    type: str
    cloud: Cloud
    #: Pulumi's `protect` (or retain-on-delete) option.
    protect: Maybe[bool] = False
    #: Tags (AWS, Azure) or labels (GCP); UNKNOWN when the whole map is computed.
    tags: Maybe[Tags] = field(default_factory=lambda: _NO_TAGS)
    #: Identifiers other resources may use to point at this one (physical name, ID, ARN).
    ids: frozenset[str] = frozenset()
    parent: str = ""
    dependencies: tuple[str, ...] = ()

    def tag(self, key: str) -> Maybe[str | None]:
        if self.tags is UNKNOWN:
            return UNKNOWN
        return self.tags.get(key)

    def date_tag(self, key: str) -> Maybe[date | str | None]:
        """A tag holding a date (a manual plan's deadline): the date, or the raw text when it is
        not an ISO date (the rule then names it)."""
        value = self.tag(key)
        if not isinstance(value, str):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value

    @property
    def purpose_tag(self) -> Maybe[str | None]:
        return self.tag(TAG_PURPOSE)

    @property
    def environment_tag(self) -> Maybe[str | None]:
        return self.tag(TAG_ENVIRONMENT)

    @property
    def tenant_tag(self) -> Maybe[str | None]:
        return self.tag(TAG_TENANT)

    def matches(self, ref: Ref | None) -> bool:
        """Whether `ref` points at this resource (by URN, or by one of its identifiers)."""
        if ref is None:
            return False
        if self.urn in ref.urns:
            return True
        return bool(self.ids & ref.candidates())


class KeyOrigin(StrEnum):
    """Where a key's material was generated and is kept (KM-HSM-001)."""

    CLOUD_HSM = (
        "cloud-hsm"  # AWS KMS-generated (FIPS 140-3 L3 HSMs), GCP HSM, Azure -HSM/Managed HSM
    )
    DEDICATED_HSM = "dedicated-hsm"  # AWS CloudHSM custom key store
    SOFTWARE = "software"  # GCP SOFTWARE, Azure software keys
    IMPORTED = "imported"  # material imported from outside
    EXTERNAL = "external"  # an external key manager (AWS XKS, GCP EXTERNAL)


@dataclass(frozen=True, kw_only=True)
class Key(Resource):
    """A KMS key, crypto key or vault key."""

    #: The neutral algorithm, or the native name when keyplane does not know it.
    algorithm: Maybe[Algorithm | str]
    usage: Maybe[Usage | None]
    #: Whether the cloud can rotate this key by itself (KM-ROT-001 vs KM-ROT-004).
    can_rotate_automatically: Maybe[bool]
    rotation_enabled: Maybe[bool]
    #: Automatic rotation period; None when rotation is off or has no period.
    rotation_days: Maybe[int | None]
    #: Waiting period before destruction; None where the cloud keeps it elsewhere (Azure vault).
    deletion_window_days: Maybe[int | None]
    origin: Maybe[KeyOrigin]
    #: The native protection setting, for messages (`SOFTWARE`, `EXTERNAL`, `RSA`, ...).
    protection: Maybe[str]
    custom_key_store: Maybe[str | None] = None
    #: Grants written on the key itself (an AWS key policy).
    grants: Maybe[tuple[Grant, ...]] = ()
    #: The key ring (GCP) or vault (Azure) the key lives in.
    container: Ref | None = None
    #: Why the rotation period written on the key cannot be read (field, value, reason); None
    #: when it can.
    rotation_problem: str | None = None
    #: For an AWS multi-Region replica: its primary key, whose material, algorithm and rotation
    #: it shares (rules on those judge the primary); its policy, tags and window are its own.
    replica_of: Ref | None = None
    #: When the key was created (a live account's answer; None where it is not read): a
    #: restore test older than the key tested another key (KM-BAK-002).
    created: datetime | None = None

    @property
    def rotation_owner(self) -> Maybe[str | None]:
        return self.tag(TAG_ROTATION_OWNER)

    @property
    def rotate_by(self) -> Maybe[date | str | None]:
        """The manual plan's date; the raw text when it is not an ISO date."""
        return self.date_tag(TAG_ROTATE_BY)


@dataclass(frozen=True, kw_only=True)
class KeyContainer(Resource):
    """A GCP key ring: keys in different rings are administered apart (KM-BAK-001)."""


@dataclass(frozen=True, kw_only=True)
class Secret(Resource):
    """A vault secret (Secrets Manager, Secret Manager, Key Vault secret)."""

    #: The customer-managed key encrypting it; None = the provider's own key.
    kms_key: Maybe[str | None] = None
    kms_key_ref: Ref | None = None
    #: Rotation configured on the secret itself (GCP); None when none is.
    rotation_days: Maybe[int | None] = None
    grants: Maybe[tuple[Grant, ...]] = ()
    #: The vault holding it (Azure).
    container: Ref | None = None
    #: When the current value expires (Azure: the expiry that triggers its rotation).
    expires: Maybe[date | None] = None
    #: Why the rotation schedule read with the secret (audit: `RotationRules`) gives no period:
    #: it cannot be parsed or never recurs (`keyplane.facts.schedule`); None when it does.
    schedule_problem: str | None = None


@dataclass(frozen=True, kw_only=True)
class SecretValue(Resource):
    """A secret's value written by the program (KM-STO-001)."""

    secret: Ref
    #: The input property holding the value (as the native resource names it).
    field: str
    #: True when the value is in the inputs in plain text (not a Pulumi secret, not computed).
    plaintext: Maybe[bool]
    #: Where the value is written, for messages: `resource inputs`, `stack outputs`,
    #: `stack configuration`.
    location: str = "resource inputs"
    #: The fix a finding names, when it is not "pass it as a Pulumi secret" (an IAM access key
    #: keeps its secret in the state unless encrypted with a PGP key).
    remedy: str | None = None


@dataclass(frozen=True, kw_only=True)
class SecretRotation(Resource):
    """Rotation of a secret configured by a separate resource (AWS SecretRotation)."""

    secret: Ref
    enabled: Maybe[bool]
    #: The longest interval between two rotations (`keyplane.facts.schedule`), in days.
    rotation_days: Maybe[int | None]
    #: Why the schedule gives no period (field, value and reason); None when it gives one.
    schedule_problem: str | None = None


@dataclass(frozen=True, kw_only=True)
class AccessBinding(Resource):
    """Grants written apart from what they govern: a key policy resource, a KMS grant, an IAM
    policy, a GCP IAM member/binding/policy, an Azure role assignment, a secret policy.

    `target` is the key, secret, key ring, vault or scope the grants apply to; None for identity
    policies, whose grants name their resources.
    """

    grants: Maybe[tuple[Grant, ...]]
    target: Ref | None = None
    #: True for identity policies (IAM policies on a role), whose principal is the role.
    identity: bool = False
    #: The role definition the grants name, when it may be a custom one in the stack (an Azure
    #: role definition, a GCP custom role).
    role: Ref | None = None
    #: A GCP resource-hierarchy binding (`project`, `folder`, `organization`): `target` is that
    #: node, and the grants reach every key and secret below it.
    hierarchy: str | None = None


@dataclass(frozen=True, kw_only=True)
class RoleDefinition(Resource):
    """A custom role (Azure role definition): what its assignments allow."""

    role_id: Maybe[str | None]
    role_name: Maybe[str | None]
    actions: Maybe[tuple[str, ...]]
    not_actions: Maybe[tuple[str, ...]]


@dataclass(frozen=True, kw_only=True)
class PolicyAttachment(Resource):
    """A managed IAM policy attached to a role, a user or a group (AWS RolePolicyAttachment,
    UserPolicyAttachment, GroupPolicyAttachment, PolicyAttachment)."""

    #: The identity it is attached to (a role, user or group, as `principal_kind` says).
    role: Ref
    policy: Ref
    #: `role`, `user` or `group`.
    principal_kind: str = "role"


@dataclass(frozen=True, kw_only=True)
class Role(Resource):
    """An assumable identity (AWS IAM role) with its trust policy and inline policies."""

    role_name: Maybe[str | None]
    #: Who may assume the role (principal, sts action, conditions).
    trust: Maybe[tuple[Grant, ...]]
    #: The role's own inline policy statements (principal = the role).
    policies: Maybe[tuple[Grant, ...]] = ()
    managed_policies: Maybe[tuple[str, ...]] = ()


@dataclass(frozen=True, kw_only=True)
class Trail(Resource):
    """AWS CloudTrail (KM-LOG-001)."""

    multi_region: Maybe[bool]
    log_file_validation: Maybe[bool]
    kms_key: Maybe[str | None]
    logging_enabled: Maybe[bool]
    #: Whether KMS events are left out (management events off, or kms.amazonaws.com excluded).
    excludes_kms_events: Maybe[bool]
    bucket: Ref
    #: The CloudWatch Logs group the trail also delivers to (KM-MON-001); None when none.
    log_group: Ref | None = None


@dataclass(frozen=True, kw_only=True)
class AuditConfig(Resource):
    """GCP data-access audit log configuration of one service (KM-LOG-001)."""

    service: Maybe[str]
    log_types: Maybe[frozenset[str]]


@dataclass(frozen=True, kw_only=True)
class LogSink(Resource):
    """GCP log sink exporting audit logs (KM-LOG-001, KM-LOG-002)."""

    destination: Ref
    filter: Maybe[str | None]
    disabled: Maybe[bool]


@dataclass(frozen=True, kw_only=True)
class DiagnosticSetting(Resource):
    """Azure diagnostic setting: which logs of which resource go where (KM-LOG-001)."""

    target: Ref
    #: Enabled log categories and category groups (`AuditEvent`, `audit`, `allLogs`).
    enabled_logs: Maybe[frozenset[str]]
    storage: Ref | None = None
    workspace: Ref | None = None


class Immutability(StrEnum):
    COMPLIANCE = "COMPLIANCE"  # S3 Object Lock compliance mode
    GOVERNANCE = "GOVERNANCE"  # S3 governance mode: removable with a permission
    LOCKED = "LOCKED"  # GCS locked retention policy, Azure locked immutability policy
    UNLOCKED = "UNLOCKED"  # a retention policy that can still be shortened or removed


@dataclass(frozen=True, kw_only=True)
class LogBucket(Resource):
    """Storage that may hold audit logs: an S3 bucket, a GCS bucket, an Azure storage account.

    Settings written on the bucket itself; S3's separate object-lock and versioning resources are
    `ObjectLock` and `Versioning` facts joined at stack level.
    """

    bucket_name: Maybe[str | None]
    immutability: Maybe[Immutability | None]
    retention_days: Maybe[int | None]
    versioning: Maybe[bool | None]
    #: S3: Object Lock switched on for the bucket (required before any lock configuration).
    object_lock_enabled: Maybe[bool | None] = None


@dataclass(frozen=True, kw_only=True)
class ObjectLock(Resource):
    """Retention configured apart from its bucket (S3 object lock configuration, Azure container
    immutability policy)."""

    bucket: Ref
    immutability: Maybe[Immutability | None]
    retention_days: Maybe[int | None]


@dataclass(frozen=True, kw_only=True)
class Versioning(Resource):
    bucket: Ref
    enabled: Maybe[bool]


@dataclass(frozen=True, kw_only=True)
class Vault(Resource):
    """An Azure Key Vault or Managed HSM (KM-STO-002, KM-DEL-001)."""

    vault_name: Maybe[str | None]
    managed_hsm: bool
    purge_protection: Maybe[bool]
    soft_delete_days: Maybe[int | None]
    rbac_authorization: Maybe[bool]
    public_network_access: Maybe[bool]
    sku: Maybe[str | None] = None
    #: Soft delete (`enableSoftDelete`, on unless switched off; always on for a Managed HSM).
    soft_delete: Maybe[bool] = True


@dataclass(frozen=True, kw_only=True)
class HsmCluster(Resource):
    """A dedicated HSM cluster (AWS CloudHSM v2; KM-DEL-001)."""


@dataclass(frozen=True, kw_only=True)
class LogMetric(Resource):
    """A metric counted from log entries (KM-MON-001): a CloudWatch Logs metric filter (AWS) or
    a log-based metric (GCP)."""

    #: The metric's name as alerts name it: `<namespace>/<name>` (AWS), the name (GCP).
    metric: Maybe[str | None]
    #: The misuse signals its filter matches (`keyplane.facts.signals`).
    signals: Maybe[frozenset[Signal]]
    #: AWS: the log group it reads (it counts only what a trail delivers there).
    log_group: Ref | None = None


@dataclass(frozen=True, kw_only=True)
class Alert(Resource):
    """A rule that notifies someone (KM-MON-001): a CloudWatch alarm or an EventBridge rule
    (AWS), an alert policy (GCP), an activity-log or scheduled-query alert (Azure)."""

    #: Misuse signals its own pattern, filter or query matches.
    signals: Maybe[frozenset[Signal]] = frozenset()
    #: Metrics it watches, named as `LogMetric.metric`; their signals count as its own.
    metrics: Maybe[frozenset[str]] = frozenset()
    #: Where it notifies: SNS topic ARNs, notification channels, action groups. An EventBridge
    #: rule's targets are `AlertTarget` facts.
    destinations: Maybe[tuple[str, ...]] = ()
    enabled: Maybe[bool] = True
    #: Whether its destinations are separate resources (`AlertTarget`: EventBridge).
    targets_apart: bool = False


@dataclass(frozen=True, kw_only=True)
class AlertTarget(Resource):
    """A target of an EventBridge rule (AWS EventTarget): where the rule's events go."""

    rule: Ref
    destination: Maybe[str | None]


@dataclass(frozen=True, kw_only=True)
class Certificate(Resource):
    """A TLS certificate (ACM, IAM server certificate, Certificate Manager, Compute SSL
    certificate, App Service certificate order; KM-CRT-001)."""

    #: Whether the provider renews it by itself before expiry (ACM DNS-validated or private-CA
    #: issued, Google-managed, App Service auto-renew).
    renews_automatically: Maybe[bool]
    #: `imported` (material brought from outside), `issued` (by the provider's CA).
    origin: str
    #: The neutral key algorithm (`RSA-2048`, `ECDSA-P256`, as `CERTIFICATE_ALGORITHMS` names
    #: them), the native name when keyplane does not know it, or None when the provider picks
    #: an approved key itself (Google-managed certificates: RSA-2048 or ECDSA-P256).
    algorithm: Maybe[str | None]
    #: The input property and native value the algorithm was read from, for messages.
    algorithm_field: str = ""
    #: Why the algorithm cannot be read from the inputs (an imported PEM); None when it can.
    algorithm_problem: str | None = None
    #: The private key written in the inputs: its property name, and whether it is plain text
    #: (not a Pulumi secret); None when no private key is in the inputs.
    private_key_field: str | None = None
    private_key_plaintext: Maybe[bool] = False
    #: The end of the current certificate's validity (audit: `NotAfter`); None when unknown.
    not_after: date | None = None
    #: How it renews, for messages (`validationMethod EMAIL`, `autoRenew false`).
    renewal_setting: str = ""

    @property
    def renewal_owner(self) -> Maybe[str | None]:
        return self.tag(TAG_RENEWAL_OWNER)

    @property
    def renew_by(self) -> Maybe[date | str | None]:
        """The manual plan's date; the raw text when it is not an ISO date."""
        return self.date_tag(TAG_RENEW_BY)


@dataclass(frozen=True, kw_only=True)
class TlsEndpoint(Resource):
    """An endpoint setting that decides which TLS versions clients may use (KM-CRT-002): a load
    balancer listener's security policy, an API domain's or CDN's minimum protocol, an SSL
    policy, a target proxy, an application gateway, a storage account."""

    #: The oldest TLS version accepted, as (major, minor); None when the resource terminates
    #: no TLS (an HTTP listener) or leaves the choice to a policy resource (`policy`).
    minimum: Maybe[tuple[int, int] | None]
    #: The setting and its value as written (`sslPolicy ELBSecurityPolicy-2016-08`), or what
    #: applies when it is unset (`sslPolicy unset (default ELBSecurityPolicy-2016-08)`).
    setting: str
    #: The native property to change, for messages.
    field: str
    #: Why the setting cannot be judged (an SSL policy name keyplane does not know); None when
    #: it can.
    problem: str | None = None
    #: The policy resource that decides the versions (a target proxy's SSL policy).
    policy: Ref | None = None


@dataclass(frozen=True, kw_only=True)
class Unread(Resource):
    """A resource whose type holds or grants access to keys, secrets or certificates but that no
    reader handles (KM-COV-001): its settings are not judged (`keyplane.adapters.coverage`)."""


@dataclass(frozen=True, kw_only=True)
class Unparseable(Resource):
    """A document written on a resource that keyplane cannot parse (a policy that is not valid
    JSON): the grants read from it are not to be trusted (KM-COV-001 reports it)."""

    #: The input property holding the document (`policy`, `inlinePolicies[0].policy`).
    field: str
    #: What is wrong (`is not valid JSON: Expecting ...`).
    problem: str


Facts: TypeAlias = (
    Key
    | KeyContainer
    | Secret
    | SecretValue
    | SecretRotation
    | AccessBinding
    | PolicyAttachment
    | Role
    | RoleDefinition
    | Trail
    | AuditConfig
    | LogSink
    | DiagnosticSetting
    | LogBucket
    | ObjectLock
    | Versioning
    | Vault
    | HsmCluster
    | LogMetric
    | Alert
    | AlertTarget
    | Certificate
    | TlsEndpoint
    | Unread
    | Unparseable
)


F = TypeVar("F", bound=Resource)
T = TypeVar("T")


@dataclass(frozen=True)
class StackFacts:
    """Every resource of a stack, for rules that judge across resources.

    Lookups (`of`, `resolve`, `by_urn`, `referring_to`) use indexes built on first use, so that
    a rule joining every key to its bindings stays linear in the size of the stack.
    """

    resources: tuple[Facts, ...] = field(default=())

    def of(self, kind: type[F]) -> list[F]:
        return list(self._by_kind(kind))

    @property
    def keys(self) -> list[Key]:
        return self.of(Key)

    @property
    def secrets(self) -> list[Secret]:
        return self.of(Secret)

    def resolve(self, ref: Ref | None) -> list[Facts]:
        """The resources `ref` points at (`Resource.matches`), in stack order."""
        if ref is None:
            return []
        index = self._index
        found = index.resolved.get(ref)
        if found is None:
            positions = {i for urn in ref.urns for i in index.by_urn.get(urn, ())}
            positions.update(i for c in ref.candidates() for i in index.by_id.get(c, ()))
            found = tuple(self.resources[i] for i in sorted(positions))
            index.resolved[ref] = found
        return list(found)

    def by_urn(self, urn: str) -> Facts | None:
        positions = self._index.by_urn.get(urn)
        return self.resources[positions[0]] if positions else None

    def referring_to(self, resource: Resource, kind: type[F], attribute: str) -> list[F]:
        """The `kind` facts whose reference `attribute` (a `Ref`) points at `resource`, in stack
        order: `[f for f in self.of(kind) if resource.matches(f.<attribute>)]`."""
        facts = self._by_kind(kind)
        index = self._index.referring.get((kind, attribute))
        if index is None:
            index = defaultdict(list)
            for i, fact in enumerate(facts):
                ref = getattr(fact, attribute)
                if ref is not None:
                    for value in {*ref.urns, *ref.candidates()}:
                        index[value].append(i)
            self._index.referring[(kind, attribute)] = index
        positions = {i for value in {resource.urn, *resource.ids} for i in index.get(value, ())}
        return [
            facts[i] for i in sorted(positions) if resource.matches(getattr(facts[i], attribute))
        ]

    def derived(self, build: Callable[[StackFacts], T]) -> T:
        """`build(self)`, computed once per stack: for rules' joins that several rules share.
        `build` must be a pure function of the stack."""
        cache = self._index.derived
        if build not in cache:
            cache[build] = build(self)
        return cast(T, cache[build])

    def _by_kind(self, kind: type[F]) -> tuple[F, ...]:
        cache = self._index.by_kind
        if kind not in cache:
            cache[kind] = tuple(f for f in self.resources if isinstance(f, kind))
        return cast(tuple[F, ...], cache[kind])

    @cached_property
    def _index(self) -> _StackIndex:
        # cached_property stores in the instance's __dict__, which a frozen dataclass allows;
        # the index is not a field, so equality, hashing and `replace` ignore it.
        return _StackIndex(self.resources)


class _StackIndex:
    """Positions of a stack's resources by URN and by identifier, and lookups built from them."""

    def __init__(self, resources: tuple[Facts, ...]) -> None:
        self.by_urn: dict[str, list[int]] = defaultdict(list)
        self.by_id: dict[str, list[int]] = defaultdict(list)
        for i, fact in enumerate(resources):
            self.by_urn[fact.urn].append(i)
            for identifier in fact.ids:
                self.by_id[identifier].append(i)
        self.by_kind: dict[type, tuple[Resource, ...]] = {}
        self.resolved: dict[Ref, tuple[Facts, ...]] = {}
        self.referring: dict[tuple[type, str], dict[str, list[int]]] = {}
        self.derived: dict[Callable[[StackFacts], object], object] = {}
