"""`keyplane docs ENV`: the policy artefacts of an environment as Markdown files
(`keyplane.artefacts` writes them: Tenant-Isolation-Claim, Shared-Service-Boundary-Register, rule
traceability matrix)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keyplane.artefacts import DEFAULT_TESTS_DIR, artefacts
from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EstateOption,
    fail_bad_input,
    load_estate_or_exit,
)
from keyplane.output import OutputError, write_outputs


def docs(
    env: Annotated[str, typer.Argument(help="The environment (its <env>.yaml in the estate).")],
    estate: EstateOption = DEFAULT_ESTATE,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Write one Markdown file per artefact here; default stdout."
        ),
    ] = None,
    tests_dir: Annotated[
        Path,
        typer.Option("--tests-dir", help="Where to look for the tests that name each rule."),
    ] = DEFAULT_TESTS_DIR,
) -> None:
    """Write the Tenant-Isolation-Claim, the Shared-Service-Boundary-Register and the rule
    traceability matrix of ENV as Markdown."""
    if tests_dir != DEFAULT_TESTS_DIR and not tests_dir.is_dir():
        # An empty matrix would read as "no rule is tested": refuse instead.
        fail_bad_input(
            [f"--tests-dir: {tests_dir} is not a directory; pass the folder of keyplane's tests"]
        )
    loaded = load_estate_or_exit(estate)
    environment = loaded.environments.get(env)
    if environment is None:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input([f"{estate}: unknown environment {env!r} (known: {known})"])
    documents = artefacts(loaded, environment, tests_dir)
    if output_dir is None:
        sys.stdout.write("\n---\n\n".join(documents.values()))
        raise typer.Exit(EXIT_CLEAN)
    try:
        # All or nothing: a failure on the third document leaves none of them written.
        written = write_outputs(output_dir, documents)
    except OutputError as err:
        fail_bad_input([str(err)])
    except OSError as err:  # a rename into place refused
        fail_bad_input([f"{output_dir}: cannot write: {err.strerror or err}"])
    for path in written:
        print(path)
    raise typer.Exit(EXIT_CLEAN)
