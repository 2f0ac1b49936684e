"""HsmCluster: a FIPS CloudHSM cluster, an HSM per subnet, a KMS key store once initialised."""

from __future__ import annotations

import pytest

from keyplane.components.aws import ComponentInputError, HsmCluster, HsmClusterArgs
from keyplane.wire import SECRET_SIG, SIG_KEY
from tests.aws.support import PEM, names, of_type, one, run

SUBNETS = ("subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002")
CLUSTER = "aws:cloudhsmv2/cluster:Cluster"
HSM = "aws:cloudhsmv2/hsm:Hsm"
KEY_STORE = "aws:kms/customKeyStore:CustomKeyStore"


def initialised(**changes: object) -> HsmClusterArgs:
    fields: dict[str, object] = {
        "environment": "prod",
        "subnet_ids": SUBNETS,
        "trust_anchor_certificate": PEM,
        "kmsuser_password": "kmsuser-test-password",
        "protect": True,
    }
    fields.update(changes)
    return HsmClusterArgs(**fields)  # type: ignore[arg-type]


def test_a_fips_cluster_with_one_hsm_per_subnet() -> None:
    result = run(lambda: HsmCluster("prod-hsm", initialised()), stack="prod")

    cluster = one(result, CLUSTER, "prod-hsm-cluster")
    assert cluster.inputs == {
        "hsmType": "hsm2m.medium",
        "mode": "FIPS",
        "subnetIds": list(SUBNETS),
        "tags": {"keyplane-environment": "prod", "keyplane-managed": "true"},
    }
    assert names(result, HSM) == {f"prod-hsm-{subnet}" for subnet in SUBNETS}
    for hsm in of_type(result, HSM):
        assert hsm.inputs["subnetId"] == hsm.name.removeprefix("prod-hsm-")
        assert hsm.property_dependencies["clusterId"] == (cluster.urn,)


def test_the_key_store_gets_the_trust_anchor_and_the_password_as_a_secret() -> None:
    result = run(lambda: HsmCluster("prod-hsm", initialised()), stack="prod")

    store = one(result, KEY_STORE, "prod-hsm-key-store")
    assert store.inputs["customKeyStoreName"] == "keyplane-prod"
    assert store.inputs["customKeyStoreType"] == "AWS_CLOUDHSM"
    assert store.inputs["trustAnchorCertificate"] == PEM
    assert store.inputs["keyStorePassword"] == {
        SIG_KEY: SECRET_SIG,
        "value": "kmsuser-test-password",
    }
    assert store.property_dependencies["cloudHsmClusterId"] == (
        one(result, CLUSTER, "prod-hsm-cluster").urn,
    )
    # KMS needs active HSMs to create the store.
    assert {h.urn for h in of_type(result, HSM)} <= set(store.dependencies)


def test_no_key_store_before_the_cluster_is_initialised() -> None:
    args = initialised(trust_anchor_certificate=None, kmsuser_password=None)
    result = run(lambda: HsmCluster("prod-hsm", args), stack="prod")
    assert of_type(result, KEY_STORE) == []
    assert len(of_type(result, HSM)) == 2


@pytest.mark.parametrize("protect", [True, False])
def test_cluster_hsms_and_key_store_follow_protect(protect: bool) -> None:
    result = run(lambda: HsmCluster("h", initialised(protect=protect)), stack="prod")
    assert {r.type: r.protect for r in result.resources if r.custom} == {
        CLUSTER: protect,
        HSM: protect,
        KEY_STORE: protect,
    }


def test_a_password_given_in_plain_text_still_travels_as_a_secret() -> None:
    result = run(lambda: HsmCluster("h", initialised(kmsuser_password="plain")), stack="prod")
    password = one(result, KEY_STORE, "h-key-store").inputs["keyStorePassword"]
    assert password[SIG_KEY] == SECRET_SIG


# --- impossible inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"subnet_ids": SUBNETS[:1]},
            'Invalid "subnet_ids" argument: a KMS custom key store needs HSMs in at least 2 '
            "availability zones (got 1 subnet); add a subnet in another zone",
        ),
        (
            {"kmsuser_password": None},
            'Invalid "kmsuser_password" argument: the key store needs the password of the '
            "cluster's kmsuser crypto user",
        ),
        (
            {"subnet_ids": ()},
            'Invalid "subnet_ids" argument: a CloudHSM cluster needs at least one subnet',
        ),
        (
            {"subnet_ids": (SUBNETS[0], SUBNETS[0])},
            'Invalid "subnet_ids" argument: a subnet is listed twice; list each subnet once',
        ),
        (
            {"subnet_ids": ("vpc-123",)},
            "Invalid \"subnet_ids\" argument: 'vpc-123' is not a subnet ID (subnet-0a1b2c3d)",
        ),
        (
            {"hsm_type": "hsm1.medium", "mode": "NON_FIPS"},
            'Invalid "mode" argument: hsm1.medium clusters run in FIPS mode only',
        ),
        (
            {"hsm_type": "hsm3.large"},
            "Invalid \"hsm_type\" argument: 'hsm3.large' (known: hsm1.medium, hsm2m.medium)",
        ),
        (
            {"trust_anchor_certificate": "customerCA.crt"},
            'Invalid "trust_anchor_certificate" argument: expected the PEM of customerCA.crt '
            "(-----BEGIN CERTIFICATE----- ...)",
        ),
    ],
)
def test_impossible_clusters_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ComponentInputError) as raised:
        initialised(**changes)
    assert str(raised.value) == message


def test_a_single_hsm_cluster_without_key_store_is_possible() -> None:
    args = initialised(subnet_ids=SUBNETS[:1], trust_anchor_certificate=None)
    assert args.subnet_ids == SUBNETS[:1]
