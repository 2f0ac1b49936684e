"""The Pulumi adapter: facts from type tokens and wire-form properties (raw resources too)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from types import MappingProxyType

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pulumi_gcp as gcp

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource, stack_facts
from keyplane.facts import (
    UNKNOWN,
    AccessBinding,
    Condition,
    Effect,
    Grant,
    Immutability,
    Key,
    KeyOrigin,
    LogBucket,
    ObjectLock,
    Role,
    SecretValue,
    Vault,
)
from keyplane.render import render
from keyplane.standard import ALGORITHMS, Cloud, Usage
from tests.policy.stacks import UNKNOWN_WIRE, res, secret


def one(resource: PulumiResource) -> object:
    [facts] = facts_from_resource(resource)
    return facts


def test_numbers_arrive_as_floats_and_props_as_a_read_only_mapping() -> None:
    key = one(
        res(
            "aws:kms/key:Key",
            "k",
            MappingProxyType({"enableKeyRotation": True, "rotationPeriodInDays": 180.0}),
        )
    )
    assert isinstance(key, Key)
    assert (key.rotation_days, key.deletion_window_days) == (180, 30)
    assert key.algorithm is ALGORITHMS["AES-256"]
    assert (key.usage, key.origin, key.can_rotate_automatically) == (
        Usage.ENCRYPT,
        KeyOrigin.CLOUD_HSM,
        True,
    )


def test_aws_rotation_defaults_to_a_year_when_enabled_without_a_period() -> None:
    key = one(res("aws:kms/key:Key", "k", {"enableKeyRotation": True}))
    assert isinstance(key, Key)
    assert (key.rotation_enabled, key.rotation_days) == (True, 365)


def test_unknown_values_become_unknown_not_guesses() -> None:
    key = one(
        res(
            "aws:kms/key:Key",
            "k",
            {
                "enableKeyRotation": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
                "customerMasterKeySpec": UNKNOWN_WIRE,
                "tags": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
                "policy": UNKNOWN_WIRE,
            },
        )
    )
    assert isinstance(key, Key)
    assert key.rotation_enabled is UNKNOWN
    assert key.rotation_days is UNKNOWN
    assert key.algorithm is UNKNOWN
    assert key.can_rotate_automatically is UNKNOWN
    assert key.purpose_tag is UNKNOWN
    assert key.grants is UNKNOWN


def test_imported_and_custom_key_store_keys_cannot_rotate() -> None:
    imported = one(res("aws:kms/externalKey:ExternalKey", "k", {"keyUsage": "ENCRYPT_DECRYPT"}))
    in_store = one(res("aws:kms/key:Key", "k", {"customKeyStoreId": UNKNOWN_WIRE}))
    assert isinstance(imported, Key)
    assert isinstance(in_store, Key)
    assert (imported.origin, imported.can_rotate_automatically) == (KeyOrigin.IMPORTED, False)
    assert (in_store.origin, in_store.can_rotate_automatically) == (KeyOrigin.DEDICATED_HSM, False)


def test_key_policy_statements_become_grants() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "kms:*"},
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:role/x"},
                "Action": ["kms:Decrypt"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"Service": "logs.amazonaws.com"},
                "Action": "kms:Encrypt*",
            },
        ]
    }
    key = one(res("aws:kms/key:Key", "k", {"policy": json.dumps(policy)}))
    assert isinstance(key, Key)
    assert key.grants == (
        Grant("arn:aws:iam::111111111111:root", ("kms:*",), resources=()),
        Grant(
            "*",
            ("kms:Decrypt",),
            Effect.DENY,
            (Condition("Bool", "aws:SecureTransport", ("false",)),),
            # NotPrincipal: everyone but the listed role (issue 13).
            except_principals=("arn:aws:iam::111111111111:role/x",),
        ),
        Grant("service:logs.amazonaws.com", ("kms:Encrypt*",)),
    )


def test_role_inline_policies_are_an_identity_policy_of_the_role() -> None:
    role, binding = facts_from_resource(
        res(
            "aws:iam/role:Role",
            "svc",
            {
                "name": "svc",
                "assumeRolePolicy": json.dumps(
                    {
                        "Statement": [
                            {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}
                        ]
                    }
                ),
                "inlinePolicies": [
                    {
                        "name": "p",
                        "policy": json.dumps(
                            {
                                "Statement": [
                                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
                                ]
                            }
                        ),
                    }
                ],
            },
        )
    )
    assert isinstance(role, Role)
    assert isinstance(binding, AccessBinding)
    assert role.trust == (Grant("*", ("sts:AssumeRole",)),)
    assert binding.identity
    assert binding.grants == (Grant("aws-role:svc", ("kms:Decrypt",), resources=("*",)),)


def test_secret_values_are_plain_text_only_when_literal() -> None:
    def value(v: object) -> object:
        facts = one(res("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretString": v}))
        assert isinstance(facts, SecretValue)
        return facts.plaintext

    assert value("hunter2") is True
    assert value(secret("hunter2")) is False
    assert value(UNKNOWN_WIRE) is UNKNOWN
    literal = res("aws:secretsmanager/secretVersion:SecretVersion", "v", {"secretString": "x"})
    [facts] = facts_from_resource(literal, secrets_marked=False)
    assert isinstance(facts, SecretValue)
    assert facts.plaintext is UNKNOWN


def test_gcp_defaults() -> None:
    key = one(res("gcp:kms/cryptoKey:CryptoKey", "k", {"keyRing": "r"}))
    assert isinstance(key, Key)
    assert key.algorithm is ALGORITHMS["AES-256"]
    assert (key.rotation_enabled, key.deletion_window_days, key.origin) == (
        False,
        30,
        KeyOrigin.SOFTWARE,
    )


def test_azure_rotation_policy_durations() -> None:
    def days(trigger: dict[str, str], expiry: str | None = None) -> object:
        policy: dict[str, object] = {
            "lifetimeActions": [{"trigger": trigger, "action": {"type": "Rotate"}}]
        }
        if expiry:
            policy["attributes"] = {"expiryTime": expiry}
        key = one(
            res(
                "azure-native:keyvault:Key",
                "k",
                {"properties": {"kty": "RSA-HSM", "keySize": 2048.0, "rotationPolicy": policy}},
            )
        )
        assert isinstance(key, Key)
        return key.rotation_days

    assert days({"timeAfterCreate": "P90D"}) == 90
    assert days({"timeAfterCreate": "P3M"}) == 90
    assert days({"timeAfterCreate": "P1Y"}) == 365
    assert days({"timeBeforeExpiry": "P30D"}, "P395D") == 365


def test_azure_container_policy_lock_state_is_known_only_after_deployment() -> None:
    lock = one(
        res(
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            "p",
            {
                "accountName": "logs",
                "containerName": "c",
                "immutabilityPeriodSinceCreationInDays": 400.0,
            },
        )
    )
    assert isinstance(lock, ObjectLock)
    assert (lock.immutability, lock.retention_days) == (UNKNOWN, 400)
    locked = one(
        res(
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            "p",
            {
                "accountName": "logs",
                "state": "Locked",
                "immutabilityPeriodSinceCreationInDays": 400.0,
            },
        )
    )
    assert isinstance(locked, ObjectLock)
    assert locked.immutability is Immutability.LOCKED


def test_types_no_rule_judges_have_no_facts() -> None:
    assert facts_from_resource(res("aws:s3/bucketPolicy:BucketPolicy", "p", {})) == ()
    assert facts_from_resource(res("random:index/randomId:RandomId", "r", {})) == ()


# --- property names checked against the installed SDKs -------------------------------------------


def test_raw_resources_of_every_cloud_render_to_facts() -> None:
    def program() -> None:
        aws.kms.Key(
            "aws-key",
            customer_master_key_spec="RSA_3072",
            key_usage="SIGN_VERIFY",
            deletion_window_in_days=7,
            tags={"keyplane-purpose": "token-signing"},
        )
        aws.s3.BucketObjectLockConfiguration(
            "lock",
            bucket="logs",
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": "COMPLIANCE", "years": 2}},
        )
        gcp.kms.CryptoKey(
            "gcp-key",
            key_ring="projects/p/locations/l/keyRings/r",
            purpose="ASYMMETRIC_SIGN",
            rotation_period="7776000s",
            destroy_scheduled_duration="86400s",
            version_template={"algorithm": "EC_SIGN_P384_SHA384", "protection_level": "HSM"},
            labels={"keyplane-environment": "prod"},
        )
        gcp.storage.Bucket(
            "gcs", location="EU", retention_policy={"retention_period": "864000", "is_locked": True}
        )
        azure_native.keyvault.Key(
            "azure-key",
            resource_group_name="rg",
            vault_name="kv",
            properties={"kty": "EC-HSM", "curve_name": "P-521", "key_ops": ["sign", "verify"]},
        )
        azure_native.keyvault.Vault(
            "vault",
            resource_group_name="rg",
            properties=azure_native.keyvault.VaultPropertiesArgs(
                tenant_id="0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
                sku=azure_native.keyvault.SkuArgs(
                    family=azure_native.keyvault.SkuFamily.A,
                    name=azure_native.keyvault.SkuName.PREMIUM,
                ),
                enable_purge_protection=True,
                public_network_access="Disabled",
            ),
        )
        pulumi.export("done", True)

    rendered = render(program, project="keyplane", stack="prod")
    facts = {f.name: f for f in stack_facts(rendered.resources).resources}
    aws_key, gcp_key, azure_key = facts["aws-key"], facts["gcp-key"], facts["azure-key"]
    lock, gcs, vault = facts["lock"], facts["gcs"], facts["vault"]
    assert isinstance(aws_key, Key)
    assert (aws_key.algorithm, aws_key.usage, aws_key.deletion_window_days) == (
        ALGORITHMS["RSA-3072"],
        Usage.SIGN,
        7,
    )
    assert aws_key.purpose_tag == "token-signing"
    assert isinstance(lock, ObjectLock)
    assert (lock.immutability, lock.retention_days) == (Immutability.COMPLIANCE, 730)
    assert isinstance(gcp_key, Key)
    assert (gcp_key.algorithm, gcp_key.rotation_days, gcp_key.deletion_window_days) == (
        ALGORITHMS["ECDSA-P384"],
        90,
        1,
    )
    assert (gcp_key.origin, gcp_key.cloud, gcp_key.environment_tag) == (
        KeyOrigin.CLOUD_HSM,
        Cloud.GCP,
        "prod",
    )
    assert isinstance(gcs, LogBucket)
    assert (gcs.immutability, gcs.retention_days) == (Immutability.LOCKED, 10)
    assert isinstance(azure_key, Key)
    assert (azure_key.algorithm, azure_key.usage, azure_key.origin) == (
        ALGORITHMS["ECDSA-P521"],
        Usage.SIGN,
        KeyOrigin.CLOUD_HSM,
    )
    assert isinstance(vault, Vault)
    assert (vault.purge_protection, vault.public_network_access, vault.rbac_authorization) == (
        True,
        False,
        False,
    )
    assert vault.soft_delete_days == 90


def test_facts_and_rules_do_not_import_the_pulumi_sdk() -> None:
    code = (
        "import sys, keyplane.facts, keyplane.adapters.pulumi, keyplane.rules;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_gcp', 'pulumi_azure_native', 'pulumi_policy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dates_in_tags() -> None:
    key = one(
        res(
            "aws:kms/key:Key",
            "k",
            {"tags": {"keyplane-rotate-by": "2027-01-31", "keyplane-rotation-owner": "team"}},
        )
    )
    assert isinstance(key, Key)
    assert (key.rotate_by, key.rotation_owner) == (date(2027, 1, 31), "team")
