"""KM-ENV: environments are tagged and kept apart.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-ENV-001, KM-ENV-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.facts.access import (
    principal_key,
    principal_scope,
)
from keyplane.facts.grants import grants_on
from keyplane.facts.model import (
    DiagnosticSetting,
    Key,
    LogBucket,
    LogSink,
    Role,
    Secret,
    StackFacts,
    Trail,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    access_text,
    changed_tag,
    dedupe,
    keys_and_secrets,
    shown,
    trusted,
)
from keyplane.rules.context import Context, OtherEnvironment
from keyplane.rules.registry import (
    AccessChange,
    Observation,
    Scope,
    Transition,
    check,
    needs_estate,
    weakening,
    widening,
)
from keyplane.rules.verdict import (
    Verdict,
    access_undecided,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    TAG_ENVIRONMENT,
    Tier,
)


@check("KM-ENV-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), scope=Scope.STACK)
def environment_tags(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-ENV-001 over the stack: every key, secret, role and log sink (a trail, and the bucket
    or storage a trail, sink or diagnostic setting of the stack writes to) carries the stack's
    environment tag. A bucket nothing in the stack logs to is not a log sink: not judged."""
    destinations = log_destinations(stack)
    verdicts = [
        environment_tag(facts, context)
        for facts in stack.resources
        if isinstance(facts, Key | Secret | Role | Trail)
        or (isinstance(facts, LogBucket) and facts.urn in destinations)
    ]
    if not verdicts:
        return [not_applicable("KM-ENV-001", "no keys, secrets, roles or log sinks")]
    return verdicts


def log_destinations(stack: StackFacts) -> frozenset[str]:
    """URNs of the buckets and storage accounts the stack's trails, log sinks and diagnostic
    settings write audit logs to."""
    targets = [t.bucket for t in stack.of(Trail)]
    targets += [s.destination for s in stack.of(LogSink)]
    targets += [d.storage for d in stack.of(DiagnosticSetting) if d.storage is not None]
    return frozenset(
        found.urn
        for target in targets
        for found in stack.resolve(target)
        if isinstance(found, LogBucket)
    )


def environment_tag(facts: Key | Secret | Role | Trail | LogBucket, context: Context) -> Verdict:
    """KM-ENV-001 on one key, secret, role or log sink: its environment tag is the stack's."""
    rule = "KM-ENV-001"
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


class ForeignPrincipals:
    """Which other environment of the estate a principal belongs to (KM-ENV-002); the
    environments' principals are read once per stack, not once per grant."""

    def __init__(self, context: Context) -> None:
        self.scope = context.scope
        self.own = {principal_key(p) for p in context.admins | context.auditors} | {
            principal_key(p) for p in context.key_users
        }
        self.others = [
            (other, {principal_key(p) for p in other.principals})
            for other in context.other_environments
        ]

    def environment_of(self, principal: str) -> OtherEnvironment | None:
        scope = principal_scope(principal)
        key = principal_key(principal)
        for other, principals in self.others:
            if scope is not None and other.scope == scope and scope != self.scope:
                return other
            if key in principals and key not in self.own:
                return other
        return None


@check("KM-ENV-002", points=(Point.CROSSGUARD, Point.AUDIT), scope=Scope.STACK)
def environment_isolation(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-ENV-002 over the stack: no principal of another environment is granted a key or secret
    (`facts.grants`)."""
    rule = "KM-ENV-002"
    items = keys_and_secrets(stack)
    if not items:
        return [not_applicable(rule, "no keys or secrets")]
    foreign = ForeignPrincipals(context)
    verdicts: list[Verdict] = []
    reported: set[str] = set()  # the URNs of the verdicts so far
    for item in items:
        before = len(verdicts)
        grants = grants_on(stack, item)
        for grant in grants.applied:
            other = foreign.environment_of(grant.principal)
            if other is None:
                continue
            where = f" ({other.scope})" if other.scope else ""
            prod_from_dev = (
                context.effective_tier is Tier.PRODUCTION and other.tier is Tier.DEVELOPMENT
            )
            note = "; production keys are never reachable from development" if prod_from_dev else ""
            verdicts.append(
                fail(
                    rule,
                    item,
                    f"grants {shown(grant.actions)} to {grant.principal} of environment "
                    f"{other.name}{where}{note}; remove the grant and give {other.name} its own "
                    "key.",
                )
            )
        reported.update(v.urn for v in verdicts[before:])
        if grants.undecided and item.urn not in reported:
            verdicts.append(access_undecided(rule, item, grants, "who is granted access"))
            reported.add(item.urn)
    return dedupe(verdicts)


needs_estate("KM-ENV-002", "the other environments' accounts, projects and principals")


@weakening("KM-ENV-001", kinds=(Key, Secret, Role, Trail, LogBucket))
def environment_tag_changed(change: Transition) -> Iterator[Observation]:
    """KM-ENV-001 in a change: the environment tag removed or changed."""
    if (what := changed_tag(TAG_ENVIRONMENT, change.before, change.after)) is not None:
        assert change.after is not None
        yield Observation(
            f"{change.after.name}: {TAG_ENVIRONMENT} tag {what}; keep it equal to the stack's "
            "environment."
        )


def _foreign(principal: str, home_scopes: frozenset[str]) -> str | None:
    """A principal's account or project when it is not one of the stack's own."""
    scope = principal_scope(principal)
    if scope is None or not home_scopes or scope in home_scopes:
        return None
    return scope


@widening("KM-ENV-002")
def foreign_principal_granted(change: AccessChange) -> str | None:
    """KM-ENV-002 in a change: a principal of another account or project gains access."""
    scope = _foreign(change.principal, change.home_scopes)
    if scope is None:
        return None
    home = ", ".join(sorted(change.home_scopes))
    return (
        f"{change.item.name}: {change.principal} from account/project {scope} (the stack's: "
        f"{home}) granted {access_text(change)}; grant only principals of this environment."
    )


@weakening("KM-ENV-002", kinds=(Role,))
def foreign_trust(change: Transition) -> Iterator[Observation]:
    """KM-ENV-002 in a change: a principal of another account may now assume a role."""
    before, after = change.before, change.after
    if not isinstance(after, Role) or isinstance(after.trust, Unknown):
        return
    trusted_before = trusted(before)
    for principal in sorted(trusted(after)):
        if principal in trusted_before:
            continue
        scope = _foreign(principal, change.home_scopes)
        if scope is not None:
            home = ", ".join(sorted(change.home_scopes))
            yield Observation(
                f"{after.name}: {principal} from account {scope} (the stack's: {home}) may "
                "assume the role; trust only principals of this environment."
            )
