"""`keyplane scan` over what the real CLI writes, for resources written without the components."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from keyplane.cli.app import app

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi"


def scan(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(
        app, ["scan", *args, "--no-checkov", "--format", "json", "--as-of", "2026-11-23"]
    )
    return (
        result.exit_code,
        json.loads(result.stdout) if result.stdout.strip() else {},
        result.stderr,
    )


def test_preview_digest_with_a_weakened_key(tmp_path: Path) -> None:
    code, report, _ = scan(str(FIXTURES / "preview.json"), "--estate", str(tmp_path / "none"))
    assert code == 1
    ledger = {
        f["rule"]
        for f in report["findings"]
        if f["resource"].endswith("::ledger") and f["enforcement"] == "mandatory"
    }
    # rotation switched off, deletion window shortened, protect removed, no purpose/environment tags
    assert {"KM-ROT-001", "KM-DEL-001", "KM-PUR-001", "KM-ENV-001"} <= ledger
    assert "[secret]" in json.dumps(report["resources"])


def test_stack_export_of_a_raw_program(tmp_path: Path) -> None:
    code, report, _ = scan(str(FIXTURES / "stack-export.json"), "--estate", str(tmp_path / "none"))
    rules = {
        (f["rule"], f["resource"].rsplit("::", 1)[-1])
        for f in report["findings"]
        if f["enforcement"] == "mandatory"
    }
    assert ("KM-LOG-001", "payments-prod") in {(r, n) for r, n in rules} or any(
        r == "KM-LOG-001" for r, _ in rules
    )
    assert code == 1
    assert "ZmFrZWNpcGhlcnRleHQ" not in json.dumps(report)


def test_truncated_file_is_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "preview.json"
    broken.write_text((FIXTURES / "preview.json").read_text()[:200])
    result = runner.invoke(app, ["scan", str(broken), "--no-checkov"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{broken}:")
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
