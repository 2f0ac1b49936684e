"""The policy's numbers, once, as typed immutable data.

Everything keyplane provisions or judges takes its limits from here: the components' defaults,
the CrossGuard pack, the checkov checks, the live audit and the environment-file validation.
Sources are cited as "Policy §N" (Cryptographic-Key-Management-Policy v1.0) and "Proc N.N"
(OP-PROC-001 Key Lifecycle Procedure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType

POLICY_NAME = "Cryptographic Key Management Policy"
POLICY_VERSION = "1.0"
#: Date of the last review of the policy (its version history, Policy §16).
POLICY_REVIEWED_ON = date(2026, 2, 8)
#: Policy §16: reviewed annually; a review older than this is reported by KM-REV-001.
POLICY_REVIEW_INTERVAL_DAYS = 365
#: Policy §15 / KM-EXC-001: an exception expires at most this long after its acceptance.
EXCEPTION_MAX_DAYS = 365


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"


class Tier(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


#: Tiers whose keys and HSM clusters carry Pulumi's `protect` option (KM-DEL-001).
PROTECTED_TIERS: frozenset[Tier] = frozenset({Tier.STAGING, Tier.PRODUCTION})


class Usage(StrEnum):
    """What a key does with its material."""

    ENCRYPT = "encrypt"
    SIGN = "sign"
    MAC = "mac"


class Isolation(StrEnum):
    """A tenant's key separation strategy (Policy §12, Tenant-Isolation-Claim)."""

    DEDICATED = "dedicated"  # uses its own keys only
    SHARED = "shared"  # may also use keys registered for it in the shared-service register


class KeyPurpose(StrEnum):
    """The key types of Policy §2 and §9."""

    APPLICATION_ENCRYPTION = "application-encryption"
    DATABASE_ENCRYPTION = "database-encryption"
    BACKUP_ENCRYPTION = "backup-encryption"
    TOKEN_SIGNING = "token-signing"
    API_SECRET = "api-secret"
    TLS_CERTIFICATE = "tls-certificate"
    AI_SERVICE_KEY = "ai-service-key"
    CLOUD_PROVIDER = "cloud-provider"


@dataclass(frozen=True)
class PurposeSpec:
    purpose: KeyPurpose
    #: Longest rotation period the policy allows (KM-ROT-002, KM-ROT-003).
    max_rotation_days: int
    #: What a key of this purpose may do (KM-PUR-001: used only for its declared purpose).
    usages: frozenset[Usage]
    #: In production the key is generated and kept in an HSM (KM-HSM-001, Proc 4.1/4.3).
    hsm_required_in_production: bool
    source: str


_ENCRYPT = frozenset({Usage.ENCRYPT})
_SIGN_OR_MAC = frozenset({Usage.SIGN, Usage.MAC})

PURPOSES: Mapping[KeyPurpose, PurposeSpec] = MappingProxyType(
    {
        spec.purpose: spec
        for spec in (
            PurposeSpec(
                KeyPurpose.APPLICATION_ENCRYPTION,
                365,
                _ENCRYPT,
                False,
                "Proc 4.4 (at least annually)",
            ),
            PurposeSpec(
                KeyPurpose.DATABASE_ENCRYPTION, 365, _ENCRYPT, True, "Policy §9 (annual), Proc 4.1"
            ),
            PurposeSpec(
                KeyPurpose.BACKUP_ENCRYPTION, 365, _ENCRYPT, True, "Proc 4.4, Policy §11, Proc 4.1"
            ),
            PurposeSpec(
                KeyPurpose.TOKEN_SIGNING, 180, _SIGN_OR_MAC, True, "Policy §9 (every 180 days)"
            ),
            PurposeSpec(
                KeyPurpose.API_SECRET,
                90,
                frozenset({Usage.MAC, Usage.ENCRYPT}),
                False,
                "Policy §9 (every 90 days)",
            ),
            # Policy §9: "before expiry, automatic renewal preferred"; Proc 4.4 caps it at a year.
            PurposeSpec(
                KeyPurpose.TLS_CERTIFICATE,
                365,
                frozenset({Usage.SIGN}),
                False,
                "Policy §9, Proc 4.4",
            ),
            # Policy §13 treats AI service keys as API keys: the 90-day period of API secrets.
            PurposeSpec(
                KeyPurpose.AI_SERVICE_KEY,
                90,
                frozenset({Usage.MAC, Usage.ENCRYPT}),
                False,
                "Policy §9, §13",
            ),
            PurposeSpec(
                KeyPurpose.CLOUD_PROVIDER, 365, _ENCRYPT, False, "Proc 4.4 (at least annually)"
            ),
        )
    }
)

