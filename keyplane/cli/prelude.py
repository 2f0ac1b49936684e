"""What every `keyplane` command shares: exit codes, consoles, common options, loading the
estate, and the two ways a command ends badly.

- Bad input (a file, a field, an option value): `fail_bad_input`, one line per problem on
  stderr, exit 2. `load_estate_or_exit` loads the estate that way.
- An internal error (a bug, never a verdict): `crash_exit`, one line on stderr naming a file
  that holds the traceback, exit 3. The app (`keyplane.cli.app`) calls it for any exception a
  command lets escape.

Command modules (`keyplane.cli.rules`, `validate`, `gate`, `diff`, `audit`, `docs`) import from
here, never from each other.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from keyplane.config import ConfigError, Estate
from keyplane.estate import load_estate
from keyplane.findings import Finding
from keyplane.rules.frameworks import Framework, select_framework

#: Exit codes (DESIGN.md "Command line"): a crash must never read as a policy verdict.
EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR = 0, 1, 2, 3
EXIT_CODES_HELP = (
    "Exit codes: 0 clean; 1 mandatory violations; 2 bad input or usage; 3 internal error "
    "(stderr names a file holding the traceback)."
)
DEFAULT_ESTATE = Path("environments")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True, highlight=False)


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
FrameworkOption = Annotated[
    Framework | None,
    typer.Option(
        "--framework",
        help="Show the findings of the rules mapped to this framework's controls (and every "
        "mandatory finding: the verdict and exit code do not change).",
    ),
]


def framework_view(
    findings: Sequence[Finding], framework: Framework | None
) -> tuple[list[Finding], str | None]:
    """The findings a report shows under `--framework` (`keyplane.rules.frameworks`: the
    framework's rules, and every mandatory finding), and the note saying what the view leaves
    out, also printed on stderr; all of them and no note without the option."""
    if framework is None:
        return list(findings), None
    view = select_framework(findings, framework)
    note = view.note()
    if note is not None:
        stderr.print(f"keyplane: {note}", markup=False)
    return list(view.shown), note


def console_style() -> tuple[bool, int | None]:
    """(colour, width) for a report printed on standard output: colour on a terminal unless
    NO_COLOR is set (https://no-color.org), the terminal's width (at least 80 columns); no
    colour and the default width when the output is a pipe or a file."""
    if not stdout.is_terminal:
        return False, None
    return not os.environ.get("NO_COLOR"), max(80, stdout.size.width)


def fail_bad_input(lines: list[str]) -> NoReturn:
    """Print each line on stderr and exit 2 (bad input)."""
    for line in lines:
        stderr.print(line, markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def parse_day(value: str | None) -> date:
    """`--as-of` as a date (today when None); exits 2 on anything but YYYY-MM-DD."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail_bad_input([f"--as-of: not a date (got {value!r}); write YYYY-MM-DD"])


def load_estate_or_exit(estate: Path) -> Estate:
    """The estate in directory `estate`; exits 2 with one line per problem when it is invalid."""
    try:
        return load_estate(estate)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])


def crash_exit(err: BaseException, command: str) -> NoReturn:
    """Exit 3 for an unexpected exception: the full traceback goes to a new file in the temp
    directory (`$TMPDIR/keyplane-crash-<UTC time>-<pid>-<random>.txt`, created exclusively, mode
    0600), and one line on stderr says what failed and where that file is."""
    what = " ".join(f"{type(err).__name__}: {err}".split())
    if len(what) > 300:
        what = what[:299] + "…"
    try:
        path = _write_traceback(err, command)
        where = f"traceback in {path}"
    except OSError as write_err:
        where = f"the traceback could not be saved ({write_err.strerror or write_err})"
    sys.stderr.write(
        f"{command}: internal error, not a verdict: {what}; {where}; please report it\n"
    )
    sys.stderr.flush()
    raise SystemExit(EXIT_INTERNAL_ERROR)


def _write_traceback(err: BaseException, command: str) -> str:
    from keyplane import __version__  # noqa: PLC0415 - only when crashing

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    descriptor, path = tempfile.mkstemp(
        prefix=f"keyplane-crash-{stamp}-{os.getpid()}-", suffix=".txt"
    )
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(f"keyplane {__version__}, Python {sys.version.split()[0]}\n")
        stream.write(f"command: {command}\nargv: {sys.argv!r}\n\n")
        stream.write("".join(traceback.format_exception(err)))
    return path
