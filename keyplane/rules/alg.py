"""KM-ALG: approved algorithms.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-ALG-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.facts.model import (
    Facts,
    Key,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import algorithm_name
from keyplane.rules.context import Context
from keyplane.rules.registry import Observation, Transition, check, note, weakening
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    APPROVED_ALGORITHMS,
    Algorithm,
)


@check("KM-ALG-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key,))
def approved_algorithm(facts: Facts, context: Context) -> Verdict:
    """KM-ALG-001 on a key: its algorithm is one the policy approves
    (`standard.APPROVED_ALGORITHMS`)."""
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


@weakening("KM-ALG-001", kinds=(Key,))
def algorithm_changed(change: Transition) -> Iterator[Observation]:
    """KM-ALG-001 in a change: a key's algorithm changed to one the policy does not approve (a
    change to an approved one is a note)."""
    before, after = change.before, change.after
    if not isinstance(before, Key) or not isinstance(after, Key):
        return
    was, now = before.algorithm, after.algorithm
    if isinstance(was, Unknown) or isinstance(now, Unknown):
        return
    if algorithm_name(was) == algorithm_name(now):
        return
    what = f"{after.name}: algorithm changed from {algorithm_name(was)} to {algorithm_name(now)}"
    if isinstance(now, Algorithm) and now.approved:
        yield note(f"{what} (approved)")
    else:
        yield Observation(
            f"{what}, which is not an approved algorithm (Policy §5); use "
            f"{', '.join(APPROVED_ALGORITHMS)}."
        )
