"""KM-PUR: a key serves its one declared purpose.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-PUR-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.facts.model import (
    Facts,
    Key,
    Secret,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    changed_tag,
    purpose_of,
)
from keyplane.rules.context import Context
from keyplane.rules.registry import Observation, Transition, check, weakening
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    PURPOSES,
    TAG_PURPOSE,
    KeyPurpose,
)

_PURPOSE_LIST = ", ".join(p.value for p in KeyPurpose)


@check("KM-PUR-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Key, Secret))
def declared_purpose(facts: Facts, context: Context) -> Verdict:
    """KM-PUR-001 on a key or secret: it declares one of the policy's purposes, and a key's usage
    fits it."""
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


@weakening("KM-PUR-001", kinds=(Key, Secret))
def purpose_tag_changed(change: Transition) -> Iterator[Observation]:
    """KM-PUR-001 in a change: the purpose tag removed or changed."""
    if (what := changed_tag(TAG_PURPOSE, change.before, change.after)) is not None:
        assert change.after is not None
        yield Observation(
            f"{change.after.name}: {TAG_PURPOSE} tag {what}; a key or secret serves the one "
            "purpose it was created for (Policy §8); create one for the new purpose instead."
        )
