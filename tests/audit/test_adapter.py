"""The boto3 adapter alone: describe-call answers in, the Pulumi adapter's facts out."""

from __future__ import annotations

import json

from keyplane.adapters.boto3 import bucket_facts, display_name, key_facts, trail_facts
from keyplane.facts import UNKNOWN, Immutability, KeyOrigin
from keyplane.standard import ALGORITHMS, Usage

ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234"
METADATA = {
    "KeyId": "1234",
    "Arn": ARN,
    "KeySpec": "SYMMETRIC_DEFAULT",
    "KeyUsage": "ENCRYPT_DECRYPT",
    "Origin": "AWS_KMS",
    "KeyManager": "CUSTOMER",
    "KeyState": "Enabled",
}
POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*"}]}
)


def test_a_symmetric_key_with_rotation_reports_its_period() -> None:
    key = key_facts(
        METADATA,
        name="orders-db",
        tags={"keyplane-purpose": "database-encryption"},
        rotation={"KeyRotationEnabled": True, "RotationPeriodInDays": 180},
        policy=POLICY,
    )
    assert key.algorithm is ALGORITHMS["AES-256"]
    assert key.usage is Usage.ENCRYPT
    assert (key.rotation_enabled, key.rotation_days) == (True, 180)
    assert key.origin is KeyOrigin.CLOUD_HSM
    assert key.protect is UNKNOWN and key.deletion_window_days is UNKNOWN
    assert [g.principal for g in key.grants] == ["*"]  # type: ignore[union-attr]


def test_rotation_without_a_reported_period_is_yearly_as_in_the_pulumi_adapter() -> None:
    key = key_facts(METADATA, name="k", tags={}, rotation={"KeyRotationEnabled": True}, policy=None)
    assert key.rotation_days == 365


def test_unreadable_answers_are_unknown_not_guessed() -> None:
    key = key_facts(METADATA, name="k", tags=UNKNOWN, rotation=UNKNOWN, policy=UNKNOWN)
    assert key.rotation_enabled is UNKNOWN and key.rotation_days is UNKNOWN
    assert key.grants is UNKNOWN and key.tags is UNKNOWN


def test_an_asymmetric_key_cannot_rotate() -> None:
    metadata = {**METADATA, "KeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY"}
    key = key_facts(metadata, name="k", tags={}, rotation=None, policy=None)
    assert key.algorithm is ALGORITHMS["ECDSA-SECP256K1"]
    assert key.usage is Usage.SIGN
    assert (key.can_rotate_automatically, key.rotation_enabled) == (False, False)


def test_keys_in_a_custom_key_store_are_dedicated_hsm_keys() -> None:
    metadata = {**METADATA, "Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": "cks-1"}
    key = key_facts(metadata, name="k", tags={}, rotation=None, policy=None)
    assert key.origin is KeyOrigin.DEDICATED_HSM
    assert key.can_rotate_automatically is False


def test_the_declared_name_comes_from_keyplanes_alias() -> None:
    assert display_name(ARN, ["alias/other", "alias/prod/orders-db"], "prod") == "orders-db"
    assert display_name(ARN, ["alias/legacy"], "prod") == "legacy"
    assert display_name(ARN, [], "prod") == "1234"


def test_trail_selectors_that_drop_kms_events_are_seen() -> None:
    trail = {"Name": "t", "TrailARN": "arn:t", "S3BucketName": "b"}
    selectors = {
        "EventSelectors": [
            {
                "IncludeManagementEvents": True,
                "ExcludeManagementEventSources": ["kms.amazonaws.com"],
            }
        ]
    }
    facts = trail_facts(trail, status={"IsLogging": True}, selectors=selectors, tags={})
    assert facts.excludes_kms_events is True
    assert facts.multi_region is False and facts.log_file_validation is False
    assert trail_facts(trail, status=UNKNOWN, selectors={}, tags={}).logging_enabled is UNKNOWN


def test_a_bucket_without_object_lock_has_no_immutability() -> None:
    bucket = bucket_facts("b", lock=None, versioning={}, tags={})
    assert (bucket.immutability, bucket.object_lock_enabled, bucket.versioning) == (
        None,
        False,
        False,
    )
    locked = bucket_facts(
        "b",
        lock={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}},
        },
        versioning={"Status": "Enabled"},
        tags={},
    )
    assert locked.immutability is Immutability.COMPLIANCE and locked.retention_days == 730
