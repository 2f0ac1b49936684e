"""Checks of one resource at a time (CrossGuard `Analyze`): pure functions of facts and context.

Each check judges what is written on the resource itself. What needs another resource (a
separate rotation or object-lock resource, grants written elsewhere) is judged in `stack`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta
from types import MappingProxyType

from keyplane.facts.access import (
    Access,
    Effect,
    Grant,
    action_label,
    actions_access,
    is_account_wide,
    is_broad_role,
    is_wildcard_action,
    is_wildcard_principal,
    requires_mfa,
)
from keyplane.facts.model import (
    AccessBinding,
    Facts,
    HsmCluster,
    Key,
    KeyOrigin,
    LogBucket,
    Resource,
    Role,
    Secret,
    SecretValue,
    Trail,
    Vault,
)
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.checks.context import Context, principal_key
from keyplane.rules.checks.verdict import Verdict, fail, not_applicable, passed, unknown
from keyplane.standard import (
    APPROVED_ALGORITHMS,
    AWS_DELETION_WINDOW_DAYS,
    AZURE_MIN_SOFT_DELETE_RETENTION_DAYS,
    GCP_MIN_DESTROY_SCHEDULED_DAYS,
    HSM_REQUIRED_PURPOSES,
    PURPOSES,
    STRICTEST_ROTATION_DAYS,
    TAG_ENVIRONMENT,
    TAG_PURPOSE,
    TAG_ROTATE_BY,
    TAG_ROTATION_OWNER,
    Algorithm,
    Cloud,
    KeyPurpose,
    Tier,
)

ResourceCheck = Callable[[Facts, Context], Verdict]

_PURPOSE_LIST = ", ".join(p.value for p in KeyPurpose)


def purpose_of(facts: Resource) -> KeyPurpose | Unknown | None:
    """The declared purpose; None when the tag is missing or not one of the policy's."""
    tag = facts.purpose_tag
    if isinstance(tag, Unknown):
        return UNKNOWN
    try:
        return KeyPurpose(tag) if tag else None
    except ValueError:
        return None


def rotation_limit(purpose: KeyPurpose | None) -> int:
    """The purpose's maximum period, or the strictest one when no purpose is declared."""
    return PURPOSES[purpose].max_rotation_days if purpose else STRICTEST_ROTATION_DAYS


def _kind(facts: Key) -> str:
    return {Cloud.AWS: "KMS key", Cloud.GCP: "crypto key", Cloud.AZURE: "Key Vault key"}[
        facts.cloud
    ]


def _algorithm_name(algorithm: Algorithm | str) -> str:
    return algorithm.name if isinstance(algorithm, Algorithm) else algorithm


# --- KM-ALG-001 ---------------------------------------------------------------------------


