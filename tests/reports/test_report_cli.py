"""`keyplane report ENV` and `--format html`: the auditor's page from the offline gate or from a
saved audit, the exit codes, and the refusals (exit 2) of what is not a saved audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.findings import Engine, Finding
from keyplane.reports import Report, json_document
from keyplane.rules.catalog import Enforcement
from tests.conftest import BUNDLED_ESTATE
from tests.reports.sample import CKV_AWS_7, RESOURCES, ROT_002, SECRET_VALUE
from tests.reports.test_html import text_of

runner = CliRunner()
AS_OF = "2026-11-23"
TEN_001 = Finding(
    rule="KM-TEN-001",
    enforcement=Enforcement.MANDATORY,
    resource="acme-orders-db",
    type="keyplane:config:Key",
    message="KM-TEN-001 acme-orders-db: granted to tenant globex's principal",
    engine=Engine.AUDIT,
)
EVIDENCE = {
    "environment": "prod",
    "account": "111111111111",
    "region": "eu-west-1",
    "caller_arn": "arn:aws:iam::111111111111:role/auditor",
    "controls": ["SOC 2 CC6.1 (protection of keys: logical access security)"],
    "resources": {"keys": 2},
    "inventory": None,
    "lifecycle": None,
    "not_visible": [],
    "permissions": ["kms:ListKeys"],
}


def saved_audit(tmp_path: Path, findings: tuple[Finding, ...], /, **changes: Any) -> Path:
    document = json_document(
        Report(findings=findings, resources=RESOURCES, environment="prod", command="audit")
    )
    document["evidence"] = EVIDENCE
    document.update(changes)
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def report(*args: str) -> Any:
    return runner.invoke(
        app, ["report", "prod", "--estate", str(BUNDLED_ESTATE), "--as-of", AS_OF, *args]
    )


def test_report_of_a_saved_audit_shows_its_findings_and_evidence(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = report(
        "--audit-json", str(saved_audit(tmp_path, (ROT_002, CKV_AWS_7))), "-o", str(out)
    )
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("FAIL: 1 mandatory, 1 advisory")
    assert result.stdout.rstrip().endswith(f"(report: {out})")
    text = text_of(out.read_text(encoding="utf-8"))
    assert "keyplane audit · environment prod FAIL 1 mandatory, 1 advisory" in text
    assert "KM-ROT-002 acme-orders-db: rotation period 400 days exceeds 365" in text
    assert "Audit evidence environment prod account 111111111111 region eu-west-1" in text
    assert "Tenant-Isolation-Claim: prod" in text and "Policy coverage matrix" in text
    assert "EXC-2026-007" not in text  # staging's exception, not prod's
    assert "No exceptions are registered for prod" in text
    assert SECRET_VALUE not in out.read_text(encoding="utf-8")


def test_a_framework_view_hides_advisory_findings_but_never_the_exit_code(tmp_path: Path) -> None:
    audit = saved_audit(tmp_path, (TEN_001, CKV_AWS_7))
    result = report("--audit-json", str(audit), "--framework", "pci-dss")
    assert result.exit_code == 1
    assert result.stderr == (
        "keyplane: --framework pci-dss (PCI DSS v4.0): 1 advisory finding of rules outside it "
        "not shown; 1 mandatory finding outside it shown all the same (a framework's view "
        "never hides what blocks)\n"
    )
    text = text_of(result.stdout)
    assert "KM-TEN-001 acme-orders-db" in text and "CKV_AWS_7" not in text
    assert "--framework pci-dss (PCI DSS v4.0)" in text


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"verdict": "pass"},
            "verdict: says 'pass' but its findings make it 'fail' (was the file edited?)",
        ),
        (
            {"tool": {"name": "keyplane", "command": "preview"}},
            "tool.command: is 'preview', not 'audit'",
        ),
        ({"environment": "staging"}, "environment: the audit is of 'staging', not 'prod'"),
        ({"findings": [{"rule": "KM-ROT-002"}]}, "findings[0].enforcement: None is not one of"),
        ({"evidence": None}, "evidence: must be an object, not null"),
    ],
)
def test_what_is_not_a_saved_audit_is_refused(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    result = report("--audit-json", str(saved_audit(tmp_path, (ROT_002,), **changes)))
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'audit.json'}: ")
    assert expected in line
    assert result.stdout == ""


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    path.write_text("{not json", encoding="utf-8")
    result = report("--audit-json", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:1: not valid JSON")


def test_a_number_python_cannot_read_is_refused_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "audit.json"
    path.write_text('{"tool": {"command": "audit"}, "n": ' + "9" * 5000 + "}", encoding="utf-8")
    result = report("--audit-json", str(path))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{path}: not valid JSON for an audit report: ")


def test_an_unknown_environment_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "nope", "--estate", str(BUNDLED_ESTATE)])
    assert result.exit_code == 2
    assert "no such environment (known: dev, prod, prod-azure, prod-gcp, staging)" in result.stderr


def test_report_runs_the_offline_gate_by_default(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = report("--no-checkov", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("PASS: 0 mandatory")
    text = text_of(out.read_text(encoding="utf-8"))
    assert "keyplane preview · environment prod PASS" in text
    assert "No findings." in text
    assert "Shared-Service-Boundary-Register: prod" in text
    assert "Rule traceability matrix" in text and "Policy coverage matrix" in text


def test_preview_writes_html_with_the_dossier(tmp_path: Path) -> None:
    out = tmp_path / "preview.html"
    result = runner.invoke(
        app,
        [
            "preview",
            "staging",
            "--estate",
            str(BUNDLED_ESTATE),
            "--no-checkov",
            "--as-of",
            AS_OF,
            "--format",
            "html",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    text = text_of(out.read_text(encoding="utf-8"))
    assert "keyplane preview · environment staging" in text
    # staging's exception, with its expiry, covering the finding it downgrades.
    assert "EXC-2026-007 KM-ROT-002 legacy-reporting-db 2027-05-31 189 days left" in text
    assert "covers a finding" in text
