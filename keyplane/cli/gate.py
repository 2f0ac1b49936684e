"""`keyplane preview` and `keyplane scan`: the gate's commands (`keyplane.gate` does the work).

`preview` renders an environment offline and judges it; `scan` judges what the real Pulumi CLI
wrote. Both report through `keyplane.reports`: the console form (`--format`) and any number of
report files in one run (`keyplane.cli.reporting`), tuned by `--policy-config`, `--skip-check`,
`--check`, `--fail-on`, `--soft-fail` and the project file (`keyplane.tuning`). Exit 1 on a
finding that fails the run (unless `--soft-fail`), 2 on bad input (an invalid estate, an unknown
environment, a destination that cannot be written, a pack or checkov that cannot run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    FrameworkOption,
    fail_bad_input,
    framework_view,
    load_estate_or_exit,
    parse_day,
    stderr,
)
from keyplane.cli.reporting import (
    CheckOption,
    Destinations,
    FailOnOption,
    HtmlOption,
    JsonOption,
    JunitOption,
    MarkdownOption,
    PolicyConfigOption,
    QuietOption,
    SarifOption,
    SkipCheckOption,
    SoftFailOption,
    StackConfigOption,
    emit,
    load_project_defaults,
    plan_destinations,
    resolve_estate,
    resolve_stack_config,
    resolve_tuning,
)
from keyplane.config import ConfigError, Estate
from keyplane.locations import repository_root
from keyplane.output import OutputError, check_destination
from keyplane.reports.formats import ReportFormat
from keyplane.rules.frameworks import Framework, rules_of
from keyplane.tuning import Tuning

if TYPE_CHECKING:
    from keyplane.gate import GateResult


FormatOption = Annotated[
    ReportFormat, typer.Option("--format", "-f", help="Console report format.")
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the console report to FILE instead (the summary line stays)."
    ),
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


def _destinations(
    format: ReportFormat,
    output: Path | None,
    quiet: bool,
    emit_plan: Path | None,
    files: dict[str, Path | None],
) -> Destinations:
    planned = plan_destinations(console=format.value, output=output, files=files, quiet=quiet)
    if emit_plan is not None:
        try:
            check_destination(emit_plan)
        except OutputError as err:
            advice = "" if ";" in str(err) else "; choose another file"
            fail_bad_input([f"--emit-plan: {err}{advice}"])
    return planned


def preview(
    ctx: typer.Context,
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    estate: EstateOption = DEFAULT_ESTATE,
    format: FormatOption = ReportFormat.TABLE,
    output: OutputOption = None,
    json_file: JsonOption = None,
    sarif: SarifOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    html: HtmlOption = None,
    quiet: QuietOption = False,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
    policy_config: PolicyConfigOption = None,
    skip_check: SkipCheckOption = None,
    check: CheckOption = None,
    fail_on: FailOnOption = None,
    soft_fail: SoftFailOption = False,
    framework: FrameworkOption = None,
    stack_config: StackConfigOption = None,
) -> None:
    """Render the stack offline and judge it: CrossGuard pack, checkov, file-level rules."""
    began = time.monotonic()
    from keyplane.gate import RenderError  # noqa: PLC0415 - loads the Pulumi SDK
    from keyplane.gate import preview as run_preview  # noqa: PLC0415

    today = parse_day(as_of)
    defaults = load_project_defaults()
    estate = resolve_estate(ctx, estate, defaults)
    tuning = resolve_tuning(
        ctx,
        defaults,
        policy_config=policy_config,
        skip_check=skip_check,
        check=check,
        fail_on=fail_on,
        soft_fail=soft_fail,
    )
    stack_dir = resolve_stack_config(stack_config, defaults)
    destinations = _destinations(
        format,
        output,
        quiet,
        emit_plan,
        {"json": json_file, "sarif": sarif, "junit": junit, "markdown": markdown, "html": html},
    )
    loaded = load_estate_or_exit(estate)
    if environment not in loaded.environments:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input(
            [
                f"{estate / (environment + '.yaml')}: no such environment (known: {known}); pass an environment of --estate"
            ]
        )
    with _progress(format, quiet) as progress:
        try:
            result = run_preview(
                loaded,
                environment,
                today=today,
                run_checkov=not no_checkov,
                progress=progress,
                stack_config_dir=stack_dir,
                levels=tuning.pack_config(),
                keep_plan=emit_plan is not None,
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
        destinations,
        emit_plan,
        tuning,
        environment_file=str(estate / f"{environment}.yaml"),
        began=began,
        framework=framework,
        estate=loaded,
        today=today,
    )


def scan(
    ctx: typer.Context,
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
    json_file: JsonOption = None,
    sarif: SarifOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    html: HtmlOption = None,
    quiet: QuietOption = False,
    no_checkov: NoCheckovOption = False,
    emit_plan: EmitPlanOption = None,
    as_of: AsOfOption = None,
    policy_config: PolicyConfigOption = None,
    skip_check: SkipCheckOption = None,
    check: CheckOption = None,
    fail_on: FailOnOption = None,
    soft_fail: SoftFailOption = False,
    framework: FrameworkOption = None,
) -> None:
    """Judge what the real Pulumi CLI wrote, with or without keyplane's components."""
    began = time.monotonic()
    from keyplane.engines.checkov.secrets import file_scope  # noqa: PLC0415
    from keyplane.gate import CrossGuardStage, judge  # noqa: PLC0415
    from keyplane.pulumi_json import load_pulumi_json, peek_names, read_pulumi_json  # noqa: PLC0415

    today = parse_day(as_of)
    defaults = load_project_defaults()
    estate = resolve_estate(ctx, estate, defaults)
    tuning = resolve_tuning(
        ctx,
        defaults,
        policy_config=policy_config,
        skip_check=skip_check,
        check=check,
        fail_on=fail_on,
        soft_fail=soft_fail,
    )
    destinations = _destinations(
        format,
        output,
        quiet,
        emit_plan,
        {"json": json_file, "sarif": sarif, "junit": junit, "markdown": markdown, "html": html},
    )

    def start_pack(
        within: ExitStack, environment: str, stack: str, project: str, resources: int
    ) -> CrossGuardStage:
        return within.enter_context(
            CrossGuardStage.before_estate(
                environment=environment,
                today=today,
                stack=stack or environment,
                project=project or "keyplane",
                levels=tuning.pack_config(),
                resources=resources,
            )
        )

    with ExitStack() as running:
        guessed = running.enter_context(ExitStack())
        try:
            raw = read_pulumi_json(file)
            # The pack starts now, for the stack the file's first URN names: its start-up
            # overlaps the parsing (0.4 s at 9,919 resources) and the reading of the estate,
            # which configures it.
            names = peek_names(raw)
            early = start_pack(guessed, env or names[1], names[1], names[0], 0) if names else None
            state = load_pulumi_json(file, raw)
        except ConfigError as err:
            fail_bad_input([str(p) for p in err.problems])
            return
        read = time.monotonic() - began
        environment = env or state.stack
        if not environment:
            fail_bad_input([f"{file}: no resources name their stack; pass --env ENV"])
        wanted = (environment, state.stack or environment, state.project or "keyplane")
        if early is not None and early.started_for == wanted:
            stage = early
            stage.more_packs(len(state.resources))
        else:  # the first URN did not name the file's stack: a pack for the right one
            guessed.close()
            stage = start_pack(
                running, environment, state.stack, state.project, len(state.resources)
            )
        loaded = load_estate_or_exit(estate) if estate.is_dir() else None
        if env is not None and loaded is not None and env not in loaded.environments:
            known = ", ".join(sorted(loaded.environments))
            fail_bad_input(
                [f"--env: no environment {env!r} in {estate} (known: {known}); pass one of them"]
            )
        stage.configure(loaded)
        stage.feed(state.resources)
        with _progress(format, quiet) as progress:
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
                    crossguard_stage=stage,
                    stack_values=state.stack_values,
                    repository=file_scope(file),
                    keep_plan=emit_plan is not None,
                )
            except _tool_errors() as err:
                fail_bad_input([str(err)])
                return
    result.timings = {"read": read, **result.timings}
    if loaded is None or environment not in loaded.environments:
        # No environment file to point at: each finding points at its resource in the file.
        from keyplane.rules.locate import locate_in_file  # noqa: PLC0415

        result.findings = locate_in_file(result.findings, str(file), state.urn_lines)
    env_file = estate / f"{environment}.yaml"
    _finish(
        result,
        "scan",
        destinations,
        emit_plan,
        tuning,
        environment_file=str(env_file if env_file.exists() else file),
        began=began,
        framework=framework,
        estate=loaded,
        today=today,
    )


