"""`--format junit`: JUnit XML that GitLab and Jenkins read, with the right counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from keyplane.reports import junit_report
from tests.reports.sample import CHECKOV_RESOURCE, KEY_URN, ROT_002, SECRET_URN, make_report


def parse(**changes: object) -> ET.Element:
    text = junit_report(make_report(**changes))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def counts(element: ET.Element) -> tuple[int, int, int, int]:
    return tuple(int(element.get(a, "-1")) for a in ("tests", "failures", "errors", "skipped"))  # type: ignore[return-value]


def cases(element: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in element.iter("testcase")}


def test_one_suite_per_engine_and_one_for_clean_rules() -> None:
    root = parse()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == [
        "keyplane.crossguard",
        "keyplane.checkov",
        "keyplane.config",
        "keyplane.rules-without-findings",
    ]
    assert counts(suites["keyplane.crossguard"]) == (3, 2, 0, 1)
    assert counts(suites["keyplane.checkov"]) == (1, 0, 0, 0)
    assert counts(suites["keyplane.config"]) == (1, 1, 0, 0)
    assert counts(suites["keyplane.rules-without-findings"]) == (2, 0, 0, 0)
    assert counts(root) == (7, 3, 0, 1)
    assert root.get("time") == "4.250"
    for suite in suites.values():
        assert suite.get("timestamp") == "2026-11-23T09:30:00.000"
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert properties["environment"] == "prod"


def test_mandatory_fails_advisory_passes_excepted_is_skipped() -> None:
    by_case = cases(parse())
    failure = by_case["KM-ROT-002", KEY_URN].find("failure")
    assert failure is not None
    assert failure.get("type") == "KM-ROT-002"
    assert (failure.get("message") or "").startswith("KM-ROT-002 acme-orders-db: rotation period")
    assert "Fix: Lower rotation_days" in (failure.text or "")
    assert by_case["KM-STO-001", SECRET_URN].find("failure") is not None

    skipped = by_case["KM-HSM-001", KEY_URN].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "excepted by EXC-2026-007"
    assert by_case["KM-HSM-001", KEY_URN].find("failure") is None

    advisory = by_case["CKV_AWS_7", CHECKOV_RESOURCE]
    assert advisory.find("failure") is None
    assert advisory.find("skipped") is None
    assert "Ensure rotation for customer created CMKs" in (advisory.findtext("system-out") or "")
    assert "Guideline: https://" in (advisory.findtext("system-out") or "")

    config = by_case["KM-ROT-004", "acme-signing"].find("failure")
    assert config is not None
    assert "File: environments/prod.yaml:14" in (config.text or "")


def test_checked_rules_without_findings_pass() -> None:
    by_case = cases(parse())
    clean = {k: v for k, v in by_case.items() if k[1].endswith("no violations")}
    assert set(clean) == {
        ("KM-ACC-001", "KM-ACC-001 — no violations"),
        ("KM-ROT-001", "KM-ROT-001 — no violations"),
    }
    assert all(len(case) == 0 for case in clean.values())


def test_findings_on_one_rule_and_resource_make_one_case() -> None:
    second = replace(ROT_002, enforcement=ROT_002.enforcement.ADVISORY, message="also slow")
    root = parse(findings=[ROT_002, second], checked_rules=())
    assert counts(root) == (1, 1, 0, 0)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "also slow" in (failure.text or "")


def test_clean_run_is_all_passing() -> None:
    root = parse(findings=[], started_at=None, duration_seconds=None)
    assert counts(root) == (5, 0, 0, 0)
    assert root.get("time") is None


def test_characters_xml_cannot_carry_are_replaced() -> None:
    odd = replace(ROT_002, message="bell \x07 and escape \x1b[31m")
    root = parse(findings=[odd])
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bell \ufffd and escape \ufffd[31m"
