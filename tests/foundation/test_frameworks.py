"""Frameworks: every rule maps to the controls it supports (keyplane/rules/frameworks.py); `keyplane
rules` shows them, SARIF tags carry them, `--framework` views never hide what blocks."""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.findings import Engine, Finding
from keyplane.reports.catalog import frameworks_cell, rules_json, rules_table
from keyplane.reports.sarif import sarif_document
from keyplane.rules.catalog import RULES, Enforcement
from keyplane.rules.frameworks import (
    CONTROL_TITLES,
    MAPPINGS,
    Framework,
    controls_of,
    rules_of,
    select_framework,
)
from tests.reports.sample import make_report

runner = CliRunner()


def test_every_rule_maps_to_soc2_iso_and_nist_and_every_control_has_a_title() -> None:
    assert set(MAPPINGS) == set(RULES)
    for rule_id, mapping in MAPPINGS.items():
        for framework in (Framework.SOC2, Framework.ISO27001, Framework.NIST_800_53):
            assert mapping.get(framework), f"{rule_id} has no {framework.value} control"
        for framework, controls in mapping.items():
            for control in controls:
                assert control in CONTROL_TITLES[framework], (rule_id, framework, control)


def test_the_issue_s_named_controls_are_cited() -> None:
    cited = {c.tag for rule in RULES for c in controls_of(rule)}
    for tag in (
        "soc2:CC6.1",
        "soc2:CC6.7",
        "iso27001:8.24",
        "nist-800-53:SC-12",
        "nist-800-53:SC-13",
        "nist-800-53:SC-28",
        "nist-800-53:AU-9",
        "pci-dss:3.6.1",
        "pci-dss:3.7.4",
    ):
        assert tag in cited
    # Every CIS benchmark is cited somewhere, and only where a rule checks the same setting.
    assert rules_of(Framework.CIS_AWS) == {"KM-ROT-001", "KM-LOG-001", "KM-MON-001"}
    assert "KM-ROT-002" not in rules_of(Framework.CIS_GCP)  # CIS asks 90 days, the policy 365
    assert rules_of(Framework.CIS_AZURE) == {"KM-ROT-001", "KM-DEL-001", "KM-STO-002"}


def test_keyplane_rules_shows_the_frameworks_in_json_and_table() -> None:
    document = json.loads(rules_json())
    assert document["frameworks"]["nist-800-53"] == "NIST SP 800-53 Rev. 5"
    alg = next(r for r in document["rules"] if r["id"] == "KM-ALG-001")
    assert alg["frameworks"] == {
        "soc2": ["CC6.1"],
        "iso27001": ["8.24"],
        "nist-800-53": ["SC-12", "SC-13"],
        "pci-dss": ["3.6.1", "3.7.1"],
    }
    assert frameworks_cell("KM-ALG-001") == (
        "soc2 CC6.1; iso27001 8.24; nist-800-53 SC-12 SC-13; pci-dss 3.6.1 3.7.1"
    )
    console = Console(file=StringIO(), width=300, color_system=None)
    console.print(rules_table())
    table = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Frameworks" in table and "nist-800-53 SC-12 SC-13" in table
    result = runner.invoke(app, ["rules", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rules"][0]["frameworks"] == alg["frameworks"]


def test_sarif_rule_tags_carry_the_controls() -> None:
    rules = sarif_document(make_report())["runs"][0]["tool"]["driver"]["rules"]
    rot = next(r for r in rules if r["id"] == "KM-ROT-002")
    assert rot["properties"]["tags"] == [
        "security",
        "key-management",
        "keyplane",
        "high",
        "soc2:CC6.1",
        "iso27001:8.24",
        "nist-800-53:SC-12",
        "pci-dss:3.7.4",
    ]


def _finding(rule: str, enforcement: Enforcement) -> Finding:
    return Finding(rule, enforcement, "r", "t", f"{rule} r: message", Engine.CROSSGUARD)


def test_a_framework_view_keeps_its_rules_and_every_mandatory_finding() -> None:
    in_pci = _finding("KM-ROT-002", Enforcement.ADVISORY)
    blocking_outside = _finding("KM-TEN-001", Enforcement.MANDATORY)
    advisory_outside = _finding("KM-BAK-001", Enforcement.ADVISORY)
    checkov = _finding("CKV_AWS_7", Enforcement.ADVISORY)
    view = select_framework(
        [in_pci, blocking_outside, advisory_outside, checkov], Framework.PCI_DSS
    )
    assert view.shown == (in_pci, blocking_outside)
    assert view.outside == (blocking_outside,)
    assert view.left_out == (advisory_outside, checkov)
    assert view.note() == (
        "--framework pci-dss (PCI DSS v4.0): 2 advisory findings of rules outside it not shown; "
        "1 mandatory finding outside it shown all the same (a framework's view never hides "
        "what blocks)"
    )
    assert select_framework([in_pci], Framework.PCI_DSS).note() is None
