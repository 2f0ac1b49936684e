"""KeyRing: one KMS key and alias per declared key, rotation or a manual plan, protection."""

from __future__ import annotations

import dataclasses

import pytest

from keyplane.components.aws import ComponentInputError, KeyRing, KeyRingArgs
from keyplane.standard import ALGORITHMS
from tests.aws.support import (
    ALIAS,
    KEY,
    bundled,
    environment,
    names,
    one,
    policy,
    resolved,
    run,
    statements,
)


def render_ring(args: KeyRingArgs, stack: str = "dev") -> object:
    return run(lambda: KeyRing("ring", args), stack=stack)


def test_each_declared_key_is_a_kms_key_named_as_declared_with_its_alias() -> None:
    result = run(lambda: KeyRing("dev-keys", KeyRingArgs.from_environment(bundled()["dev"])))

    ring = one(result, "keyplane:aws:KeyRing", "dev-keys")
    assert names(result, KEY) == {"acme-orders-db", "session-signing"}
    assert names(result, ALIAS) == {"acme-orders-db-alias", "session-signing-alias"}
    for registration in result.resources:
        if registration is not ring:
            assert registration.parent == ring.urn
    key = one(result, KEY, "acme-orders-db")
    assert (
        key.urn == "urn:pulumi:dev::keyplane::keyplane:aws:KeyRing$aws:kms/key:Key::acme-orders-db"
    )
    alias = one(result, ALIAS, "acme-orders-db-alias")
    assert alias.inputs["name"] == "alias/dev/acme-orders-db"
    assert alias.property_dependencies["targetKeyId"] == (key.urn,)


def test_a_symmetric_key_rotates_automatically_every_purpose_maximum() -> None:
    result = run(lambda: KeyRing("dev-keys", KeyRingArgs.from_environment(bundled()["dev"])))

    key = one(result, KEY, "acme-orders-db").inputs
    assert key["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key["keyUsage"] == "ENCRYPT_DECRYPT"
    assert key["enableKeyRotation"] is True
    assert key["rotationPeriodInDays"] == 365
    assert key["deletionWindowInDays"] == 30
    assert key["bypassPolicyLockoutSafetyCheck"] is False
    assert "customKeyStoreId" not in key
    assert key["tags"] == {
        "keyplane-environment": "dev",
        "keyplane-purpose": "database-encryption",
        "keyplane-tenant": "acme",
        "keyplane-managed": "true",
    }


def test_a_declared_rotation_period_is_used() -> None:
    result = run(lambda: KeyRing("k", KeyRingArgs.from_environment(bundled()["staging"])))
    assert one(result, KEY, "legacy-reporting-db").inputs["rotationPeriodInDays"] == 395


def test_a_key_kms_cannot_rotate_carries_its_manual_plan_instead() -> None:
    result = run(lambda: KeyRing("dev-keys", KeyRingArgs.from_environment(bundled()["dev"])))

    key = one(result, KEY, "session-signing").inputs
    assert key["customerMasterKeySpec"] == "ECC_NIST_P256"
    assert key["keyUsage"] == "SIGN_VERIFY"
    assert "enableKeyRotation" not in key
    assert "rotationPeriodInDays" not in key
    assert key["tags"] == {
        "keyplane-environment": "dev",
        "keyplane-purpose": "token-signing",
        "keyplane-managed": "true",
        "keyplane-rotation-owner": "identity-team",
        "keyplane-rotate-by": "2027-05-01",
    }


def test_hmac_keys_generate_and_verify_macs() -> None:
    prod = bundled()["prod"]
    args = KeyRingArgs(environment="prod", keys=(resolved(prod, "webhook-hmac"),))
    key = one(run(lambda: KeyRing("k", args)), KEY, "webhook-hmac").inputs
    assert key["customerMasterKeySpec"] == "HMAC_256"
    assert key["keyUsage"] == "GENERATE_VERIFY_MAC"
    assert "enableKeyRotation" not in key


def test_the_key_policy_is_the_declared_one() -> None:
    result = run(lambda: KeyRing("dev-keys", KeyRingArgs.from_environment(bundled()["dev"])))
    policy_statements = statements(policy(one(result, KEY, "acme-orders-db")))
    assert list(policy_statements) == ["KeyAdministration", "KeyUse", "KeyAudit"]
    assert policy_statements["KeyUse"]["Principal"] == {
        "AWS": ["arn:aws:iam::333333333333:role/acme-orders-service"]
    }


def test_hsm_keys_live_in_the_custom_key_store_and_do_not_rotate() -> None:
    prod = bundled()["prod"]
    args = KeyRingArgs(
        environment="prod",
        keys=(resolved(prod, "platform-backup"),),
        custom_key_store_id="cks-1234567890",
    )
    key = one(run(lambda: KeyRing("k", args)), KEY, "platform-backup").inputs
    assert key["customKeyStoreId"] == "cks-1234567890"
    assert key["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert "enableKeyRotation" not in key
    assert key["tags"]["keyplane-rotation-owner"] == "platform-team"


@pytest.mark.parametrize(
    ("env_name", "protected"), [("dev", False), ("staging", True), ("prod", True)]
)
def test_keys_are_protected_in_staging_and_production(env_name: str, protected: bool) -> None:
    env = bundled()[env_name]
    keys = tuple(k for k in env.resolved_keys() if not k.hsm)
    args = KeyRingArgs(environment=env.name, keys=keys, protect=env.protected)
    result = run(lambda: KeyRing("k", args), stack=env_name)
    assert {r.name: r.protect for r in result.resources if r.type == KEY} == {
        k.name: protected for k in keys
    }


def test_keys_wait_for_the_principals_their_policies_name() -> None:
    import pulumi_aws as aws

    def program() -> None:
        role = aws.iam.Role("admin-role", assume_role_policy="{}")
        env = bundled()["dev"]
        KeyRing(
            "k",
            dataclasses.replace(KeyRingArgs.from_environment(env), principal_resources=(role,)),
        )

    result = run(program)
    role = one(result, "aws:iam/role:Role", "admin-role")
    assert role.urn in one(result, KEY, "acme-orders-db").dependencies


# --- impossible inputs --------------------------------------------------------------------------


def test_an_hsm_key_needs_the_key_store() -> None:
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(resolved(bundled()["prod"], "platform-backup"),))
    assert str(raised.value) == (
        "Invalid \"custom_key_store_id\" argument: key 'platform-backup' has hsm: true and "
        "needs the environment's CloudHSM key store; pass HsmCluster.custom_key_store_id"
    )


def test_an_asymmetric_key_cannot_live_in_the_key_store() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "session-signing"), hsm=True)
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(key,), custom_key_store_id="cks-1")
    assert str(raised.value) == (
        "Invalid \"keys\" argument: key 'session-signing': a CloudHSM key store holds symmetric "
        "AES-256 keys only, not ECDSA-P256; remove hsm or use AES-256"
    )


