"""Running the registered checks in process: facts and context in, keyplane findings out.

The CrossGuard pack and keyplane's checkov checks run the same check functions (looked up in
`keyplane.rules.registry`); this module is the engine-free path (the audit, tests, and any
caller that already holds facts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from keyplane.facts.model import Facts, StackFacts
from keyplane.findings import Engine, Finding, apply_exceptions
from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
from keyplane.rules.context import Context
from keyplane.rules.registry import ResourceCheck, Scope, StackCheck, registered
from keyplane.rules.verdict import Outcome, Verdict

REPORTED = frozenset({Outcome.FAIL, Outcome.UNKNOWN})


def resource_check(rule_id: str) -> ResourceCheck | None:
    """The rule's resource check, or None when it is judged over the whole stack."""
    function: ResourceCheck | None = _by_rule(Scope.RESOURCE).get(rule_id)
    return function


def stack_check(rule_id: str) -> StackCheck | None:
    """The rule's stack check, or None."""
    function: StackCheck | None = _by_rule(Scope.STACK).get(rule_id)
    return function


#: The registry's checks (the tuple `registered()` returns while it is unchanged) and, per
#: scope, each rule's first check: asked for every rule of every resource (86,000 times for
#: the pack at 9,919 resources), it was a walk over every check.
_INDEX: tuple[tuple[object, ...], dict[Scope, dict[str, object]]] | None = None


def _by_rule(scope: Scope) -> dict[str, Any]:
    global _INDEX  # noqa: PLW0603 - a cache of the registry, rebuilt when it changes
    checks = registered()
    index = _INDEX
    if index is None or index[0] is not checks:
        by_scope: dict[Scope, dict[str, object]] = {s: {} for s in Scope}
        for check in checks:
            by_scope[check.scope].setdefault(check.rule, check.function)
        index = _INDEX = (checks, by_scope)
    return index[1][scope]


def is_resource_rule(rule_id: str) -> bool:
    """Whether the rule is judged one resource at a time (else over the whole stack)."""
    return resource_check(rule_id) is not None


def check_resource(rule_id: str, facts: Iterable[Facts], context: Context) -> list[Verdict]:
    """A resource-level rule over the facts of one resource (or of many): what to report.
    KeyError when the rule has no resource check."""
    check = resource_check(rule_id)
    if check is None:
        raise KeyError(f"no resource check for rule {rule_id!r}")
    reported = [v for v in (check(f, context) for f in facts) if v.outcome in REPORTED]
    return _dedupe(reported) if reported else reported


def check_stack(rule_id: str, stack: StackFacts, context: Context) -> list[Verdict]:
    """A stack-level rule over the whole stack: what to report. KeyError when it has none."""
    check = stack_check(rule_id)
    if check is None:
        raise KeyError(f"no stack check for rule {rule_id!r}")
    return _dedupe(v for v in check(stack, context) if v.outcome in REPORTED)


def evaluate(
    facts: Sequence[Facts], context: Context, rule_ids: Iterable[str] | None = None
) -> list[Verdict]:
    """Every CrossGuard rule (or `rule_ids`) over a stack's facts: failures and unknowns."""
    wanted = [r.id for r in rules_at(Point.CROSSGUARD)] if rule_ids is None else list(rule_ids)
    stack = StackFacts(tuple(facts))
    verdicts: list[Verdict] = []
    for rule_id in wanted:
        if is_resource_rule(rule_id):
            verdicts.extend(check_resource(rule_id, facts, context))
        else:
            verdicts.extend(check_stack(rule_id, stack, context))
    return verdicts


def to_finding(verdict: Verdict, engine: Engine = Engine.CROSSGUARD) -> Finding:
    """A failure at the rule's default enforcement; an unknown as advisory."""
    enforcement = (
        RULES[verdict.rule].default_enforcement
        if verdict.outcome is Outcome.FAIL
        else Enforcement.ADVISORY
    )
    return Finding(
        rule=verdict.rule,
        enforcement=enforcement,
        resource=verdict.urn or verdict.name,
        type=verdict.type or "pulumi:pulumi:Stack",
        message=verdict.message,
        engine=engine,
    )


def judge(
    facts: Sequence[Facts],
    context: Context,
    engine: Engine = Engine.CROSSGUARD,
    rule_ids: Iterable[str] | None = None,
) -> list[Finding]:
    """Findings of the stack, with exceptions applied (covered failures become advisory)."""
    findings = [to_finding(v, engine) for v in evaluate(facts, context, rule_ids)]
    return apply_exceptions(findings, context.exceptions, context.environment, context.as_of)


def _dedupe(verdicts: Iterable[Verdict]) -> list[Verdict]:
    return list({(v.urn, v.message): v for v in verdicts}.values())
