"""Rendering Azure components offline and reading their registrations as data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pulumi

from keyplane.components.azure import AzureEnvironment
from keyplane.components.azure.roles import BUILT_IN_ROLES
from keyplane.config import Environment
from keyplane.estate import load_estate
from keyplane.render import RenderResult, render

REPO = Path(__file__).resolve().parents[2]
STARTS_ON = date(2026, 1, 1)
SUBSCRIPTION = "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
RG_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/kms-prod"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def bundled(name: str = "prod-azure") -> Environment:
    return load_estate(REPO / "environments").environments[name]


def run(
    program: Callable[[], Any], stack: str = "prod-azure", config: dict[str, str] | None = None
) -> RenderResult:
    return render(program, project="keyplane", stack=stack, config=config)


def render_env(env: Environment, **kwargs: Any) -> RenderResult:
    kwargs.setdefault("secrets_start_on", STARTS_ON)

    def program() -> None:
        component = AzureEnvironment(env.name, env, **kwargs)
        pulumi.export("vault_ids", component.vault_ids)
        pulumi.export("key_ids", component.key_ids)
        pulumi.export("secret_ids", component.secret_ids)
        pulumi.export("lock_command", component.lock_command)

    return run(program, stack=env.name)


def of_type(result: RenderResult, type_: str) -> dict[str, Any]:
    return {r.name: r for r in result.resources if r.type == type_}


def inputs(result: RenderResult, type_: str, name: str) -> dict[str, Any]:
    return dict(of_type(result, type_)[name].inputs)


def short_scope(scope: str) -> str:
    """An ARM ID without the resource group prefix: `vaults/<v>/keys/<k>`."""
    return scope.removeprefix(RG_ID).removeprefix("/providers/").split("/", 1)[1]


def assignments(result: RenderResult) -> set[tuple[str, str, str]]:
    """(scope below the resource group, role name, principal) of every role assignment."""
    custom = {
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/"
        f"{r.inputs['roleDefinitionId']}": r.inputs["roleName"]
        for r in of_type(result, "azure-native:authorization:RoleDefinition").values()
    }
    found = set()
    for r in of_type(result, ASSIGNMENT).values():
        definition = r.inputs["roleDefinitionId"]
        role = custom.get(definition) or BUILT_IN_ROLES[definition.rsplit("/", 1)[-1]].name
        found.add((short_scope(r.inputs["scope"]), role, r.inputs["principalId"]))
    return found
