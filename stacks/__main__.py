"""The Pulumi program: one stack per environment file (README, "AWS components").

Stack config: `keyplane:environment` (default: the stack's name) and `keyplane:estate` (the
directory of environment files, default `environments`, relative to the project root).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pulumi

from components.environment import deploy_environment, stack_outputs
from keyplane.config import ConfigError, Environment, load_environment

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ESTATE = "environments"


def load(name: str, estate: str) -> Environment:
    """The environment `name` of `estate`; its problems as `keyplane validate` prints them."""
    shown = Path(estate) / f"{name}.yaml"
    path = shown if shown.is_absolute() else PROJECT_ROOT / shown
    try:
        return load_environment(path)
    except ConfigError as err:
        # Paths as the user wrote them, not as this process resolved them.
        lines = [
            str(dataclasses.replace(p, path=p.path.replace(str(path), str(shown))))
            for p in err.problems
        ]
        raise pulumi.RunError("\n".join(lines)) from None


def main() -> None:
    config = pulumi.Config("keyplane")
    env = load(
        config.get("environment") or pulumi.get_stack(), config.get("estate") or DEFAULT_ESTATE
    )
    for key, value in stack_outputs(deploy_environment(env)).items():
        pulumi.export(key, value)


main()
