"""`keyplane validate`: the environment, exception and shared-service files, and the file-level
rules over them (exit 1 on a mandatory finding, 2 when a file is invalid)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    load_estate_or_exit,
    parse_day,
    stdout,
)
from keyplane.findings import Finding, has_mandatory, summarize
from keyplane.reports.formats import ValidateFormat
from keyplane.reports.model import plural
from keyplane.rules.files import config_findings


def validate(
    estate: EstateOption = DEFAULT_ESTATE,
    format: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ValidateFormat.TEXT,
    as_of: AsOfOption = None,
) -> None:
    """Check the environment, exception and shared-service files; report the file-level rules."""
    today = parse_day(as_of)
    loaded = load_estate_or_exit(estate)
    findings = config_findings(loaded, today)
    if format is ValidateFormat.JSON:
        print(
            json.dumps(
                {"findings": [f.to_json() for f in findings], "summary": summarize(findings)},
                indent=2,
            )
        )
    else:
        for finding in findings:
            stdout.print(finding_line(finding), markup=False)
        envs = ", ".join(loaded.environments)
        counts = summarize(findings)
        stdout.print(
            f"{estate}: {plural(len(loaded.environments), 'environment')} ({envs}), "
            f"{plural(len(loaded.exceptions), 'exception')}, "
            f"{plural(len(loaded.shared_keys), 'shared key')}: valid; "
            f"{counts['mandatory']} mandatory and {counts['advisory']} advisory "
            f"{'finding' if counts['total'] == 1 else 'findings'}.",
            markup=False,
        )
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(findings) else EXIT_CLEAN)


def finding_line(finding: Finding) -> str:
    """`file:line: [enforcement] message`, as compilers print a diagnostic."""
    where = (
        f"{finding.file}:{finding.line}: "
        if finding.file and finding.line
        else (f"{finding.file}: " if finding.file else "")
    )
    return f"{where}[{finding.enforcement.value}] {finding.message}"
