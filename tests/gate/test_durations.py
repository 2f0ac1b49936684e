"""The reported duration is the run's wall time; the stages, which overlap, are reported beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app

EXPORT = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi" / "stack-export.json"


def test_scan_reports_its_wall_time_and_each_stage(tmp_path: Path) -> None:
    began = time.monotonic()
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(EXPORT),
            "--env",
            "prod",
            "--no-checkov",
            "--format",
            "json",
            "--estate",
            str(tmp_path / "no-estate"),
        ],
    )
    wall = time.monotonic() - began
    assert result.exit_code in (0, 1), result.output
    timing = json.loads(result.stdout)["timing"]
    stages = timing["stages"]
    # Without checkov nor --emit-plan nothing reads the Terraform-plan form: it is not made.
    assert {"read", "crossguard"} <= set(stages)
    assert "plan" not in stages
    # The stages overlap, and the duration is the run's own, not their sum.
    assert max(stages.values()) <= timing["duration_seconds"] <= wall
    assert stages["read"] + stages["crossguard"] <= timing["duration_seconds"] + 0.001


def test_the_plan_is_made_for_emit_plan_while_the_pack_analyses(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(EXPORT),
            "--env",
            "prod",
            "--no-checkov",
            "--format",
            "json",
            "--estate",
            str(tmp_path / "no-estate"),
            "--emit-plan",
            str(plan),
        ],
    )
    assert result.exit_code in (0, 1), result.output
    stages = json.loads(result.stdout)["timing"]["stages"]
    assert {"read", "plan", "crossguard"} <= set(stages)
    assert json.loads(plan.read_text())["planned_values"]["root_module"]["resources"]