#: Purposes whose keys must live in an HSM in production (KM-HSM-001).
HSM_REQUIRED_PURPOSES: frozenset[KeyPurpose] = frozenset(
    p for p, spec in PURPOSES.items() if spec.hsm_required_in_production
)
#: Purposes whose vault secrets must rotate automatically at most every 90 days (KM-ROT-003).
SECRET_ROTATION_PURPOSES: frozenset[KeyPurpose] = frozenset(
    {KeyPurpose.API_SECRET, KeyPurpose.AI_SERVICE_KEY}
)
#: The strictest rotation period, used where a resource declares no purpose (KM-PUR-001).
STRICTEST_ROTATION_DAYS = min(spec.max_rotation_days for spec in PURPOSES.values())
#: Vault secrets of `SECRET_ROTATION_PURPOSES` rotate at least this often, in days (Policy §9
#: "API Secrets: every 90 days", §13; KM-ROT-003).
SECRET_ROTATION_MAX_DAYS = 90
#: Backup keys are tested for restoration at least annually (Policy §11, KM-BAK-002).
RESTORE_TEST_MAX_AGE_DAYS = 365


class Family(StrEnum):
    AES = "AES"
    RSA = "RSA"
    ECDSA = "ECDSA"
    EDDSA = "EdDSA"
    HMAC = "HMAC"
    OTHER = "other"


@dataclass(frozen=True)
class AzureKeyType:
    """Azure Key Vault key type: `kty` without the `-HSM` suffix, and size or curve."""

    kty: str
    key_size: int | None = None
    curve: str | None = None
    #: True where Azure offers the type only as an HSM key (`oct-HSM` lives in a Managed HSM).
    hsm_only: bool = False

    def kty_for(self, hsm: bool) -> str:
        return f"{self.kty}-HSM" if hsm or self.hsm_only else self.kty


@dataclass(frozen=True)
class Algorithm:
    """A cloud-neutral algorithm name and what each cloud calls it."""

    name: str
    family: Family
    approved: bool
    usages: frozenset[Usage]
    aws_key_spec: str | None = None
    #: GCP `version_template.algorithm` per usage (GCP names carry the usage).
    gcp: Mapping[Usage, str] = field(default_factory=lambda: MappingProxyType({}))
    azure: AzureKeyType | None = None

    @property
    def symmetric(self) -> bool:
        return self.family in (Family.AES, Family.HMAC)

    def offered_by(self, cloud: Cloud) -> bool:
        if cloud is Cloud.AWS:
            return self.aws_key_spec is not None
        if cloud is Cloud.GCP:
            return bool(self.gcp)
        return self.azure is not None


def _gcp(**by_usage: str) -> Mapping[Usage, str]:
    return MappingProxyType({Usage(usage): name for usage, name in by_usage.items()})


_E, _S, _M = Usage.ENCRYPT, Usage.SIGN, Usage.MAC


def _rsa(bits: int, approved: bool) -> Algorithm:
    return Algorithm(
        f"RSA-{bits}",
        Family.RSA,
        approved,
        frozenset({_E, _S}),
        aws_key_spec=f"RSA_{bits}" if bits >= 2048 else None,
        gcp=_gcp(encrypt=f"RSA_DECRYPT_OAEP_{bits}_SHA256", sign=f"RSA_SIGN_PSS_{bits}_SHA256")
        if bits >= 2048
        else _gcp(),
        azure=AzureKeyType("RSA", key_size=bits) if bits >= 2048 else None,
    )


def _hmac(bits: int, approved: bool) -> Algorithm:
    return Algorithm(
        "HMAC-SHA1" if bits == 160 else f"HMAC-SHA{bits}",
        Family.HMAC,
        approved,
        frozenset({_M}),
        aws_key_spec=f"HMAC_{bits}" if bits != 160 else None,
        gcp=_gcp(mac="HMAC_SHA1" if bits == 160 else f"HMAC_SHA{bits}"),
    )


