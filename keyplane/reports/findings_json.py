"""`--format json`: the findings-JSON contract of DESIGN.md, deterministic for the same input."""

from __future__ import annotations

import json
from typing import Any

from keyplane.findings import summarize
from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    coverage_of,
    findings_of,
    is_read,
    iso_utc,
    masked,
    verdict,
)


def json_document(report: Report) -> dict[str, Any]:
    """The report as the contract's object (what `json_report` serialises)."""
    findings = findings_of(report)
    secrets = report.secrets
    document: dict[str, Any] = {
        "tool": {"name": TOOL_NAME, "version": report.tool_version, "command": report.command},
        "policy_version": report.policy_version,
        "environment": report.environment,
        "verdict": verdict(findings, report.fail_on).lower(),
        "summary": {
            **summarize(findings),
            "resources": len(report.resources),
            **coverage_of(report).to_json(),
        },
        "findings": [f.to_json() for f in findings],
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent or None,
                "protect": bool(r.protect),
                "inputs": masked(r.inputs, secrets, sort_keys=True),
                # Read (`Resource.get`), not managed: listed, not judged.
                **({"read": True} if is_read(r) else {}),
            }
            for r in sorted(report.resources, key=lambda r: r.urn)
        ],
    }
    if report.fail_on is not None or report.soft_fail or report.skipped or report.selected:
        document["tuning"] = {
            "fail_on": report.fail_on.value if report.fail_on is not None else None,
            "soft_fail": report.soft_fail,
            "checks": list(report.selected) or None,
            "skipped": [
                {
                    "rule": s.rule,
                    "reason": s.reason,
                    "enforcement": s.enforcement.value if s.enforcement else None,
                    "findings_not_reported": s.hidden,
                }
                for s in report.skipped
            ],
        }
    if report.started_at is not None or report.duration_seconds is not None:
        timing: dict[str, Any] = {
            "started_at": iso_utc(report.started_at) if report.started_at else None,
            "duration_seconds": report.duration_seconds,
        }
        if report.stage_seconds:
            timing["stages"] = dict(report.stage_seconds)
        document["timing"] = timing
    return document


def json_report(report: Report) -> str:
    return json.dumps(json_document(report), indent=2, ensure_ascii=False) + "\n"
