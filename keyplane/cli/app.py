"""The `keyplane` command line: one typer app, one module per command group.

- `keyplane.cli.rules` (`rules`), `validate` (`validate`), `gate` (`preview`, `scan`),
  `diff` (`diff`), `audit` (`audit`), `docs` (`docs`), `report` (`report`); `keyplane.cli.prelude` holds what they
  share (options, exit codes, loading the estate).
- Exit codes: 0 clean, 1 mandatory violations, 2 bad input or usage, 3 an internal error.
  `KeyplaneGroup` makes that hold for every command: a usage error (unknown option, missing
  argument, bad choice) is one line plus where to find `--help`, exit 2, instead of click's
  multi-line box; any exception a command lets escape is a crash (`prelude.crash_exit`: one line
  naming the traceback file, exit 3), never exit 1, which means "violations".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer

# typer 0.29 vendors click as typer._click: its exceptions are not the `click` package's.
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from keyplane.cli.audit import audit
from keyplane.cli.diff import diff
from keyplane.cli.docs import docs
from keyplane.cli.gate import preview, scan
from keyplane.cli.init import init
from keyplane.cli.pack import pack_app
from keyplane.cli.prelude import (
    EXIT_BAD_INPUT,
    EXIT_CLEAN,
    EXIT_CODES_HELP,
    crash_exit,
)
from keyplane.cli.report import report
from keyplane.cli.respond import respond
from keyplane.cli.restore_test import restore_test
from keyplane.cli.rules import rules
from keyplane.cli.validate import validate
from keyplane.config.errors import ConfigError
from keyplane.engines.audit.aws import DEFAULT_TIMEOUT_SECONDS

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code when the reader of standard output went away (`keyplane rules | head -1`): what a
#: shell reports for a process killed by SIGPIPE (128 + 13). Never 0 (the report was not read
#: whole, so a gate must not pass on it) and never 1 (that means violations).
EXIT_BROKEN_PIPE = 141


class KeyplaneGroup(TyperGroup):
    """The app's click group: keyplane's exit codes whatever happens inside a command."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(
                args=argv,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            sys.stdout.flush()  # inside the try: a reader gone away is seen here, not at exit
        except (BrokenPipeError, _ReaderGone):
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except click_errors.NoArgsIsHelpError as err:
            err.show()
            sys.exit(EXIT_BAD_INPUT)
        except click_errors.UsageError as err:
            path = err.ctx.command_path if err.ctx is not None else "keyplane"
            message = " ".join(err.format_message().split()).rstrip(".")
            sys.stderr.write(f"{path}: {message}; see '{path} --help'\n")
            sys.exit(EXIT_BAD_INPUT)
        except (
            click_errors.ClickException
        ) as err:  # a file option that cannot be opened, and the like
            sys.stderr.write(f"keyplane: {' '.join(err.format_message().split())}\n")
            sys.exit(EXIT_BAD_INPUT)
        except typer.Abort:
            sys.stderr.write("keyplane: interrupted\n")
            sys.exit(EXIT_INTERRUPTED)
        except ConfigError as err:  # a file read on the way (a stack configuration): bad input
            sys.stderr.write("".join(f"{problem}\n" for problem in err.problems))
            sys.exit(EXIT_BAD_INPUT)
        except Exception as err:  # every escaped exception is a crash: exit 3
            crash_exit(err, self._command_of(argv))
        sys.exit(code if isinstance(code, int) else EXIT_CLEAN)

    def invoke(self, ctx: Any) -> Any:
        # click turns EPIPE into exit 1 ("violations"): take it out of click's hands.
        try:
            return super().invoke(ctx)
        except BrokenPipeError as err:
            raise _ReaderGone from err

    def _command_of(self, argv: Sequence[str]) -> str:
        """`keyplane <command>` for the crash line: the first argument naming a command."""
        name = next((a for a in argv if a in self.commands), None)
        return f"keyplane {name}" if name else "keyplane"


class _ReaderGone(Exception):
    """Standard output's reader went away (EPIPE), carried past click's own EPIPE handling."""


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's final flush of what is
    still buffered does not raise BrokenPipeError again (Python's documented recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


app = typer.Typer(
    name="keyplane",
    cls=KeyplaneGroup,
    help="Cryptographic key management policy as Pulumi components and deploy-time guard "
    f"rails. {EXIT_CODES_HELP} The live audit runs under one deadline (`audit --timeout`, "
    f"default {DEFAULT_TIMEOUT_SECONDS:g} s): what it has not read by then is reported "
    "unverifiable, exit 1 when a mandatory rule is left unknown.",
    no_args_is_help=True,
    # `keyplane --install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from keyplane import __version__  # noqa: PLC0415

        print(f"keyplane {__version__}")
        raise typer.Exit(EXIT_CLEAN)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Cryptographic key management policy as Pulumi components and deploy-time guard rails."""


app.command()(rules)
app.command()(init)
app.command()(validate)
app.command()(preview)
app.command()(scan)
app.command()(diff)
app.command()(audit)
app.command()(docs)
app.command()(report)
app.command()(respond)
app.command("restore-test")(restore_test)
app.add_typer(pack_app, name="pack")


def main() -> None:
    """The `keyplane` entry point: runs the app and exits with its code."""
    app()


if __name__ == "__main__":
    main()
