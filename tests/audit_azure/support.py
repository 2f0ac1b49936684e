"""The fixture both engines judge: the bundled `prod-azure` environment as keyplane renders it,
"deployed" into the local Azure server (`deploy`) or written as a `pulumi stack export` (`export`).

A fixture is a list of azure-native resources (`Resource`: type, name, inputs), so a drift is one
change to one resource, made once and judged by the pack (through `keyplane scan`) and by the
live audit alike.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from azure.core.credentials import AccessToken

from keyplane.estate import load_estate
from keyplane.wire import SECRET_SIG, SIG_KEY
from tests.audit_azure.server import State

REPO = Path(__file__).resolve().parents[2]
ESTATE = REPO / "environments"
ENV = "prod-azure"
SUBSCRIPTION = "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
TENANT = "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
OTHER_TENANT = "11111111-2222-4333-8444-555555555555"
RG = "kms-prod"
RG_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"
SUBSCRIPTION_ID = f"/subscriptions/{SUBSCRIPTION}"
AS_OF = date(2026, 6, 1)
AUDITOR = "8c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1"
#: Built-in role IDs (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict[str, Any]
    protect: bool = False


class FakeCredential:
    """A `TokenCredential` for the local server: an unsigned-in-effect JWT naming `tenant`."""

    def __init__(self, tenant: str = TENANT, object_id: str = AUDITOR) -> None:
        self.tenant = tenant
        self.object_id = object_id
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        expires = int(time.time()) + 3600
        claims = {"tid": self.tenant, "oid": self.object_id, "upn": "auditor@acme.example"}
        token = jwt.encode({**claims, "exp": expires}, "local-test-key-" * 3, algorithm="HS256")
        return AccessToken(token, expires)


def _plain(value: Any) -> Any:
    """Wire values as plain JSON (secrets unwrapped; whole floats as ints, as Azure sends)."""
    if isinstance(value, dict):
        if SIG_KEY in value:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@cache
def _rendered() -> tuple[Resource, ...]:
    from keyplane.gate import render_environment

    env = load_estate(ESTATE).environments[ENV]
    registrations = render_environment(env, ESTATE, today=AS_OF)
    return tuple(
        Resource(r.type, r.name, _plain(dict(r.inputs)), r.protect)
        for r in registrations
        if r.type.startswith("azure-native:")
    )


def compliant() -> list[Resource]:
    """prod-azure as rendered, deployed, and locked (`lock_command` run): judged clean."""
    resources = copy.deepcopy(list(_rendered()))
    for r in resources:
        if r.type == "azure-native:storage:BlobContainerImmutabilityPolicy":
            r.inputs["state"] = "Locked"
    return resources


def of_type(resources: list[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


def one(resources: list[Resource], type_: str, name: str | None = None) -> Resource:
    found = [r for r in of_type(resources, type_) if name is None or r.name == name]
    assert len(found) == 1, (type_, name, [r.name for r in found])
    return found[0]


def vault_name(resources: list[Resource]) -> str:
    return str(one(resources, "azure-native:keyvault:Vault").inputs["vaultName"])


def vault_id(resources: list[Resource]) -> str:
    return f"{RG_ID}/providers/Microsoft.KeyVault/vaults/{vault_name(resources)}"


def _attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    renames = {"expires": "exp", "notBefore": "nbf"}
    return {renames.get(k, k): v for k, v in attributes.items()}


def _created(days_ago: int = 10) -> int:
    return int((datetime.now(UTC) - timedelta(days=days_ago)).timestamp())


def deploy(resources: list[Resource], vault_uri: Any, subscription: str = SUBSCRIPTION) -> State:
    """The server's state for `resources`: each in the REST form Azure answers with.

    `vault_uri(name)` is the data-plane URI the server gives vault `name`.
    """
    state = State(subscription, TENANT)
    for r in resources:
        i = copy.deepcopy(r.inputs)
        tags = i.pop("tags", None)
        group = f"/subscriptions/{subscription}/resourceGroups/{i.get('resourceGroupName', RG)}"
        if r.type == "azure-native:keyvault:Vault":
            name = i["vaultName"]
            properties = {**i["properties"], "vaultUri": vault_uri(name)}
            state.vaults[name] = {
                "id": f"{group}/providers/Microsoft.KeyVault/vaults/{name}",
                "name": name,
                "type": "Microsoft.KeyVault/vaults",
                "location": i.get("location"),
                "tags": tags,
                "properties": properties,
            }
        elif r.type == "azure-native:keyvault:Key":
            vault, name = i["vaultName"], i["keyName"]
            arm_id = f"{group}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{name}"
            properties = copy.deepcopy(i["properties"])
            properties["attributes"] = {
                **_attributes(properties.get("attributes") or {}),
                "created": _created(),
                "updated": _created(),
            }
            uri = f"{vault_uri(vault).rstrip('/')}/keys/{name}"
            properties |= {"keyUri": uri, "keyUriWithVersion": f"{uri}/{'0' * 32}"}
            state.keys[(vault, name)] = [
                {"id": arm_id, "name": name, "tags": tags, "properties": properties}
            ]
        elif r.type == "azure-native:keyvault:Secret":
            vault, name = i["vaultName"], i["secretName"]
            properties = copy.deepcopy(i["properties"])
            properties.pop("value", None)
            properties["attributes"] = {
                **_attributes(properties.get("attributes") or {}),
                "created": _created(),
                "updated": _created(),
            }
            state.secrets[(vault, name)] = {
                "id": f"{group}/providers/Microsoft.KeyVault/vaults/{vault}/secrets/{name}",
                "name": name,
                "tags": tags,
                "properties": properties,
            }
        elif r.type == "azure-native:authorization:RoleAssignment":
            arm_id = (
                f"{i['scope']}/providers/Microsoft.Authorization/roleAssignments/"
                f"{i['roleAssignmentName']}"
            )
            state.assignments[arm_id] = {
                "id": arm_id,
                "name": i["roleAssignmentName"],
                "type": "Microsoft.Authorization/roleAssignments",
                "properties": {
                    "scope": i["scope"],
                    "roleDefinitionId": i["roleDefinitionId"],
                    "principalId": i["principalId"],
                    "principalType": i.get("principalType", "User"),
                },
            }
        elif r.type == "azure-native:authorization:RoleDefinition":
            arm_id = (
                f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{i['roleDefinitionId']}"
            )
            state.definitions[arm_id] = {
                "id": arm_id,
                "name": i["roleDefinitionId"],
                "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {
                    "roleName": i["roleName"],
                    "type": "CustomRole",
                    "description": i.get("description"),
                    "permissions": i["permissions"],
                    "assignableScopes": i["assignableScopes"],
                },
            }
        elif r.type == "azure-native:monitor:DiagnosticSetting":
            uri = i.pop("resourceUri")
            name = i.pop("name")
            state.diagnostics.setdefault(uri.lower(), []).append(
                {
                    "id": f"{uri}/providers/microsoft.insights/diagnosticSettings/{name}",
                    "name": name,
                    "properties": i,
                }
            )
        elif r.type == "azure-native:storage:StorageAccount":
            name = i.pop("accountName")
            top: dict[str, Any] = {k: i.pop(k) for k in ("location", "kind", "sku") if k in i}
            i.pop("resourceGroupName", None)
            state.storage[name] = {
                "id": f"{group}/providers/Microsoft.Storage/storageAccounts/{name}",
                "name": name,
                "tags": tags,
                **top,
                "properties": i,
            }
        elif r.type == "azure-native:storage:BlobContainerImmutabilityPolicy":
            account, container = i.pop("accountName"), i.pop("containerName")
            i.pop("resourceGroupName", None)
            i.setdefault("state", "Unlocked")
            state.immutability[account] = {
                "id": f"{group}/providers/Microsoft.Storage/storageAccounts/{account}/"
                f"blobServices/default/containers/{container}/immutabilityPolicies/default",
                "name": "default",
                "etag": '"8d0"',
                "properties": i,
            }
        elif r.type in (
            "azure-native:monitor:ActivityLogAlert",
            "azure-native:monitor:ScheduledQueryRule",
        ):
            i.pop("resourceGroupName", None)
            top = {str(k): i.pop(k) for k in ("location", "kind") if k in i}
            kind = "activityLogAlerts" if "ActivityLog" in r.type else "scheduledQueryRules"
            entry = {
                "id": f"{group}/providers/Microsoft.Insights/{kind}/{r.name}",
                "name": r.name,
                "tags": tags,
                **top,
                "properties": i,
            }
            (state.activity_alerts if kind == "activityLogAlerts" else state.query_alerts).append(
                entry
            )
    return state


def export(resources: list[Resource], path: Path) -> Path:
    """`resources` as a `pulumi stack export` of stack prod-azure (what `keyplane scan` reads)."""
    stack = f"urn:pulumi:{ENV}::keyplane::pulumi:pulumi:Stack::keyplane-{ENV}"
    states: list[dict[str, Any]] = [{"urn": stack, "type": "pulumi:pulumi:Stack", "custom": False}]
    for r in resources:
        inputs = copy.deepcopy(r.inputs)
        if r.type == "azure-native:keyvault:Secret":
            # As the CLI exports a secret: encrypted, never in plain text.
            inputs["properties"]["value"] = {SIG_KEY: SECRET_SIG, "ciphertext": "v1:local"}
        states.append(
            {
                "urn": f"urn:pulumi:{ENV}::keyplane::{r.type}::{r.name}",
                "type": r.type,
                "custom": True,
                "parent": stack,
                "protect": r.protect,
                "inputs": inputs,
            }
        )
    path.write_text(json.dumps({"version": 3, "deployment": {"resources": states}}))
    return path
