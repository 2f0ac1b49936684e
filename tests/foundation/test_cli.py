"""The command line: exit codes, one-line errors, no tracebacks, the README's commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.estate import load_estate
from keyplane.reports.catalog import README_BEGIN, README_END, rules_markdown
from keyplane.rules.catalog import RULES
from keyplane.rules.files import config_findings
from tests.conftest import BUNDLED_ESTATE, REPO
from tests.foundation.test_estate import edit

runner = CliRunner()


def test_validate_accepts_the_bundled_estate() -> None:
    result = runner.invoke(
        app, ["validate", "--estate", str(BUNDLED_ESTATE), "--as-of", "2026-11-23"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("valid; 0 mandatory and 0 advisory findings.")


def test_validate_rejects_bad_input_with_exit_2_and_one_line_per_problem(estate: Path) -> None:
    edit(estate / "dev.yaml", "algorithm: AES-256", "algorithm: DES")
    edit(estate / "prod.yaml", "region: eu-west-1", "region: Europe")
    result = runner.invoke(app, ["validate", "--estate", str(estate)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert re.match(
        rf"{estate}/dev.yaml:\d+: keys\[0\].algorithm: unknown algorithm \(got 'DES'\); use one of AES-256",
        lines[0],
    )
    assert re.match(
        rf"{estate}/prod.yaml:\d+: aws.region: expected an AWS region, like eu-west-1 \(got 'Europe'\); fix the value",
        lines[1],
    )


def test_validate_exits_1_on_a_mandatory_file_level_finding() -> None:
    result = runner.invoke(
        app, ["validate", "--estate", str(BUNDLED_ESTATE), "--as-of", "2027-06-01"]
    )
    assert result.exit_code == 1
    assert "environments/exceptions.yaml:15: [mandatory] KM-EXC-002 EXC-2026-007:" in result.stdout


def test_validate_json_lists_findings_in_the_contract_shape() -> None:
    result = runner.invoke(
        app,
        ["validate", "--estate", str(BUNDLED_ESTATE), "--as-of", "2027-06-01", "--format", "json"],
    )
    data = json.loads(result.stdout)
    finding = next(f for f in data["findings"] if f["rule"] == "KM-EXC-002")
    assert {k: finding[k] for k in ("rule", "enforcement", "resource", "engine", "exception")} == {
        "rule": "KM-EXC-002",
        "enforcement": "mandatory",
        "resource": "EXC-2026-007",
        "engine": "config",
        "exception": None,
    }
    assert data["summary"]["mandatory"] == 5


def test_bad_as_of_date_is_bad_input() -> None:
    result = runner.invoke(app, ["validate", "--as-of", "tomorrow"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "--as-of: not a date (got 'tomorrow'); write YYYY-MM-DD"


def test_missing_estate_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--estate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == f"{tmp_path}/nope: estate directory not found; pass --estate DIR"
    )


def test_unknown_option_is_a_usage_error() -> None:
    assert runner.invoke(app, ["rules", "--format", "yaml"]).exit_code == 2


@pytest.mark.parametrize("fmt", ["json", "markdown", "table"])
def test_rules_lists_the_22_ids(fmt: str) -> None:
    result = runner.invoke(app, ["rules", "--format", fmt])
    assert result.exit_code == 0
    if fmt == "json":
        assert [r["id"] for r in json.loads(result.stdout)["rules"]] == list(RULES)
    else:
        assert all(rule_id in result.stdout for rule_id in RULES)


def test_readme_rule_table_is_generated_from_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    generated = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert generated.strip() == rules_markdown().strip(), (
        "README rule table is stale: run scripts/update_readme.py"
    )


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    main_job, tests = _readme_commands()
    assert "keyplane" in main_job
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_readme_main_job_runs() -> None:
    main_job, _ = _readme_commands()
    # As a user would run it: outside the project's virtual environment.
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    venv = str(REPO / ".venv")
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv)
    )
    result = subprocess.run(
        main_job, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert "Traceback" not in result.stderr
    # The bundled estate carries dates (manual rotate-by plans, an exception's expiry) that fall
    # due: while none has, the main job passes; once one has, it must stop and say which.
    due = [
        f
        for f in config_findings(load_estate(BUNDLED_ESTATE), date.today())
        if f.enforcement.value == "mandatory"
    ]
    if not due:
        assert result.returncode == 0, result.stderr
        assert "valid;" in result.stdout
        assert "PASS: 0 mandatory" in result.stdout
    else:
        assert result.returncode == 1
        assert all(f.message in result.stdout for f in due)


def test_console_script_never_prints_a_traceback_on_bad_input(estate: Path) -> None:
    (estate / "dev.yaml").write_bytes(b"\x00\x01\x02")
    result = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "validate", "--estate", str(estate)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"{estate}/dev.yaml")
