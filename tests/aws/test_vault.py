"""SecretVault: secrets under the environment's own keys, closed to other accounts, rotated."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from keyplane.components.aws import ComponentInputError, SecretVault, SecretVaultArgs, VaultSecret
from keyplane.render import RenderResult
from tests.aws.support import (
    KEY,
    allow_statements,
    bundled,
    names,
    of_type,
    one,
    policy,
    principals,
    run,
    statements,
)

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
ROLE = "arn:aws:iam::111111111111:role"


def prod_vault() -> RenderResult:
    return run(
        lambda: SecretVault("prod-secrets", SecretVaultArgs.from_environment(bundled()["prod"])),
        stack="prod",
    )


def test_each_secret_is_encrypted_with_its_tenants_key() -> None:
    result = prod_vault()

    assert names(result, SECRET) == {"acme-payments-api", "llm-provider"}
    assert names(result, KEY) == {"prod-secrets-acme-key", "prod-secrets-key"}
    acme = one(result, SECRET, "acme-payments-api")
    assert acme.inputs["name"] == "prod/acme-payments-api"
    assert acme.inputs["recoveryWindowInDays"] == 30
    assert acme.inputs["tags"] == {
        "keyplane-environment": "prod",
        "keyplane-purpose": "api-secret",
        "keyplane-tenant": "acme",
        "keyplane-managed": "true",
    }
    assert acme.property_dependencies["kmsKeyId"] == (
        one(result, KEY, "prod-secrets-acme-key").urn,
    )
    assert one(result, SECRET, "llm-provider").property_dependencies["kmsKeyId"] == (
        one(result, KEY, "prod-secrets-key").urn,
    )


def test_vault_keys_are_rotating_customer_managed_keys_tagged_like_every_key() -> None:
    key = one(prod_vault(), KEY, "prod-secrets-acme-key")
    assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["rotationPeriodInDays"] == 365
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.inputs["tags"] == {
        "keyplane-environment": "prod",
        "keyplane-purpose": "cloud-provider",
        "keyplane-tenant": "acme",
        "keyplane-managed": "true",
    }
    assert key.protect is True


def test_a_secrets_readers_decrypt_it_through_secrets_manager_only() -> None:
    env = bundled()["prod"]
    args = SecretVaultArgs.from_environment(env)
    readers = {s.name: s for s in args.secrets}
    readers["acme-payments-api"] = dataclasses.replace(
        readers["acme-payments-api"], readers=(f"{ROLE}/acme-payments",)
    )
    args = dataclasses.replace(args, secrets=tuple(readers.values()))
    result = run(lambda: SecretVault("prod-secrets", args), stack="prod")

    key_policy = statements(policy(one(result, KEY, "prod-secrets-acme-key")))
    assert list(key_policy) == ["KeyAdministration", "UseAcmePaymentsApi", "KeyAudit"]
    use = key_policy["UseAcmePaymentsApi"]
    assert principals(use) == [f"{ROLE}/acme-payments"]
    assert use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:SecretARN": (
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/acme-payments-api-??????"
            )
        },
    }
    assert principals(key_policy["KeyAdministration"]) == [f"{ROLE}/platform-key-admin"]


def test_no_other_account_may_touch_a_secret() -> None:
    result = prod_vault()
    secret_policy = one(result, SECRET_POLICY, "acme-payments-api-policy")

    assert secret_policy.inputs["blockPublicPolicy"] is True
    assert secret_policy.property_dependencies["secretArn"] == (
        one(result, SECRET, "acme-payments-api").urn,
    )
    deny = statements(policy(secret_policy))["DenyOtherAccounts"]
    assert deny == {
        "Sid": "DenyOtherAccounts",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "secretsmanager:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "111111111111"}},
    }
    # The deny is the only statement naming everyone; no allow does.
    assert [s for s in allow_statements(policy(secret_policy)) if "*" in principals(s)] == []


def test_readers_may_read_the_secret_value_and_nothing_more() -> None:
    args = SecretVaultArgs.from_environment(bundled()["prod"])
    secret = dataclasses.replace(args.secrets[0], readers=(f"{ROLE}/acme-payments",))
    args = dataclasses.replace(args, secrets=(secret,))
    result = run(lambda: SecretVault("v", args), stack="prod")
    readers = statements(policy(one(result, SECRET_POLICY, f"{secret.name}-policy")))[
        "ReadersReadTheSecret"
    ]
    assert principals(readers) == [f"{ROLE}/acme-payments"]
    assert readers["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]


def test_secrets_rotate_with_their_lambda_every_declared_period() -> None:
    result = run(
        lambda: SecretVault("dev-secrets", SecretVaultArgs.from_environment(bundled()["dev"]))
    )
    rotation = one(result, ROTATION, "acme-payments-api-rotation")
    assert rotation.inputs["rotationLambdaArn"] == (
        "arn:aws:lambda:eu-west-1:333333333333:function:rotate-payments-api"
    )
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    assert rotation.inputs["rotateImmediately"] is False
    assert rotation.property_dependencies["secretId"] == (
        one(result, SECRET, "acme-payments-api").urn,
    )


def test_a_secret_without_lambda_gets_no_rotation() -> None:
    args = SecretVaultArgs.from_environment(bundled()["dev"])
    args = dataclasses.replace(
        args, secrets=(dataclasses.replace(args.secrets[0], rotation_lambda_arn=None),)
    )
    assert of_type(run(lambda: SecretVault("v", args)), ROTATION) == []


def test_no_secret_value_is_ever_an_input() -> None:
    result = prod_vault()
    assert [r for r in result.resources if "SecretVersion" in r.type] == []
    for registration in of_type(result, SECRET):
        assert not {"secretString", "secretBinary"} & set(registration.inputs)


@pytest.mark.parametrize(("env_name", "protected"), [("dev", False), ("prod", True)])
def test_keys_and_secrets_are_protected_in_staging_and_production(
    env_name: str, protected: bool
) -> None:
    result = run(
        lambda: SecretVault("v", SecretVaultArgs.from_environment(bundled()[env_name])),
        stack=env_name,
    )
    assert {r.protect for r in of_type(result, KEY) + of_type(result, SECRET)} == {protected}


# --- impossible inputs --------------------------------------------------------------------------


def args_with(**changes: Any) -> SecretVaultArgs:
    return dataclasses.replace(SecretVaultArgs.from_environment(bundled()["dev"]), **changes)


def secret(**changes: Any) -> VaultSecret:
    return dataclasses.replace(
        SecretVaultArgs.from_environment(bundled()["dev"]).secrets[0], **changes
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"secrets": (secret(rotation_days=0),)},
            "Invalid \"secrets\" argument: secret 'acme-payments-api': Secrets Manager rotates "
            "every 1 to 1000 days, not every 0",
        ),
        (
            {"secrets": (secret(rotation_days=1001),)},
            "Invalid \"secrets\" argument: secret 'acme-payments-api': Secrets Manager rotates "
            "every 1 to 1000 days, not every 1001",
        ),
        (
            {"secrets": (secret(), secret())},
            "Invalid \"secrets\" argument: secret 'acme-payments-api' is declared twice",
        ),
        (
            {"recovery_window_days": 0},
            'Invalid "recovery_window_days" argument: Secrets Manager keeps deleted secrets 7 to '
            "30 days, not 0",
        ),
        (
            {"account_id": "3333"},
            "Invalid \"account_id\" argument: expected a 12-digit AWS account ID (got '3333')",
        ),
    ],
)
def test_impossible_vaults_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ComponentInputError) as raised:
        args_with(**changes)
    assert str(raised.value) == message


def test_a_vault_without_administrators_is_refused() -> None:
    with pytest.raises(ComponentInputError, match=r'^Invalid "admins" argument: a key without'):
        args_with(admins=())


def test_a_wildcard_reader_is_refused() -> None:
    with pytest.raises(ComponentInputError) as raised:
        args_with(secrets=(secret(readers=("*",)),))
    assert str(raised.value) == (
        'Invalid "secrets[acme-payments-api].readers" argument: KM-ACC-001: the wildcard '
        "principal '*' would grant every AWS account; name specific roles or users"
    )