_ALGORITHM_LIST: tuple[Algorithm, ...] = (
    Algorithm(
        "AES-256",
        Family.AES,
        True,
        frozenset({_E}),
        aws_key_spec="SYMMETRIC_DEFAULT",
        gcp=_gcp(encrypt="GOOGLE_SYMMETRIC_ENCRYPTION"),
        azure=AzureKeyType("oct", key_size=256, hsm_only=True),
    ),
    _rsa(2048, True),
    _rsa(3072, True),
    _rsa(4096, True),
    Algorithm(
        "ECDSA-P256",
        Family.ECDSA,
        True,
        frozenset({_S}),
        aws_key_spec="ECC_NIST_P256",
        gcp=_gcp(sign="EC_SIGN_P256_SHA256"),
        azure=AzureKeyType("EC", curve="P-256"),
    ),
    Algorithm(
        "ECDSA-P384",
        Family.ECDSA,
        True,
        frozenset({_S}),
        aws_key_spec="ECC_NIST_P384",
        gcp=_gcp(sign="EC_SIGN_P384_SHA384"),
        azure=AzureKeyType("EC", curve="P-384"),
    ),
    Algorithm(
        "ECDSA-P521",
        Family.ECDSA,
        True,
        frozenset({_S}),
        aws_key_spec="ECC_NIST_P521",
        azure=AzureKeyType("EC", curve="P-521"),
    ),
    Algorithm(
        "Ed25519",
        Family.EDDSA,
        True,
        frozenset({_S}),
        aws_key_spec="ECC_NIST_EDWARDS25519",
        gcp=_gcp(sign="EC_SIGN_ED25519"),
    ),
    _hmac(256, True),
    _hmac(384, True),
    _hmac(512, True),
    # Known, offered by some cloud, and not approved (Policy §5: weak or deprecated).
    Algorithm(
        "ECDSA-SECP256K1",
        Family.ECDSA,
        False,
        frozenset({_S}),
        aws_key_spec="ECC_SECG_P256K1",
        gcp=_gcp(sign="EC_SIGN_SECP256K1_SHA256"),
        azure=AzureKeyType("EC", curve="P-256K"),
    ),
    _hmac(224, False),
    _hmac(160, False),
    _rsa(1024, False),
    Algorithm("3DES", Family.OTHER, False, frozenset({_E})),
    Algorithm("SM2", Family.OTHER, False, frozenset({_E, _S}), aws_key_spec="SM2"),
)

ALGORITHMS: Mapping[str, Algorithm] = MappingProxyType({a.name: a for a in _ALGORITHM_LIST})
APPROVED_ALGORITHMS: tuple[str, ...] = tuple(a.name for a in _ALGORITHM_LIST if a.approved)

#: The keys a TLS certificate may use (KM-CRT-001: RSA of 2048 bits or more, ECDSA on P-256 or
#: P-384 — the curves public CAs issue on).
CERTIFICATE_ALGORITHMS: tuple[str, ...] = (
    "RSA-2048",
    "RSA-3072",
    "RSA-4096",
    "ECDSA-P256",
    "ECDSA-P384",
)

#: The longest validity of a publicly trusted TLS certificate, in days, from 15 March 2026
#: (CA/Browser Forum ballot SC-081): a manual certificate's renew_by lies at most this far ahead
#: when its expiry is not known (KM-CRT-001).
CERTIFICATE_MAX_VALIDITY_DAYS = 200

#: The oldest TLS version an endpoint may accept (Policy §5: TLS 1.2+; KM-CRT-002), as
#: (major, minor).
TLS_MINIMUM_VERSION: tuple[int, int] = (1, 2)

_BY_AWS_KEY_SPEC = {a.aws_key_spec: a for a in _ALGORITHM_LIST if a.aws_key_spec}
_BY_GCP = {name: a for a in _ALGORITHM_LIST for name in a.gcp.values()}
# GCP names that are not the ones keyplane provisions but mean the same algorithm.
_BY_GCP.update(
    {f"RSA_SIGN_PKCS1_{bits}_SHA256": ALGORITHMS[f"RSA-{bits}"] for bits in (2048, 3072, 4096)}
    | {f"RSA_SIGN_PSS_{bits}_SHA512": ALGORITHMS[f"RSA-{bits}"] for bits in (4096,)}
    | {f"RSA_SIGN_PKCS1_{bits}_SHA512": ALGORITHMS[f"RSA-{bits}"] for bits in (4096,)}
    | {"AES_256_GCM": ALGORITHMS["AES-256"]}
)


def algorithm_from_aws(key_spec: str) -> Algorithm | None:
    """The algorithm of an AWS KMS `KeySpec` (None when keyplane does not know it)."""
    return _BY_AWS_KEY_SPEC.get(key_spec)


def algorithm_from_gcp(gcp_algorithm: str) -> Algorithm | None:
    """The algorithm of a GCP `CryptoKeyVersionAlgorithm` (None when keyplane does not know it)."""
    return _BY_GCP.get(gcp_algorithm)


def algorithm_from_azure(kty: str, key_size: int | None, curve: str | None) -> Algorithm | None:
    """The algorithm of an Azure key type (None when keyplane does not know it)."""
    base = kty.removesuffix("-HSM")
    for algorithm in _ALGORITHM_LIST:
        az = algorithm.azure
        if az is None or az.kty != base:
            continue
        if (az.curve is not None and az.curve == curve) or (
            az.key_size is not None and az.key_size == key_size
        ):
            return algorithm
    return None


