"""KM-ROT-003 foreseen by `validate` (issue 13, item 4): an AWS api-secret declared without a
rotation function cannot rotate, so `validate` reports it with its line, and `preview` folds it
into the pack's finding (one finding, both engines, the file's location)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app

runner = CliRunner()
LAMBDA = "      rotation_lambda_arn: arn:aws:lambda:eu-west-1:111111111111:function:rotate-payments-api\n"
MESSAGE = (
    "KM-ROT-003 acme-payments-api: no automatic rotation is configured for api-secret secrets; "
    "rotate it automatically every 90 days or less (AWS SecretRotation, GCP "
    "rotation.rotationPeriod, Azure an expiry that triggers rotation)."
)


def _without_rotation(estate: Path) -> int:
    path = estate / "prod.yaml"
    text = path.read_text()
    assert text.count("    aws:\n" + LAMBDA) == 1
    line = text[: text.index("  - name: acme-payments-api")].count("\n") + 1
    path.write_text(text.replace("    aws:\n" + LAMBDA, ""))
    return line


def test_validate_foresees_the_rotation_the_stack_cannot_have(estate: Path) -> None:
    line = _without_rotation(estate)
    result = runner.invoke(app, ["validate", "--estate", str(estate)])
    assert result.exit_code == 1, result.stderr
    assert f"prod.yaml:{line}: [mandatory] {MESSAGE}" in result.stdout


def test_preview_reports_it_once_with_both_engines_and_the_line(estate: Path) -> None:
    line = _without_rotation(estate)
    result = runner.invoke(
        app,
        [
            "preview",
            "prod",
            "--estate",
            str(estate),
            "--no-checkov",
            "--format",
            "json",
            "--as-of",
            "2026-11-23",
        ],
    )
    assert result.exit_code == 1, result.stderr
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "KM-ROT-003"]
    assert len(found) == 1
    assert found[0]["message"] == MESSAGE
    assert found[0]["engines"] == ["crossguard", "config"]
    assert found[0]["location"]["line"] == line


def test_the_bundled_estate_declares_its_rotation_functions() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.stdout
