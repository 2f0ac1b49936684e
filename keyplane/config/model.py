"""Schemas of the estate files: `<env>.yaml`, `exceptions.yaml`, `shared-services.yaml`.

The models check form (fields, types, formats); `keyplane.config.estate` checks what spans fields
and files (declared tenants, known keys, what a cloud can do). Values that are well-formed but
break the policy are accepted here and reported by the rules, so that an exception can cover them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from keyplane.standard import (
    ALGORITHMS,
    DEFAULT_DELETION_WINDOW_DAYS,
    PROTECTED_TIERS,
    PURPOSES,
    Algorithm,
    Cloud,
    Isolation,
    KeyPurpose,
    Tier,
    Usage,
    default_hsm,
    rotates_automatically,
)


def _pattern(regex: str, what: str, example: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError(
                "keyplane_format",
                "expected {what}, like {example}",
                {"what": what, "example": example},
            )
        return value

    return check


def _iso_date(value: Any) -> Any:
    """Accept a quoted ISO date as well as YAML's own date."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    raise PydanticCustomError("keyplane_date", "expected a date YYYY-MM-DD", {})


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("keyplane_blank", "must not be empty", {})
    return value


Name = Annotated[
    StrictStr,
    AfterValidator(
        _pattern(
            r"[a-z][a-z0-9-]{0,46}[a-z0-9]|[a-z]",
            "a lower-case name of letters, digits and dashes (at most 48)",
            "acme-orders-db",
        )
    ),
]
Text = Annotated[StrictStr, AfterValidator(_not_blank)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Days = Annotated[StrictInt, Field(ge=1, le=36500)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- environment -------------------------------------------------------------------------------


class AwsSettings(_Model):
    account_id: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(r"\d{12}", "a 12-digit AWS account ID in quotes", '"111111111111"')
        ),
    ]
    region: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", "an AWS region", "eu-west-1")
        ),
    ]


class GcpSettings(_Model):
    project: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "a GCP project ID", "acme-prod-kms")
        ),
    ]
    location: Annotated[
        StrictStr,
        AfterValidator(_pattern(r"[a-z]+(-[a-z]+\d?)?(\d)?", "a GCP location", "europe-west1")),
    ]


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class AzureSettings(_Model):
    subscription_id: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(
                _UUID, "an Azure subscription ID (a GUID)", "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
            )
        ),
    ]
    tenant_id: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(
                _UUID, "an Entra ID tenant ID (a GUID)", "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
            )
        ),
    ]
    location: Annotated[
        StrictStr, AfterValidator(_pattern(r"[a-z0-9]+", "an Azure location", "westeurope"))
    ]
    resource_group: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(r"[-\w.()]{1,89}[-\w()]", "an Azure resource group name", "kms-prod")
        ),
    ]


class HsmSettings(_Model):
    enabled: StrictBool
    #: AWS only: one CloudHSM HSM per subnet (one subnet per availability zone).
    subnet_ids: tuple[
        Annotated[
            StrictStr,
            AfterValidator(_pattern(r"subnet-[0-9a-f]{8,17}", "a subnet ID", "subnet-0a1b2c3d")),
        ],
        ...,
    ] = ()


class LoggingSettings(_Model):
    #: How long audit logs are kept immutable (KM-LOG-002).
    retention_days: Days


class Tenant(_Model):
    name: Name
    isolation: Isolation


class RotationPlan(_Model):
    """The manual rotation plan of a key its cloud cannot rotate (KM-ROT-004)."""

    owner: Text
    rotate_by: IsoDate


class Retirement(_Model):
    """A key being destroyed (Proc 4.5): its deletion is then lifecycle evidence, not a fault."""

    on: IsoDate
    reason: Text


class KeySpec(_Model):
    name: Name
    purpose: KeyPurpose
    #: A cloud-neutral algorithm name (keyplane.standard.ALGORITHMS).
    algorithm: StrictStr
    tenant: Name | None = None
    #: Automatic rotation period; default: the purpose's maximum.
    rotation_days: Days | None = None
    #: Default: the tier's rule ("HSM, per cloud" in DESIGN.md).
    hsm: StrictBool | None = None
    #: Waiting period before destruction; default: the cloud's policy value.
    deletion_window_days: Days | None = None
    rotation: RotationPlan | None = None
    #: The last successful restore test of a backup-encryption key (KM-BAK-002).
    restore_tested_on: IsoDate | None = None
    retired: Retirement | None = None


