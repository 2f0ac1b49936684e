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
    assert {"read", "plan", "crossguard"} <= set(stages)
    # The pack analyses while the plan is converted: the stages overlap, and the duration is
    # the run's own, not their sum.
    assert max(stages.values()) <= timing["duration_seconds"] <= wall
    assert stages["read"] + stages["crossguard"] <= timing["duration_seconds"] + 0.001
