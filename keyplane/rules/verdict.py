"""What a check answers: pass, fail (with a message), not applicable, or unknown."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from keyplane.facts.model import Resource

if TYPE_CHECKING:
    from keyplane.facts.grants import Grants


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    #: A value the verdict depends on is only known after deployment.
    UNKNOWN = "unknown"


#: The words every "unknown" message carries (README: "cannot judge until deployed").
CANNOT_JUDGE = "cannot judge until deployed"


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: Outcome
    message: str = ""
    #: What the verdict is about: a resource's URN, or "" for the stack itself.
    urn: str = ""
    name: str = ""
    type: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAIL


def passed(rule: str, facts: Resource | None = None) -> Verdict:
    return _verdict(rule, Outcome.PASS, "", facts)


def not_applicable(rule: str, reason: str, facts: Resource | None = None) -> Verdict:
    return _verdict(rule, Outcome.NOT_APPLICABLE, reason, facts)


def fail(rule: str, facts: Resource, text: str) -> Verdict:
    """`KM-ROT-002 legacy-reporting-db: <text>` about `facts`."""
    return _verdict(rule, Outcome.FAIL, f"{rule} {facts.name}: {text}", facts)


def unknown(rule: str, facts: Resource, what: str) -> Verdict:
    """`KM-ROT-002 k: cannot judge until deployed: <what> is only known after deployment.`"""
    return _verdict(
        rule,
        Outcome.UNKNOWN,
        f"{rule} {facts.name}: {CANNOT_JUDGE}: {what} is only known after deployment.",
        facts,
    )


def cannot_judge(rule: str, facts: Resource, reason: str) -> Verdict:
    """`KM-LOG-002 trail: cannot judge: <reason>.`: a value keyplane cannot read or that lives
    elsewhere (not one only known after deployment): reported, never passed."""
    return _verdict(rule, Outcome.UNKNOWN, f"{rule} {facts.name}: cannot judge: {reason}.", facts)


def access_undecided(rule: str, facts: Resource, grants: Grants, what: str) -> Verdict:
    """The verdict on an item whose grants cannot all be read: "cannot judge" with the reasons
    when some grant cannot be read at all, else "until deployed" (`what` is only known then)."""
    if grants.unreadable:
        return cannot_judge(rule, facts, "; ".join(grants.unreadable))
    return unknown(rule, facts, what)


def stack_fail(rule: str, subject: str, text: str, urn: str = "", type_: str = "") -> Verdict:
    """A stack-level failure about something that is not one resource (a missing trail)."""
    return Verdict(rule, Outcome.FAIL, f"{rule} {subject}: {text}", urn, subject, type_)


def stack_unknown(rule: str, subject: str, what: str) -> Verdict:
    return Verdict(
        rule,
        Outcome.UNKNOWN,
        f"{rule} {subject}: {CANNOT_JUDGE}: {what} is only known after deployment.",
        "",
        subject,
    )


def _verdict(rule: str, outcome: Outcome, message: str, facts: Resource | None) -> Verdict:
    if facts is None:
        return Verdict(rule, outcome, message)
    return Verdict(rule, outcome, message, facts.urn, facts.name, facts.type)
