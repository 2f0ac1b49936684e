"""`--format html` and `keyplane report`: one self-contained HTML file for auditors.

The page holds the verdict, the findings by rule and by resource (mandatory first, then by
severity; each with its engines, location and fix), the environment's exceptions with their
expiry, the live audit's evidence when the report is an audit's, and the policy artefacts
`keyplane docs` writes (Tenant-Isolation-Claim, Shared-Service-Boundary-Register, rule
traceability and policy coverage matrices) when the report carries a `Dossier`.

Self-contained and inert (Policy §14 evidence must be readable offline, years later): inline CSS
only; no script, font, image or style sheet from anywhere; no link out of the page (checkov's
guideline addresses are shown as text); a Content-Security-Policy that forbids everything but the
inline style, so even a value that slipped past escaping could neither run nor fetch. Every value
goes through Jinja's autoescaping; the artefacts' Markdown is rendered by markdown-it with raw
HTML, links and images turned off. Secret values are redacted exactly as in every other format
(`model.findings_of`, `model.redact`). The layout does not depend on a terminal: long values wrap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from keyplane.findings import Finding, summarize
from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    counts_text,
    findings_of,
    fix_text,
    group_by_resource,
    iso_utc,
    judged_text,
    redact,
    resource_labels,
    rule_title,
    verdict,
)
from keyplane.rules.catalog import RULES, Enforcement, Severity
from keyplane.rules.frameworks import controls_of

_SEVERITY_ORDER = {s.value: i for i, s in enumerate(Severity)}

_TEMPLATES = Environment(
    loader=PackageLoader("keyplane.reports", "templates"),
    # Every template escapes every value, whatever its file name ends with.
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

#: The artefacts' Markdown: CommonMark plus tables, raw HTML escaped (`html: False`), and no
#: link or image (an estate's free text could carry an address; the page links nowhere).
_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "image", "autolink"])
)


@dataclass(frozen=True)
class FindingRow:
    """A finding as the page lists it: every value already redacted, still unescaped."""

    rule: str
    rule_title: str
    severity: str
    enforcement: str
    mandatory: bool
    exception: str | None
    resource: str
    resource_name: str
    resource_type: str
    message: str
    engines: str
    location: str
    fix: str


@dataclass(frozen=True)
class RuleGroup:
    rule: str
    title: str
    source: str
    severity: str
    controls: str
    fix: str
    mandatory: int
    findings: Sequence[FindingRow]


@dataclass(frozen=True)
class ResourceGroup:
    anchor: str
    name: str
    type: str
    resource: str
    mandatory: int
    findings: Sequence[FindingRow]


def html_report(report: Report) -> str:
    """The report as one HTML5 document (UTF-8 text)."""
    findings = findings_of(report)
    secrets = report.secrets
    rows = _rows(report, findings, secrets)
    summary = summarize(findings)
    dossier = report.dossier
    context: dict[str, Any] = {
        "tool": TOOL_NAME,
        "command": report.command,
        "environment": report.environment,
        "policy_version": report.policy_version,
        "tool_version": report.tool_version,
        "verdict": verdict(findings),
        "counts": counts_text(summary),
        "total": summary["total"],
        "scope": report.scope if report.scope is not None else judged_text(report),
        "started_at": iso_utc(report.started_at) if report.started_at else None,
        "duration": report.duration_seconds,
        "by_rule": _by_rule(rows),
        "by_resource": _by_resource(rows),
        "dossier": dossier,
        "exceptions": dossier.exceptions if dossier else (),
        "excepted": {f.exception for f in findings if f.exception},
        "evidence": _evidence(dossier.evidence) if dossier and dossier.evidence else None,
        "documents": [
            # Safe: markdown-it escapes every character of the text (raw HTML is off).
            (title, Markup(_render_markdown(text)))  # noqa: S704
            for title, text in (dossier.documents.items() if dossier else ())
        ],
    }
    return _TEMPLATES.get_template("report.html.j2").render(context)


def _rows(report: Report, findings: Sequence[Finding], secrets: Sequence[str]) -> list[FindingRow]:
    labels = resource_labels(report, group_by_resource(findings))
    rows = []
    for finding in findings:
        type_, name = labels[finding.resource]
        rule = RULES.get(finding.rule)
        engines = finding.engines or (finding.engine,)
        location = ""
        if finding.file:
            location = finding.file + (f":{finding.line}" if finding.line else "")
        rows.append(
            FindingRow(
                rule=finding.rule,
                rule_title=rule_title(finding.rule),
                severity=finding.severity or "",
                enforcement=finding.enforcement.value,
                mandatory=finding.enforcement is Enforcement.MANDATORY,
                exception=finding.exception,
                resource=redact(finding.resource, secrets),
                resource_name=redact(name, secrets),
                resource_type=type_,
                message=finding.message,
                engines=", ".join(e.value for e in engines),
                location=redact(location, secrets),
                fix=rule.remediation if rule is not None else fix_text(finding),
            )
        )
    return rows


def _severity_key(severity: str) -> int:
    return _SEVERITY_ORDER.get(severity, len(_SEVERITY_ORDER))


def _by_rule(rows: Sequence[FindingRow]) -> list[RuleGroup]:
    """One group per rule: rules with mandatory findings first, then by severity and ID."""
    grouped: dict[str, list[FindingRow]] = {}
    for row in rows:
        grouped.setdefault(row.rule, []).append(row)
    groups = []
    for rule_id, members in grouped.items():
        rule = RULES.get(rule_id)
        groups.append(
            RuleGroup(
                rule=rule_id,
                title=members[0].rule_title,
                source=rule.source if rule is not None else "checkov built-in check",
                severity=members[0].severity,
                controls=", ".join(c.tag for c in controls_of(rule_id)),
                fix=members[0].fix if rule is not None else "",
                mandatory=sum(1 for m in members if m.mandatory),
                findings=members,
            )
        )
    return sorted(groups, key=lambda g: (g.mandatory == 0, _severity_key(g.severity), g.rule))


def _by_resource(rows: Sequence[FindingRow]) -> list[ResourceGroup]:
    """One group per resource: those with mandatory findings first; inside, mandatory first,
    then by severity and rule."""
    grouped: dict[str, list[FindingRow]] = {}
    for row in rows:
        grouped.setdefault(row.resource, []).append(row)
    groups = []
    for index, (resource, members) in enumerate(grouped.items()):
        ordered = sorted(
            members, key=lambda r: (not r.mandatory, _severity_key(r.severity), r.rule)
        )
        groups.append(
            ResourceGroup(
                anchor=f"resource-{index + 1}",
                name=members[0].resource_name,
                type=members[0].resource_type,
                resource=resource,
                mandatory=sum(1 for m in members if m.mandatory),
                findings=ordered,
            )
        )
    return sorted(groups, key=lambda g: (g.mandatory == 0, g.name, g.resource))


def _evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The audit's evidence object for the template: scalar facts as (label, value) pairs, the
    rest as lists; unknown keys are shown too, as text, so nothing the audit filed is dropped."""
    lists = {"controls", "not_visible", "permissions"}
    nested = {"resources", "inventory", "lifecycle"}
    facts = [
        (key.replace("_", " "), "" if value is None else str(value))
        for key, value in evidence.items()
        if key not in lists | nested
    ]
    inventory = evidence.get("inventory") or {}
    lifecycle = evidence.get("lifecycle") or {}
    return {
        "facts": facts,
        "resources": dict(evidence.get("resources") or {}),
        "inventory": inventory,
        "lifecycle": lifecycle,
        "keys": list(lifecycle.get("keys") or ()),
        "controls": list(evidence.get("controls") or ()),
        "not_visible": list(evidence.get("not_visible") or ()),
        "permissions": list(evidence.get("permissions") or ()),
    }


def _render_markdown(text: str) -> str:
    """A `keyplane docs` document as an HTML fragment, its headings moved two levels down (the
    page's own sections are h1 and h2)."""
    tokens = _MARKDOWN.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"
    return str(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))
