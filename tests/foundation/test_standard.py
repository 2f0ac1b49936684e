"""The policy data: the numbers of Policy §9 / Proc 4.4, algorithms and their native names."""

from __future__ import annotations

import dataclasses

import pytest

from keyplane.standard import (
    ALGORITHMS,
    APPROVED_ALGORITHMS,
    HSM_REQUIRED_PURPOSES,
    POLICY_REVIEWED_ON,
    POLICY_VERSION,
    PURPOSES,
    STRICTEST_ROTATION_DAYS,
    Cloud,
    KeyPurpose,
    Usage,
    algorithm_from_aws,
    algorithm_from_azure,
    algorithm_from_gcp,
    default_hsm,
    rotates_automatically,
)


def test_rotation_table_follows_policy_section_9() -> None:
    days = {p.value: spec.max_rotation_days for p, spec in PURPOSES.items()}
    assert days == {
        "application-encryption": 365,
        "database-encryption": 365,
        "backup-encryption": 365,
        "token-signing": 180,
        "api-secret": 90,
        "tls-certificate": 365,
        "ai-service-key": 90,
        "cloud-provider": 365,
    }
    assert STRICTEST_ROTATION_DAYS == 90


def test_hsm_required_purposes_follow_km_hsm_001() -> None:
    assert {p.value for p in HSM_REQUIRED_PURPOSES} == {
        "database-encryption",
        "backup-encryption",
        "token-signing",
    }


def test_policy_version_and_review_date() -> None:
    assert POLICY_VERSION == "1.0"
    assert POLICY_REVIEWED_ON.isoformat() == "2026-02-08"


def test_approved_algorithms_are_the_policy_list() -> None:
    assert set(APPROVED_ALGORITHMS) == {
        "AES-256",
        "RSA-2048",
        "RSA-3072",
        "RSA-4096",
        "ECDSA-P256",
        "ECDSA-P384",
        "ECDSA-P521",
        "Ed25519",
        "HMAC-SHA256",
        "HMAC-SHA384",
        "HMAC-SHA512",
    }
    for name in ("ECDSA-SECP256K1", "HMAC-SHA224", "HMAC-SHA1", "RSA-1024"):
        assert not ALGORITHMS[name].approved


@pytest.mark.parametrize(
    ("name", "aws", "gcp", "azure"),
    [
        (
            "AES-256",
            "SYMMETRIC_DEFAULT",
            {Usage.ENCRYPT: "GOOGLE_SYMMETRIC_ENCRYPTION"},
            ("oct-HSM", 256, None),
        ),
        (
            "RSA-3072",
            "RSA_3072",
            {Usage.ENCRYPT: "RSA_DECRYPT_OAEP_3072_SHA256", Usage.SIGN: "RSA_SIGN_PSS_3072_SHA256"},
            ("RSA", 3072, None),
        ),
        ("ECDSA-P256", "ECC_NIST_P256", {Usage.SIGN: "EC_SIGN_P256_SHA256"}, ("EC", None, "P-256")),
        ("ECDSA-P521", "ECC_NIST_P521", {}, ("EC", None, "P-521")),
        ("Ed25519", "ECC_NIST_EDWARDS25519", {Usage.SIGN: "EC_SIGN_ED25519"}, None),
        ("HMAC-SHA256", "HMAC_256", {Usage.MAC: "HMAC_SHA256"}, None),
        (
            "ECDSA-SECP256K1",
            "ECC_SECG_P256K1",
            {Usage.SIGN: "EC_SIGN_SECP256K1_SHA256"},
            ("EC", None, "P-256K"),
        ),
        ("HMAC-SHA1", None, {Usage.MAC: "HMAC_SHA1"}, None),
    ],
)
def test_native_names_per_cloud(
    name: str,
    aws: str | None,
    gcp: dict[Usage, str],
    azure: tuple[str, int | None, str | None] | None,
) -> None:
    algorithm = ALGORITHMS[name]
    assert algorithm.aws_key_spec == aws
    assert dict(algorithm.gcp) == gcp
    if azure is None:
        assert algorithm.azure is None
    else:
        assert algorithm.azure is not None
        assert (
            algorithm.azure.kty_for(hsm=False),
            algorithm.azure.key_size,
            algorithm.azure.curve,
        ) == azure
    # and back again
    if aws:
        assert algorithm_from_aws(aws) is algorithm
    for native in gcp.values():
        assert algorithm_from_gcp(native) is algorithm
    if azure:
        assert algorithm_from_azure(azure[0], azure[1], azure[2]) is algorithm


def test_reverse_lookup_of_unknown_native_names_is_none() -> None:
    assert algorithm_from_aws("RSA_1024") is None
    assert algorithm_from_gcp("SOMETHING_NEW") is None
    assert algorithm_from_azure("RSA", 1024, None) is None
    assert algorithm_from_azure("RSA-HSM", 4096, None) is ALGORITHMS["RSA-4096"]


def test_policy_data_is_immutable() -> None:
    with pytest.raises(TypeError):
        PURPOSES[KeyPurpose.API_SECRET] = PURPOSES[KeyPurpose.TOKEN_SIGNING]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PURPOSES[KeyPurpose.API_SECRET].max_rotation_days = 400  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cloud", "algorithm", "custom_store", "expected"),
    [
        (Cloud.AWS, "AES-256", False, True),
        (Cloud.AWS, "AES-256", True, False),  # CloudHSM key store: no automatic rotation
        (Cloud.AWS, "HMAC-SHA256", False, False),
        (Cloud.AWS, "ECDSA-P256", False, False),
        (Cloud.GCP, "AES-256", False, True),
        (Cloud.GCP, "ECDSA-P256", False, False),
        (Cloud.GCP, "HMAC-SHA256", False, False),
        (Cloud.AZURE, "ECDSA-P256", False, True),  # rotation policy rotates any key type
    ],
)
def test_which_keys_rotate_automatically(
    cloud: Cloud, algorithm: str, custom_store: bool, expected: bool
) -> None:
    assert (
        rotates_automatically(cloud, ALGORITHMS[algorithm], in_custom_key_store=custom_store)
        is expected
    )


def test_default_hsm_per_cloud() -> None:
    assert default_hsm(Cloud.AWS, KeyPurpose.DATABASE_ENCRYPTION, hsm_enabled=True) is False
    assert default_hsm(Cloud.GCP, KeyPurpose.DATABASE_ENCRYPTION, hsm_enabled=True) is True
    assert default_hsm(Cloud.GCP, KeyPurpose.APPLICATION_ENCRYPTION, hsm_enabled=True) is False
    assert default_hsm(Cloud.AZURE, KeyPurpose.TOKEN_SIGNING, hsm_enabled=False) is False
