"""Estate fields of the detective and certificate controls, and KM-BAK-002 at point V.

`monitoring.notify`, `certificates[]`, `keys[].restore_tested_on` and `keys[].retired`
(DESIGN.md, "Estate fields added with the detective and certificate controls"): bad form is one
precise line (exit 2); a backup key's stale or missing restore test is a KM-BAK-002 finding
located at its field; a restore-test record written by `keyplane restore-test` counts.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from keyplane.config.evidence import restore_record_path
from keyplane.estate import load_estate
from keyplane.rules.files import config_findings
from tests.foundation.test_estate import edit, only_problem

AS_OF = date(2026, 11, 29)
BACKUP_LINE = (
    "    restore_tested_on: 2026-09-15   # KM-BAK-002: last restore test (at most 365 days ago)\n"
)


def _bak(estate: Path, today: date = AS_OF) -> list[str]:
    return [
        f.message for f in config_findings(load_estate(estate), today) if f.rule == "KM-BAK-002"
    ]


def test_the_bundled_estate_declares_monitoring_certificates_and_a_restore_test() -> None:
    from tests.conftest import BUNDLED_ESTATE

    prod = load_estate(BUNDLED_ESTATE).environments["prod"]
    assert prod.monitoring is not None
    assert prod.monitoring.notify == ("arn:aws:sns:eu-west-1:111111111111:security-alerts",)
    assert [(c.name, c.domains, c.algorithm) for c in prod.certificates] == [
        ("api-edge", ("api.acme.example",), "RSA-2048")
    ]
    backup = next(k for k in prod.keys if k.name == "platform-backup")
    assert backup.restore_tested_on == date(2026, 9, 15)
    assert _bak(BUNDLED_ESTATE) == []


def test_a_restore_test_older_than_a_year_is_km_bak_002_at_its_line(estate: Path) -> None:
    found = config_findings(load_estate(estate), date(2027, 9, 20))
    bak = [f for f in found if f.rule == "KM-BAK-002"]
    assert [f.message for f in bak] == [
        "KM-BAK-002 platform-backup: the last restore test was on 2026-09-15, 370 days ago "
        "(more than 365); run `keyplane restore-test prod --key platform-backup --apply` and "
        "record it."
    ]
    assert bak[0].file is not None and bak[0].file.endswith("prod.yaml")
    assert bak[0].line == 46
    assert bak[0].enforcement.value == "mandatory"


def test_a_backup_key_without_a_restore_test_is_km_bak_002(estate: Path) -> None:
    edit(estate / "prod.yaml", BACKUP_LINE, "")
    assert _bak(estate) == [
        "KM-BAK-002 platform-backup: no restore test is on record for this backup key; run "
        "`keyplane restore-test prod --key platform-backup --apply` or record the date of a "
        "successful test in restore_tested_on."
    ]


def test_a_restore_test_in_the_future_is_km_bak_002(estate: Path) -> None:
    edit(estate / "prod.yaml", "restore_tested_on: 2026-09-15", "restore_tested_on: 2027-01-01")
    assert _bak(estate) == [
        "KM-BAK-002 platform-backup: the restore test is dated 2027-01-01, after the judging "
        "day 2026-11-29; record the day the test was done."
    ]


def test_a_retired_backup_key_needs_no_restore_test(estate: Path) -> None:
    edit(
        estate / "prod.yaml",
        BACKUP_LINE,
        "    retired:\n      on: 2026-11-01\n      reason: replaced by platform-backup-2\n",
    )
    assert _bak(estate) == []


def _record(
    estate: Path, *, tested_at: str, result: str = "passed", key: str = "platform-backup"
) -> Path:
    path = restore_record_path(estate, "prod", "platform-backup")
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "kind": "restore-test",
                "environment": "prod",
                "key": key,
                "key_id": "arn:aws:kms:eu-west-1:111111111111:key/1234",
                "tested_at": tested_at,
                "result": result,
                "caller": "arn:aws:sts::111111111111:assumed-role/backup-key-admin/ci",
                "keyplane_version": "0.1.0",
            }
        )
    )
    return path


def test_a_passed_restore_test_record_counts_and_a_failed_one_does_not(estate: Path) -> None:
    edit(estate / "prod.yaml", BACKUP_LINE, "")
    _record(estate, tested_at="2026-11-01T10:00:00+00:00")
    assert _bak(estate) == []
    _record(estate, tested_at="2026-11-01T10:00:00+00:00", result="failed")
    assert len(_bak(estate)) == 1


def test_a_broken_restore_test_record_is_refused_naming_the_file(estate: Path) -> None:
    path = _record(estate, tested_at="2026-11-01T10:00:00+00:00", key="other-key")
    assert only_problem(estate).startswith(f"{path}: key: the record names another environment")
    path.write_text("{not json")
    assert only_problem(estate).startswith(f"{path}: not a restore-test record")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    - arn:aws:sns:eu-west-1:111111111111:security-alerts",
            "    - projects/acme-prod-kms/notificationChannels/4711",
            "monitoring.notify[0]: not a aws alert destination",
        ),
        (
            "    algorithm: RSA-2048\n\ntenants",
            "    algorithm: RSA-1024\n\ntenants",
            "certificates[0].algorithm: unknown certificate algorithm (got 'RSA-1024')",
        ),
        (
            "    domains: [api.acme.example]",
            "    domains: [API edge]",
            "certificates[0].domains[0]: not a DNS name",
        ),
        (
            "    algorithm: RSA-2048\n\ntenants",
            "    algorithm: RSA-2048\n    owner: platform-team\n\ntenants",
            "certificates[0].owner: a renewal plan on a certificate renewed automatically",
        ),
        (
            "  - name: api-edge\n    domains: [api.acme.example]\n    algorithm: RSA-2048\n",
            "  - name: api-edge\n    domains: [api.acme.example]\n    algorithm: RSA-2048\n"
            "  - name: api-edge\n    domains: [www.acme.example]\n    algorithm: ECDSA-P256\n",
            "certificates[0].name: duplicate certificate name",
        ),
    ],
    ids=["notify-of-another-cloud", "cert-algorithm", "cert-domain", "plan-on-managed", "dup-name"],
)
def test_bad_detective_fields_are_one_precise_line(
    estate: Path, old: str, new: str, expected: str
) -> None:
    edit(estate / "prod.yaml", old, new)
    found = only_problem(estate) if "duplicate" not in expected else None
    if found is None:
        from tests.foundation.test_estate import problems

        lines = problems(estate)
        assert any(expected in line for line in lines), lines
        return
    assert expected in found, found
    assert found.startswith(f"{estate / 'prod.yaml'}:")
