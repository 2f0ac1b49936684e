"""The cloud-neutral front: deploy one environment file on its cloud.

Every cloud's environment component takes `(name, env, opts)`; the front picks it from
`env.cloud` and imports it only then, so one cloud's SDK is loaded only for its stacks.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import pulumi

from keyplane.config.model import Environment
from keyplane.standard import Cloud

#: Module and class of each cloud's environment component.
ENVIRONMENT_COMPONENTS: Mapping[Cloud, tuple[str, str]] = {
    Cloud.AWS: ("components.aws", "AwsEnvironment"),
    Cloud.GCP: ("components.gcp", "GcpEnvironment"),
    Cloud.AZURE: ("components.azure", "AzureEnvironment"),
}


def deploy_environment(
    env: Environment, opts: pulumi.ResourceOptions | None = None
) -> pulumi.ComponentResource:
    """The environment component of `env`'s cloud, named after the environment."""
    module_name, class_name = ENVIRONMENT_COMPONENTS[env.cloud]
    component_class = getattr(importlib.import_module(module_name), class_name)
    component = component_class(env.name, env, opts)
    if not isinstance(component, pulumi.ComponentResource):
        raise TypeError(f"{module_name}.{class_name} is not a Pulumi ComponentResource")
    return component


def stack_outputs(component: pulumi.ComponentResource) -> dict[str, Any]:
    """What a stack exports for an environment component: its `stack_outputs` mapping."""
    outputs = getattr(component, "stack_outputs", None)
    return dict(outputs) if isinstance(outputs, Mapping) else {}
