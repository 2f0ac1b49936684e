"""The live audit's judgement: collected facts -> the point-A rules' findings, cloud-neutral.

A collector (`keyplane.engines.audit.aws`; GCP and Azure collectors can be added beside it)
returns a `Collected`: the facts it built from read-only calls, the observations only a live
account has (keys pending deletion, when material or a secret last changed), and the reads it
was refused (`Unverifiable`, each naming its permission). `judge_collected` then:

- judges active keys only: a disabled key is deactivated and retained (Proc 4.4 step 3), a key
  pending deletion whose retirement the environment records is being destroyed (Proc 4.5); both
  are lifecycle evidence (`lifecycle_of`), not judged as active keys;
- reports the keys and secrets the environment declares that the account lacks (`Declared`);

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
from datetime import UTC, date, datetime

from keyplane.adapters.boto3 import TrailEvent
from keyplane.engines.audit.evidence import (
    Evidence,
    Inventory,
    KeyLifecycle,
    LiveRecord,
    observed,
)
from keyplane.facts.model import Facts, Key, Secret
from keyplane.facts.values import UNKNOWN, Maybe, Unknown
from keyplane.findings import Engine, ExceptionScope, Finding, apply_exceptions
from keyplane.rules.audit_evidence import (
    live_message,
    material_age,
    missing_key,
    missing_secret,
    pending_deletion,
    secret_age,
    versions_pending_destruction,
)
from keyplane.rules.audit_permissions import not_judged_without, unverifiable_without
from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
from keyplane.rules.context import Context, RestoreTest
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
    """A key scheduled for destruction, and when (None when the cloud did not say); with
    `versions`, only those versions of a key that stays in use are (GCP key versions)."""

    key: Subject
    deletion_date: datetime | None
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retired:
    """The environment file's record of a key's retirement (`keys[].retired`, Proc 4.5)."""

    on: date
    reason: str


@dataclass(frozen=True)
class Declared:
    """A key or secret the environment file declares: its declared `name`, the `native` name the
    cloud gives it (`alias/<env>/<key>`, `<env>/<secret>`), its resource `type`, whether it is a
    key, and the key's retirement record."""

    name: str
    native: str
    type: str
    key: bool
    retired: Retired | None = None


@dataclass(frozen=True)
class KeySeen:
    """A customer-managed key as listed and described: `state` is the cloud's key state
    (`Enabled`, `Disabled`, `PendingDeletion`...)."""

    key: Subject
    state: str


@dataclass
class Collected:
    """What a collector read from one account and region (filled from several threads)."""

    #: The account itself: the subject of account-wide findings.
    account: Subject
    #: The cloud, as messages name it ("AWS", "GCP", "Azure").
    cloud: str = "AWS"
    facts: list[Facts] = field(default_factory=list)
    pending: list[PendingDeletion] = field(default_factory=list)
    #: Keys with rotation on, and when their material last changed (aware datetime).
    material_changes: list[tuple[Key, datetime | None]] = field(default_factory=list)
    #: Secrets, and when they were last rotated (aware datetime).
    secret_rotations: list[tuple[Secret, datetime | None]] = field(default_factory=list)
    unverifiable: list[Unverifiable] = field(default_factory=list)
    #: Every customer-managed key described, whatever its state (the lifecycle evidence).
    keys_seen: list[KeySeen] = field(default_factory=list)
    #: Native key names (aliases) -> the key's URN; UNKNOWN when they could not be listed.
    key_names: Maybe[dict[str, str]] = UNKNOWN
    #: Native secret names -> the secret's URN; UNKNOWN when they could not be listed.
    secret_names: Maybe[dict[str, str]] = UNKNOWN
    #: Every name a key goes by (ARN, ID, aliases) -> its URN: where an event belongs.
    key_refs: dict[str, str] = field(default_factory=dict)
    #: Whether the account's keys were listed (else an event's key cannot be called gone).
    keys_listed: bool = True
    #: The period's key lifecycle events; UNKNOWN when they could not be read.
    events: Maybe[list[TrailEvent]] = UNKNOWN
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


