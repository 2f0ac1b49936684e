"""KM-COV: nothing that holds or grants access to keys, secrets or certificates passes unseen.

The checks of the family at every enforcement point, side by side (`keyplane.rules.registry`).
Which types count is the adapters' knowledge (`keyplane.adapters.coverage`): they turn a
key-bearing resource no reader handles into an `Unread` fact, which this check reports.

Rules: KM-COV-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from keyplane.facts.model import Facts, Unparseable, Unread
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.registry import check
from keyplane.rules.verdict import Verdict, fail, not_applicable


@check("KM-COV-001", points=(Point.CROSSGUARD, Point.CHECKOV), kinds=(Unread, Unparseable))
def unread_resource(facts: Facts, context: Context) -> Verdict:
    """KM-COV-001: a resource of a key-bearing type keyplane cannot read, or a policy document it
    cannot parse, is reported, naming the type or the field, so that a report never claims a
    clean result for what it did not judge.

    Reported as a failure of this advisory rule (not an "unknown"), so that checkov, which
    reports no unknown, reports it too."""
    rule = "KM-COV-001"
    if isinstance(facts, Unparseable):
        return fail(
            rule,
            facts,
            f"cannot judge: {facts.field} {facts.problem}; the grants it holds were not judged; "
            "correct the document.",
        )
    if not isinstance(facts, Unread):
        return not_applicable(rule, "not a key-bearing type keyplane cannot read")
    return fail(
        rule,
        facts,
        f"keyplane cannot read resources of type {facts.type}, which holds or grants access to "
        "keys, secrets or certificates: its settings were not judged; review it by hand (and "
        "record the review as an exception) or write it with a type keyplane reads.",
    )
