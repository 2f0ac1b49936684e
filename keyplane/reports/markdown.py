"""`--format markdown`: a pull-request comment (GitHub or GitLab flavoured Markdown).

GitHub rejects comments over 65,536 characters, so per-resource details are dropped from the end,
with a note, when the whole would not fit.
"""

from __future__ import annotations

import html
from collections import Counter

from keyplane.findings import Finding, summarize
from keyplane.reports.markup import COMMENT_LIMIT, cell, code, inline
from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    counts_text,
    findings_of,
    fix_text,
    group_by_resource,
    judged_text,
    plural,
    resource_labels,
    rule_title,
    tuning_text,
    verdict_text,
)
from keyplane.rules.catalog import Enforcement

__all__ = ["COMMENT_LIMIT", "cell", "markdown_report"]


def markdown_report(report: Report, *, limit: int = COMMENT_LIMIT) -> str:
    findings = findings_of(report)
    summary = summarize(findings)
    outcome = verdict_text(report, findings)
    icon = "❌" if outcome.startswith("FAIL") else "✅"
    head = [
        f"## {icon} {TOOL_NAME} {report.command} `{code(report.environment)}`: {outcome}, "
        f"{counts_text(summary)}",
        "",
        f"{inline(report.scope) if report.scope is not None else judged_text(report)}"
        f" · policy {inline(report.policy_version)}"
        f" · {TOOL_NAME} {inline(report.tool_version)}"
        + (f" · {report.duration_seconds:.1f} s" if report.duration_seconds is not None else ""),
        "",
    ]
    tuned = tuning_text(report)
    if tuned:
        head += [inline(tuned), ""]
    if report.skipped:
        head += [
            "**Skipped rules** (not judged in this run):",
            "",
            *(f"- {inline(s.text())}" for s in report.skipped),
            "",
        ]
    if findings:
        head += _rule_table(findings)
    else:
        head += ["No findings.", ""]

    groups = group_by_resource(findings)
    labels = resource_labels(report, groups)
    blocks = [_details(resource, labels[resource], group) for resource, group in groups.items()]
    parts = ["\n".join(head)]
    size = len(parts[0])
    for shown, block in enumerate(blocks):
        # Room for this block and, unless it is the last, for the note on the ones left out.
        rest = 1 + len(_truncation_note(shown + 1, len(blocks))) if shown + 1 < len(blocks) else 0
        if size + 1 + len(block) + rest > limit:
            parts.append(_truncation_note(shown, len(blocks)))
            break
        parts.append(block)
        size += 1 + len(block)
    body = "\n".join(parts)
    body = body if body.endswith("\n") else body + "\n"
    if len(body) > limit:  # only when the summary table alone is too long
        cut = "\n\n_…truncated._\n"
        body = body[: limit - len(cut)] + cut
    return body


def _rule_table(findings: list[Finding]) -> list[str]:
    mandatory = Counter(f.rule for f in findings if f.enforcement is Enforcement.MANDATORY)
    advisory = Counter(f.rule for f in findings if f.enforcement is Enforcement.ADVISORY)
    excepted = Counter(f.rule for f in findings if f.exception)
    lines = ["| Rule | Title | Mandatory | Advisory |", "|---|---|--:|--:|"]
    for rule_id in sorted({f.rule for f in findings}):
        advised = f"{advisory[rule_id]}" + (
            f" ({excepted[rule_id]} excepted)" if excepted[rule_id] else ""
        )
        lines.append(
            f"| {cell(rule_id)} | {cell(rule_title(rule_id))} | {mandatory[rule_id]} | {advised} |"
        )
    return [*lines, ""]


def _details(resource: str, label: tuple[str, str], group: list[Finding]) -> str:
    type_, name = label
    failing = any(f.enforcement is Enforcement.MANDATORY for f in group)
    summary = summarize(group)
    lines = [
        f"<details{' open' if failing else ''}>",
        f"<summary>{'❌' if failing else '⚠️'} <code>{html.escape(type_)}</code> "
        f"<b>{html.escape(name)}</b>: {html.escape(counts_text(summary))}</summary>",
        "",
        *([f"`{code(resource)}`", ""] if resource != name else []),
        "| Rule | Enforcement | Message | Fix |",
        "|---|---|---|---|",
    ]
    for finding in group:
        enforcement = finding.enforcement.value
        if finding.exception:
            enforcement += f" (excepted: {finding.exception})"
        where = ""
        if finding.file:
            where = f" ({finding.file}" + (f":{finding.line}" if finding.line else "") + ")"
        lines.append(
            f"| {cell(finding.rule)} | {cell(enforcement)} | {cell(finding.message + where)} "
            f"| {cell(fix_text(finding))} |"
        )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _truncation_note(shown: int, total: int) -> str:
    return (
        f"_Details of {total - shown} more of {plural(total, 'resource')} left out to stay within the "
        f"comment size limit; run `{TOOL_NAME} ... --format json` for the full report._\n"
    )
