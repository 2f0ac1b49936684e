"""KM-LOG: key operations are audit-logged to immutable storage.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-LOG-001, KM-LOG-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from keyplane.facts.model import (
    AuditConfig,
    DiagnosticSetting,
    Immutability,
    Key,
    LogBucket,
    LogSink,
    ObjectLock,
    Resource,
    Secret,
    StackFacts,
    Trail,
    Vault,
    Versioning,
)
from keyplane.facts.values import Ref, Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import lost, shortened, switched_off
from keyplane.rules.context import Context
from keyplane.rules.registry import Observation, Scope, Transition, check, weakening
from keyplane.rules.verdict import (
    Verdict,
    cannot_judge,
    fail,
    not_applicable,
    stack_fail,
    stack_unknown,
    unknown,
)
from keyplane.standard import (
    Cloud,
)


def _clouds(stack: StackFacts) -> set[Cloud]:
    return {f.cloud for f in stack.resources if isinstance(f, Key | Secret | Vault)}


def _logging_clouds(stack: StackFacts) -> set[Cloud]:
    """Clouds whose trails or sinks the stack holds: separate audit stacks are common, and what
    they hold is judged even where no key lives beside it."""
    return {f.cloud for f in stack.resources if isinstance(f, Trail | LogSink | DiagnosticSetting)}


def _trail_problems(trail: Trail) -> tuple[list[str], bool]:
    problems, undecided = [], False
    for value, good, text in (
        (trail.multi_region, True, "is not multi-region"),
        (trail.log_file_validation, True, "has log-file validation off"),
        (trail.logging_enabled, True, "has logging disabled"),
        (trail.excludes_kms_events, False, "leaves KMS events out"),
    ):
        if isinstance(value, Unknown):
            undecided = True
        elif value is not good:
            problems.append(text)
    if isinstance(trail.kms_key, Unknown):
        undecided = True
    elif not trail.kms_key:
        problems.append("is not encrypted with a KMS key")
    return problems, undecided


_KMS_SERVICES = frozenset({"cloudkms.googleapis.com", "allServices"})


_DATA_LOGS = frozenset({"DATA_READ", "DATA_WRITE"})


_AZURE_AUDIT = frozenset({"auditevent", "audit", "alllogs"})


@check("KM-LOG-001", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), scope=Scope.STACK)
def audit_logging(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-LOG-001 over the stack: key operations are audit-logged (AWS trail, GCP data-access logs
    and a sink, Azure diagnostic settings per vault); a missing trail is a verdict about the stack,
    not one resource."""
    rule = "KM-LOG-001"
    clouds = _clouds(stack)
    if not clouds and not _logging_clouds(stack):
        return [not_applicable(rule, "no keys, secrets, vaults, trails or sinks")]
    verdicts: list[Verdict] = []
    if Cloud.AWS not in clouds:
        # An audit stack without keys: each of its trails is judged on its own settings.
        for trail in stack.of(Trail):
            problems, undecided = _trail_problems(trail)
            if problems:
                verdicts.append(
                    fail(
                        rule,
                        trail,
                        f"the trail {', '.join(problems)}; make it multi-region, with log-file "
                        "validation, KMS encryption and management events including KMS.",
                    )
                )
            elif undecided:
                verdicts.append(unknown(rule, trail, "the trail's settings"))
    if Cloud.AWS in clouds:
        trails = stack.of(Trail)
        results = [(t, *_trail_problems(t)) for t in trails]
        if not any(not problems and not undecided for _, problems, undecided in results):
            failing = [(t, p) for t, p, _ in results if p]
            if not trails:
                verdicts.append(
                    stack_fail(
                        rule,
                        context.environment,
                        "no CloudTrail trail logs the account's KMS events; add the environment's "
                        "audit-log sink (a multi-region, validated, KMS-encrypted trail).",
                    )
                )
            elif failing and len(failing) == len(trails):
                verdicts.extend(
                    fail(
                        rule,
                        t,
                        f"the trail {', '.join(p)}; make it multi-region, with log-file "
                        "validation, KMS encryption and management events including KMS.",
                    )
                    for t, p in failing
                )
            else:
                verdicts.extend(
                    unknown(rule, t, "the trail's settings") for t, p, u in results if u and not p
                )
    if Cloud.GCP in clouds:
        configs = [
            c
            for c in stack.of(AuditConfig)
            if isinstance(c.service, Unknown) or c.service in _KMS_SERVICES
        ]
        complete = [
            c for c in configs if isinstance(c.log_types, frozenset) and c.log_types >= _DATA_LOGS
        ]
        sinks = [
            s
            for s in stack.of(LogSink)
            if s.disabled is not True
            and (
                isinstance(s.filter, Unknown)
                or not s.filter
                or "cloudaudit" in s.filter
                or "cloudkms" in s.filter
            )
        ]
        missing = []
        if not complete:
            missing.append(
                "no data-access audit logs (DATA_READ, DATA_WRITE) for cloudkms.googleapis.com"
            )
        if not sinks:
            missing.append("no log sink exports the audit logs")
        if missing:
            undecided = any(
                isinstance(c.log_types, Unknown) or isinstance(c.service, Unknown) for c in configs
            )
            if undecided and not complete and sinks:
                verdicts.append(stack_unknown(rule, context.environment, "the audit configuration"))
            else:
                verdicts.append(
                    stack_fail(
                        rule,
                        context.environment,
                        "; ".join(missing) + "; enable DATA_READ and DATA_WRITE audit logs for "
                        "cloudkms.googleapis.com and export them with a log sink.",
                    )
                )
    if Cloud.AZURE in clouds:
        settings = stack.of(DiagnosticSetting)
        # A setting whose target is not known yet may be any vault's.
        unresolved = any(
            isinstance(s.target.value, Unknown) and not s.target.urns for s in settings
        )
        for vault in stack.of(Vault):
            matching = stack.referring_to(vault, DiagnosticSetting, "target")
            good = [
                s
                for s in matching
                if isinstance(s.enabled_logs, frozenset)
                and {x.lower() for x in s.enabled_logs} & _AZURE_AUDIT
                and (s.storage is not None or s.workspace is not None)
            ]
            if good:
                continue
            undecided = unresolved or any(isinstance(s.enabled_logs, Unknown) for s in matching)
            kind = "Managed HSM" if vault.managed_hsm else "vault"
            if undecided:
                verdicts.append(unknown(rule, vault, "the diagnostic settings' targets"))
            else:
                verdicts.append(
                    fail(
                        rule,
                        vault,
                        f"the {kind} has no diagnostic setting sending its AuditEvent logs to "
                        "storage or a workspace; add one with the audit category group or "
                        "AuditEvent enabled.",
                    )
                )
    return verdicts


