"""KM-ACC: least privilege, separation of duties, authenticated roles.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-ACC-001, KM-ACC-002, KM-ACC-003, KM-ACC-004 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from keyplane.facts.access import (
    Access,
    Effect,
    Grant,
    Target,
    action_label,
    actions_access,
    confined_principals,
    is_account_wide,
    is_broad_role,
    is_wildcard_action,
    is_wildcard_principal,
    principal_key,
    requires_mfa,
)
from keyplane.facts.grants import grant_path, grants_on, role_principal
from keyplane.facts.model import (
    AccessBinding,
    Facts,
    Key,
    Role,
    Secret,
    StackFacts,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    access_text,
    keys_and_secrets,
    shown,
    trusted,
    unique,
)
from keyplane.rules.context import Context
from keyplane.rules.env import ForeignPrincipals
from keyplane.rules.filecheck import ACCESS_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import (
    AccessChange,
    Observation,
    Scope,
    Transition,
    check,
    needs_estate,
    note,
    weakening,
    widening,
)
from keyplane.rules.verdict import (
    Verdict,
    access_undecided,
    cannot_judge,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import AWS_CLOUDTRAIL_SERVICE, AWS_LOGS_SERVICE_PATTERN, Cloud

if TYPE_CHECKING:
    from keyplane.config import Estate


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


@check(
    "KM-ACC-001",
    points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT),
    kinds=(Key, Secret, AccessBinding),
)
def no_wildcards(facts: Facts, context: Context) -> Verdict:
    """KM-ACC-001 on grants written on a key, secret or identity policy: no wildcard principal or
    action, and broad roles only to declared administrators."""
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
            confined = None if grant.except_principals else confined_principals(grant)
            if confined is None:
                problems.append(f"grants {shown} to the wildcard principal {principal}")
                continue
            # Its conditions name who may call (an account, an organisation, a service).
            principal = ", ".join(confined[0])
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
            "; ".join(unique(problems)) + "; name the principals and grant only the actions "
            "they need.",
        )
    if undecided:
        return unknown(rule, facts, "a grant's principal or actions")
    return passed(rule, facts)


@check("KM-ACC-002", points=(Point.CROSSGUARD, Point.AUDIT), scope=Scope.STACK)
def separation_of_duties(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-ACC-002 over the stack: no principal both administers and uses a key (`facts.grants`)."""
    rule = "KM-ACC-002"
    keys = stack.keys
    if not keys:
        return [not_applicable(rule, "no keys")]
    verdicts = []
    for key in keys:
        grants = grants_on(stack, key)
        admin: dict[str, list[str]] = defaultdict(list)
        use: dict[str, list[str]] = defaultdict(list)
        shown: dict[str, str] = {}
        for grant in grants.applied:
            if is_wildcard_principal(grant.principal):
                continue  # KM-ACC-001
            who = principal_key(grant.principal)
            shown.setdefault(who, grant.principal)
            for action in grant.actions:
                access = (
                    actions_access((action,), Target.KEY)
                    if len(grant.actions) > 1
                    else grant.access
                )
                if Access.ADMIN in access:
                    admin[who].append(action_label(action))
                if Access.USE in access:
                    use[who].append(action_label(action))
        both = [who for who in admin if who in use]
        for who in both:
            verdicts.append(
                fail(
                    rule,
                    key,
                    f"{shown[who]} both administers the key ({', '.join(dict.fromkeys(admin[who]))}) "
                    f"and uses it ({', '.join(dict.fromkeys(use[who]))}); split it into an "
                    "administrator role and a user role.",
                )
            )
        if grants.undecided and not both:
            verdicts.append(access_undecided(rule, key, grants, "who is granted access"))
    return verdicts


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


@check("KM-ACC-003", points=(Point.CROSSGUARD, Point.CHECKOV), kinds=(Role,))
def authenticated_roles(facts: Facts, context: Context) -> Verdict:
    """KM-ACC-003 on a role: named trusted principals, and MFA (or a federated identity) for
    administrator roles."""
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
            "; ".join(unique(problems)) + "; name the trusted principals and require "
            "aws:MultiFactorAuthPresent (or a named identity provider) for administrator roles.",
        )
    if undecided:
        return unknown(rule, facts, "a trusted principal")
    return passed(rule, facts)


