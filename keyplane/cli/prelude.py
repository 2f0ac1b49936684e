"""What every `keyplane` command shares: exit codes, consoles, common options, bad-input exits.

Commands live in `keyplane.cli` or in modules of their own (`keyplane.diff`, `keyplane.engines.audit.aws`...)
that `keyplane.cli` registers; both import from here, never from each other.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2
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


def fail_bad_input(lines: list[str]) -> NoReturn:
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
