"""`--format json`: the findings-JSON contract of DESIGN.md."""

from __future__ import annotations

import json
from dataclasses import replace

from keyplane import __version__
from keyplane.reports import Report, json_report
from keyplane.standard import POLICY_VERSION
from tests.reports.sample import (
    ALIAS_URN,
    FINDINGS,
    KEY_URN,
    RESOURCES,
    SECRET_URN,
    SECRET_VALUE,
    STACK_URN,
    make_report,
)

FINDING_KEYS = {"rule", "enforcement", "resource", "type", "message", "engine", "exception"}
RESOURCE_KEYS = {"urn", "type", "name", "parent", "protect", "inputs"}


def document(**changes: object) -> dict[str, object]:
    return json.loads(json_report(make_report(**changes)))  # type: ignore[no-any-return]


def test_top_level_names_the_run() -> None:
    doc = document()
    assert doc["environment"] == "prod"
    assert doc["policy_version"] == POLICY_VERSION
    assert doc["tool"] == {"name": "keyplane", "version": __version__, "command": "preview"}
    assert doc["verdict"] == "fail"
    assert doc["timing"] == {"started_at": "2026-11-23T09:30:00.000Z", "duration_seconds": 4.25}


def test_findings_carry_the_contract_fields() -> None:
    findings = document()["findings"]
    assert isinstance(findings, list)
    assert len(findings) == 5
    for finding in findings:
        assert finding.keys() >= FINDING_KEYS
        assert finding["enforcement"] in {"mandatory", "advisory"}
        assert finding["engine"] in {"crossguard", "checkov", "audit", "config"}
    by_rule = {f["rule"]: f for f in findings}
    assert by_rule["KM-HSM-001"]["exception"] == "EXC-2026-007"
    assert by_rule["KM-ROT-002"]["exception"] is None
    assert by_rule["CKV_AWS_7"]["engine"] == "checkov"
    assert by_rule["KM-ROT-004"]["file"] == "environments/prod.yaml"
    assert by_rule["KM-ROT-004"]["line"] == 14


def test_summary_counts() -> None:
    assert document()["summary"] == {
        "total": 5,
        "mandatory": 3,
        "advisory": 2,
        "excepted": 1,
        "by_rule": {
            "CKV_AWS_7": 1,
            "KM-HSM-001": 1,
            "KM-ROT-002": 1,
            "KM-ROT-004": 1,
            "KM-STO-001": 1,
        },
        "by_engine": {"checkov": 1, "config": 1, "crossguard": 3},
        "resources": 3,
        "judged": 3,
        "read": 0,
        "not_judged": 0,
        "not_judged_types": [],
    }


def test_resources_keep_camel_case_and_mask_secrets_and_unknowns() -> None:
    resources = {r["urn"]: r for r in document()["resources"]}  # type: ignore[attr-defined]
    assert set(resources) == {KEY_URN, SECRET_URN, ALIAS_URN}
    for resource in resources.values():
        assert resource.keys() == RESOURCE_KEYS
        assert resource["parent"] == STACK_URN
    key = resources[KEY_URN]
    assert key["protect"] is True
    assert key["type"] == "aws:kms/key:Key"
    assert key["inputs"]["rotationPeriodInDays"] == 400.0
    assert key["inputs"]["tags"]["keyplane-purpose"] == "database-encryption"
    assert resources[SECRET_URN]["inputs"] == {
        "secretString": "[secret]",
        "versionStages": ["[secret]", "AWSCURRENT"],
    }
    assert resources[ALIAS_URN]["inputs"]["targetKeyId"] == "[unknown]"
    assert resources[ALIAS_URN]["protect"] is False


def test_secret_inside_an_output_value_is_masked() -> None:
    output_value = {
        "4dabf18193072939515e22adb298388d": "d0e6a833031e9bbcd3f4e8bde6ca49a4",
        "value": SECRET_VALUE,
        "secret": True,
    }
    unknown_output = {"4dabf18193072939515e22adb298388d": "d0e6a833031e9bbcd3f4e8bde6ca49a4"}
    resource = replace(RESOURCES[2], inputs={"a": output_value, "b": unknown_output})
    text = json_report(make_report(resources=[resource], findings=[]))
    assert SECRET_VALUE not in text
    assert json.loads(text)["resources"][0]["inputs"] == {"a": "[secret]", "b": "[unknown]"}


def test_output_is_deterministic_whatever_the_input_order() -> None:
    shuffled = [
        replace(r, inputs=dict(reversed(list(r.inputs.items())))) for r in reversed(RESOURCES)
    ]
    one = json_report(make_report())
    other = json_report(make_report(findings=list(reversed(FINDINGS)), resources=shuffled))
    assert one == other


def test_clean_run_passes_and_has_no_timing_when_none_given() -> None:
    doc = document(findings=[], started_at=None, duration_seconds=None)
    assert doc["verdict"] == "pass"
    assert doc["findings"] == []
    assert doc["summary"]["total"] == 0  # type: ignore[index]
    assert "timing" not in doc


def test_registrations_are_resource_records_and_defaults_name_the_run() -> None:
    report = Report(findings=[FINDINGS[0]], resources=list(RESOURCES), environment="staging")
    assert report.environment_path == "environments/staging.yaml"
    assert report.command == "preview"
    assert report.tool_version == __version__
    assert report.policy_version == POLICY_VERSION
    doc = json.loads(json_report(report))
    assert "timing" not in doc
    assert doc["environment"] == "staging"


def test_each_resource_is_one_line_of_the_indented_document() -> None:
    from keyplane.reports.findings_json import json_document

    report = make_report()
    text = json_report(report)
    assert json.loads(text) == json.loads(json.dumps(json_document(report)))
    lines = text.splitlines()
    start = lines.index('  "resources": [')
    listed = lines[start + 1 : start + 1 + len(RESOURCES)]
    assert [json.loads(line.strip().rstrip(","))["urn"] for line in listed] == sorted(
        r.urn for r in RESOURCES
    )
    assert lines[start + 1 + len(RESOURCES)] == "  ],"
    # A value that names the placeholder's form is only a value.
    named = replace(RESOURCES[0], inputs={"note": "keyplane-resources-0"})
    assert json.loads(json_report(make_report(resources=[named])))["resources"][0]["inputs"] == {
        "note": "keyplane-resources-0"
    }
