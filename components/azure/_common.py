"""What every Azure component shares: tags, names, ARM IDs and principal checks."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import cast

import pulumi
from pulumi_azure_native import authorization

from keyplane.components._common import ComponentInputError, invalid, tags

#: Namespace of keyplane's deterministic role assignment and role definition names (uuid5).
KEYPLANE_NAMESPACE = uuid.UUID("5b0f2c1e-7d3a-5e44-9a61-6b6579706c61")


_OBJECT_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_VAULT_NAME_MAX = 24
_STORAGE_NAME_MAX = 24


def digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def guid(*parts: str) -> str:
    """A deterministic GUID (uuid5) of `parts`, case-insensitive like ARM IDs."""
    return str(uuid.uuid5(KEYPLANE_NAMESPACE, "|".join(parts).lower()))


def vault_name(environment: str, scope: str, suffix: str = "") -> str:
    """A Key Vault name (3-24 letters, digits, single dashes), unique per subscription and group.

    Vault names are global DNS names, and a purge-protected vault's name stays reserved for its
    soft-delete retention after deletion: a hash of the scope keeps them apart.
    """
    stem = re.sub(r"-+", "-", f"{environment}{suffix}")
    head = stem[: _VAULT_NAME_MAX - 7].rstrip("-")
    return f"{head}-{digest(f'{scope}/{stem}', 6)}"


def storage_account_name(environment: str, scope: str) -> str:
    """A storage account name (3-24 lowercase letters and digits), unique per scope."""
    stem = re.sub(r"[^a-z0-9]", "", environment.lower())[:12]
    return f"{stem}logs{digest(f'{scope}/{environment}')}"[:_STORAGE_NAME_MAX]


def resource_group_id(
    subscription_id: str, resource_group: pulumi.Input[str]
) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/resourceGroups/", resource_group
    )


def check_principals(resource: str, field: str, principals: Iterable[str]) -> None:
    """Entra ID object IDs only: never `*` (KM-ACC-001), never a name ARM cannot resolve."""
    for principal in principals:
        if principal == "*":
            raise invalid(
                field,
                f"'*' (on {resource!r}) is everyone; keyplane never grants keys or secrets to "
                "everyone (KM-ACC-001): remove it",
            )
        if not _OBJECT_ID.fullmatch(principal):
            raise invalid(
                field, f"{principal!r} (on {resource!r}) is not an Entra ID object ID (a GUID)"
            )


#: `principal_type` values ARM accepts for the principals keyplane assigns.
PRINCIPAL_TYPES = frozenset({"User", "Group", "ServicePrincipal", "ForeignGroup"})


def principal_type(principal: str, known: Mapping[str, str]) -> pulumi.Input[str]:
    """The principal's type when declared, else nothing: ARM then looks the type up itself.

    azure-native fills a missing `principal_type` with "User", and ARM refuses a type that does
    not match the principal (`UnmatchedPrincipalType`), so an unknown type is sent as absent.
    """
    declared = known.get(principal)
    if declared is not None:
        return declared
    return cast("pulumi.Output[str]", pulumi.Output.from_input(None))


def check_principal_types(resource: str, known: Mapping[str, str]) -> None:
    for principal, kind in known.items():
        if kind not in PRINCIPAL_TYPES:
            raise invalid(
                "principal_types",
                f"{principal} is {kind!r} (known: {', '.join(sorted(PRINCIPAL_TYPES))})",
            )


def after(resource: pulumi.Resource, value: pulumi.Input[str]) -> pulumi.Output[str]:
    """`value` (an ARM ID known before `resource` exists) carrying a dependency on `resource`.

    keyplane names its Azure resources itself, so their IDs are known at preview: role
    assignment names (uuid5 of scope, role and principal) and policies can use them then.
    """
    return pulumi.Output.all(resource.urn, value).apply(lambda values: str(values[1]))


def role_slug(role_name: str) -> str:
    """`Key Vault Crypto User` -> `crypto-user`, for child resource names."""
    return re.sub(r"^key-vault-", "", role_name.lower().replace(" ", "-"))


def role_assignment(
    resource_name: str,
    *,
    principal: str,
    role_definition_id: pulumi.Input[str],
    scope: pulumi.Output[str],
    principal_types: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> authorization.RoleAssignment:
    """A role assignment whose name is a uuid5 of scope, role and principal.

    The same grant always gets the same name, so re-running never duplicates it and an
    assignment made by hand before is found rather than doubled.
    """
    return authorization.RoleAssignment(
        resource_name,
        principal_id=principal,
        principal_type=principal_type(principal, principal_types),
        role_definition_id=role_definition_id,
        scope=scope,
        role_assignment_name=pulumi.Output.all(scope, role_definition_id).apply(
            lambda ids: guid(str(ids[0]), str(ids[1]), principal)
        ),
        opts=opts,
    )


__all__ = ["ComponentInputError", "invalid", "tags"]