def _tool_errors() -> tuple[type[Exception], ...]:
    from keyplane.engines.checkov.runner import CheckovError  # noqa: PLC0415
    from keyplane.engines.crossguard.harness import PackError  # noqa: PLC0415
    from keyplane.render_shards import ShardFailure  # noqa: PLC0415

    return (CheckovError, PackError, ShardFailure)


@contextmanager
def _progress(format: ReportFormat, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Stage messages on a terminal, for the human format only (never in machine formats)."""
    if format is not ReportFormat.TABLE or quiet or not stderr.is_terminal:
        yield lambda _: None
        return
    with stderr.status("keyplane: starting") as status:
        yield lambda message: status.update(f"keyplane: {message}")


def _finish(
    result: GateResult,
    command: str,
    destinations: Destinations,
    emit_plan: Path | None,
    tuning: Tuning,
    *,
    environment_file: str,
    began: float,
    framework: Framework | None = None,
    estate: Estate | None = None,
    today: date | None = None,
) -> None:
    """Write the reports and exit. Its duration is the command's wall time up to the report
    (`began`: `time.monotonic()` at the command's start); stages overlap, so their seconds are
    reported beside it, not added up. `--framework` narrows what the reports show, never the
    exit code; the HTML report gets the environment's dossier when the estate declares it."""
    from keyplane.reports import Report, render_report, summary_line, write_atomic  # noqa: PLC0415
    from keyplane.reports.dossier import dossier_of  # noqa: PLC0415
    from keyplane.reports.model import verdict  # noqa: PLC0415

    findings, skipped = tuning.apply(result.findings)
    shown, note = framework_view(findings, framework)
    checked = tuning.checked(result.checked_rules)
    if framework is not None:
        checked = [r for r in checked if r in rules_of(framework)]
    env = estate.environments.get(result.environment) if estate is not None else None
    wants_html = destinations.console == ReportFormat.HTML.value or any(
        fmt == ReportFormat.HTML.value for fmt, _ in destinations.files
    )
    dossier = None
    if wants_html and estate is not None and env is not None:
        dossier = dossier_of(
            estate,
            env,
            as_of=today or date.today(),
            framework=framework.value if framework else None,
            framework_note=note,
        )
    report = Report(
        findings=shown,
        resources=result.resources,
        environment=result.environment,
        command=command,
        checked_rules=checked,
        dossier=dossier,
        environment_file=environment_file,
        source_root=str(repository_root()),
        working_directory=str(Path.cwd()),
        duration_seconds=time.monotonic() - began,
        stage_seconds=result.timings,
        fail_on=tuning.fail_on,
        soft_fail=tuning.soft_fail,
        skipped=tuple(skipped),
        selected=tuning.only,
    )
    if emit_plan is not None and result.plan is not None:
        try:
            write_atomic(emit_plan, json.dumps(result.plan.plan, indent=2) + "\n")
        except OSError as err:
            fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
    emit(
        destinations,
        lambda fmt, color, width: render_report(report, fmt, color=color, width=width),
        summary_line(report),
    )
    # The verdict is the tuned findings', never the framework view's (it hides no mandatory
    # finding, but may hide an advisory one `--fail-on` counts).
    failed = verdict(findings, tuning.fail_on) == "FAIL"
    raise typer.Exit(EXIT_VIOLATIONS if failed and not tuning.soft_fail else EXIT_CLEAN)
