"""Exceptions (Policy §15): covered findings become advisory with the exception's ID; expired
exceptions of the stack's environment block deployment (KM-EXC-002); nothing covers KM-EXC-*."""

from __future__ import annotations

from datetime import date

from keyplane.findings import Finding
from keyplane.rules.catalog import Enforcement
from tests.policy.stacks import AS_OF, aws_context, aws_stack, exception, findings, mutate

LONG_PERIOD = mutate(aws_stack(), "acme-orders-db", ["rotationPeriodInDays"], 395.0)
VIOLATION = (
    "KM-ROT-002 acme-orders-db: rotation period 395 days exceeds 365 for database-encryption "
    "keys; lower rotation_days or file an exception."
)


def summary(result: list[Finding]) -> list[tuple[str, str, str | None, str]]:
    return [(f.rule, f.enforcement.value, f.exception, f.message) for f in result]


def test_active_exception_downgrades_to_advisory_with_its_id() -> None:
    context = aws_context(
        exceptions=(exception("EXC-2026-007", "KM-ROT-002", "acme-orders-db", date(2027, 5, 31)),)
    )
    assert summary(findings(LONG_PERIOD, context)) == [
        (
            "KM-ROT-002",
            "advisory",
            "EXC-2026-007",
            f"{VIOLATION} [excepted by EXC-2026-007 until 2027-05-31]",
        )
    ]


def test_exception_may_name_the_resource_by_urn() -> None:
    urn = "urn:pulumi:prod::keyplane::aws:kms/key:Key::acme-orders-db"
    context = aws_context(exceptions=(exception("EXC-2026-008", "KM-ROT-002", urn, AS_OF),))
    [finding] = findings(LONG_PERIOD, context)
    assert (finding.enforcement, finding.exception) == (Enforcement.ADVISORY, "EXC-2026-008")


def test_exception_of_another_environment_rule_or_resource_does_not_cover() -> None:
    others = (
        exception("EXC-2026-010", "KM-ROT-002", "acme-orders-db", date(2027, 5, 31), "staging"),
        exception("EXC-2026-011", "KM-ROT-001", "acme-orders-db", date(2027, 5, 31)),
        exception("EXC-2026-012", "KM-ROT-002", "legacy-reporting-db", date(2027, 5, 31)),
    )
    assert summary(findings(LONG_PERIOD, aws_context(exceptions=others))) == [
        ("KM-ROT-002", "mandatory", None, VIOLATION)
    ]


def test_expired_exception_blocks_deployment_and_no_longer_covers() -> None:
    expired = exception("EXC-2026-001", "KM-ROT-002", "acme-orders-db", date(2026, 10, 31))
    assert summary(findings(LONG_PERIOD, aws_context(exceptions=(expired,)))) == [
        ("KM-ROT-002", "mandatory", None, VIOLATION),
        (
            "KM-EXC-002",
            "mandatory",
            None,
            "KM-EXC-002 EXC-2026-001: exception for KM-ROT-002 on prod/acme-orders-db expired on "
            "2026-10-31; deployment of prod is blocked until the deviation is fixed or the "
            "exception renewed.",
        ),
    ]


def test_expired_exception_blocks_even_without_the_deviation() -> None:
    expired = exception("EXC-2026-001", "KM-ROT-002", "acme-orders-db", date(2026, 10, 31))
    [finding] = findings(aws_stack(), aws_context(exceptions=(expired,)))
    assert (finding.rule, finding.enforcement, finding.resource) == (
        "KM-EXC-002",
        Enforcement.MANDATORY,
        "EXC-2026-001",
    )


def test_expired_exception_of_another_environment_is_not_this_stacks_concern() -> None:
    expired = exception("EXC-2026-002", "KM-ROT-002", "x", date(2026, 10, 31), "staging")
    assert findings(aws_stack(), aws_context(exceptions=(expired,))) == []


def test_exceptions_never_cover_the_exception_rules() -> None:
    expired = exception("EXC-2026-001", "KM-ROT-002", "acme-orders-db", date(2026, 10, 31))
    cover = exception("EXC-2026-003", "KM-EXC-002", "EXC-2026-001", date(2027, 1, 1))
    [finding] = findings(aws_stack(), aws_context(exceptions=(expired, cover)))
    assert (finding.rule, finding.enforcement, finding.exception) == (
        "KM-EXC-002",
        Enforcement.MANDATORY,
        None,
    )
