"""One run, every report: the report options `preview`, `scan`, `audit` and `diff` share.

- `--format` sets the console form; `--output FILE` sends that form to a file instead;
  `--json`, `--sarif`, `--junit`, `--markdown` and `--html FILE` each add one report file, any
  number of them in one run. Every destination is checked before the run starts (a missing or
  unwritable directory is bad input, exit 2, before any work) and written through the one safe
  writer (`keyplane.output`).
- The console still ends with the summary line: the table ends with it; when the console form
  went to a file, or with `--quiet`, it is the only line; when standard output carries a
  machine format (JSON, SARIF...), the line goes to standard error, so that a pipe reads clean
  JSON and a CI log still shows the verdict.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from keyplane.cli.prelude import console_style, fail_bad_input
from keyplane.config.errors import ConfigError
from keyplane.output import OutputError, check_destination, write_output
from keyplane.rules.catalog import Severity
from keyplane.tuning import (
    ProjectDefaults,
    Tuning,
    check_ids,
    project_defaults,
    read_policy_config,
)


def _file_option(name: str, what: str) -> Any:
    option: Any = typer.Option(
        f"--{name}",
        metavar="FILE",
        help=f"Also write {what} to FILE (combinable).",
        show_default=False,
    )
    return option


JsonOption = Annotated[Path | None, _file_option("json", "the findings JSON")]
SarifOption = Annotated[Path | None, _file_option("sarif", "SARIF 2.1.0 (code scanning)")]
JunitOption = Annotated[Path | None, _file_option("junit", "JUnit XML (CI test reports)")]
MarkdownOption = Annotated[Path | None, _file_option("markdown", "Markdown (a PR comment)")]
HtmlOption = Annotated[Path | None, _file_option("html", "the HTML report (auditors)")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the summary line on the console.")
]
#: Console forms whose last line is the summary line.
_HUMAN_FORMATS = ("table", "text")


@dataclass(frozen=True)
class Destinations:
    """Where one run's reports go, checked before the run (`plan_destinations`)."""

    #: The console form (`--format`) and where it goes: standard output, or `output`.
    console: str
    output: Path | None
    #: (format, file) of each `--json`, `--sarif`... option given, in that order.
    files: tuple[tuple[str, Path], ...]
    quiet: bool = False


def plan_destinations(
    *,
    console: str,
    output: Path | None,
    files: Mapping[str, Path | None],
    quiet: bool = False,
) -> Destinations:
    """Check every destination before any work; exit 2 naming the option on the first that
    cannot be written (missing or unwritable directory, a directory, a socket), and on two
    options naming one file."""
    given = [(fmt, path) for fmt, path in files.items() if path is not None]
    named = [(f"--{fmt}", path) for fmt, path in given]
    if output is not None:
        named.insert(0, ("--output", output))
    seen: dict[str, str] = {}
    for option, path in named:
        try:
            check_destination(path)
        except OutputError as err:
            advice = "" if ";" in str(err) else "; choose another file"
            fail_bad_input([f"{option}: {err}{advice}"])
        real = os.path.realpath(path)
        if real in seen and not _is_stream(Path(real)):
            fail_bad_input(
                [f"{option}: {path} is also {seen[real]}'s file; give each report its own file"]
            )
        seen[real] = option
    return Destinations(console, output, tuple(given), quiet)


def _is_stream(path: Path) -> bool:
    """A device or FIFO (`/dev/stdout`): several reports may go to one."""
    import stat  # noqa: PLC0415

    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


# --- tuning ------------------------------------------------------------------------------------

PolicyConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--policy-config",
        metavar="FILE",
        help="JSON as for `pulumi preview --policy-pack-config`: per policy an enforcement "
        'level (advisory, mandatory, disabled) or {"enforcementLevel": ...}; `all` for every '
        "rule. Applied to every engine of the gate.",
        show_default=False,
    ),
]
SkipCheckOption = Annotated[
    list[str] | None,
    typer.Option(
        "--skip-check",
        metavar="ID",
        help="Do not report this check: a keyplane rule (KM-ROT-002) or a checkov check "
        "(CKV_AWS_7); repeatable. Skipped rules are listed in the report.",
        show_default=False,
    ),
]
CheckOption = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        metavar="ID",
        help="Report only these checks (keyplane or checkov IDs); repeatable.",
        show_default=False,
    ),
]
FailOnOption = Annotated[
    Severity | None,
    typer.Option(
        "--fail-on",
        help="Also fail on advisory findings of this severity or above (mandatory findings "
        "always fail).",
        show_default=False,
    ),
]
SoftFailOption = Annotated[
    bool,
    typer.Option(
        "--soft-fail/--no-soft-fail",
        help="Exit 0 even when the verdict is FAIL (the summary still says FAIL).",
    ),
]
StackConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--stack-config",
        metavar="DIR",
        help="Directory of the Pulumi.<env>.yaml stack files (default: the estate project's "
        "stackConfigDir, else its stacks/).",
        show_default=False,
    ),
]


