"""AzureKeyVault: the administrator role, key types, retention, and what Azure cannot provision."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from keyplane.components.azure import (
    AzureKeyVault,
    AzureKeyVaultArgs,
    AzureSecret,
    ComponentInputError,
)
from keyplane.components.azure._common import storage_account_name, vault_name
from keyplane.components.azure.roles import FORBIDDEN_ADMINISTRATOR_DATA_ACTIONS
from keyplane.config import KeySpec, ResolvedKey
from keyplane.config.model import RotationPlan
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose
from tests.azure.helpers import RG_ID, SUBSCRIPTION, bundled, inputs, of_type, run

KEY = "azure-native:keyvault:Key"
ROLE = "azure-native:authorization:RoleDefinition"
ADMIN = "7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
USER = "9d3e4f50-6172-8394-a5b6-c7d8e9f0a1b2"


def key(name: str, purpose: KeyPurpose, algorithm: str, **fields: Any) -> ResolvedKey:
    spec = KeySpec(name=name, purpose=purpose, algorithm=algorithm, **fields)
    return replace(bundled().resolve(spec), users=(USER,))


def vault(*keys: ResolvedKey, **fields: Any) -> AzureKeyVaultArgs:
    return AzureKeyVaultArgs(
        **{
            "subscription_id": SUBSCRIPTION,
            "tenant_id": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
            "resource_group_name": "kms-prod",
            "location": "westeurope",
            "environment": "prod-azure",
            "keys": keys,
            "admins": (ADMIN,),
            "vault_name": "kv-test",
            **fields,
        }
    )


def render_vault(args: AzureKeyVaultArgs) -> RenderResult:
    return run(lambda: AzureKeyVault("kv", args))


def test_administrators_manage_keys_and_cannot_use_them() -> None:
    result = render_vault(vault(key("db", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048")))
    role = of_type(result, ROLE)["kv-key-administrator"].inputs
    assert role["roleName"] == "keyplane Key Administrator (kv-test)"
    assert role["scope"] == RG_ID
    assert role["assignableScopes"] == [RG_ID]
    (permissions,) = role["permissions"]
    assert not set(permissions["dataActions"]) & FORBIDDEN_ADMINISTRATOR_DATA_ACTIONS
    assert not any("*" in action for action in permissions["dataActions"] + permissions["actions"])
    assert set(permissions["notDataActions"]) == FORBIDDEN_ADMINISTRATOR_DATA_ACTIONS
    assert {
        "Microsoft.KeyVault/vaults/keys/rotate/action",
        "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    } <= set(permissions["dataActions"])
    assert re.fullmatch(r"[0-9a-f-]{36}", role["roleDefinitionId"])


def test_a_key_without_users_gets_no_key_scoped_assignment() -> None:
    lonely = replace(key("db", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048"), users=())
    result = render_vault(vault(lonely))
    scopes = {
        a.inputs["scope"]
        for a in of_type(result, "azure-native:authorization:RoleAssignment").values()
    }
    assert scopes == {f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv-test"}


def test_key_sizes_and_curves() -> None:
    result = render_vault(
        vault(
            key("rsa", KeyPurpose.DATABASE_ENCRYPTION, "RSA-4096"),
            key("p384", KeyPurpose.TOKEN_SIGNING, "ECDSA-P384"),
            key("p521", KeyPurpose.TLS_CERTIFICATE, "ECDSA-P521", hsm=False),
        )
    )
    shapes = {
        name: (
            k.inputs["properties"]["kty"],
            k.inputs["properties"].get("keySize"),
            k.inputs["properties"].get("curveName"),
        )
        for name, k in of_type(result, KEY).items()
    }
    assert shapes == {
        "rsa": ("RSA-HSM", 4096, None),
        "p384": ("EC-HSM", None, "P-384"),
        "p521": ("EC", None, "P-521"),
    }


def test_soft_delete_retention_follows_the_longest_deletion_window() -> None:
    result = render_vault(
        vault(
            key("a", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048", deletion_window_days=30),
            key("b", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048", deletion_window_days=60),
        )
    )
    assert (
        inputs(result, "azure-native:keyvault:Vault", "kv")["properties"][
            "softDeleteRetentionInDays"
        ]
        == 60
    )


def test_secret_expiry_is_ignored_after_creation() -> None:
    secret = AzureSecret("api", KeyPurpose.API_SECRET, 30, users=(USER,))
    result = render_vault(
        vault(secrets=(secret,), secret_values={"api": "x"}, secrets_start_on=date(2026, 1, 1))
    )
    registration = of_type(result, "azure-native:keyvault:Secret")["api"]
    assert registration.inputs["properties"]["attributes"]["expires"] == 1769817600
    scopes = {
        (a.inputs["scope"].rsplit("/", 2)[-2:][0], a.inputs["principalId"])
        for a in of_type(result, "azure-native:authorization:RoleAssignment").values()
    }
    assert ("secrets", USER) in scopes


def test_names_fit_azure_limits() -> None:
    name = vault_name("a-very-long-environment-name-that-goes-on", "sub/rg")
    assert len(name) <= 24
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name)
    assert vault_name("prod--azure", "sub/rg").count("--") == 0
    account = storage_account_name("Prod-Azure-Environment-X", "sub")
    assert re.fullmatch(r"[a-z0-9]{3,24}", account)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"admins": ()},
            "Invalid \"admins\" argument: key vault 'kv' needs at least one administrator",
        ),
        (
            {"admins": ("kms-admins@acme.example",)},
            "Invalid \"admins\" argument: 'kms-admins@acme.example' (on 'kv') is not an Entra ID "
            "object ID (a GUID)",
        ),
        (
            {"soft_delete_retention_days": 6},
            'Invalid "soft_delete_retention_days" argument: 6; Key Vault keeps deleted keys '
            "and secrets 7 to 90 days",
        ),
        (
            {"rotation_notice_days": 6},
            'Invalid "rotation_notice_days" argument: 6; Key Vault notifies at least 7 days '
            "before expiry",
        ),
        (
            {"principal_types": {ADMIN: "Robot"}},
            'Invalid "principal_types" argument: 7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0 is '
            "'Robot' (known: ForeignGroup, Group, ServicePrincipal, User)",
        ),
    ],
)
def test_impossible_vault_arguments_are_refused(fields: dict[str, Any], message: str) -> None:
    args = vault(key("db", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048"), **fields)
    with pytest.raises(ComponentInputError) as caught:
        render_vault(args)
    assert str(caught.value) == message


def test_an_algorithm_azure_does_not_offer_is_refused() -> None:
    hmac = key(
        "mac",
        KeyPurpose.API_SECRET,
        "HMAC-SHA256",
        rotation=RotationPlan(owner="o", rotate_by=date(2027, 1, 1)),
    )
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(hmac))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: key 'mac': Azure Key Vault does not offer HMAC-SHA256 to mac"
    )


def test_a_rotation_policy_azure_would_refuse_is_refused() -> None:
    quick = key("db", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048", rotation_days=7)
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(quick, rotation_notice_days=7))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: key 'db': rotation_days 7 plus rotation_notice_days 7 is "
        "under the 28-day minimum expiry of a Key Vault rotation policy"
    )


def test_a_name_used_by_a_key_and_a_secret_is_refused() -> None:
    clash = AzureSecret("db", KeyPurpose.API_SECRET, 90)
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(key("db", KeyPurpose.DATABASE_ENCRYPTION, "RSA-2048"), secrets=(clash,)))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: 'db' is listed twice among the keys and secrets of 'kv'"
    )