def retired_on(declared: Sequence[Declared], name: str) -> Retired | None:
    """The retirement record of declared key `name` (None: not declared, or not retired)."""
    return next((d.retired for d in declared if d.key and d.name == name), None)


def _declared_key_name(collected: Collected, declared: Sequence[Declared], urn: str) -> str | None:
    """The declared name of the key at `urn`, matched by its native name (alias), or None."""
    if isinstance(collected.key_names, Unknown):
        return None
    return next(
        (d.name for d in declared if d.key and collected.key_names.get(d.native) == urn), None
    )


def missing(collected: Collected, declared: Sequence[Declared]) -> list[Declared]:
    """The declared keys and secrets the account lacks (none when their list was not read)."""
    result = []
    for item in declared:
        found = collected.key_names if item.key else collected.secret_names
        if not isinstance(found, Unknown) and item.native not in found:
            result.append(item)
    return result


def judge_collected(
    collected: Collected, context: Context, declared: Sequence[Declared] = ()
) -> list[Finding]:
    """The point-A rules over the collected facts (active keys only), plus what only a live
    audit sees: material and secret ages, keys pending deletion without a retirement record, and
    the `declared` keys and secrets the account lacks (a retired key's absence is evidence)."""
    blocked = collected.blocked
    rule_ids = [r.id for r in rules_at(Point.AUDIT) if r.id not in blocked]
    verdicts = evaluate(collected.facts, context, rule_ids) + audit_verdicts(
        collected, context.as_of
    )
    for p in collected.pending:
        name = _declared_key_name(collected, declared, p.key.urn)
        retired = retired_on(declared, name) if name else None
        if p.versions:
            verdict = versions_pending_destruction(
                p.key.urn,
                p.key.name,
                p.key.type,
                p.versions,
                p.deletion_date,
                retired_on=retired.on if retired else None,
                as_of=context.as_of,
            )
            if verdict is not None:
                verdicts.append(verdict)
            continue
        verdict = pending_deletion(
            p.key.urn,
            p.key.name,
            p.key.type,
            p.deletion_date,
            retired_on=retired.on if retired else None,
            as_of=context.as_of,
        )
        if verdict is not None:
            verdicts.append(verdict)
    for item in missing(collected, declared):
        if item.key and item.retired is None:
            verdicts.append(missing_key(item.native, item.name, item.type, context.environment))
        elif not item.key:
            verdicts.append(missing_secret(item.native, item.name, item.type, context.environment))
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
                message=verdict.message if failed else live_message(verdict, collected.cloud),
                engine=Engine.AUDIT,
            )
        )
    names = (
        {f.urn: f.name for f in collected.facts}
        | {p.key.urn: p.key.name for p in collected.pending}
        | {d.native: d.name for d in declared}
    )
    return _with_exceptions(findings, names, context.exceptions, context.environment, context.as_of)


def inventory_of(collected: Collected, declared: Sequence[Declared]) -> Inventory:
    """Declared, found (in any state), missing and judged counts for the evidence."""
    kinds = (("keys", True, collected.key_names), ("secrets", False, collected.secret_names))
    absent = {d.native for d in missing(collected, declared)}
    declared_counts = {k: sum(1 for d in declared if d.key is is_key) for k, is_key, _ in kinds}
    found_counts = {
        k: sum(1 for d in declared if d.key is is_key and d.native not in absent)
        for k, is_key, names in kinds
        if not isinstance(names, Unknown)
    }
    return Inventory(
        declared=declared_counts,
        found=found_counts,
        missing=tuple(d.native for d in declared if d.native in absent),
        judged=len(collected.facts),
        unknown=tuple(k for k, _, names in kinds if isinstance(names, Unknown)),
    )