def approved_algorithm(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ALG-001"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    algorithm = facts.algorithm
    if isinstance(algorithm, Unknown):
        return unknown(rule, facts, "the key's algorithm")
    if isinstance(algorithm, Algorithm) and algorithm.approved:
        return passed(rule, facts)
    what = (
        f"algorithm {algorithm.name} is not approved"
        if isinstance(algorithm, Algorithm)
        else f"algorithm {algorithm!r} is not one the policy approves"
    )
    return fail(
        rule,
        facts,
        f"{what} (approved: {', '.join(APPROVED_ALGORITHMS)}); recreate the key with an approved "
        "algorithm and re-encrypt or re-sign with it.",
    )


# --- KM-ROT-001 / 002 / 004 ------------------------------------------------------------------

_ENABLE_ROTATION = {
    Cloud.AWS: "set enableKeyRotation to true (rotation_days in the environment file)",
    Cloud.GCP: "set rotationPeriod (rotation_days in the environment file)",
    Cloud.AZURE: "add a rotation policy with a rotate lifetime action",
}


def rotation_enabled(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ROT-001"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    if isinstance(facts.can_rotate_automatically, Unknown):
        return unknown(rule, facts, "whether the key type can rotate automatically")
    if not facts.can_rotate_automatically:
        return not_applicable(rule, "the cloud cannot rotate this key automatically (KM-ROT-004)")
    if isinstance(facts.rotation_enabled, Unknown):
        return unknown(rule, facts, "whether automatic rotation is enabled")
    if facts.rotation_enabled:
        return passed(rule, facts)
    return fail(
        rule,
        facts,
        f"automatic rotation is disabled on this {facts.cloud.value} {_kind(facts)}; "
        f"{_ENABLE_ROTATION[facts.cloud]}.",
    )


def rotation_period(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ROT-002"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    days = facts.rotation_days
    if days is None:
        if facts.rotation_enabled is True:
            return fail(
                rule,
                facts,
                "automatic rotation is enabled without a period; give the rotation policy a "
                "period within the purpose's maximum.",
            )
        return not_applicable(rule, "no automatic rotation (KM-ROT-001, KM-ROT-004)")
    if isinstance(days, Unknown):
        return unknown(rule, facts, "the rotation period")
    purpose = purpose_of(facts)
    if isinstance(purpose, Unknown):
        if days <= STRICTEST_ROTATION_DAYS:
            return passed(rule, facts)
        return unknown(rule, facts, "the key's purpose tag")
    limit = rotation_limit(purpose)
    if days <= limit:
        return passed(rule, facts)
    if purpose is None:
        return fail(
            rule,
            facts,
            f"rotation period {days} days exceeds {limit}, the strictest limit, because the key "
            f"declares no valid purpose; tag {TAG_PURPOSE} with its purpose or lower rotation_days.",
        )
    return fail(
        rule,
        facts,
        f"rotation period {days} days exceeds {limit} for {purpose.value} keys; lower "
        "rotation_days or file an exception.",
    )


def manual_rotation_plan(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ROT-004"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if facts.replica_of is not None:
        return not_applicable(rule, "a replica shares its primary key's material and rotation")
    if isinstance(facts.can_rotate_automatically, Unknown):
        return unknown(rule, facts, "whether the key type can rotate automatically")
    if facts.can_rotate_automatically:
        return not_applicable(rule, "the cloud rotates this key automatically (KM-ROT-001)")
    purpose = purpose_of(facts)
    owner, rotate_by = facts.rotation_owner, facts.rotate_by
    if isinstance(purpose, Unknown) or isinstance(owner, Unknown) or isinstance(rotate_by, Unknown):
        return unknown(rule, facts, "the manual rotation plan's tags")
    period = rotation_limit(purpose)
    purpose_text = f"{purpose.value} keys" if purpose else "keys without a declared purpose"
    if not owner or rotate_by is None:
        algorithm = facts.algorithm
        what = "" if isinstance(algorithm, Unknown) else f"{_algorithm_name(algorithm)} "
        return fail(
            rule,
            facts,
            f"{facts.cloud.value} cannot rotate {what}keys automatically and no manual rotation "
            f"plan is declared; tag {TAG_ROTATION_OWNER} and {TAG_ROTATE_BY} (rotation: "
            f"{{owner, rotate_by}} in the environment file) within {period} days for "
            f"{purpose_text}.",
        )
    if not isinstance(rotate_by, date):
        return fail(
            rule,
            facts,
            f"tag {TAG_ROTATE_BY} {rotate_by!r} is not a date YYYY-MM-DD; write the date the "
            "key must be rotated by.",
        )
    latest = context.as_of + timedelta(days=period)
    if rotate_by < context.as_of:
        return fail(
            rule,
            facts,
            f"manual rotation was due on {rotate_by.isoformat()} and is overdue; rotate the key, "
            "record the change and set the next rotate_by.",
        )
    if rotate_by > latest:
        return fail(
            rule,
            facts,
            f"rotate_by {rotate_by.isoformat()} is more than {period} days away (at the latest "
            f"{latest.isoformat()} for {purpose_text}); bring rotate_by forward.",
        )
    return passed(rule, facts)


# --- KM-PUR-001 / KM-ENV-001 -----------------------------------------------------------------


def declared_purpose(facts: Facts, context: Context) -> Verdict:
    rule = "KM-PUR-001"
    if not isinstance(facts, Key | Secret):
        return not_applicable(rule, "not a key or secret")
    tag = facts.purpose_tag
    if isinstance(tag, Unknown):
        return unknown(rule, facts, f"the {TAG_PURPOSE} tag")
    if not tag:
        return fail(
            rule,
            facts,
            f"no {TAG_PURPOSE} tag; tag the resource with its purpose (one of {_PURPOSE_LIST}).",
        )
    purpose = purpose_of(facts)
    if not isinstance(purpose, KeyPurpose):
        return fail(
            rule,
            facts,
            f"{TAG_PURPOSE} {tag!r} is not one of the policy's key types ({_PURPOSE_LIST}); "
            "correct the tag.",
        )
    if isinstance(facts, Key):
        usage = facts.usage
        if isinstance(usage, Unknown):
            return unknown(rule, facts, "the key's usage")
        allowed = PURPOSES[purpose].usages
        if usage is not None and usage not in allowed:
            return fail(
                rule,
                facts,
                f"a key whose usage is {usage.value} cannot serve {purpose.value}, whose keys "
                f"{' or '.join(sorted(u.value for u in allowed))}; recreate the key with a "
                "matching usage or correct the purpose.",
            )
    return passed(rule, facts)


def environment_tag(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ENV-001"
    if not isinstance(facts, Key | Secret | Role | Trail | LogBucket):
        return not_applicable(rule, "not a key, secret, role or log sink")
    tag = facts.environment_tag
    if isinstance(tag, Unknown):
        return unknown(rule, facts, f"the {TAG_ENVIRONMENT} tag")
    if tag == context.environment:
        return passed(rule, facts)
    if not tag:
        return fail(
            rule,
            facts,
            f"no {TAG_ENVIRONMENT} tag; tag it with the stack's environment {context.environment}.",
        )
    return fail(
        rule,
        facts,
        f"{TAG_ENVIRONMENT} is {tag!r}, not the stack's environment {context.environment!r}; "
        "deploy it from its own environment's stack or correct the tag.",
    )


# --- KM-ACC-001 / KM-ACC-003 -----------------------------------------------------------------


def _grants_of(facts: Facts) -> tuple[Grant, ...] | Unknown | None:
    """Grants a resource writes on a key or secret, or an identity policy's statements."""
    if isinstance(facts, Key | Secret | AccessBinding):
        return facts.grants
    return None


def _touches_keys(grant: Grant) -> bool:
    actions = grant.actions
    if isinstance(actions, Unknown):
        return True
    return any(is_wildcard_action(a) or actions_access((a,)) for a in actions)


def no_wildcards(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ACC-001"
    grants = _grants_of(facts)
    if grants is None:
        return not_applicable(rule, "no grants")
    assert isinstance(facts, Key | Secret | AccessBinding)
    if isinstance(grants, Unknown):
        return unknown(rule, facts, "the policy document")
    identity = isinstance(facts, AccessBinding) and facts.identity
    problems: list[str] = []
    undecided = False
    for grant in grants:
        if grant.effect is not Effect.ALLOW or (identity and not _touches_keys(grant)):
            continue
        principal, actions = grant.principal, grant.actions
        if isinstance(actions, Unknown) or (isinstance(principal, Unknown) and not identity):
            undecided = True
            continue
        shown = ", ".join(action_label(a) for a in actions)
        if isinstance(principal, Unknown) or not principal:
            # An identity policy: its principal is whichever role it is attached to.
            principal = ""
        elif not identity and is_wildcard_principal(principal):
            problems.append(f"grants {shown} to the wildcard principal {principal}")
            continue
        who = principal or "the roles it is attached to"
        for action in actions:
            if is_wildcard_action(action):
                problems.append(f"grants {action} to {who}")
            elif is_broad_role(action) and principal_key(principal) not in context.admins:
                problems.append(
                    f"grants {action_label(action)} to {who}, who is not a declared key "
                    "administrator"
                )
    if problems:
        return fail(
            rule,
            facts,
            "; ".join(_unique(problems)) + "; name the principals and grant only the actions "
            "they need.",
        )
    if undecided:
        return unknown(rule, facts, "a grant's principal or actions")
    return passed(rule, facts)


def _is_admin_role(role: Role, context: Context) -> bool:
    if isinstance(role.role_name, str) and f"aws-role:{role.role_name}" in context.admins:
        return True
    if f"aws-role:{role.name}" in context.admins:
        return True
    policies = role.policies
    if isinstance(policies, Unknown):
        return False
    return any(
        g.effect is Effect.ALLOW
        and not isinstance(g.actions, Unknown)
        and Access.ADMIN in actions_access(g.actions)
        for g in policies
    )


def authenticated_roles(facts: Facts, context: Context) -> Verdict:
    rule = "KM-ACC-003"
    if not isinstance(facts, Role):
        return not_applicable(rule, "not a role")
    if isinstance(facts.trust, Unknown):
        return unknown(rule, facts, "the trust policy")
    admin = _is_admin_role(facts, context)
    problems: list[str] = []
    undecided = False
    for grant in facts.trust:
        if grant.effect is not Effect.ALLOW:
            continue
        principal = grant.principal
        if isinstance(principal, Unknown):
            undecided = True
            continue
        if is_wildcard_principal(principal):
            problems.append(f"the trust policy lets anyone ({principal}) assume the role")
        elif is_account_wide(principal):
            problems.append(
                f"the trust policy lets every principal of account {principal.split(':')[4]} "
                "assume the role"
            )
        elif (
            admin
            and not principal.startswith(("service:", "federated:"))
            and not requires_mfa(grant)
        ):
            problems.append(f"the administrator role can be assumed by {principal} without MFA")
    if problems:
        return fail(
            rule,
            facts,
            "; ".join(_unique(problems)) + "; name the trusted principals and require "
            "aws:MultiFactorAuthPresent (or a named identity provider) for administrator roles.",
        )
    if undecided:
        return unknown(rule, facts, "a trusted principal")
    return passed(rule, facts)


# --- KM-DEL-001 --------------------------------------------------------------------------------


def deletion_protection(facts: Facts, context: Context) -> Verdict:
    rule = "KM-DEL-001"
    if not isinstance(facts, Key | Vault | HsmCluster):
        return not_applicable(rule, "not a key, vault or HSM cluster")
    problems: list[str] = []
    undecided: list[str] = []
    if isinstance(facts, Key):
        window = facts.deletion_window_days
        if isinstance(window, Unknown):
            undecided.append("the deletion window")
        elif window is not None:
            if facts.cloud is Cloud.AWS and window < AWS_DELETION_WINDOW_DAYS:
                problems.append(
                    f"deletion window {window} days is shorter than {AWS_DELETION_WINDOW_DAYS}; "
                    f"set deletion_window_days to {AWS_DELETION_WINDOW_DAYS}"
                )
            elif facts.cloud is Cloud.GCP and window < GCP_MIN_DESTROY_SCHEDULED_DAYS:
                problems.append(
                    f"destroy-scheduled duration {window} days is shorter than "
                    f"{GCP_MIN_DESTROY_SCHEDULED_DAYS}; set deletion_window_days to "
                    f"{GCP_MIN_DESTROY_SCHEDULED_DAYS} or more"
                )
    if isinstance(facts, Vault):
        if isinstance(facts.purge_protection, Unknown):
            undecided.append("purge protection")
        elif not facts.purge_protection:
            problems.append("purge protection is off; set enablePurgeProtection to true")
        soft = facts.soft_delete_days
        if isinstance(soft, Unknown):
            undecided.append("the soft-delete retention")
        elif soft is not None and soft < AZURE_MIN_SOFT_DELETE_RETENTION_DAYS:
            problems.append(
                f"soft-delete retention {soft} days is shorter than "
                f"{AZURE_MIN_SOFT_DELETE_RETENTION_DAYS}; set softDeleteRetentionInDays to "
                f"{AZURE_MIN_SOFT_DELETE_RETENTION_DAYS}"
            )
    protected_kind = isinstance(facts, Key | HsmCluster) or (
        isinstance(facts, Vault) and facts.managed_hsm
    )
    if protected_kind and context.protected:
        if isinstance(facts.protect, Unknown):
            undecided.append("the protect option")
        elif not facts.protect:
            tier = context.effective_tier.value
            declared = "" if context.tier else " (no tier declared: judged as production)"
            problems.append(
                f"the Pulumi protect option is not set in the {tier} environment "
                f"{context.environment}{declared}; set protect=True (or retain_on_delete)"
            )
    if problems:
        return fail(rule, facts, "; ".join(problems) + ".")
    if undecided:
        return unknown(rule, facts, " and ".join(undecided))
    return passed(rule, facts)


# --- KM-HSM-001 ----------------------------------------------------------------------------------

_HSM_FIX = {
    Cloud.AWS: "let KMS generate the material (or use the CloudHSM key store), not imported or "
    "external key material",
    Cloud.GCP: "set versionTemplate.protectionLevel to HSM",
    Cloud.AZURE: "use an -HSM key type in a premium vault, or a Managed HSM",
}
_ORIGIN_TEXT = {
    KeyOrigin.SOFTWARE: "software-protected",
    KeyOrigin.IMPORTED: "made of imported material",
    KeyOrigin.EXTERNAL: "kept in an external key manager",
}


def hsm_protection(facts: Facts, context: Context) -> Verdict:
    rule = "KM-HSM-001"
    if not isinstance(facts, Key):
        return not_applicable(rule, "not a key")
    if context.effective_tier is not Tier.PRODUCTION:
        return not_applicable(rule, f"{context.effective_tier.value} is not production")
    purpose = purpose_of(facts)
    if isinstance(purpose, Unknown):
        return unknown(rule, facts, "the key's purpose tag")
    # A key without a declared purpose is held to the strictest requirement.
    if purpose is not None and purpose not in HSM_REQUIRED_PURPOSES:
        return not_applicable(rule, f"{purpose.value} keys need no HSM")
    origin = facts.origin
    if isinstance(origin, Unknown):
        return unknown(rule, facts, "the key's protection level")
    if origin in (KeyOrigin.CLOUD_HSM, KeyOrigin.DEDICATED_HSM):
        return passed(rule, facts)
    what = f"{purpose.value} key" if purpose else "key without a declared purpose"
    protection = facts.protection if isinstance(facts.protection, str) else origin.value
    return fail(
        rule,
        facts,
        f"production {what} is {_ORIGIN_TEXT[origin]} ({protection}); {_HSM_FIX[facts.cloud]}.",
    )


# --- KM-STO-001 / KM-STO-002 -------------------------------------------------------------------


def no_plaintext_secrets(facts: Facts, context: Context) -> Verdict:
    rule = "KM-STO-001"
    if not isinstance(facts, SecretValue):
        return not_applicable(rule, "no secret value")
    if isinstance(facts.plaintext, Unknown):
        return unknown(rule, facts, f"whether {facts.field} is a secret")
    if not facts.plaintext:
        return passed(rule, facts)
    return fail(
        rule,
        facts,
        f"{facts.field} holds a plain-text value in the {facts.location}; pass it as a Pulumi "
        "secret (pulumi config set --secret, pulumi.Output.secret) and remove it from the code "
        "and its history.",
    )


_AWS_MANAGED_KEYS = ("alias/aws/", "aws/")


def hardened_vaults(facts: Facts, context: Context) -> Verdict:
    rule = "KM-STO-002"
    if isinstance(facts, Secret):
        if facts.cloud is Cloud.AZURE:
            return not_applicable(rule, "Key Vault secrets are judged with their vault")
        key = facts.kms_key
        if isinstance(key, Unknown):
            return unknown(rule, facts, "the secret's encryption key")
        fix = (
            "set kmsKeyId to the environment's customer-managed key"
            if facts.cloud is Cloud.AWS
            else "set replication's customerManagedEncryption.kmsKeyName to the environment's key"
        )
        if not key or key.startswith(_AWS_MANAGED_KEYS):
            return fail(rule, facts, f"the secret is encrypted with the provider's own key; {fix}.")
        account = _kms_arn_account(key)
        if account and context.scope and account != context.scope:
            return fail(
                rule,
                facts,
                f"the secret is encrypted with a key of account {account}, not the "
                f"environment's ({context.scope}); {fix}.",
            )
        return passed(rule, facts)
    if isinstance(facts, Vault):
        problems: list[str] = []
        undecided: list[str] = []
        for value, what, fix in (
            (facts.purge_protection, "purge protection", "set enablePurgeProtection to true"),
            (
                facts.rbac_authorization,
                "RBAC authorization",
                "set enableRbacAuthorization to true",
            ),
        ):
            if isinstance(value, Unknown):
                undecided.append(what)
            elif not value:
                problems.append(f"{what} is off; {fix}")
        public = facts.public_network_access
        if isinstance(public, Unknown):
            undecided.append("public network access")
        elif public:
            problems.append("public network access is enabled; set publicNetworkAccess to Disabled")
        if problems:
            return fail(rule, facts, "; ".join(problems) + ".")
        if undecided:
            return unknown(rule, facts, " and ".join(undecided))
        return passed(rule, facts)
    return not_applicable(rule, "not a secret or vault")


def _kms_arn_account(value: str) -> str | None:
    parts = value.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms" and parts[4].isdigit():
        return parts[4]
    return None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


#: Resource-level checks by rule ID (CrossGuard ResourceValidationPolicy).
RESOURCE_CHECKS: Mapping[str, ResourceCheck] = MappingProxyType(
    {
        "KM-ALG-001": approved_algorithm,
        "KM-ROT-001": rotation_enabled,
        "KM-ROT-002": rotation_period,
        "KM-ROT-004": manual_rotation_plan,
        "KM-PUR-001": declared_purpose,
        "KM-ENV-001": environment_tag,
        "KM-ACC-001": no_wildcards,
        "KM-ACC-003": authenticated_roles,
        "KM-DEL-001": deletion_protection,
        "KM-HSM-001": hsm_protection,
        "KM-STO-001": no_plaintext_secrets,
        "KM-STO-002": hardened_vaults,
    }
)
