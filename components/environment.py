"""The cloud-neutral front: deploy one environment file on its cloud.

Every cloud's environment component takes `(name, env, opts)`; the front picks it from
`env.cloud` and imports it only then, so one cloud's SDK is loaded only for its stacks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import pulumi

from keyplane.config.model import Environment
from keyplane.config.stack import AS_OF
from keyplane.standard import Cloud

#: Module and class of each cloud's environment component.
ENVIRONMENT_COMPONENTS: Mapping[Cloud, tuple[str, str]] = {
    Cloud.AWS: ("keyplane.components.aws", "AwsEnvironment"),
    Cloud.GCP: ("keyplane.components.gcp", "GcpEnvironment"),
    Cloud.AZURE: ("keyplane.components.azure", "AzureEnvironment"),
}


#: Stack config: the day secret expiries and rotation schedules count from (default today,
#: UTC). `keyplane preview --as-of` sets it so that an offline preview judges what it renders.
AS_OF_CONFIG = AS_OF
#: The keyword each cloud's environment component takes that day as.
_START_DAY_ARGUMENT: Mapping[Cloud, str] = {
    Cloud.GCP: "rotation_starts_on",
    Cloud.AZURE: "secrets_start_on",
}


def deploy_environment(
    env: Environment, opts: pulumi.ResourceOptions | None = None
) -> pulumi.ComponentResource:
    """The environment component of `env`'s cloud, named after the environment."""
    module_name, class_name = ENVIRONMENT_COMPONENTS[env.cloud]
    component_class = getattr(importlib.import_module(module_name), class_name)
    extra: dict[str, Any] = {}
    as_of = pulumi.Config("keyplane").get(AS_OF_CONFIG)
    if as_of and env.cloud in _START_DAY_ARGUMENT:
        try:
            extra[_START_DAY_ARGUMENT[env.cloud]] = date.fromisoformat(as_of)
        except ValueError:
            raise pulumi.RunError(
                f"stack config keyplane:{AS_OF_CONFIG}: not a date (got {as_of!r}); write YYYY-MM-DD"
            ) from None
    component = component_class(env.name, env, opts, **extra)
    if not isinstance(component, pulumi.ComponentResource):
        raise TypeError(f"{module_name}.{class_name} is not a Pulumi ComponentResource")
    return component


def stack_outputs(component: pulumi.ComponentResource) -> dict[str, Any]:
    """What a stack exports for an environment component: its `stack_outputs` mapping."""
    outputs = getattr(component, "stack_outputs", None)
    return dict(outputs) if isinstance(outputs, Mapping) else {}
