"""The file-level rules (point V): KM-ROT-004, KM-TEN-001, KM-EXC-002, KM-REV-001."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from keyplane.estate import load_estate
from keyplane.rules.catalog import Enforcement
from keyplane.rules.files import config_findings
from tests.conftest import BUNDLED_ESTATE
from tests.foundation.test_estate import edit

TODAY = date(2026, 11, 23)


def summary(estate: Path, today: date = TODAY) -> list[tuple[str, str, str, str | None]]:
    return [
        (f.rule, f.resource, f.enforcement.value, f.exception)
        for f in config_findings(load_estate(estate), today)
    ]


def test_bundled_estate_has_no_file_level_findings_today() -> None:
    assert summary(BUNDLED_ESTATE) == []


def test_missing_manual_rotation_plan(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "    algorithm: ECDSA-P256\n    rotation:\n      owner: identity-team\n      rotate_by: 2027-05-01\n",
        "    algorithm: ECDSA-P256\n",
    )
    [finding] = config_findings(load_estate(estate), TODAY)
    assert (finding.rule, finding.enforcement, finding.line) == (
        "KM-ROT-004",
        Enforcement.MANDATORY,
        line - 2,
    )
    assert finding.message == (
        "KM-ROT-004 session-signing: aws cannot rotate ECDSA-P256 keys automatically and no manual rotation plan "
        "is declared; tag keyplane-rotation-owner and keyplane-rotate-by (rotation: {owner, rotate_by} in the "
        "environment file) within 180 days for token-signing keys."
    )


def test_rotate_by_too_far_away(estate: Path) -> None:
    edit(estate / "dev.yaml", "rotate_by: 2027-05-01", "rotate_by: 2027-12-01")
    [finding] = config_findings(load_estate(estate), TODAY)
    assert finding.message == (
        "KM-ROT-004 session-signing: rotate_by 2027-12-01 is more than 180 days away (at the latest 2027-05-22 "
        "for token-signing keys); bring rotate_by forward."
    )


def test_overdue_manual_rotation() -> None:
    findings = [
        f
        for f in config_findings(load_estate(BUNDLED_ESTATE), date(2027, 5, 2))
        if f.rule != "KM-REV-001"
    ]
    assert [(f.rule, f.resource) for f in findings] == [
        ("KM-ROT-004", "session-signing"),  # dev
        ("KM-ROT-004", "release-signing"),  # prod-gcp
        ("KM-ROT-004", "session-signing"),  # prod
        ("KM-ROT-004", "webhook-hmac"),  # prod
    ]
    assert "manual rotation was due on 2027-05-01 and is overdue" in findings[0].message


def test_dedicated_tenant_using_a_platform_key(estate: Path) -> None:
    edit(estate / "prod.yaml", "keys: [acme-orders-db]", "keys: [acme-orders-db, search-index]")
    assert summary(estate) == [("KM-TEN-001", "search-index", "mandatory", None)]


def test_shared_tenant_using_an_unregistered_key(estate: Path) -> None:
    edit(estate / "shared-services.yaml", "tenants: [globex]", "tenants: [acme]")
    edit(
        estate / "prod.yaml",
        "    isolation: dedicated        # dedicated",
        "    isolation: shared        # dedicated",
    )
    [finding] = config_findings(load_estate(estate), TODAY)
    assert finding.message == (
        "KM-TEN-001 search-index: tenant globex uses the shared key search-index, which is not registered for it "
        "in shared-services.yaml; register it with a justification and risk acceptance."
    )


def test_tenant_key_granted_to_another_tenant(estate: Path) -> None:
    edit(
        estate / "prod.yaml",
        "keys: [globex-orders-db, search-index]",
        "keys: [globex-orders-db, search-index, acme-orders-db]",
    )
    [finding] = config_findings(load_estate(estate), TODAY)
    assert finding.message == (
        "KM-TEN-001 acme-orders-db: acme-orders-db belongs to tenant acme but is granted to tenant globex's principal "
        "arn:aws:iam::111111111111:role/globex-orders-service; remove the grant or give that principal a key of its own."
    )


def test_expired_exception_blocks_and_is_never_excepted() -> None:
    findings = config_findings(load_estate(BUNDLED_ESTATE), date(2027, 6, 1))
    expired = [f for f in findings if f.rule == "KM-EXC-002"]
    assert [(f.resource, f.enforcement, f.exception) for f in expired] == [
        ("EXC-2026-007", Enforcement.MANDATORY, None)
    ]
    assert expired[0].message.startswith(
        "KM-EXC-002 EXC-2026-007: exception for KM-ROT-002 on staging/legacy-reporting-db expired on 2027-05-31"
    )


def test_an_exception_downgrades_a_file_level_finding(estate: Path) -> None:
    edit(estate / "prod.yaml", "keys: [acme-orders-db]", "keys: [acme-orders-db, search-index]")
    text = (estate / "exceptions.yaml").read_text()
    text += (
        text.split("exceptions:\n", 1)[1]
        .replace("EXC-2026-007", "EXC-2026-008")
        .replace("KM-ROT-002", "KM-TEN-001")
        .replace("environment: staging", "environment: prod")
        .replace("resource: legacy-reporting-db", "resource: search-index")
    )
    (estate / "exceptions.yaml").write_text(text)
    assert summary(estate) == [("KM-TEN-001", "search-index", "advisory", "EXC-2026-008")]


def test_policy_review_is_advisory_after_twelve_months() -> None:
    assert summary(BUNDLED_ESTATE, date(2027, 2, 8)) == []
    findings = config_findings(load_estate(BUNDLED_ESTATE), date(2027, 2, 9))
    review = [f for f in findings if f.rule == "KM-REV-001"]
    assert [(f.enforcement, f.message) for f in review] == [
        (
            Enforcement.ADVISORY,
            "KM-REV-001 policy-v1.0: policy v1.0 was last reviewed on 2026-02-08, more than 12 months ago "
            "(due 2027-02-08); review it and update POLICY_REVIEWED_ON.",
        )
    ]