@check(
    "KM-ACC-004",
    points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT),
    scope=Scope.STACK,
    permissions=("kms:GetKeyPolicy", "kms:ListGrants"),
)
def declared_principals(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-ACC-004 over the stack: every principal with effective access to a key or secret
    (`facts.grants.grants_on`) is one the environment declares (`facts.grants.Declared`)."""
    rule = "KM-ACC-004"
    items = keys_and_secrets(stack)
    if not items:
        return [not_applicable(rule, "no keys or secrets")]
    if not (context.admins or context.auditors or context.key_users):
        # No access block (a scan without the estate): nothing says who is declared.
        return [
            cannot_judge(
                rule,
                item,
                f"no estate declares the principals of environment {context.environment} "
                "(pass --estate with its access block)",
            )
            for item in items
        ]
    declared = declared_identities(stack, context)
    foreign = ForeignPrincipals(context)
    verdicts: list[Verdict] = []
    for item in items:
        grants = grants_on(stack, item)
        paths: dict[str, list[str]] = defaultdict(list)
        for grant in grants.applied:
            if not grant.access or is_wildcard_principal(grant.principal):
                continue  # nothing on this item, or KM-ACC-001's
            if declared.covers(grant.principal) or foreign.environment_of(grant.principal):
                continue  # declared, or another environment's: KM-ENV-002's
            paths[grant.principal].append(
                f"{shown(grant.actions)} through {grant_path(grant, item)}"
            )
        if paths:
            # One finding per key or secret (the gate keeps one per rule and resource): every
            # undeclared principal is named in it, each with the way it is granted.
            who = "; ".join(
                f"{principal} ({'; '.join(unique(through))})"
                for principal, through in paths.items()
            )
            verdicts.append(
                fail(
                    rule,
                    item,
                    f"granted to principals environment {context.environment} does not declare: "
                    f"{who}; remove the grants, or declare the principals in the environment "
                    "file's access block.",
                )
            )
        if grants.undecided and not paths:
            verdicts.append(access_undecided(rule, item, grants, "who is granted access"))
    return verdicts


#: Cloud services keyplane's components grant a key to for a declared purpose, per cloud, as
#: patterns of their `service:` principals: every AWS environment has its trail (KM-LOG-001),
#: which writes its log files with the log key, and, with `monitoring`, CloudWatch Logs (a
#: regional principal) encrypting the group the trail delivers to (KM-MON-001). Declared by the
#: environment, not by what a read found: a trail the audit could not list must not turn its
#: key's policy into an undeclared grant.
_PURPOSE_SERVICES: Mapping[Cloud, re.Pattern[str]] = MappingProxyType(
    {
        Cloud.AWS: re.compile(
            rf"service:(?:{re.escape(AWS_CLOUDTRAIL_SERVICE)}|{AWS_LOGS_SERVICE_PATTERN})"
        ),
        # The Secret Manager service agent of a project: keyplane's GCP vault grants it the
        # secrets key so that Secret Manager encrypts the secrets with it (CMEK, KM-STO-002).
        Cloud.GCP: re.compile(
            r"serviceAccount:service-[0-9]+@gcp-sa-secretmanager\.iam\.gserviceaccount\.com"
        ),
    }
)


class Declared:
    """The principals an environment declares (KM-ACC-004), asked once per grant.

    - the environment's key administrators, backup key administrators, auditors and key users
      (compared by `principal_key`: a role's ARN and its in-stack name are one principal);
    - the environment's own account root (`arn:aws:iam::<account>:root`): on a key policy it
      delegates to IAM, whose policies `grants_on` then counts one by one;
    - the service identities the stack's components create for a purpose (`_PURPOSE_SERVICES`);
    - an in-stack IAM role that only declared principals may assume (the administrator and
      auditor roles keyplane's access component creates): it acts for them.
    """

    def __init__(self, stack: StackFacts, context: Context) -> None:
        principals = {
            principal_key(p) for p in (*context.admins, *context.auditors, *context.key_users)
        }
        if context.cloud in (Cloud.AWS, None) and context.scope:
            principals.add(f"arn:aws:iam::{context.scope}:root")
        self.services = tuple(
            services
            for cloud, services in _PURPOSE_SERVICES.items()
            if context.cloud in (cloud, None) or any(i.cloud is cloud for i in stack.keys)
        )
        self.principals = frozenset(principals)
        roles: set[str] = set()
        for role in stack.of(Role):
            trust = role.trust
            if isinstance(trust, Unknown):
                continue
            trustees = [g.principal for g in trust if g.effect is Effect.ALLOW]
            if trustees and all(
                isinstance(t, str) and self._declared(principal_key(t)) for t in trustees
            ):
                roles.add(role_principal(role))
        self.roles = frozenset(roles)

    def covers(self, principal: str) -> bool:
        key = principal_key(principal)
        return self._declared(key) or key in self.roles

    def _declared(self, key: str) -> bool:
        return key in self.principals or any(s.fullmatch(key) for s in self.services)


def declared_identities(stack: StackFacts, context: Context) -> Declared:
    """The principals `context`'s environment declares for `stack` (see `Declared`)."""
    return Declared(stack, context)


@check("KM-ACC-001", points=(Point.VALIDATION,), scope=Scope.FILE, foresees=Point.CROSSGUARD)
def declared_wildcards(files: FileContext) -> Iterator[FileFinding]:
    """KM-ACC-001 foreseen in the environment files: a wildcard principal (`*`, `allUsers`,
    `allAuthenticatedUsers`, an ARN of every account) declared in the access block. It is
    well-formed (DESIGN.md), but keyplane's components never grant it, so the stack that would
    fail KM-ACC-001 is not rendered: the finding is reported from the file, with its line."""
    for env in files.estate.environments.values():
        yield from wildcard_declarations(files.estate, env.name)


def wildcard_declarations(estate: Estate, environment: str) -> list[FileFinding]:
    """The access block's wildcard principals of `environment` as KM-ACC-001 file findings
    (`declared_wildcards`); the gate does not render an environment that has any."""
    env = estate.environments[environment]
    doc = estate.documents[env.name]
    declared: list[tuple[tuple[str | int, ...], str, str]] = [
        *(
            (("access", role, i), role, p)
            for role in ("key_admins", "backup_key_admins", "auditors")
            for i, p in enumerate(getattr(env.access, role))
        ),
        *(
            (("access", "key_users", i, "principal"), "key_users", user.principal)
            for i, user in enumerate(env.access.key_users)
        ),
    ]
    return [
        file_finding(
            "KM-ACC-001",
            env.name,
            ACCESS_TYPE,
            f"access.{role} declares the wildcard principal {principal!r}, which would grant "
            "everyone; keyplane's components never grant it, and preview does not render the "
            "stack until it names specific roles, users or service accounts.",
            path=doc.path,
            line=doc.line_of(loc),
            environment=env.name,
        )
        for loc, role, principal in declared
        if is_wildcard_principal(principal)
    ]


needs_estate("KM-ACC-004", "the principals the environment declares (its access block)")


# --- what a change weakens (`keyplane diff`) ------------------------------------------------------


@widening("KM-ACC-001")
def wildcard_reach(change: AccessChange) -> str | None:
    """KM-ACC-001 in a change: anyone (a wildcard principal) or a whole account gains access to
    a key or secret, or a principal is newly granted wildcard actions or a broad role that only
    declared administrators may hold."""
    principal, name = change.principal, change.item.name
    problems: list[str] = []
    if is_wildcard_principal(principal):
        problems.append(f"wildcard principal {principal!r} granted {access_text(change)}")
    elif is_account_wide(principal):
        problems.append(
            f"every principal of account {principal.split(':')[4]} ({principal}) granted "
            f"{access_text(change)}"
        )
    wild = [a for a in change.new_actions if is_wildcard_action(a)]
    if wild:
        problems.append(f"{principal} granted wildcard actions {', '.join(wild)}")
    broad = [
        a
        for a in change.new_actions
        if is_broad_role(a) and principal_key(principal) not in change.context.admins
    ]
    if broad:
        problems.append(
            f"{principal} granted broad role {shown(broad)}, acceptable only for a declared key "
            "administrator"
        )
    if not problems:
        return None
    return (
        f"{name}: {'; '.join(problems)}; name the principals and grant only the actions they need."
    )


@widening("KM-ACC-002")
def duties_joined(change: AccessChange) -> str | None:
    """KM-ACC-002 in a change: a principal comes to both administer and use a key (an
    administrator gains use, a user gains administration)."""
    both = {Access.ADMIN, Access.USE}
    if not isinstance(change.item, Key) or is_wildcard_principal(change.principal):
        return None
    if not both <= change.after or both <= change.before:
        return None
    if Access.ADMIN in change.before:
        what = "a key administrator gains use (encrypt, decrypt, sign)"
    elif Access.USE in change.before:
        what = "a key user gains administration"
    else:
        what = "a new principal is both administrator and user"
    now = "+".join(a.value for a in Access if a in change.after)
    return (
        f"{change.item.name}: {what}: {change.principal} now has {now}; split administration "
        "and use between different principals."
    )


def _conditioned(grants: tuple[Grant, ...] | Unknown | None) -> dict[str, tuple[bool, bool]]:
    """Per allowed principal: (some grant holds under conditions, some grant holds without)."""
    result: dict[str, tuple[bool, bool]] = {}
    if grants is None or isinstance(grants, Unknown):
        return result
    for grant in grants:
        if grant.effect is not Effect.ALLOW or not isinstance(grant.principal, str):
            continue
        with_, without = result.get(grant.principal, (False, False))
        result[grant.principal] = (
            with_ or bool(grant.conditions),
            without or not grant.conditions,
        )
    return result


@weakening("KM-ACC-001", kinds=(Key, Secret, AccessBinding))
def condition_removed(change: Transition) -> Iterator[Observation]:
    """KM-ACC-001 in a change: the conditions that confined a statement granting a wildcard
    principal or a whole account (to one account, organisation or service) were removed.

    Read from the statements written on the resource: the access model
    (`keyplane.facts.grants`) does not carry conditions yet.
    """
    before, after = change.before, change.after
    if before is None or after is None:
        return
    was, now = _conditioned(_grants_of(before)), _conditioned(_grants_of(after))
    for principal, (_, unconditioned) in sorted(now.items()):
        confined, open_before = was.get(principal, (False, False))
        if not unconditioned or not confined or open_before:
            continue
        if is_wildcard_principal(principal) or is_account_wide(principal):
            yield Observation(
                f"{after.name}: the conditions that confined the statement granting "
                f"{principal!r} were removed: anyone it names may now act on it; restore the "
                "conditions or name the principals."
            )
        else:
            yield note(f"{after.name}: a grant to {principal} no longer holds under conditions")


@weakening("KM-ACC-003", kinds=(Role,))
def trust_widened(change: Transition) -> Iterator[Observation]:
    """KM-ACC-003 in a change: anyone or a whole account may now assume a role, or a principal
    may now assume it without MFA."""
    before, after = trusted(change.before), trusted(change.after)
    if change.after is None:
        return
    name = change.after.name
    for principal, with_mfa in sorted(after.items()):
        if principal in before:
            if before[principal] and not with_mfa:
                yield Observation(
                    f"{name}: {principal} may now assume the role without MFA; keep "
                    "aws:MultiFactorAuthPresent in the trust policy."
                )
            continue
        if is_wildcard_principal(principal):
            yield Observation(
                f"{name}: anyone ({principal}) may assume the role; trust the specific roles or "
                "users instead."
            )
        elif is_account_wide(principal):
            yield Observation(
                f"{name}: every principal of account {principal.split(':')[4]} may assume the "
                "role; trust the specific roles or users instead."
            )
