"""The `keyplane` command line: one typer app (`keyplane.cli.app`), one prelude shared by every
command (`keyplane.cli.prelude`). Importing this package loads no command."""

from __future__ import annotations


def main() -> None:
    """The `keyplane` entry point."""
    from keyplane.cli.app import main as run  # noqa: PLC0415 - the commands load on use

    run()