@dataclass(frozen=True)
class _Retention:
    immutability: Immutability | Unknown | None
    days: int | Unknown | None
    versioning: bool | Unknown | None
    lock_enabled: bool | Unknown | None


def _bucket_retention(stack: StackFacts, bucket: LogBucket) -> _Retention:
    immutability, days = bucket.immutability, bucket.retention_days
    versioning = bucket.versioning
    for lock in stack.referring_to(bucket, ObjectLock, "bucket"):
        immutability, days = lock.immutability, lock.retention_days
    for config in stack.referring_to(bucket, Versioning, "bucket"):
        versioning = config.enabled
    return _Retention(immutability, days, versioning, bucket.object_lock_enabled)


def _retention_problems(
    bucket: LogBucket, retention: _Retention, context: Context
) -> tuple[list[str], list[str]]:
    """(problems, what is unknown) of an audit-log store."""
    problems: list[str] = []
    undecided: list[str] = []
    wanted = Immutability.COMPLIANCE if bucket.cloud is Cloud.AWS else Immutability.LOCKED
    mode = retention.immutability
    if isinstance(mode, Unknown):
        undecided.append("whether the retention is locked")
    elif mode is not wanted:
        have = {
            None: "no retention lock",
            Immutability.GOVERNANCE: "object lock in GOVERNANCE mode (removable)",
            Immutability.UNLOCKED: "an unlocked retention policy",
            Immutability.COMPLIANCE: "object lock in COMPLIANCE mode",
            Immutability.LOCKED: "a locked retention policy",
        }[mode]
        problems.append(f"has {have}")
    days = retention.days
    limit = context.retention_days
    if isinstance(days, Unknown):
        undecided.append("the retention period")
    elif limit is not None and (days is None or days < limit):
        problems.append(
            f"keeps logs immutable {days} days, less than the environment's {limit}"
            if days is not None
            else "sets no retention period"
        )
    if bucket.cloud is Cloud.AWS:
        if isinstance(retention.versioning, Unknown):
            undecided.append("the versioning")
        elif not retention.versioning:
            problems.append("has versioning off")
        if isinstance(retention.lock_enabled, Unknown):
            undecided.append("whether object lock is enabled")
        elif mode is not None and not retention.lock_enabled:
            problems.append("does not enable object lock on the bucket")
    return problems, undecided