def test_kms_cannot_rotate_an_asymmetric_key() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "session-signing"), rotation_days=180)
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(key,))
    assert str(raised.value) == (
        "Invalid \"keys\" argument: key 'session-signing': KMS rotates only symmetric keys it "
        "generated itself, not ECDSA-P256 keys; set rotation_days None and plan a manual rotation"
    )


def test_kms_rotates_every_90_to_2560_days() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "search-index"), rotation_days=30)
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(key,))
    assert str(raised.value) == (
        "Invalid \"keys\" argument: key 'search-index': KMS rotates every 90 to 2560 days, not "
        "every 30; choose a period in that range"
    )


def test_kms_waits_7_to_30_days_before_deleting() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "search-index"), deletion_window_days=45)
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(key,))
    assert str(raised.value) == (
        "Invalid \"keys\" argument: key 'search-index': KMS waits 7 to 30 days before deleting "
        "a key, not 45; choose a window in that range"
    )


def test_an_algorithm_kms_does_not_offer_is_refused() -> None:
    key = dataclasses.replace(
        resolved(bundled()["prod"], "search-index"), algorithm=ALGORITHMS["3DES"]
    )
    with pytest.raises(ComponentInputError) as raised:
        KeyRingArgs(environment="prod", keys=(key,))
    assert str(raised.value) == (
        "Invalid \"keys\" argument: key 'search-index': AWS KMS does not offer 3DES; choose "
        "another algorithm"
    )


def test_a_key_declared_twice_is_refused() -> None:
    key = resolved(bundled()["prod"], "search-index")
    with pytest.raises(ComponentInputError, match="key 'search-index' is declared twice"):
        KeyRingArgs(environment="prod", keys=(key, key))


def test_a_rotation_owner_aws_cannot_tag_is_refused_before_anything_registers() -> None:
    env = environment(
        keys=[
            {
                "name": "session-signing",
                "purpose": "token-signing",
                "algorithm": "ECDSA-P256",
                "rotation": {"owner": "Identity (EMEA)", "rotate_by": "2027-05-01"},
            }
        ],
        access={"key_admins": ["arn:aws:iam::333333333333:role/platform-key-admin"]},
    )
    errors: list[ComponentInputError] = []

    def program() -> None:
        try:
            KeyRing("k", KeyRingArgs.from_environment(env))
        except ComponentInputError as err:
            errors.append(err)

    assert run(program).resources == []
    assert [str(e) for e in errors] == [
        "Invalid \"tags\" argument: AWS does not accept 'Identity (EMEA)' as the value of tag "
        "'keyplane-rotation-owner' (letters, digits, spaces and _ . : / = + - @, at most 256 "
        "characters); change the value"
    ]
