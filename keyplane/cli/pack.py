"""`keyplane pack build DIR`: a self-contained CrossGuard pack folder for `pulumi policy publish`
(the building itself is `keyplane.engines.crossguard.publish`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyplane.cli.prelude import EXIT_CLEAN, fail_bad_input
from keyplane.engines.crossguard.publish import PackBuildError, build_pack

pack_app = typer.Typer(
    help="The CrossGuard policy pack: build a self-contained folder to publish.",
    no_args_is_help=True,
)


@pack_app.command("build")
def build(
    folder: Annotated[Path, typer.Argument(help="The folder to write the pack in (new or empty).")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace FOLDER even when it is not empty.")
    ] = False,
) -> None:
    """Write a self-contained CrossGuard pack folder for `pulumi policy publish`."""
    try:
        build_pack(folder, force=force)
    except PackBuildError as err:
        fail_bad_input([str(err)])
    except OSError as err:
        fail_bad_input([f"{err.filename or folder}: cannot write: {err.strerror or err}"])
    print(folder)
    print(f"publish it with: cd {folder} && pulumi policy publish <org>")
    raise typer.Exit(EXIT_CLEAN)
