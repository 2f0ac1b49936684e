"""The `keyplane` command line. Exit codes: 0 clean, 1 mandatory violations, 2 bad input or usage."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keyplane.catalog_docs import rules_json, rules_markdown
from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    fail_bad_input,
    parse_day,
    stderr,
    stdout,
)
from keyplane.config import ConfigError, Estate, load_estate
from keyplane.findings import Finding, has_mandatory, summarize
from keyplane.rules.catalog import RULES
from keyplane.rules.files import config_findings

if TYPE_CHECKING:
    from keyplane.gate import GateResult


app = typer.Typer(
    name="keyplane",
    help="Cryptographic key management policy as Pulumi components and deploy-time guard rails.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class RulesFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


class ValidateFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


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
            table.add_row(rule.id, rule.title, rule.source, rule.severity.value, rule.enforced_text)
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


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format.")]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report to FILE (atomically) instead of stdout."),
]
NoCheckovOption = Annotated[
    bool,
    typer.Option("--no-checkov", help="Skip checkov (CrossGuard and the file-level rules only)."),
]
EmitPlanOption = Annotated[
    Path | None,
    typer.Option(
        "--emit-plan",
        help="Also write the Terraform-plan JSON form, for any Terraform-plan scanner.",
    ),
]


@app.command()
def preview(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    estate: EstateOption = DEFAULT_ESTATE,
    format: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Render the stack offline and judge it: CrossGuard pack, checkov, file-level rules."""
    from keyplane.gate import RenderError  # noqa: PLC0415 - loads the Pulumi SDK
    from keyplane.gate import preview as run_preview  # noqa: PLC0415

    today = parse_day(as_of)
    loaded = _load_estate(estate)
    if environment not in loaded.environments:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input(
            [
                f"{estate / (environment + '.yaml')}: no such environment (known: {known}); pass an environment of --estate"
            ]
        )
    with _progress(format) as progress:
        try:
            result = run_preview(
                loaded, environment, today=today, run_checkov=not no_checkov, progress=progress
            )
        except RenderError as err:
            fail_bad_input(str(err).splitlines())
            return
        except _tool_errors() as err:
            fail_bad_input([str(err)])
            return
    _finish(
        result,
        "preview",
        format,
        output,
        emit_plan,
        environment_file=str(estate / f"{environment}.yaml"),
    )


@app.command()
def scan(
    file: Annotated[
        Path, typer.Argument(help="JSON of `pulumi preview --json` or `pulumi stack export`.")
    ],
    env: Annotated[
        str | None,
        typer.Option("--env", help="Environment the stack deploys (default: the stack's name)."),
    ] = None,
    estate: EstateOption = DEFAULT_ESTATE,
    format: FormatOption = OutputFormat.TABLE,
    output: OutputOption = None,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Judge what the real Pulumi CLI wrote, with or without keyplane's components."""
    from keyplane.gate import judge  # noqa: PLC0415
    from keyplane.pulumi_json import load_pulumi_json  # noqa: PLC0415

    today = parse_day(as_of)
    try:
        state = load_pulumi_json(file)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
        return
    environment = env or state.stack
    if not environment:
        fail_bad_input([f"{file}: no resources name their stack; pass --env ENV"])
    loaded = _load_estate(estate) if estate.is_dir() else None
    with _progress(format) as progress:
        try:
            result = judge(
                state.resources,
                environment=environment,
                estate=loaded,
                today=today,
                stack=state.stack or environment,
                project=state.project or "keyplane",
                run_checkov=not no_checkov,
                progress=progress,
            )
        except _tool_errors() as err:
            fail_bad_input([str(err)])
            return
    env_file = estate / f"{environment}.yaml"
    _finish(
        result,
        "scan",
        format,
        output,
        emit_plan,
        environment_file=str(env_file if env_file.exists() else file),
    )


def _load_estate(estate: Path) -> Estate:
    try:
        return load_estate(estate)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])


def _tool_errors() -> tuple[type[Exception], ...]:
    from keyplane.engines.checkov.runner import CheckovError  # noqa: PLC0415
    from keyplane.engines.crossguard.harness import PackError  # noqa: PLC0415

    return (CheckovError, PackError)


@contextmanager
def _progress(format: OutputFormat) -> Iterator[Callable[[str], None]]:
    """Stage messages on a terminal, for the human format only (never in machine formats)."""
    if format is not OutputFormat.TABLE or not stderr.is_terminal:
        yield lambda _: None
        return
    with stderr.status("keyplane: starting") as status:
        yield lambda message: status.update(f"keyplane: {message}")


def _finish(
    result: GateResult,
    command: str,
    format: OutputFormat,
    output: Path | None,
    emit_plan: Path | None,
    *,
    environment_file: str,
) -> None:
    from keyplane.reports import Report, write_atomic, write_report  # noqa: PLC0415

    report = Report(
        findings=result.findings,
        resources=result.resources,
        environment=result.environment,
        command=command,
        checked_rules=result.checked_rules,
        environment_file=environment_file,
        source_root=str(Path.cwd()),
        duration_seconds=sum(result.timings.values()),
    )
    try:
        if emit_plan is not None and result.plan is not None:
            write_atomic(emit_plan, json.dumps(result.plan.plan, indent=2) + "\n")
        text = write_report(report, format, output, color=stdout.is_terminal)
    except OSError as err:
        fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
        return
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(result.findings) else EXIT_CLEAN)


def _finding_line(finding: Finding) -> str:
    where = (
        f"{finding.file}:{finding.line}: "
        if finding.file and finding.line
        else (f"{finding.file}: " if finding.file else "")
    )
    return f"{where}[{finding.enforcement.value}] {finding.message}"


def _register_commands() -> None:
    """Commands that live in modules of their own."""
    from keyplane.artefacts import docs  # noqa: PLC0415
    from keyplane.cli.diff import diff  # noqa: PLC0415
    from keyplane.engines.audit.aws import audit  # noqa: PLC0415

    app.command()(diff)
    app.command()(audit)
    app.command()(docs)


_register_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
