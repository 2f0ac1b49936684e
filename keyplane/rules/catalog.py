"""The rule catalog: every rule of `policy/RULES.md`, declared once (one table).

IDs are part of the public interface (findings, exceptions, checkov skip comments, reports and
tests name them): never rename or reuse one; a retired rule stays here with `deprecated=True`.
The checks live beside this module, one module per family, registered by rule ID and point
(`keyplane.rules.registry`), which fails the import when they and this table disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Enforcement(StrEnum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"
    DISABLED = "disabled"


class Point(StrEnum):
    """Where a rule is enforced (the "Points" column of RULES.md)."""

    CROSSGUARD = "G"
    CHECKOV = "C"
    AUDIT = "A"
    VALIDATION = "V"

    @property
    def label(self) -> str:
        return _POINT_LABELS[self]


#: The name of a rule's companion policy that reports excepted violations: its policy's, plus this.
EXCEPTED_SUFFIX = "-excepted"

_POINT_LABELS = {
    Point.CROSSGUARD: "CrossGuard policy pack (pulumi preview / up, offline preview)",
    Point.CHECKOV: "checkov custom check on the Terraform-plan form",
    Point.AUDIT: "live audit of deployed resources (boto3)",
    Point.VALIDATION: "environment and exception file validation",
}


@dataclass(frozen=True)
class Rule:
    id: str
    #: Short kebab-case name; the CrossGuard policy is `<id lower>-<slug>`.
    slug: str
    #: What must hold, as a full sentence.
    title: str
    #: The policy clause(s) the rule enforces ("Policy §9, Proc 4.4").
    source: str
    severity: Severity
    points: frozenset[Point]
    #: How to fix a violation, as a full sentence.
    remediation: str
    deprecated: bool = False
    #: Points the catalog declares but keyplane does not enforce yet (`keyplane rules` says so);
    #: every point outside this set has its check.
    pending: frozenset[Point] = frozenset()

    @property
    def policy_name(self) -> str:
        return f"{self.id.lower()}-{self.slug}"

    @property
    def excepted_policy_name(self) -> str:
        """The advisory companion policy that reports the violations an exception covers."""
        return self.policy_name + EXCEPTED_SUFFIX

    @property
    def default_enforcement(self) -> Enforcement:
        """High and critical rules block deployment; the rest advise."""
        if self.severity in (Severity.CRITICAL, Severity.HIGH):
            return Enforcement.MANDATORY
        return Enforcement.ADVISORY

    @property
    def points_text(self) -> str:
        return " ".join(p.value for p in Point if p in self.points)

    @property
    def enforced_points(self) -> frozenset[Point]:
        """The catalog's points less those not enforced yet."""
        return self.points - self.pending

    @property
    def enforced_text(self) -> str:
        """The points as `keyplane rules` shows them: `G C A`, pending ones marked `(A: not yet)`."""
        enforced = " ".join(p.value for p in Point if p in self.enforced_points) or "none"
        if not self.pending:
            return enforced
        waiting = " ".join(p.value for p in Point if p in self.pending)
        return f"{enforced} ({waiting}: not yet enforced)"

    @property
    def exceptable(self) -> bool:
        """Exceptions never cover the exception rules themselves (RULES.md, "Exceptions")."""
        return not self.id.startswith("KM-EXC-")


def _points(text: str) -> frozenset[Point]:
    return frozenset(Point(p) for p in text.split())


_C, _H, _M, _L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

