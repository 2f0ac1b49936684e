"""The live audit's judgement: collected facts -> the point-A rules' findings, cloud-neutral.

A collector (`keyplane.engines.audit.aws`; GCP and Azure collectors can be added beside it)
returns a `Collected`: the facts it built from read-only calls, the observations only a live
account has (keys pending deletion, when material or a secret last changed), and the reads it
was refused (`Unverifiable`, each naming its permission). `judge_collected` then:

- runs every point-A check (`keyplane.rules`) over the facts, exactly as the CrossGuard pack
  judges a stack, and the audit-only evidence checks (`keyplane.rules.audit_evidence`);
- turns each refused read into one advisory "unverifiable" finding per rule it feeds, and does
  not judge at all the rules whose account-wide list was refused
  (`keyplane.rules.audit_permissions`);
- applies the estate's exceptions, by ARN or by the resource's declared name.

No rule ID is written here: the rules' side says which rules a permission serves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from keyplane.engines.audit.evidence import Evidence, LiveRecord, observed
from keyplane.facts.model import Facts, Key, Secret
from keyplane.findings import Engine, ExceptionScope, Finding, apply_exceptions
from keyplane.rules.audit_evidence import live_message, material_age, pending_deletion, secret_age
from keyplane.rules.audit_permissions import not_judged_without, unverifiable_without
from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
from keyplane.rules.context import Context
from keyplane.rules.judge import evaluate
from keyplane.rules.verdict import Outcome, Verdict


class AuditError(Exception):
    """The audit cannot run (bad input, wrong account, no credentials): one line for the user."""


@dataclass(frozen=True)
class Subject:
    """What a read is about: a resource, or the account for list calls."""

    urn: str
    name: str
    type: str


@dataclass(frozen=True)
class Unverifiable:
    """A read that gave no answer to judge: what it was for, the permission behind it, and why
    (`code`). Either the auditor was refused the permission (`fault` False: the cloud's code,
    reported advisory with the permission to grant), or the read failed (`fault` True: the
    deadline passed, the service kept throttling or failing, the answer was not what the API
    returns; `code` names the call): then a mandatory rule it feeds stays mandatory, unknown is
    not a pass."""

    subject: Subject
    what: str
    permission: str
    code: str
    fault: bool = False

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules this read feeds (so left unverifiable on `subject`)."""
        return unverifiable_without(self.permission)


@dataclass(frozen=True)
class PendingDeletion:
    """A key scheduled for destruction, and when (None when the cloud did not say)."""

    key: Subject
    deletion_date: datetime | None


@dataclass
class Collected:
    """What a collector read from one account and region (filled from several threads)."""

    #: The account itself: the subject of account-wide findings.
    account: Subject
    facts: list[Facts] = field(default_factory=list)
    pending: list[PendingDeletion] = field(default_factory=list)
    #: Keys with rotation on, and when their material last changed (aware datetime).
    material_changes: list[tuple[Key, datetime | None]] = field(default_factory=list)
    #: Secrets, and when they were last rotated (aware datetime).
    secret_rotations: list[tuple[Secret, datetime | None]] = field(default_factory=list)
    unverifiable: list[Unverifiable] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *facts: Facts) -> None:
        with self.lock:
            self.facts.extend(facts)

    @property
    def blocked(self) -> set[str]:
        """Rules whose account-wide input (a list call) could not be read: not judged at all."""
        return {r for item in self.unverifiable for r in not_judged_without(item.permission)}


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding]
    facts: list[Facts]
    evidence: Evidence

    @property
    def records(self) -> list[LiveRecord]:
        return [LiveRecord(f.urn, f.type, f.name, observed(f)) for f in self.facts]


def unverifiable_findings(items: Iterable[Unverifiable]) -> list[Finding]:
    """One finding per unread read and rule it feeds: advisory, naming the permission to grant,
    for a refused permission; with the rule's own enforcement, naming the failed call, for a
    fault (so a mandatory rule left unknown fails the audit)."""
    findings = []
    for item in items:
        for rule in item.rules:
            head = f"{rule} {item.subject.name}: unverifiable: {item.what} could not be read"
            if item.fault:
                enforcement = RULES[rule].default_enforcement
                message = (
                    f"{head} ({item.code}); {rule} is not judged on it: rerun the audit when "
                    "the service answers (raise --timeout if the deadline passed)."
                )
            else:
                enforcement = Enforcement.ADVISORY
                message = (
                    f"{head} ({item.code}); grant the auditor {item.permission} to judge {rule}."
                )
            findings.append(
                Finding(
                    rule=rule,
                    enforcement=enforcement,
                    resource=item.subject.urn,
                    type=item.subject.type,
                    message=message,
                    engine=Engine.AUDIT,
                )
            )
    return findings


def audit_verdicts(collected: Collected, as_of: date) -> list[Verdict]:
    """The audit-only evidence checks over what the collector observed."""
    verdicts: list[Verdict] = []
    for key, last in collected.material_changes:
        if (verdict := material_age(key, last, as_of)) is not None:
            verdicts.append(verdict)
    for secret, last in collected.secret_rotations:
        if (verdict := secret_age(secret, last, as_of)) is not None:
            verdicts.append(verdict)
    return verdicts


def judge_collected(collected: Collected, context: Context) -> list[Finding]:
    """The point-A rules over the collected facts, plus what only a live audit sees."""
    blocked = collected.blocked
    rule_ids = [r.id for r in rules_at(Point.AUDIT) if r.id not in blocked]
    verdicts = evaluate(collected.facts, context, rule_ids) + audit_verdicts(
        collected, context.as_of
    )
    verdicts += [
        pending_deletion(p.key.urn, p.key.name, p.key.type, p.deletion_date)
        for p in collected.pending
    ]
    unreadable = {(u.subject.urn, r) for u in collected.unverifiable for r in u.rules}
    findings = unverifiable_findings(collected.unverifiable)
    for verdict in verdicts:
        if verdict.rule in blocked:
            continue
        if verdict.outcome is Outcome.UNKNOWN and (verdict.urn, verdict.rule) in unreadable:
            continue  # said once, with the missing permission
        failed = verdict.outcome is Outcome.FAIL
        findings.append(
            Finding(
                rule=verdict.rule,
                enforcement=RULES[verdict.rule].default_enforcement
                if failed
                else Enforcement.ADVISORY,
                resource=verdict.urn or verdict.name,
                type=verdict.type or collected.account.type,
                message=verdict.message if failed else live_message(verdict),
                engine=Engine.AUDIT,
            )
        )
    names = {f.urn: f.name for f in collected.facts} | {
        p.key.urn: p.key.name for p in collected.pending
    }
    return _with_exceptions(findings, names, context.exceptions, context.environment, context.as_of)


def _with_exceptions(
    findings: Sequence[Finding],
    names: Mapping[str, str],
    scopes: Sequence[ExceptionScope],
    environment: str,
    today: date,
) -> list[Finding]:
    """Exceptions name a resource by its declared name; live findings carry the ARN."""
    result = []
    for finding in findings:
        [applied] = apply_exceptions([finding], scopes, environment, today)
        name = names.get(finding.resource)
        if applied.exception is None and name:
            [by_name] = apply_exceptions(
                [replace(finding, resource=name)], scopes, environment, today
            )
            if by_name.exception is not None:
                applied = replace(by_name, resource=finding.resource)
        result.append(applied)
    return result
