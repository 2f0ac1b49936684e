"""`--format table`: the terminal report."""

from __future__ import annotations

import re

import pytest

from keyplane.reports import table_report
from keyplane.rules.catalog import RULES
from tests.reports.sample import make_report

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_groups_findings_by_resource_with_rule_ids_and_summary() -> None:
    text = table_report(make_report(), width=400)
    lines = text.splitlines()
    assert lines[0] == "keyplane preview · environment prod · policy 1.0 · keyplane 0.1.0"
    for heading in (
        "aws:kms/key:Key acme-orders-db",
        "aws:secretsmanager/secretVersion:SecretVersion acme-api-token",
        "keyplane:config:Key acme-signing",
        "aws_kms_key aws_kms_key.acme_orders_db",
    ):
        assert heading in lines
    for rule_id in ("KM-ROT-002", "KM-HSM-001", "KM-STO-001", "CKV_AWS_7", "KM-ROT-004"):
        assert any(line.startswith(rule_id) for line in lines), rule_id
    assert lines[-1] == (
        "FAIL: 3 mandatory, 2 advisory (1 excepted) on 4 resources (3 resources judged) in 4.2 s"
    )


def test_fix_column_shows_remediation_or_checkov_guideline() -> None:
    text = table_report(make_report(), width=400)
    row = next(line for line in text.splitlines() if line.startswith("KM-ROT-002"))
    assert row.endswith(RULES["KM-ROT-002"].remediation)
    checkov = next(line for line in text.splitlines() if line.startswith("CKV_AWS_7"))
    assert checkov.endswith(
        "https://docs.prismacloud.io/en/enterprise-edition/policy-reference/aws-policies/aws-logging-policies/logging-8"
    )


def test_text_in_brackets_is_not_taken_for_markup() -> None:
    text = table_report(make_report(), width=400)
    assert "[excepted by EXC-2026-007 until 2026-12-31]" in text
    assert "secretString '[secret]'" in text
    assert "EXC-2026-007" in next(line for line in text.splitlines() if "KM-HSM-001" in line)


def test_colour_only_when_asked() -> None:
    plain = table_report(make_report())
    assert not ANSI.search(plain)
    coloured = table_report(make_report(), color=True)
    assert "\x1b[1;31mmandatory" in coloured
    assert "\x1b[33madvisory" in coloured
    assert ANSI.sub("", coloured).splitlines()[-1].startswith("FAIL: 3 mandatory")


def test_environment_does_not_change_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    before = table_report(make_report())
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert table_report(make_report()) == before


def test_wraps_to_the_width_without_trailing_blanks() -> None:
    text = table_report(make_report(), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert all(line == line.rstrip() for line in text.splitlines())


def test_clean_run() -> None:
    text = table_report(make_report(findings=[], duration_seconds=None))
    assert "No findings." in text
    assert text.splitlines()[-1] == (
        "PASS: 0 mandatory, 0 advisory on 0 resources (3 resources judged)"
    )


def test_mandatory_findings_come_first_in_the_table_and_json() -> None:
    """A reader, or a CI log cut short, sees what blocks the deployment first (issue 18)."""
    import json

    from keyplane.reports import json_report

    report = make_report()
    enforcement = [f["enforcement"] for f in json.loads(json_report(report))["findings"]]
    assert enforcement == sorted(enforcement, key=lambda e: e != "mandatory")
    rows = [
        line.split()[1]
        for line in table_report(report, width=400).splitlines()
        if line.startswith(("KM-", "CKV_")) and len(line.split()) > 1
    ]
    # Grouped by resource: the resources with a mandatory finding first, each group's mandatory
    # findings before its advisories.
    assert rows[0] == "mandatory"
    assert rows[-1] == "advisory"


def test_summary_line_is_the_tables_last_line() -> None:
    from keyplane.reports import summary_line

    report = make_report()
    assert summary_line(report) == table_report(report, width=400).splitlines()[-1]


def test_console_style_honours_no_color_and_the_terminal_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from keyplane.cli import prelude

    terminal = SimpleNamespace(is_terminal=True, size=SimpleNamespace(width=60))
    monkeypatch.setattr(prelude, "stdout", terminal)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert prelude.console_style() == (True, 80)  # never narrower than 80 columns
    monkeypatch.setenv("NO_COLOR", "1")
    assert prelude.console_style() == (False, 80)
    terminal.size.width = 200
    assert prelude.console_style() == (False, 200)
    monkeypatch.setattr(prelude, "stdout", SimpleNamespace(is_terminal=False))
    assert prelude.console_style() == (False, None)
