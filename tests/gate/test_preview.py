"""`keyplane preview` end to end on the bundled estates, and one-field mutations of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.conftest import BUNDLED_ESTATE
from tests.foundation.test_estate import edit

runner = CliRunner()
TODAY = "2026-11-23"


def preview(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["preview", *args, "--as-of", TODAY])
    return result.exit_code, result.stdout, result.stderr


def findings(stdout: str) -> list[tuple[str, str, str | None]]:
    data = json.loads(stdout)
    return sorted((f["rule"], f["enforcement"], f["exception"]) for f in data["findings"])


@pytest.mark.parametrize("environment", ["prod", "staging", "dev", "prod-gcp", "prod-azure"])
def test_bundled_estates_pass_the_gate(environment: str) -> None:
    code, stdout, stderr = preview(
        environment, "--estate", str(BUNDLED_ESTATE), "--no-checkov", "--format", "json"
    )
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["summary"]["mandatory"] == 0
    assert data["resources"], "the stack rendered resources"
    if environment == "staging":
        assert ("KM-ROT-002", "advisory", "EXC-2026-007") in findings(stdout)


def test_rotation_over_the_maximum_is_caught(estate: Path) -> None:
    edit(
        estate / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: acme\n    rotation_days: 400\n  - name: session-signing",
    )
    code, stdout, _ = preview("dev", "--estate", str(estate), "--no-checkov", "--format", "json")
    assert code == 1
    [finding] = [f for f in json.loads(stdout)["findings"] if f["enforcement"] == "mandatory"]
    assert finding["rule"] == "KM-ROT-002"
    assert finding["engine"] == "crossguard"
    assert finding["resource"].endswith("::acme-orders-db")
    assert finding["message"].startswith(
        "KM-ROT-002 acme-orders-db: rotation period 400 days exceeds 365 for database-encryption keys"
    )


def test_expired_exception_blocks_its_environment() -> None:
    result = runner.invoke(
        app,
        [
            "preview",
            "staging",
            "--estate",
            str(BUNDLED_ESTATE),
            "--no-checkov",
            "--format",
            "json",
            "--as-of",
            "2027-06-01",
        ],
    )
    assert result.exit_code == 1
    rules = findings(result.stdout)
    assert ("KM-EXC-002", "mandatory", None) in rules
    assert ("KM-ROT-002", "mandatory", None) in rules  # no longer covered


def test_software_key_in_production_on_gcp(estate: Path) -> None:
    edit(
        estate / "prod-gcp.yaml",
        "    tenant: acme\n  - name: release-signing",
        "    tenant: acme\n    hsm: false\n  - name: release-signing",
    )
    code, stdout, _ = preview(
        "prod-gcp", "--estate", str(estate), "--no-checkov", "--format", "json"
    )
    assert code == 1
    mandatory = [f for f in json.loads(stdout)["findings"] if f["enforcement"] == "mandatory"]
    assert [f["rule"] for f in mandatory] == ["KM-HSM-001"]


def test_json_report_never_shows_secret_values() -> None:
    code, stdout, _ = preview(
        "prod-azure", "--estate", str(BUNDLED_ESTATE), "--no-checkov", "--format", "json"
    )
    assert code == 0
    assert "offline-preview-placeholder" not in stdout
    assert '"[secret]"' in stdout


def test_sarif_and_plan_are_written_atomically(tmp_path: Path) -> None:
    out, plan = tmp_path / "report.sarif", tmp_path / "plan.json"
    code, stdout, _ = preview(
        "prod",
        "--estate",
        str(BUNDLED_ESTATE),
        "--no-checkov",
        "--format",
        "sarif",
        "--output",
        str(out),
        "--emit-plan",
        str(plan),
    )
    assert code == 0
    # The report is in the file; the console gets the verdict line only (issue 18).
    assert stdout.startswith("PASS: 0 mandatory, 0 advisory")
    assert stdout.endswith(f"(report: {out})\n")
    assert len(stdout.splitlines()) == 1
    assert json.loads(out.read_text())["version"] == "2.1.0"
    terraform = json.loads(plan.read_text())
    types = {r["type"] for r in terraform["planned_values"]["root_module"]["resources"]}
    assert {
        "aws_kms_key",
        "aws_kms_alias",
        "aws_cloudtrail",
        "aws_s3_bucket",
        "aws_cloudhsm_v2_cluster",
    } <= types
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "report.sarif"]


def test_unknown_environment_is_bad_input() -> None:
    code, _, stderr = preview("qa", "--estate", str(BUNDLED_ESTATE), "--no-checkov")
    assert code == 2
    assert (
        stderr.strip()
        == f"{BUNDLED_ESTATE}/qa.yaml: no such environment (known: dev, prod, prod-azure, prod-gcp, staging); pass an environment of --estate"
    )


def test_broken_estate_is_bad_input_and_nothing_is_written(estate: Path, tmp_path: Path) -> None:
    edit(estate / "dev.yaml", "algorithm: AES-256", "algorithm: DES")
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["preview", "dev", "--estate", str(estate), "--no-checkov", "--output", str(out)]
    )
    assert result.exit_code == 2
    assert "keys[0].algorithm: unknown algorithm (got 'DES')" in result.stderr
    assert not out.exists()


def test_exception_companions_run_only_where_the_register_has_exceptions() -> None:
    from datetime import date

    from keyplane.estate import load_estate
    from keyplane.gate import pack_settings
    from keyplane.rules.catalog import RULES

    estate = load_estate(BUNDLED_ESTATE)
    staging = pack_settings("staging", estate, date(2026, 11, 23))
    prod = pack_settings("prod", estate, date(2026, 11, 23))
    rotation = RULES["KM-ROT-002"].excepted_policy_name  # EXC-2026-007 covers staging
    assert rotation not in staging
    assert prod[rotation] == "disabled"
    assert prod[RULES["KM-ALG-001"].excepted_policy_name] == "disabled"
    # Without an estate nothing is known about exceptions: every companion runs.
    assert set(pack_settings("prod", None, date(2026, 11, 23))) == {"keyplane-settings"}


def _project(tmp_path: Path) -> Path:
    """A Pulumi project around a copy of the bundled estate, with the bundled prod stack file."""
    import shutil

    project = tmp_path / "project"
    shutil.copytree(BUNDLED_ESTATE, project / "environments")
    shutil.copy(BUNDLED_ESTATE.parent / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "stacks").mkdir()
    shutil.copy(
        BUNDLED_ESTATE.parent / "stacks" / "Pulumi.prod.yaml",
        project / "stacks" / "Pulumi.prod.yaml",
    )
    return project


def test_a_plain_text_secret_in_the_stack_configuration_fails_and_is_not_copied(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    stack_file.write_text(
        stack_file.read_text()
        + "  keyplane:dbPassword: hunter2-in-clear\n"
        + "  keyplane:apiToken:\n    secure: v1:AAAABBBBCCCC\n"
    )
    code, stdout, stderr = preview(
        "prod", "--estate", str(project / "environments"), "--no-checkov", "--format", "json"
    )
    assert code == 1, stderr
    assert "hunter2-in-clear" not in stdout
    messages = [f["message"] for f in json.loads(stdout)["findings"] if f["rule"] == "KM-STO-001"]
    assert messages == [
        "KM-STO-001 Pulumi.prod.yaml: keyplane:dbPassword holds a plain-text value in the stack "
        "configuration; pass it as a Pulumi secret (pulumi config set --secret, "
        "pulumi.Output.secret) and remove it from the code and its history."
    ]


@pytest.mark.parametrize("content", ["config: [1, 2]\n", "config: {a: [}\n"])
def test_an_unusable_stack_configuration_is_bad_input(tmp_path: Path, content: str) -> None:
    project = _project(tmp_path)
    (project / "stacks" / "Pulumi.prod.yaml").write_text(content)
    code, stdout, stderr = preview(
        "prod", "--estate", str(project / "environments"), "--no-checkov"
    )
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert "Pulumi.prod.yaml" in stderr
