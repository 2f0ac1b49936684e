"""`--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

GitHub needs a file location on every result: a finding points at the line of the offending
field in its environment file (the gate locates it: `keyplane.rules.locate`), or at line 1 of the
environment file when nothing closer is known; the resource itself is the result's logical
location. Paths under the repository root (`Report.source_root`) are relative to `%SRCROOT%`
(`originalUriBaseIds`), so annotations land in the checkout wherever it was cloned; others are
absolute `file:` URIs. Every rule carries `help` and, for keyplane's rules, GitHub's
`security-severity`.
See https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any

from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    artifact_uri,
    coverage_of,
    findings_of,
    guideline,
    is_checkov_rule,
    iso_utc,
    judged_text,
    keyplane_rule,
    level_of,
    rule_title,
    short_name,
)
from keyplane.rules.catalog import Enforcement, Rule, Severity
from keyplane.rules.frameworks import controls_of

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
#: Key of the stable fingerprint in `partialFingerprints` (bump the suffix if its recipe changes).
FINGERPRINT_KEY = "keyplaneFinding/v1"
#: GitHub ranks security alerts by this property: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
#: 0.1-3.9 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
}
#: The base every repository-relative `uri` is resolved against (SARIF §3.14.14).
SRCROOT = "%SRCROOT%"


def sarif_document(report: Report) -> dict[str, Any]:
    findings = findings_of(report)
    rule_ids = sorted({f.rule for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    guidelines: dict[str, str] = {}
    for finding in findings:
        link = guideline(finding.message)
        if link and finding.rule not in guidelines:
            guidelines[finding.rule] = link

    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": report.tool_version,
        "semanticVersion": report.tool_version,
        "rules": [_descriptor(rule_id, guidelines.get(rule_id)) for rule_id in rule_ids],
    }
    if report.information_uri:
        driver["informationUri"] = report.information_uri

    results = []
    for finding in findings:
        uri = artifact_uri(
            finding.file or report.environment_path, report.source_root, report.working_directory
        )
        artifact: dict[str, Any] = {"uri": uri}
        if report.source_root is not None and not uri.startswith("file:"):
            artifact["uriBaseId"] = SRCROOT
        physical: dict[str, Any] = {
            "artifactLocation": artifact,
            "region": {"startLine": max(finding.line or 1, 1)},
        }
        location: dict[str, Any] = {
            "physicalLocation": physical,
            "logicalLocations": [
                {
                    "name": short_name(finding.resource),
                    "fullyQualifiedName": finding.resource,
                    "kind": "resource",
                }
            ],
        }
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": level_of(finding),
            "message": {"text": finding.message},
            "locations": [location],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.rule, finding.resource)},
            "properties": {
                "enforcement": finding.enforcement.value,
                "engine": finding.engine.value,
                "resource": finding.resource,
                "resourceType": finding.type,
            },
        }
        if finding.exception:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": finding.exception}
            ]
            result["properties"]["exception"] = finding.exception
        results.append(result)

    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"{TOOL_NAME}/{report.command}/{report.environment}/"},
        "results": results,
        "properties": {
            "environment": report.environment,
            "policyVersion": report.policy_version,
            "command": report.command,
            "resources": coverage_of(report).to_json(),
            "summary": judged_text(report),
        },
    }
    if report.source_root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": directory_uri(report.source_root)}}
    if report.skipped:
        run["properties"]["skippedRules"] = [s.text() for s in report.skipped]
    if report.started_at is not None:
        invocation: dict[str, Any] = {
            "executionSuccessful": True,
            "startTimeUtc": iso_utc(report.started_at),
        }
        if report.finished_at is not None:
            invocation["endTimeUtc"] = iso_utc(report.finished_at)
        run["invocations"] = [invocation]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def sarif_report(report: Report) -> str:
    return json.dumps(sarif_document(report), indent=2, ensure_ascii=False) + "\n"


def directory_uri(path: str) -> str:
    """An absolute directory as a `file:` URI ending in `/` (SARIF requires the slash)."""
    uri = PurePosixPath(path.replace("\\", "/")).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def fingerprint(rule_id: str, resource: str) -> str:
    """Stable across runs and line moves: the same rule on the same resource is the same alert."""
    return hashlib.sha256(f"{rule_id}\0{resource}".encode()).hexdigest()


def _descriptor(rule_id: str, link: str | None) -> dict[str, Any]:
    rule = keyplane_rule(rule_id)
    if rule is not None:
        return _keyplane_descriptor(rule)
    # checkov's built-in checks (and anything else foreign): what the finding itself tells.
    title = rule_title(rule_id)
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": title},
        "help": {
            "text": f"{title}: an advisory finding of checkov's own catalogue; keyplane's rules "
            "decide the verdict.",
            "markdown": f"{title}: an advisory finding of checkov's own catalogue; keyplane's "
            "rules decide the verdict.",
        },
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["security", "checkov" if is_checkov_rule(rule_id) else "external"]},
    }
    if link:
        descriptor["helpUri"] = link
        descriptor["help"]["text"] += f" See {link}"
        descriptor["help"]["markdown"] += f" See [the guideline]({link})."
    return descriptor


def _keyplane_descriptor(rule: Rule) -> dict[str, Any]:
    points = ", ".join(p.label for p in sorted(rule.points, key=lambda p: "GCAV".index(p.value)))
    level = "error" if rule.default_enforcement is Enforcement.MANDATORY else "warning"
    return {
        "id": rule.id,
        "name": rule.policy_name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": f"{rule.title} Source: {rule.source}. Enforced by: {points}."},
        "help": {
            "text": f"{rule.remediation}\nSource: {rule.source}.",
            "markdown": f"**Fix:** {rule.remediation}\n\n**Source:** {rule.source}.",
        },
        "defaultConfiguration": {"level": level},
        "properties": {
            # The compliance controls the rule supports (`nist-800-53:SC-12`), so a code-scanning
            # alert can be filtered by framework like any other tag.
            "tags": [
                "security",
                "key-management",
                "keyplane",
                rule.severity.value,
                *(control.tag for control in controls_of(rule.id)),
            ],
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "severity": rule.severity.value,
            "precision": "very-high",
        },
    }
