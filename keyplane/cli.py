"""The `keyplane` command line. Exit codes: 0 clean, 1 mandatory violations, 2 bad input or usage."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from keyplane.catalog_docs import rules_json, rules_markdown
from keyplane.config import ConfigError, load_estate
from keyplane.config.checks import config_findings
from keyplane.findings import Finding, has_mandatory, summarize
from keyplane.rules.catalog import RULES

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_ESTATE = Path("environments")

app = typer.Typer(
    name="keyplane",
    help="Cryptographic key management policy as Pulumi components and deploy-time guard rails.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


class RulesFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class ValidateFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


EstateOption = Annotated[
    Path,
    typer.Option(
        "--estate", help="Directory of <env>.yaml, exceptions.yaml, shared-services.yaml."
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Judge dates (expiry, rotate-by, review) as of this day, YYYY-MM-DD; default today.",
    ),
]


def fail_bad_input(lines: list[str]) -> None:
    for line in lines:
        stderr.print(line, markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def parse_day(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail_bad_input([f"--as-of: not a date (got {value!r}); write YYYY-MM-DD"])
        raise  # pragma: no cover - fail_bad_input exits


@app.command()
def rules(
    format: Annotated[
        RulesFormat, typer.Option("--format", "-f", help="Output format.")
    ] = RulesFormat.TABLE,
) -> None:
    """Print the rule catalog as enforced."""
    if format is RulesFormat.JSON:
        print(rules_json())
    elif format is RulesFormat.MARKDOWN:
        print(rules_markdown(), end="")
    else:
        table = Table(title=f"keyplane rules ({len(RULES)})", show_lines=False)
        for column in ("ID", "Rule", "Source", "Severity", "Points"):
            table.add_column(column, overflow="fold")
        for rule in RULES.values():
            table.add_row(rule.id, rule.title, rule.source, rule.severity.value, rule.points_text)
        stdout.print(table)


@app.command()
def validate(
    estate: EstateOption = DEFAULT_ESTATE,
    format: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ValidateFormat.TEXT,
    as_of: AsOfOption = None,
) -> None:
    """Check the environment, exception and shared-service files; report the file-level rules."""
    today = parse_day(as_of)
    try:
        loaded = load_estate(estate)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
        return
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
            stdout.print(_finding_line(finding), markup=False)
        envs = ", ".join(loaded.environments)
        stdout.print(
            f"{estate}: {len(loaded.environments)} environments ({envs}), {len(loaded.exceptions)} exceptions, "
            f"{len(loaded.shared_keys)} shared keys: valid; "
            f"{summarize(findings)['mandatory']} mandatory and {summarize(findings)['advisory']} advisory findings.",
            markup=False,
        )
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(findings) else EXIT_CLEAN)


def _finding_line(finding: Finding) -> str:
    where = (
        f"{finding.file}:{finding.line}: "
        if finding.file and finding.line
        else (f"{finding.file}: " if finding.file else "")
    )
    return f"{where}[{finding.enforcement.value}] {finding.message}"


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