@check("KM-LOG-002", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), scope=Scope.STACK)
def immutable_logs(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-LOG-002 over the stack: every audit-log store is locked for the environment's retention
    days."""
    rule = "KM-LOG-002"
    destinations: list[tuple[Resource, Ref]] = [(t, t.bucket) for t in stack.of(Trail)]
    destinations += [(s, s.destination) for s in stack.of(LogSink)]
    destinations += [(d, d.storage) for d in stack.of(DiagnosticSetting) if d.storage is not None]
    if not destinations:
        return [not_applicable(rule, "no audit-log sinks")]
    days = f" of at least {context.retention_days} days" if context.retention_days else ""
    fixes = {
        Cloud.AWS: f"enable Object Lock in COMPLIANCE mode{days}, with versioning",
        Cloud.GCP: f"set a locked retention policy{days}",
        Cloud.AZURE: f"lock an immutability policy{days} on the log storage",
    }
    verdicts: list[Verdict] = []
    seen: set[str] = set()
    for sink, target in destinations:
        buckets = [b for b in stack.resolve(target) if isinstance(b, LogBucket)]
        if not buckets:
            if isinstance(target.value, Unknown) and not target.urns:
                verdicts.append(unknown(rule, sink, "where the audit logs are stored"))
            elif isinstance(target.value, str) and target.value:
                verdicts.append(
                    cannot_judge(
                        rule,
                        sink,
                        f"the audit logs go to {target.value}, which is not in this stack; "
                        "judge its immutability with the stack that manages it",
                    )
                )
            continue
        for bucket in buckets:
            if bucket.urn in seen:
                continue
            seen.add(bucket.urn)
            problems, undecided = _retention_problems(
                bucket, _bucket_retention(stack, bucket), context
            )
            if problems:
                verdicts.append(
                    fail(
                        rule,
                        bucket,
                        f"the audit-log store {'; '.join(problems)}; {fixes[bucket.cloud]}.",
                    )
                )
            elif undecided:
                verdicts.append(unknown(rule, bucket, " and ".join(undecided)))
    return verdicts


@weakening("KM-LOG-001", kinds=(Trail, AuditConfig, LogSink, DiagnosticSetting))
def audit_logging_weakened(change: Transition) -> Iterator[Observation]:
    """KM-LOG-001 in a change: audit logging deleted, switched off, unencrypted, narrowed (KMS
    events left out, log types lost, a sink's filter changed)."""
    before, after = change.before, change.after
    if before is None:
        return
    name = before.name
    if after is None:
        yield Observation(f"{name}: audit logging resource deleted.")
        return
    if isinstance(before, Trail) and isinstance(after, Trail):
        for label, was, now in (
            ("multi-region logging", before.multi_region, after.multi_region),
            ("log file validation", before.log_file_validation, after.log_file_validation),
            ("logging", before.logging_enabled, after.logging_enabled),
        ):
            if switched_off(was, now):
                yield Observation(f"{name}: trail {label} turned off.")
        if isinstance(before.kms_key, str) and after.kms_key is None:
            yield Observation(f"{name}: trail no longer KMS-encrypted.")
        if before.excludes_kms_events is False and after.excludes_kms_events is True:
            yield Observation(f"{name}: trail now leaves out KMS events.")
    if (
        isinstance(before, AuditConfig)
        and isinstance(after, AuditConfig)
        and (gone := lost(before.log_types, after.log_types))
    ):
        yield Observation(f"{name}: audit log types {gone} no longer logged.")
    if isinstance(before, LogSink) and isinstance(after, LogSink):
        if before.disabled is False and after.disabled is True:
            yield Observation(f"{name}: log sink disabled.")
        if before.filter != after.filter and not isinstance(after.filter, Unknown):
            yield Observation(
                f"{name}: log sink filter changed to {after.filter!r}; check it still exports "
                "cloudkms.googleapis.com audit logs."
            )
    if (
        isinstance(before, DiagnosticSetting)
        and isinstance(after, DiagnosticSetting)
        and (gone := lost(before.enabled_logs, after.enabled_logs))
    ):
        yield Observation(f"{name}: diagnostic logs {gone} no longer sent.")


_STRONG_IMMUTABILITY = frozenset({Immutability.COMPLIANCE, Immutability.LOCKED})


@weakening("KM-LOG-002", kinds=(LogBucket, ObjectLock, Versioning))
def log_retention_weakened(change: Transition) -> Iterator[Observation]:
    """KM-LOG-002 in a change: immutable log storage deleted, its immutability weakened, its
    retention shortened, versioning or S3 Object Lock removed."""
    before, after = change.before, change.after
    if before is None:
        return
    name = before.name
    if after is None:
        if isinstance(before, ObjectLock) or (
            isinstance(before, LogBucket) and before.immutability in _STRONG_IMMUTABILITY
        ):
            yield Observation(f"{name}: immutable log storage or its retention lock deleted.")
        return
    if isinstance(before, LogBucket | ObjectLock) and isinstance(after, LogBucket | ObjectLock):
        if (
            before.immutability in _STRONG_IMMUTABILITY
            and after.immutability not in _STRONG_IMMUTABILITY
            and not isinstance(after.immutability, Unknown)
        ):
            weaker = after.immutability.value if after.immutability else "none"
            yield Observation(
                f"{name}: log immutability weakened from {before.immutability} to {weaker}; "
                "keep COMPLIANCE mode (S3) or a locked retention policy."
            )
        if shortened(before.retention_days, after.retention_days):
            yield Observation(
                f"{name}: log retention shortened from {before.retention_days} to "
                f"{after.retention_days} days."
            )
    if isinstance(before, LogBucket) and isinstance(after, LogBucket):
        if switched_off(before.versioning, after.versioning):
            yield Observation(f"{name}: bucket versioning turned off.")
        if switched_off(before.object_lock_enabled, after.object_lock_enabled):
            yield Observation(f"{name}: S3 Object Lock removed from the bucket.")
    if (
        isinstance(before, Versioning)
        and isinstance(after, Versioning)
        and switched_off(before.enabled, after.enabled)
    ):
        yield Observation(f"{name}: bucket versioning turned off.")
