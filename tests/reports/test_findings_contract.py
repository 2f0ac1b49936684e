"""The findings-JSON contract (DESIGN.md): every finding carries its rule's `severity`; a finding
several engines reported lists them in `engines`; a file finding has its `location`."""

from __future__ import annotations

from keyplane.findings import Engine, Finding
from keyplane.gate import _dedupe
from keyplane.rules.catalog import Enforcement
from keyplane.rules.files import merge_twins


def _finding(engine: Engine, rule: str = "KM-ACC-001", **extra: object) -> Finding:
    return Finding(
        rule=rule,
        enforcement=Enforcement.MANDATORY,
        resource="urn:pulumi:prod::p::aws:kms/key:Key::k",
        type="aws:kms/key:Key",
        message=f"{rule} k: grants kms:* to the wildcard principal *.",
        engine=engine,
        **extra,  # type: ignore[arg-type]
    )


def test_a_finding_carries_its_rules_severity_and_checkovs_own_none() -> None:
    assert _finding(Engine.CROSSGUARD).to_json()["severity"] == "critical"
    assert _finding(Engine.CROSSGUARD, rule="KM-ROT-002").to_json()["severity"] == "high"
    own = _finding(Engine.CHECKOV, rule="CKV_AWS_7").to_json()
    assert own["severity"] is None
    assert "engines" not in own


def test_merged_findings_list_every_engine_that_reported_them() -> None:
    merged = _dedupe([_finding(Engine.CROSSGUARD), _finding(Engine.CHECKOV)])
    assert [f.to_json()["engines"] for f in merged] == [["crossguard", "checkov"]]
    assert merged[0].engine is Engine.CROSSGUARD  # the first engine's wording is kept
    twins = merge_twins(
        [_finding(Engine.CROSSGUARD), _finding(Engine.CONFIG, file="prod.yaml", line=7)]
    )
    assert len(twins) == 1
    data = twins[0].to_json()
    assert data["engines"] == ["crossguard", "config"]
    assert data["location"] == {"file": "prod.yaml", "line": 7}


def test_one_engine_reporting_twice_is_not_a_merge() -> None:
    merged = _dedupe([_finding(Engine.CHECKOV), _finding(Engine.CHECKOV)])
    assert "engines" not in merged[0].to_json()


def test_a_merge_never_weakens_a_verdict() -> None:
    """CrossGuard cannot judge (advisory) what checkov finds violated (mandatory): the merged
    finding is checkov's, mandatory; before, the first engine's advisory one hid it."""
    from dataclasses import replace

    unknown = replace(
        _finding(Engine.CROSSGUARD),
        enforcement=Enforcement.ADVISORY,
        message="KM-ACC-001 k: cannot judge until deployed: the key policy is not known yet.",
    )
    [merged] = _dedupe([unknown, _finding(Engine.CHECKOV)])
    assert merged.enforcement is Enforcement.MANDATORY
    assert merged.message == _finding(Engine.CHECKOV).message
    assert merged.to_json()["engines"] == ["checkov", "crossguard"]


def test_an_engines_distinct_findings_on_one_resource_are_all_kept() -> None:
    from dataclasses import replace

    first = _finding(Engine.CHECKOV, rule="KM-STO-001", file="deploy/keys.yaml", line=3)
    second = replace(first, message="KM-STO-001 deploy/keys.yaml:9: AWS Access Key ...", line=9)
    assert _dedupe([first, second, first]) == [first, second]