_RULE_LIST: tuple[Rule, ...] = (
    Rule(
        "KM-ALG-001",
        "approved-algorithm",
        "Every key uses an approved algorithm: AES-256, RSA with a modulus of 2048 bits or more, "
        "ECDSA on P-256, P-384 or P-521, Ed25519, or HMAC with SHA-256 or stronger.",
        "Policy §5",
        _H,
        _points("G C A"),
        "Recreate the key with an approved algorithm and re-encrypt or re-sign with it; "
        "algorithms cannot be changed in place.",
    ),
    Rule(
        "KM-ROT-001",
        "rotation-enabled",
        "Automatic rotation is enabled on every key whose type supports it.",
        "Policy §9, Proc 4.4",
        _H,
        _points("G C A"),
        "Enable automatic rotation on the key (AWS enable_key_rotation, GCP rotation_period, "
        "Azure rotation policy).",
    ),
    Rule(
        "KM-ROT-002",
        "rotation-period",
        "A key's rotation period does not exceed the maximum for its declared purpose "
        "(api-secret 90 days, token-signing 180 days, every other purpose 365 days).",
        "Policy §9, Proc 4.4",
        _H,
        _points("G C A"),
        "Lower rotation_days to the purpose's maximum or file an exception.",
    ),
    Rule(
        "KM-ROT-003",
        "secret-rotation",
        "Vault secrets whose purpose is api-secret or ai-service-key rotate automatically at "
        "most every 90 days.",
        "Policy §9, §13",
        _H,
        _points("G C A"),
        "Configure automatic rotation of the secret every 90 days or less.",
    ),
    Rule(
        "KM-ROT-004",
        "manual-rotation-plan",
        "A key that cannot rotate automatically on its cloud has a manual rotation plan with an "
        "owner and a rotate-by date no later than its purpose's period from creation.",
        "Policy §9",
        _H,
        _points("G V"),
        "Declare rotation: {owner, rotate_by} on the key, with rotate_by within the purpose's "
        "rotation period, and keep the change record and rollback plan Policy §9 requires.",
    ),
    Rule(
        "KM-PUR-001",
        "declared-purpose",
        "Every key and secret declares one purpose from the policy's key types as a tag or "
        "label and is used only for it.",
        "Policy §8",
        _H,
        _points("G C A"),
        "Tag the resource with keyplane-purpose set to its purpose and give the key the usage "
        "that purpose needs (encryption purposes encrypt, signing purposes sign).",
    ),
    Rule(
        "KM-ENV-001",
        "environment-tag",
        "Every key, secret, role and log sink carries an environment tag or label equal to the "
        "stack's environment.",
        "Policy §8, §6",
        _H,
        _points("G C A"),
        "Tag the resource with keyplane-environment set to the stack's environment.",
    ),
    Rule(
        "KM-ENV-002",
        "environment-isolation",
        "No principal from another environment's account, project or subscription is granted "
        "access to a key or secret, and production keys are never reachable from development.",
        "Policy §7, §5",
        _C,
        _points("G A"),
        "Remove the grant to the other environment's principal; give that environment its own key.",
    ),
    Rule(
        "KM-TEN-001",
        "tenant-isolation",
        "A tenant-scoped key or secret grants access only to its tenant's principals, and a "
        "tenant uses another key only when it is shared and the key is registered for it.",
        "Policy §8, §12",
        _H,
        _points("G V"),
        "Remove the cross-tenant grant, or declare the tenant shared and register the key for "
        "it in shared-services.yaml with a justification and risk acceptance.",
    ),
    Rule(
        "KM-ACC-001",
        "no-wildcards",
        "No key policy, IAM policy or role binding on a key grants a wildcard principal or "
        "wildcard actions on keys.",
        "Policy §7",
        _C,
        _points("G C A"),
        "Name the principals and the actions they need; never grant *, allUsers, "
        "allAuthenticatedUsers, kms:* or owner/admin roles to non-administrators.",
    ),
    Rule(
        "KM-ACC-002",
        "separation-of-duties",
        "No principal is both an administrator and a user of the same key: administrators "
        "cannot use keys and users cannot manage them.",
        "Policy §4",
        _H,
        _points("G A"),
        "Split the principal into an administrator role and a user role, each with only its "
        "own actions.",
    ),
    Rule(
        "KM-ACC-003",
        "authenticated-roles",
        "Roles that can reach keys require authentication: their trust policies name specific "
        "principals and administrator roles require MFA or a named identity provider.",
        "Policy §7",
        _H,
        _points("G C"),
        "Name the trusted principals in the role's trust policy and require "
        "aws:MultiFactorAuthPresent (or a named identity provider) for administrator roles.",
    ),
    Rule(
        "KM-LOG-001",
        "audit-logging",
        "Key management and usage events are logged: a multi-region, validated, KMS-encrypted "
        "CloudTrail on AWS, data-access audit logs exported by a sink on GCP, and diagnostic "
        "settings on every Azure vault and HSM.",
        "Policy §14, Proc 4.1-4.5",
        _H,
        _points("G C A"),
        "Add the environment's audit-log sink (keyplane's AuditLogSink component) or fix its "
        "settings.",
    ),
    Rule(
        "KM-LOG-002",
        "immutable-logs",
        "Audit logs are immutable and retained at least for the environment's retention period.",
        "Policy §14",
        _H,
        _points("G C A"),
        "Store the logs in S3 with Object Lock in COMPLIANCE mode and versioning, a GCS bucket "
        "with a locked retention policy, or Azure storage with a locked immutability policy.",
    ),
    Rule(
        "KM-DEL-001",
        "deletion-protection",
        "Keys are protected against accidental destruction: a 30-day deletion window, purge "
        "protection, and Pulumi's protect option on keys and HSM clusters in staging and "
        "production.",
        "Policy §11, Proc 4.5",
        _H,
        _points("G C A"),
        "Set the deletion window to 30 days (GCP destroy-scheduled duration 30 days or more, "
        "Azure purge protection with 90-day soft delete) and protect the resource.",
    ),
    Rule(
        "KM-HSM-001",
        "hsm-protection",
        "In production, database-encryption, backup-encryption and token-signing keys are "
        "generated and kept in an HSM.",
        "Proc 4.1, 4.3",
        _H,
        _points("G C A"),
        "Create the key with HSM protection (GCP protection level HSM, Azure -HSM key type or "
        "Managed HSM, AWS KMS-generated or CloudHSM key store material).",
    ),
    Rule(
        "KM-STO-001",
        "no-plaintext-secrets",
        "No secret value appears in plain text in resource inputs, stack outputs or "
        "configuration, and no key material is in the repository.",
        "Policy §6",
        _C,
        _points("G C"),
        "Pass secret values as Pulumi secrets (pulumi config set --secret, pulumi.Output.secret) "
        "and remove the value from the code and its history.",
    ),
    Rule(
        "KM-STO-002",
        "hardened-vaults",
        "Vaults are hardened: secrets are encrypted with the environment's customer-managed "
        "key and deny other environments, and Azure vaults have purge protection, RBAC "
        "authorization and no public network access.",
        "Policy §6, §7",
        _H,
        _points("G C A"),
        "Encrypt the secret with the environment's key and restrict the vault to the "
        "environment's principals and network.",
    ),
    Rule(
        "KM-BAK-001",
        "backup-separation",
        "Backup encryption keys live apart from primary keys, administered by principals who "
        "do not administer the primary keys.",
        "Policy §11",
        _H,
        _points("G"),
        "Declare access.backup_key_admins distinct from key_admins and keep backup keys in "
        "their own key policy, key ring or vault.",
    ),
    Rule(
        "KM-ACC-004",
        "declared-principals",
        "Only principals the estate declares have access to a key or secret: its administrators, "
        "backup administrators, auditors, key users and the service identities keyplane's "
        "components create for a declared purpose.",
        "Policy §7, §8, §13",
        _H,
        _points("G C A"),
        "Remove the grant to the undeclared principal, or declare the principal in the "
        "environment file's access block or as a key user.",
    ),
    Rule(
        "KM-MON-001",
        "misuse-alerts",
        "Key-management events that signal misuse (a key disabled or scheduled for deletion, a "
        "policy or binding changed, a grant created, repeated failed use) raise an alert to a "
        "declared destination.",
        "Policy §14, Proc 4.3 step 3",
        _H,
        _points("G C A"),
        "Declare monitoring.notify in the environment file so the environment component "
        "creates the alarms, or add metric filters and alarms that notify a declared topic.",
    ),
    Rule(
        "KM-CRT-001",
        "managed-certificates",
        "TLS certificates renew automatically before expiry, use an approved key, and never "
        "carry their private key in plain text; a certificate that cannot renew automatically "
        "has a manual renewal plan.",
        "Policy §2, §9, §5",
        _H,
        _points("G C A"),
        "Use a managed, DNS-validated certificate with an approved key, or declare renewal: "
        "manual with an owner and a renew_by date before expiry.",
    ),
    Rule(
        "KM-CRT-002",
        "tls-minimum-version",
        "Endpoints that terminate TLS with a declared certificate accept TLS 1.2 or later only.",
        "Policy §5, Proc 4.2 step 1",
        _H,
        _points("G C"),
        "Set the endpoint's security policy or minimum TLS version to TLS 1.2 or later.",
    ),
    Rule(
        "KM-BAK-002",
        "restore-tested",
        "Each backup encryption key has a restore test no older than 365 days on record.",
        "Policy §11",
        _H,
        _points("V A"),
        "Run keyplane restore-test for the key, or record the date of a successful restore "
        "test in restore_tested_on.",
    ),
    Rule(
        "KM-COV-001",
        "nothing-unseen",
        "Every resource that holds or grants access to keys, secrets or certificates is read "
        "by keyplane, and one it cannot read is reported so no report claims a clean result "
        "for it.",
        "Policy §4, §14",
        _M,
        _points("G C"),
        "Judge the resource another way (a keyplane reader for its type, or a manual review "
        "recorded as an exception), or write it with a type keyplane reads.",
    ),
    Rule(
        "KM-EXC-001",
        "valid-exception",
        "Every exception names a rule, an environment and a resource, a written justification, "
        "who accepted the risk and when, at least one compensating control, and an expiry no "
        "more than 365 days after acceptance.",
        "Policy §15",
        _H,
        _points("V"),
        "Complete the exception in exceptions.yaml; permanent exceptions are not allowed.",
    ),
    Rule(
        "KM-EXC-002",
        "expired-exception",
        "An expired exception blocks deployment of its environment.",
        "Policy §15",
        _C,
        _points("G V"),
        "Fix the deviation and remove the exception, or renew it with a new risk acceptance.",
    ),
    Rule(
        "KM-REV-001",
        "policy-review",
        "The enforced policy carries its version and review date, and a review older than 12 "
        "months is reported.",
        "Policy §16",
        _L,
        _points("V"),
        "Review the policy, then update POLICY_REVIEWED_ON in keyplane/standard.py.",
    ),
)

RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in _RULE_LIST})


def get_rule(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule ID {rule_id!r} (known: {', '.join(RULES)})") from None


def rules_at(point: Point) -> tuple[Rule, ...]:
    """The rules enforced at `point`, in catalog order (pending points excluded)."""
    return tuple(
        rule for rule in RULES.values() if point in rule.enforced_points and not rule.deprecated
    )