def lifecycle_of(
    collected: Collected,
    declared: Sequence[Declared],
    as_of: date,
    restore_tests: Mapping[str, RestoreTest | None] | None = None,
) -> list[KeyLifecycle]:
    """Each key's state and lifecycle events, as evidence (Proc 4.4 step 3, Proc 4.5): every
    customer-managed key the account holds, the declared keys it lacks, and keys the period's
    events name that are no longer there. A declared backup key's evidence also says its
    restore test that counts (`restore_tests`, by declared name: `Context.restore_tests`;
    Policy §11)."""
    restore_tests = restore_tests or {}
    events: dict[str, list[TrailEvent]] = {}
    for event in [] if isinstance(collected.events, Unknown) else collected.events:
        urn = next((collected.key_refs[r] for r in event.refs if r in collected.key_refs), None)
        events.setdefault(urn or (event.refs[0] if event.refs else "unknown key"), []).append(event)
    deletion = {p.key.urn: p.deletion_date for p in collected.pending if not p.versions}
    entries: list[KeyLifecycle] = []
    for seen in sorted(collected.keys_seen, key=lambda k: (k.key.name, k.key.urn)):
        urn = seen.key.urn
        name = _declared_key_name(collected, declared, urn)
        retired = retired_on(declared, name) if name else None
        entries.append(
            KeyLifecycle(
                seen.key.name,
                urn,
                _STATES.get(seen.state, seen.state),
                _key_evidence(seen.state, deletion.get(urn), retired, as_of)
                + (
                    _restore_evidence(restore_tests[name])
                    if name is not None and name in restore_tests
                    else ""
                ),
                tuple(sorted(events.pop(urn, []), key=lambda e: e.time)),
            )
        )
    for item in missing(collected, declared):
        if not item.key:
            continue
        if item.retired is None:
            evidence = "declared, missing from the account: a finding (destroyed outside Proc 4.5)"
        else:
            evidence = f"destroyed: {_retirement(item.retired)}"
        entries.append(KeyLifecycle(item.name, item.native, "missing", evidence))
    for ref, others in sorted(events.items()):
        state, evidence = (
            (
                "not in the account",
                "named by the period's events, no longer in the account (destroyed, or in "
                "another region)",
            )
            if collected.keys_listed
            else (
                "not listed",
                "named by the period's events; the account's keys could not be listed",
            )
        )
        entries.append(
            KeyLifecycle(
                ref.rsplit("/", 1)[-1],
                ref,
                state,
                evidence,
                tuple(sorted(others, key=lambda e: e.time)),
            )
        )
    return entries


_STATES = {
    "Enabled": "active",
    "Disabled": "disabled",
    "PendingDeletion": "pending deletion",
    "Destroyed": "destroyed",
}


def _restore_evidence(test: RestoreTest | None) -> str:
    """A backup key's restore test, in words (KM-BAK-002 judges it)."""
    if test is None:
        return "; restore test: none on record"
    result = "passed" if test.passed else "failed"
    return f"; restore test: {test.on.isoformat()}, {result} ({test.source})"


def _retirement(retired: Retired) -> str:
    return f"retired on {retired.on.isoformat()}: {retired.reason}"


def _key_evidence(
    state: str, deletion: datetime | None, retired: Retired | None, as_of: date
) -> str:
    """What a key's state means under the procedure, in words."""
    if state == "Disabled":
        text = "deactivated, retained (Proc 4.4 step 3); not judged as an active key"
        return text + (f"; {_retirement(retired)}" if retired else "")
    if state == "Destroyed":
        # A GCP key is never deleted: with every version destroyed its material is gone.
        text = "every version destroyed: the key material is gone"
        return text + (f"; {_retirement(retired)}" if retired else "")
    if state == "PendingDeletion":
        when = deletion.astimezone(UTC).date().isoformat() if deletion else "a date AWS did not say"
        if retired is not None and retired.on <= as_of:
            return f"destruction scheduled for {when}, {_retirement(retired)} (Proc 4.5)"
        if retired is not None:
            return (
                f"destruction scheduled for {when}, but the environment file records the "
                f"retirement on {retired.on.isoformat()}, after the audit's date: a finding"
            )
        return (
            f"destruction scheduled for {when} without a retirement record in the environment "
            "file: a finding"
        )
    return "active: judged by the rules"


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
