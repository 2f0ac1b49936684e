"""`--format junit`: JUnit XML, the test report GitLab, Jenkins and most CI systems display.

One test suite per engine; one test case per (rule, resource) an engine judged with findings:
a failure when any of them is mandatory, skipped when all are excepted, passing (with the advisory
messages as output) otherwise. The checked rules nobody reported pass as one case each, so CI
lists what was checked, not only what broke.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from keyplane.findings import Engine, Finding
from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    findings_of,
    fix_text,
    is_failing,
    iso_utc,
    judged_text,
    keyplane_rule,
)
from keyplane.rules.catalog import Severity

#: Characters XML 1.0 cannot carry at all (not even escaped).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
CLEAN_SUITE = "rules without findings"


def junit_report(report: Report) -> str:
    findings = findings_of(report)
    root = ET.Element(
        "testsuites", name=_text(f"{TOOL_NAME} {report.command} {report.environment}")
    )

    for engine in Engine:
        cases = _cases([f for f in findings if f.engine is engine])
        if cases:
            _suite(root, report, f"{TOOL_NAME}.{engine.value}", cases, report.fail_on)

    reported = {f.rule for f in findings}
    clean = sorted(set(report.checked_rules) - reported)
    if clean:
        suite = _suite(root, report, f"{TOOL_NAME}.{CLEAN_SUITE.replace(' ', '-')}", [], None)
        for rule_id in clean:
            ET.SubElement(
                suite, "testcase", classname=rule_id, name=f"{rule_id} — no violations", time="0"
            )
        _count(suite)

    if report.skipped:
        # Skipped rules are listed as skipped tests: CI shows what was not judged.
        suite = _suite(root, report, f"{TOOL_NAME}.skipped-rules", [], None)
        for skipped in report.skipped:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=skipped.rule,
                name=f"{skipped.rule} — skipped",
                time="0",
            )
            ET.SubElement(case, "skipped", message=_text(skipped.text()))
        _count(suite)

    _count(root, suites=True)
    if report.duration_seconds is not None:
        root.set("time", f"{report.duration_seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cases(findings: Sequence[Finding]) -> list[tuple[str, str, list[Finding]]]:
    cases: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        cases.setdefault((finding.rule, finding.resource), []).append(finding)
    return [(rule, resource, group) for (rule, resource), group in sorted(cases.items())]


def _suite(
    root: ET.Element,
    report: Report,
    name: str,
    cases: list[tuple[str, str, list[Finding]]],
    fail_on: Severity | None,
) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=_text(name))
    if report.started_at is not None:
        # JUnit's timestamp is ISO 8601 without a zone; keyplane's are UTC.
        suite.set("timestamp", iso_utc(report.started_at).removesuffix("Z"))
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("environment", report.environment),
        ("policy_version", report.policy_version),
        ("keyplane_version", report.tool_version),
        ("resources", judged_text(report)),
    ):
        ET.SubElement(properties, "property", name=key, value=_text(value))
    for rule_id, resource, group in cases:
        _case(suite, rule_id, resource, group, fail_on)
    _count(suite)
    return suite


def _case(
    suite: ET.Element,
    rule_id: str,
    resource: str,
    group: list[Finding],
    fail_on: Severity | None,
) -> None:
    case = ET.SubElement(suite, "testcase", classname=rule_id, name=_text(resource), time="0")
    details = "\n\n".join(_details(f) for f in group)
    failing = [f for f in group if is_failing(f, fail_on)]
    if failing:
        failure = ET.SubElement(case, "failure", message=_text(failing[0].message), type=rule_id)
        failure.text = _text(details)
    elif all(f.exception for f in group):
        exceptions = ", ".join(sorted({f.exception or "" for f in group}))
        ET.SubElement(case, "skipped", message=f"excepted by {exceptions}")
        ET.SubElement(case, "system-out").text = _text(details)
    else:
        ET.SubElement(case, "system-out").text = _text(details)


def _details(finding: Finding) -> str:
    lines = [f"[{finding.enforcement.value}] {finding.message}"]
    if finding.exception:
        lines.append(f"Exception: {finding.exception}")
    if finding.file:
        lines.append(f"File: {finding.file}" + (f":{finding.line}" if finding.line else ""))
    fix = fix_text(finding)
    if fix:
        lines.append(f"{'Fix' if keyplane_rule(finding.rule) else 'Guideline'}: {fix}")
    lines.append(f"Engine: {finding.engine.value}; type: {finding.type}")
    return "\n".join(lines)


def _count(element: ET.Element, *, suites: bool = False) -> None:
    cases = element.iter("testcase") if suites else element.findall("testcase")
    tests = failures = skipped = 0
    for case in cases:
        tests += 1
        failures += case.find("failure") is not None
        skipped += case.find("skipped") is not None
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", "0")
    element.set("skipped", str(skipped))


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
