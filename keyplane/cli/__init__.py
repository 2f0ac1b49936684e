"""The `keyplane` command line: one typer app (`keyplane.cli.app`), one prelude shared by every
command (`keyplane.cli.prelude`). Importing this package loads no command."""

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
