"""Running the checks in process: facts and context in, keyplane findings out.

The CrossGuard pack runs the same check functions one policy at a time; this module is the
engine-free path (tests, and any caller that already holds facts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keyplane.facts.model import Facts, StackFacts
from keyplane.findings import Engine, Finding, apply_exceptions
from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
from keyplane.rules.checks.context import Context
from keyplane.rules.checks.resource import RESOURCE_CHECKS
from keyplane.rules.checks.stack import STACK_CHECKS
from keyplane.rules.checks.verdict import Outcome, Verdict

REPORTED = frozenset({Outcome.FAIL, Outcome.UNKNOWN})


def check_resource(rule_id: str, facts: Iterable[Facts], context: Context) -> list[Verdict]:
    """A resource-level rule over the facts of one resource (or of many): what to report."""
    check = RESOURCE_CHECKS[rule_id]
    verdicts = [check(f, context) for f in facts]
    return _dedupe(v for v in verdicts if v.outcome in REPORTED)


def check_stack(rule_id: str, stack: StackFacts, context: Context) -> list[Verdict]:
    return _dedupe(v for v in STACK_CHECKS[rule_id](stack, context) if v.outcome in REPORTED)


def evaluate(
    facts: Sequence[Facts], context: Context, rule_ids: Iterable[str] | None = None
) -> list[Verdict]:
    """Every CrossGuard rule (or `rule_ids`) over a stack's facts: failures and unknowns."""
    wanted = [r.id for r in rules_at(Point.CROSSGUARD)] if rule_ids is None else list(rule_ids)
    stack = StackFacts(tuple(facts))
    verdicts: list[Verdict] = []
    for rule_id in wanted:
        if rule_id in RESOURCE_CHECKS:
            verdicts.extend(check_resource(rule_id, facts, context))
        elif rule_id in STACK_CHECKS:
            verdicts.extend(check_stack(rule_id, stack, context))
        else:
            raise KeyError(f"no check for rule {rule_id!r}")
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
