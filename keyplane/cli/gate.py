"""`keyplane preview` and `keyplane scan`: the gate's commands (`keyplane.gate` does the work).

`preview` renders an environment offline and judges it; `scan` judges what the real Pulumi CLI
wrote. Both report through `keyplane.reports` in a `ReportFormat` and exit 1 on a mandatory
finding, 2 on bad input (an invalid estate, an unknown environment, a pack or checkov that
cannot run).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    console_style,
    fail_bad_input,
    load_estate_or_exit,
    parse_day,
    stderr,
)
from keyplane.config import ConfigError
from keyplane.findings import has_mandatory
from keyplane.reports.formats import ReportFormat

if TYPE_CHECKING:
    from keyplane.gate import GateResult


FormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")]
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


def preview(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    estate: EstateOption = DEFAULT_ESTATE,
    format: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Render the stack offline and judge it: CrossGuard pack, checkov, file-level rules."""
    began = time.monotonic()
    from keyplane.gate import RenderError  # noqa: PLC0415 - loads the Pulumi SDK
    from keyplane.gate import preview as run_preview  # noqa: PLC0415

    today = parse_day(as_of)
    loaded = load_estate_or_exit(estate)
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
        began=began,
    )


def scan(
    file: Annotated[
        Path, typer.Argument(help="JSON of `pulumi preview --json` or `pulumi stack export`.")
    ],
    env: Annotated[
        str | None,
        typer.Option("--env", help="Environment the stack deploys (default: the stack's name)."),
    ] = None,
    estate: EstateOption = DEFAULT_ESTATE,
    format: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Judge what the real Pulumi CLI wrote, with or without keyplane's components."""
    began = time.monotonic()
    from keyplane.engines.checkov.secrets import file_scope  # noqa: PLC0415
    from keyplane.gate import judge  # noqa: PLC0415
    from keyplane.pulumi_json import load_pulumi_json  # noqa: PLC0415

    today = parse_day(as_of)
    try:
        state = load_pulumi_json(file)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
        return
    read = time.monotonic() - began
    environment = env or state.stack
    if not environment:
        fail_bad_input([f"{file}: no resources name their stack; pass --env ENV"])
    loaded = load_estate_or_exit(estate) if estate.is_dir() else None
    if env is not None and loaded is not None and env not in loaded.environments:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input(
            [f"--env: no environment {env!r} in {estate} (known: {known}); pass one of them"]
        )
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
                stack_values=state.stack_values,
                repository=file_scope(file),
            )
        except _tool_errors() as err:
            fail_bad_input([str(err)])
            return
    result.timings = {"read": read, **result.timings}
    env_file = estate / f"{environment}.yaml"
    _finish(
        result,
        "scan",
        format,
        output,
        emit_plan,
        environment_file=str(env_file if env_file.exists() else file),
        began=began,
    )


def _tool_errors() -> tuple[type[Exception], ...]:
    from keyplane.engines.checkov.runner import CheckovError  # noqa: PLC0415
    from keyplane.engines.crossguard.harness import PackError  # noqa: PLC0415

    return (CheckovError, PackError)


@contextmanager
def _progress(format: ReportFormat) -> Iterator[Callable[[str], None]]:
    """Stage messages on a terminal, for the human format only (never in machine formats)."""
    if format is not ReportFormat.TABLE or not stderr.is_terminal:
        yield lambda _: None
        return
    with stderr.status("keyplane: starting") as status:
        yield lambda message: status.update(f"keyplane: {message}")


def _finish(
    result: GateResult,
    command: str,
    format: ReportFormat,
    output: Path | None,
    emit_plan: Path | None,
    *,
    environment_file: str,
    began: float,
) -> None:
    """Write the report and exit. Its duration is the command's wall time up to the report
    (`began`: `time.monotonic()` at the command's start); stages overlap, so their seconds are
    reported beside it, not added up."""
    from keyplane.reports import Report, summary_line, write_atomic, write_report  # noqa: PLC0415

    report = Report(
        findings=result.findings,
        resources=result.resources,
        environment=result.environment,
        command=command,
        checked_rules=result.checked_rules,
        environment_file=environment_file,
        source_root=str(Path.cwd()),
        duration_seconds=time.monotonic() - began,
        stage_seconds=result.timings,
    )
    try:
        if emit_plan is not None and result.plan is not None:
            write_atomic(emit_plan, json.dumps(result.plan.plan, indent=2) + "\n")
        color, width = console_style()
        text = write_report(report, format, output, color=color, width=width)
    except OSError as err:
        fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
        return
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        # The report went to a file: the console still gets the verdict line.
        sys.stdout.write(f"{summary_line(report)} (report: {output})\n")
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(result.findings) else EXIT_CLEAN)
