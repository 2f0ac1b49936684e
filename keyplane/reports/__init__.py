"""The report formats of `keyplane preview`, `scan` and `audit`: one pure function per format.

Every function takes the same `Report` and returns text; `write_report` puts that text in a file
(atomically) or hands it back for standard output.
"""

from __future__ import annotations

from pathlib import Path
from typing import overload

from keyplane.output import write_output
from keyplane.reports.findings_json import json_document, json_report
from keyplane.reports.formats import ReportFormat
from keyplane.reports.junit import junit_report
from keyplane.reports.markdown import markdown_report
from keyplane.reports.model import Report, ResourceRecord
from keyplane.reports.sarif import sarif_document, sarif_report
from keyplane.reports.table import DEFAULT_WIDTH, summary_line, table_report

__all__ = [
    "Report",
    "ReportFormat",
    "ResourceRecord",
    "html_report",
    "json_document",
    "json_report",
    "junit_report",
    "markdown_report",
    "render_report",
    "sarif_document",
    "sarif_report",
    "summary_line",
    "table_report",
    "write_atomic",
    "write_report",
]


def html_report(report: Report) -> str:
    """`keyplane.reports.html.html_report`, imported when an HTML report is asked for: its
    template engine and Markdown parser (jinja2, markdown-it) took 56 ms of every command's
    start-up."""
    from keyplane.reports.html import html_report as render  # noqa: PLC0415

    return render(report)


#: Mode of a report file that did not exist before (one that did keeps its own).


def render_report(
    report: Report, fmt: ReportFormat | str, *, color: bool = False, width: int | None = None
) -> str:
    """The report in format `fmt`; `color` (ANSI colours) and `width` (columns; default 120)
    only matter to the table."""
    match ReportFormat(fmt):
        case ReportFormat.TABLE:
            return table_report(report, color=color, width=width or DEFAULT_WIDTH)
        case ReportFormat.JSON:
            return json_report(report)
        case ReportFormat.SARIF:
            return sarif_report(report)
        case ReportFormat.JUNIT:
            return junit_report(report)
        case ReportFormat.MARKDOWN:
            return markdown_report(report)
        case ReportFormat.HTML:
            return html_report(report)


@overload
def write_report(
    report: Report,
    fmt: ReportFormat | str,
    output: None,
    *,
    color: bool = ...,
    width: int | None = ...,
) -> str: ...
@overload
def write_report(
    report: Report,
    fmt: ReportFormat | str,
    output: Path,
    *,
    color: bool = ...,
    width: int | None = ...,
) -> None: ...
def write_report(
    report: Report,
    fmt: ReportFormat | str,
    output: Path | None,
    *,
    color: bool = False,
    width: int | None = None,
) -> str | None:
    """Write the report to `output`, or return its text for standard output when `output` is None.

    The file is written beside its final place and renamed over it, so a reader never sees half
    a report and a failure (while rendering or writing) leaves any previous file untouched and no
    temporary file behind. Files never get colour codes.
    """
    if output is None:
        return render_report(report, fmt, color=color, width=width)
    write_atomic(output, render_report(report, fmt, color=False))
    return None


def write_atomic(output: Path, text: str) -> None:
    """Write `text` to `output` without clobbering it (`keyplane.output.write_output`): regular
    files atomically, symlinks through to their target, devices and FIFOs in place."""
    write_output(output, text)