class AwsSecretSettings(_Model):
    rotation_lambda_arn: Annotated[
        StrictStr,
        AfterValidator(
            _pattern(
                r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?",
                "a Lambda function ARN",
                "arn:aws:lambda:eu-west-1:111111111111:function:rotate-api-key",
            )
        ),
    ]


class SecretSpec(_Model):
    name: Name
    purpose: KeyPurpose
    tenant: Name | None = None
    #: Automatic rotation period; default: the purpose's maximum.
    rotation_days: Days | None = None
    aws: AwsSecretSettings | None = None


class KeyUser(_Model):
    principal: Text
    tenant: Name | None = None
    #: Names of the environment's keys (and secrets) this principal may use.
    keys: Annotated[tuple[Name, ...], Field(min_length=1)]


class Access(_Model):
    key_admins: Annotated[tuple[Text, ...], Field(min_length=1)]
    #: Administrators of backup-encryption keys, apart from key_admins (KM-BAK-001).
    backup_key_admins: tuple[Text, ...] = ()
    auditors: tuple[Text, ...] = ()
    key_users: tuple[KeyUser, ...] = ()


class Monitoring(_Model):
    """Where alerts on key misuse go (KM-MON-001): AWS SNS topic ARNs, GCP notification channel
    IDs, Azure action group resource IDs (checked per cloud by the loader)."""

    notify: Annotated[tuple[Text, ...], Field(min_length=1)]


class Renewal(StrEnum):
    MANAGED = "managed"
    MANUAL = "manual"


class Certificate(_Model):
    """A TLS certificate of the environment (KM-CRT-001)."""

    name: Name
    domains: Annotated[tuple[Text, ...], Field(min_length=1)]
    #: One of `CERTIFICATE_ALGORITHMS` (checked by the loader, naming the known ones).
    algorithm: StrictStr
    tenant: Name | None = None
    renewal: Renewal = Renewal.MANAGED
    #: The manual renewal plan (renewal: manual): who renews it and by when.
    owner: Text | None = None
    renew_by: IsoDate | None = None


