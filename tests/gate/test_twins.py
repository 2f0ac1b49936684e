"""A rule judged on the environment file (point V) and on the rendered resources (point G) is
one decision: the gate reports the fault once, on the rendered resource, located in the file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.estate import load_estate
from keyplane.findings import Engine, Finding
from keyplane.rules.catalog import Enforcement
from keyplane.rules.files import config_findings, merge_twins
from tests.conftest import BUNDLED_ESTATE
from tests.foundation.test_estate import edit

runner = CliRunner()


def _preview(estate: Path, environment: str, as_of: str) -> list[dict[str, object]]:
    arguments = ["preview", environment, "--estate", str(estate), "--no-checkov"]
    result = runner.invoke(app, [*arguments, "--format", "json", "--as-of", as_of])
    assert result.exit_code == 1, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return findings


def test_a_missing_manual_plan_is_one_finding_located_in_the_file(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "    algorithm: ECDSA-P256\n    rotation:\n      owner: identity-team\n      rotate_by: 2027-05-01\n",
        "    algorithm: ECDSA-P256\n",
    )
    found = [f for f in _preview(estate, "dev", "2026-11-23") if f["rule"] == "KM-ROT-004"]
    assert len(found) == 1
    [finding] = found
    assert finding["engine"] == "crossguard"
    assert str(finding["resource"]).endswith("::session-signing")
    assert (Path(str(finding["file"])).name, finding["line"]) == ("dev.yaml", line - 2)
    assert str(finding["message"]).startswith(
        "KM-ROT-004 session-signing: aws cannot rotate ECDSA-P256 keys automatically"
    )


def test_an_expired_exception_is_one_finding_located_in_the_register() -> None:
    found = [
        f for f in _preview(BUNDLED_ESTATE, "staging", "2027-06-01") if f["rule"] == "KM-EXC-002"
    ]
    assert len(found) == 1
    assert Path(str(found[0]["file"])).name == "exceptions.yaml"
    assert found[0]["engine"] == "crossguard"


def test_file_findings_of_one_environment_and_of_the_estate() -> None:
    estate = load_estate(BUNDLED_ESTATE)
    everything = config_findings(estate, date(2027, 6, 1))
    staging = config_findings(estate, date(2027, 6, 1), environment="staging")
    assert {f.rule for f in staging} == {"KM-EXC-002", "KM-REV-001"}
    assert set(staging) <= set(everything)
    assert len(everything) > len(staging)  # prod's and dev's overdue rotate-by plans


def test_merge_twins_folds_only_the_same_rule_and_message_of_another_engine() -> None:
    def finding(engine: Engine, message: str, file: str | None = None) -> Finding:
        return Finding(
            rule="KM-ROT-004",
            enforcement=Enforcement.MANDATORY,
            resource=f"{engine.value}-resource",
            type="t",
            message=message,
            engine=engine,
            file=file,
            line=3 if file else None,
        )

    pack = finding(Engine.CROSSGUARD, "KM-ROT-004 k: overdue.")
    other = finding(Engine.CROSSGUARD, "KM-ROT-004 j: overdue.")
    twin = finding(Engine.CONFIG, "KM-ROT-004 k: overdue.", "dev.yaml")
    alone = finding(Engine.CONFIG, "KM-ROT-004 m: overdue.", "dev.yaml")
    merged = merge_twins([pack, other, twin, alone])
    assert [(f.resource, f.file, f.line) for f in merged] == [
        ("crossguard-resource", "dev.yaml", 3),
        ("crossguard-resource", None, None),
        ("config-resource", "dev.yaml", 3),
    ]
    # The same engine twice is two findings (two resources may share a name).
    assert len(merge_twins([pack, pack])) == 2