# --- Deletion protection (KM-DEL-001, Policy §11, Proc 4.5) ---------------------------------
#: AWS KMS: waiting period before a scheduled key deletion; the policy wants the longest.
AWS_DELETION_WINDOW_DAYS = 30
AWS_DELETION_WINDOW_RANGE = (7, 30)
#: GCP: `destroy_scheduled_duration` at least 30 days (GCP allows 1 to 120).
GCP_MIN_DESTROY_SCHEDULED_DAYS = 30
GCP_DESTROY_SCHEDULED_RANGE = (1, 120)
#: Azure Key Vault soft-delete retention, with purge protection on.
AZURE_MIN_SOFT_DELETE_RETENTION_DAYS = 90
AZURE_SOFT_DELETE_RANGE = (7, 90)
#: Deletion window keyplane uses when a key declares none, per cloud.
DEFAULT_DELETION_WINDOW_DAYS: Mapping[Cloud, int] = MappingProxyType(
    {
        Cloud.AWS: AWS_DELETION_WINDOW_DAYS,
        Cloud.GCP: GCP_MIN_DESTROY_SCHEDULED_DAYS,
        Cloud.AZURE: AZURE_MIN_SOFT_DELETE_RETENTION_DAYS,
    }
)
#: What each cloud accepts as a key's deletion window (outside is impossible, not just non-compliant).
DELETION_WINDOW_RANGE: Mapping[Cloud, tuple[int, int]] = MappingProxyType(
    {
        Cloud.AWS: AWS_DELETION_WINDOW_RANGE,
        Cloud.GCP: GCP_DESTROY_SCHEDULED_RANGE,
        Cloud.AZURE: AZURE_SOFT_DELETE_RANGE,
    }
)
#: What each cloud accepts as an automatic rotation period in days.
AWS_ROTATION_RANGE = (90, 2560)
#: AWS rotates a key yearly when rotation is on and no period is reported (the KMS API's default
#: RotationPeriodInDays), in days.
AWS_DEFAULT_ROTATION_DAYS = 365
ROTATION_RANGE: Mapping[Cloud, tuple[int, int]] = MappingProxyType(
    {Cloud.AWS: AWS_ROTATION_RANGE, Cloud.GCP: (1, 36500), Cloud.AZURE: (1, 36500)}
)
#: Secrets Manager rotates every 1 to 1000 days.
AWS_SECRET_ROTATION_RANGE = (1, 1000)

# --- Tags / labels (the contract of ../shared/DESIGN.md) ------------------------------------
TAG_ENVIRONMENT = "keyplane-environment"
TAG_PURPOSE = "keyplane-purpose"
TAG_TENANT = "keyplane-tenant"
TAG_MANAGED = "keyplane-managed"
#: Manual rotation plan of a key that cannot rotate automatically (KM-ROT-004).
TAG_ROTATION_OWNER = "keyplane-rotation-owner"
TAG_ROTATE_BY = "keyplane-rotate-by"
#: Manual renewal plan of a certificate that does not renew automatically (KM-CRT-001).
TAG_RENEWAL_OWNER = "keyplane-renewal-owner"
TAG_RENEW_BY = "keyplane-renew-by"

# --- Services that use an environment's log key -------------------------------------------------
#: CloudTrail encrypts the trail's log files with the log key (KM-LOG-001).
AWS_CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"
#: CloudWatch Logs' principal is regional: it encrypts the group the trail delivers to with the
#: log key (KM-MON-001). https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
AWS_LOGS_SERVICE_PATTERN = r"logs\.[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d\.amazonaws\.com"


def aws_logs_service(region: str) -> str:
    """CloudWatch Logs' service principal in `region` (`logs.eu-west-1.amazonaws.com`)."""
    return f"logs.{region}.amazonaws.com"


def rotates_automatically(cloud: Cloud, algorithm: Algorithm, *, in_custom_key_store: bool) -> bool:
    """Whether `cloud` can rotate a key of `algorithm` by itself (KM-ROT-001 vs KM-ROT-004).

    AWS rotates only symmetric encryption keys whose material KMS generated, outside custom key
    stores (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html); GCP only
    symmetric encryption keys; Azure every key, through the vault's rotation policy.
    """
    if cloud is Cloud.AZURE:
        return True
    if algorithm.family is not Family.AES:
        return False
    return not (cloud is Cloud.AWS and in_custom_key_store)


def default_hsm(cloud: Cloud, purpose: KeyPurpose, hsm_enabled: bool) -> bool:
    """A key's `hsm` when the environment file leaves it out ("HSM, per cloud" in DESIGN.md).

    On AWS every KMS-generated key already lives in KMS's FIPS 140-3 Level 3 HSMs, so the
    dedicated CloudHSM key store is opt-in per key.
    """
    if cloud is Cloud.AWS:
        return False
    return hsm_enabled and purpose in HSM_REQUIRED_PURPOSES


def review_due_on(reviewed_on: date = POLICY_REVIEWED_ON) -> date:
    return reviewed_on + timedelta(days=POLICY_REVIEW_INTERVAL_DAYS)