class Environment(_Model):
    name: Name
    tier: Tier
    cloud: Cloud
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    azure: AzureSettings | None = None
    hsm: HsmSettings
    logging: LoggingSettings
    tenants: tuple[Tenant, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    access: Access
    monitoring: Monitoring | None = None
    certificates: tuple[Certificate, ...] = ()

    @property
    def protected(self) -> bool:
        """Keys and HSM clusters carry Pulumi's `protect` (KM-DEL-001)."""
        return self.tier in PROTECTED_TIERS

    @property
    def is_production(self) -> bool:
        return self.tier is Tier.PRODUCTION

    @property
    def scope_id(self) -> str:
        """The environment's account, project or subscription."""
        if self.aws is not None:
            return self.aws.account_id
        if self.gcp is not None:
            return self.gcp.project
        assert self.azure is not None
        return self.azure.subscription_id

    # Indexes built once per (frozen) environment: looked up per key, a scan of the lists made
    # the render quadratic in the number of keys and key users (10,000 keys, 5,000 users).
    @cached_property
    def _tenants_by_name(self) -> dict[str, Tenant]:
        return {t.name: t for t in reversed(self.tenants)}

    @cached_property
    def _keys_by_name(self) -> dict[str, KeySpec]:
        return {k.name: k for k in reversed(self.keys)}

    @cached_property
    def _secrets_by_name(self) -> dict[str, SecretSpec]:
        return {s.name: s for s in reversed(self.secrets)}

    @cached_property
    def _users_by_item(self) -> dict[str, tuple[str, ...]]:
        users: dict[str, list[str]] = {}
        for user in self.access.key_users:
            for item in dict.fromkeys(user.keys):
                users.setdefault(item, []).append(user.principal)
        return {item: tuple(principals) for item, principals in users.items()}

    def tenant(self, name: str) -> Tenant | None:
        return self._tenants_by_name.get(name)

    def key(self, name: str) -> KeySpec | None:
        return self._keys_by_name.get(name)

    def secret(self, name: str) -> SecretSpec | None:
        return self._secrets_by_name.get(name)

    def users_of(self, name: str) -> tuple[str, ...]:
        """Principals that may use the key or secret `name`, in the access block's order."""
        return self._users_by_item.get(name, ())

    def admins_of(self, key: KeySpec) -> tuple[str, ...]:
        """Backup keys are administered apart from primary keys (KM-BAK-001)."""
        if key.purpose is KeyPurpose.BACKUP_ENCRYPTION and self.access.backup_key_admins:
            return self.access.backup_key_admins
        return self.access.key_admins

    def resolve(self, key: KeySpec) -> ResolvedKey:
        """The key with every default applied, as the components provision it."""
        algorithm = ALGORITHMS[key.algorithm]
        hsm = (
            key.hsm
            if key.hsm is not None
            else default_hsm(self.cloud, key.purpose, self.hsm.enabled)
        )
        in_custom_key_store = self.cloud is Cloud.AWS and hsm
        auto = rotates_automatically(self.cloud, algorithm, in_custom_key_store=in_custom_key_store)
        return ResolvedKey(
            spec=key,
            algorithm=algorithm,
            usage=key_usage(algorithm, key.purpose) or next(iter(algorithm.usages)),
            hsm=hsm,
            rotation_days=(key.rotation_days or PURPOSES[key.purpose].max_rotation_days)
            if auto
            else None,
            deletion_window_days=key.deletion_window_days
            or DEFAULT_DELETION_WINDOW_DAYS[self.cloud],
            admins=self.admins_of(key),
            users=self.users_of(key.name),
            auditors=self.access.auditors,
        )

    def resolved_keys(self) -> tuple[ResolvedKey, ...]:
        return tuple(self.resolve(k) for k in self.keys)

    def secret_rotation_days(self, secret: SecretSpec) -> int:
        return secret.rotation_days or PURPOSES[secret.purpose].max_rotation_days


@dataclass(frozen=True)
class ResolvedKey:
    """A declared key with the policy's defaults applied: what the components provision."""

    spec: KeySpec
    algorithm: Algorithm
    usage: Usage
    #: GCP/Azure: HSM protection; AWS: created in the dedicated CloudHSM key store.
    hsm: bool
    #: Automatic rotation period, or None when the cloud cannot rotate this key (manual plan).
    rotation_days: int | None
    deletion_window_days: int
    admins: tuple[str, ...]
    users: tuple[str, ...]
    auditors: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def purpose(self) -> KeyPurpose:
        return self.spec.purpose

    @property
    def tenant(self) -> str | None:
        return self.spec.tenant


def key_usage(algorithm: Algorithm, purpose: KeyPurpose) -> Usage | None:
    """What a key of `algorithm` does for `purpose` (None when the two do not fit)."""
    usable = algorithm.usages & PURPOSES[purpose].usages
    if not usable:
        return None
    # An RSA key of an encryption purpose encrypts; HMAC keys MAC; the rest sign.
    for usage in (Usage.ENCRYPT, Usage.SIGN, Usage.MAC):
        if usage in usable:
            return usage
    return None  # pragma: no cover - usable is non-empty


# --- exceptions register (Policy §15) ----------------------------------------------------------


class RiskException(_Model):
    id: Annotated[
        StrictStr, AfterValidator(_pattern(r"EXC-\d{4}-\d{3,}", "an exception ID", "EXC-2026-007"))
    ]
    #: The rule ID the exception covers (never KM-EXC-*).
    rule: StrictStr
    environment: Name
    #: The Pulumi resource name (or declared key/secret name) the exception covers.
    resource: Text
    justification: Text
    accepted_by: Text
    accepted_on: IsoDate
    compensating_controls: Annotated[tuple[Text, ...], Field(min_length=1)]
    expires: IsoDate

    def active_on(self, day: date) -> bool:
        return day <= self.expires


class ExceptionsFile(_Model):
    exceptions: tuple[RiskException, ...] = ()


# --- shared-service boundary register (Policy §12) --------------------------------------------


class SharedKey(_Model):
    environment: Name
    key: Name
    tenants: Annotated[tuple[Name, ...], Field(min_length=1)]
    justification: Text
    risk_accepted_by: Text
    accepted_on: IsoDate


class SharedServicesFile(_Model):
    shared_keys: tuple[SharedKey, ...] = ()