def load_project_defaults() -> ProjectDefaults:
    """The project file's defaults (`.keyplane.yaml` or `[tool.keyplane]`); exit 2 when it is
    invalid."""
    try:
        return project_defaults()
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])


def given(ctx: typer.Context, name: str) -> bool:
    """Whether parameter `name` was given on the command line (or its environment variable),
    not left to its default."""
    from typer._click.core import ParameterSource  # noqa: PLC0415 - typer's vendored click

    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def resolve_tuning(
    ctx: typer.Context,
    defaults: ProjectDefaults,
    *,
    policy_config: Path | None,
    skip_check: list[str] | None,
    check: list[str] | None,
    fail_on: Severity | None,
    soft_fail: bool,
) -> Tuning:
    """The run's tuning: command-line options over the project file's defaults (the file's
    `skip-check` list is extended, not replaced). Exits 2 on an unknown check ID or an
    invalid `--policy-config` file, before any work."""
    try:
        skip = check_ids([*defaults.skip_check, *(skip_check or [])], "--skip-check")
        only = check_ids(check, "--check") if check else defaults.check
        config_file = policy_config or defaults.policy_config
        levels, excepted = read_policy_config(config_file) if config_file else ({}, {})
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
    return Tuning(
        levels=levels,
        excepted_levels=excepted,
        skip=skip,
        only=tuple(only),
        fail_on=fail_on if fail_on is not None else defaults.fail_on,
        soft_fail=soft_fail if given(ctx, "soft_fail") else bool(defaults.soft_fail),
    )


def resolve_estate(ctx: typer.Context, estate: Path, defaults: ProjectDefaults) -> Path:
    """`--estate` when given, else the project file's `estate`, else the default."""
    if not given(ctx, "estate") and defaults.estate is not None:
        return defaults.estate
    return estate


def resolve_stack_config(stack_config: Path | None, defaults: ProjectDefaults) -> Path | None:
    """`--stack-config` (else the project file's); exit 2 when it names no directory."""
    chosen = stack_config or defaults.stack_config
    if chosen is not None and not chosen.is_dir():
        source = (
            "--stack-config" if stack_config is not None else f"{defaults.source}: stack-config"
        )
        fail_bad_input(
            [f"{source}: {chosen} is not a directory; name the folder of Pulumi.<env>.yaml"]
        )
    return chosen


Render = Callable[[str, bool, "int | None"], str]


def emit(destinations: Destinations, render: Render, summary: str) -> None:
    """Write every report and the console's part.

    `render(fmt, color, width)` gives a report's text (files: no colour, the default width);
    `summary` is the verdict line. Exits 2 when a file cannot be written after all.
    """
    written: list[Path] = []
    try:
        for fmt, path in destinations.files:
            write_output(path, render(fmt, False, None))
            written.append(path)
        if destinations.output is not None:
            write_output(destinations.output, render(destinations.console, False, None))
            written.insert(0, destinations.output)
    except OSError as err:
        fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
    files = _files_note(written)
    if destinations.quiet or destinations.output is not None:
        sys.stdout.write(f"{summary}{files}\n")
        return
    color, width = console_style()
    text = render(destinations.console, color, width)
    if destinations.console in _HUMAN_FORMATS:
        # The table ends with the summary line: the files it wrote go at its end.
        sys.stdout.write(f"{text.rstrip()}{files}\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.write(f"{summary}{files}\n")


def _files_note(written: Sequence[Path]) -> str:
    if not written:
        return ""
    if len(written) == 1:
        return f" (report: {written[0]})"
    return f" (reports: {', '.join(str(p) for p in written)})"


__all__ = [
    "CheckOption",
    "Destinations",
    "FailOnOption",
    "HtmlOption",
    "JsonOption",
    "JunitOption",
    "MarkdownOption",
    "PolicyConfigOption",
    "QuietOption",
    "SarifOption",
    "SkipCheckOption",
    "SoftFailOption",
    "StackConfigOption",
    "emit",
    "plan_destinations",
]
