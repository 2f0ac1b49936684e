"""The `keyplane` command line: one typer app (`keyplane.cli.app`), one module per command group
(`rules`, `validate`, `gate` for preview and scan, `diff`, `audit`, `docs`), one prelude shared by
every command (`keyplane.cli.prelude`). Importing this package loads no command.

Exit codes: 0 clean, 1 mandatory violations, 2 bad input or usage, 3 an internal error (one line
on stderr naming the file that holds the traceback).
"""

from __future__ import annotations


def main() -> None:
    """The `keyplane` entry point."""
    from keyplane import collector, supervise  # noqa: PLC0415

    # Before anything starts a child: a signal ends keyplane with its children and temporary
    # files (exit 128 + signal), whatever the Pulumi SDK's event loop is doing.
    supervise.install_signal_handlers()
    from keyplane.cli.app import main as run  # noqa: PLC0415 - the commands load on use

    collector.tune()
    run()
