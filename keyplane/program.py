"""The Pulumi program: one stack per environment file (README, "AWS components").

`stacks/__main__.py` (the checkout's program, `main: stacks/` in Pulumi.yaml) calls `main`, and so
does the offline gate (`keyplane preview`), installed or not: the program lives in the package so
that an installed gate renders it without a checkout.

Stack config: `keyplane:environment` (default: the stack's name) and `keyplane:estate` (the
directory of environment files, default `environments`, relative to the project root).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pulumi

from keyplane.config import ConfigError, Environment, load_environment

DEFAULT_ESTATE = "environments"


def load(name: str, estate: str, project_root: Path) -> Environment:
    """The environment `name` of `estate` (relative to `project_root` unless absolute).

    Raises `pulumi.RunError` with the file's problems as `keyplane validate` prints them.
    """
    shown = Path(estate) / f"{name}.yaml"
    path = shown if shown.is_absolute() else project_root / shown
    try:
        return load_environment(path)
    except ConfigError as err:
        # Paths as the user wrote them, not as this process resolved them.
        lines = [
            str(dataclasses.replace(p, path=p.path.replace(str(path), str(shown))))
            for p in err.problems
        ]
        raise pulumi.RunError("\n".join(lines)) from None


def main(project_root: Path | None = None, loaded: Environment | None = None) -> None:
    """Deploy the stack's environment and export its outputs.

    `project_root` is the folder holding Pulumi.yaml (default: the working directory, where the
    Pulumi CLI runs a program); a relative `keyplane:estate` is read from there. `loaded`: the
    environment already read from that file by the offline gate, used when the stack names it
    (a large estate's file takes a second to read, and a sharded render runs the program in
    every shard).
    """
    # Imported here: the components load pulumi's cloud SDKs, which `keyplane.program`'s
    # importers (the gate) should not pay for before they render.
    from keyplane.components.environment import (  # noqa: PLC0415
        deploy_environment,
        stack_outputs,
    )

    config = pulumi.Config("keyplane")
    name = config.get("environment") or pulumi.get_stack()
    env = (
        loaded
        if loaded is not None and loaded.name == name
        else load(name, config.get("estate") or DEFAULT_ESTATE, project_root or Path.cwd())
    )
    for key, value in stack_outputs(deploy_environment(env)).items():
        pulumi.export(key, value)
