"""`--format table`: the terminal report, findings grouped by resource, then the verdict."""

from __future__ import annotations

from io import StringIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keyplane.findings import Finding, summarize
from keyplane.reports.model import (
    TOOL_NAME,
    Report,
    counts_text,
    findings_of,
    fix_text,
    group_by_resource,
    resource_labels,
    scope_text,
    tuning_text,
    verdict_text,
)
from keyplane.rules.catalog import Enforcement

DEFAULT_WIDTH = 120


def table_report(report: Report, *, color: bool = False, width: int = DEFAULT_WIDTH) -> str:
    """The report as terminal text; ANSI colours only when `color` (the CLI knows the terminal)."""
    buffer = StringIO()
    # Every setting explicit: the text depends on the arguments, not on TERM, COLUMNS or FORCE_COLOR.
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        legacy_windows=False,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
        force_jupyter=False,
        force_interactive=False,
    )
    findings = findings_of(report)
    console.print(
        Text.assemble(
            (f"{TOOL_NAME} {report.command}", "bold"),
            f" · environment {report.environment} · policy {report.policy_version}"
            f" · {TOOL_NAME} {report.tool_version}",
        )
    )
    groups = group_by_resource(findings)
    labels = resource_labels(report, groups)
    for resource, group in groups.items():
        type_, name = labels[resource]
        console.print()
        console.print(Text.assemble((type_, "dim"), " ", (name, "bold")))
        console.print(_table(group))
    if not findings:
        console.print()
        console.print(Text("No findings."))
    if report.skipped:
        # A skipped rule is shown, never silently dropped (issue 18): a reader of the table sees
        # what the run did not judge before the verdict.
        console.print()
        console.print(Text("Skipped rules", style="bold"))
        for skipped in report.skipped:
            console.print(Text(f"  {skipped.text()}"))

    console.print()
    console.print(_summary(report, findings, len(groups)))
    # Rich pads every cell to the column width: no trailing blanks in logs and files.
    return "".join(f"{row.rstrip()}\n" for row in buffer.getvalue().splitlines())


def _summary(report: Report, findings: list[Finding], resources: int) -> Text:
    outcome = verdict_text(report, findings)
    line = Text.assemble(
        (outcome, "bold red" if outcome.startswith("FAIL") else "bold green"),
        f": {counts_text(summarize(findings))} {scope_text(report, resources)}",
    )
    if report.duration_seconds is not None:
        line.append(f" in {report.duration_seconds:.1f} s")
    tuned = tuning_text(report)
    if tuned:
        line.append(f" · {tuned}")
    return line


def summary_line(report: Report) -> str:
    """The table's last line (`PASS: 0 mandatory, 2 advisory on 1 resource (...) in 3.1 s`),
    for the console when the report itself goes to a file."""
    findings = findings_of(report)
    return _summary(report, findings, len(group_by_resource(findings))).plain


def _table(findings: list[Finding]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("Rule", no_wrap=True)
    table.add_column("Enforcement", no_wrap=True)
    table.add_column("Message", ratio=3, overflow="fold")
    table.add_column("Fix", ratio=2, overflow="fold")
    for finding in findings:
        table.add_row(
            Text(finding.rule),
            _enforcement(finding),
            Text(finding.message),
            Text(fix_text(finding), style="dim"),
        )
    return table


def _enforcement(finding: Finding) -> Text:
    if finding.enforcement is Enforcement.MANDATORY:
        return Text("mandatory", style="bold red")
    text = Text(finding.enforcement.value, style="yellow")
    if finding.exception:
        text.append(f"\n{finding.exception}", style="yellow dim")
    return text
