"""GcpKeyRing: keys, protection, IAM by key purpose, and what GCP cannot provision."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from keyplane.components.gcp import ComponentInputError, GcpKeyRing, GcpKeyRingArgs
from keyplane.components.gcp._common import label_value
from keyplane.config import KeySpec, ResolvedKey
from keyplane.config.model import RotationPlan
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose
from tests.gcp.helpers import bundled, grants, inputs, of_type, run

KEY = "gcp:kms/cryptoKey:CryptoKey"
USER = "serviceAccount:app@acme-prod-apps.iam.gserviceaccount.com"


def key(name: str, purpose: KeyPurpose, algorithm: str, **fields: Any) -> ResolvedKey:
    env = bundled()
    spec = KeySpec(name=name, purpose=purpose, algorithm=algorithm, **fields)
    return replace(env.resolve(spec), users=(USER,))


def ring(*keys: ResolvedKey, **fields: Any) -> GcpKeyRingArgs:
    return GcpKeyRingArgs(
        **{
            "project": "acme-prod-kms",
            "location": "europe-west1",
            "environment": "prod-gcp",
            "keys": keys,
            "admins": ("group:kms-admins@acme.example",),
            **fields,
        }
    )


def render_ring(args: GcpKeyRingArgs) -> RenderResult:
    return run(lambda: GcpKeyRing("ring", args))


def test_each_key_purpose_gets_its_gcp_purpose_and_its_users_only_their_roles() -> None:
    result = render_ring(
        ring(
            key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256"),
            key("db-rsa", KeyPurpose.DATABASE_ENCRYPTION, "RSA-3072"),
            key("jwt", KeyPurpose.TOKEN_SIGNING, "Ed25519", rotation=_plan()),
            key("webhook-mac", KeyPurpose.API_SECRET, "HMAC-SHA256", rotation=_plan()),
        )
    )
    purposes = {n: k.inputs["purpose"] for n, k in of_type(result, KEY).items()}
    assert purposes == {
        "app-data": "ENCRYPT_DECRYPT",
        "db-rsa": "ASYMMETRIC_DECRYPT",
        "jwt": "ASYMMETRIC_SIGN",
        "webhook-mac": "MAC",
    }
    algorithms = {
        n: k.inputs["versionTemplate"]["algorithm"] for n, k in of_type(result, KEY).items()
    }
    assert algorithms == {
        "app-data": "GOOGLE_SYMMETRIC_ENCRYPTION",
        "db-rsa": "RSA_DECRYPT_OAEP_3072_SHA256",
        "jwt": "EC_SIGN_ED25519",
        "webhook-mac": "HMAC_SHA256",
    }
    assert grants(result) == {
        ("ring", "roles/cloudkms.admin", "group:kms-admins@acme.example"),
        ("app-data", "roles/cloudkms.cryptoKeyEncrypterDecrypter", USER),
        ("db-rsa", "roles/cloudkms.cryptoKeyDecrypter", USER),
        ("db-rsa", "roles/cloudkms.publicKeyViewer", USER),
        ("jwt", "roles/cloudkms.signerVerifier", USER),
        ("webhook-mac", "roles/cloudkms.signerVerifier", USER),
    }


def test_only_keys_gcp_can_rotate_get_a_rotation_period() -> None:
    result = render_ring(
        ring(
            key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256", rotation_days=90),
            key("jwt", KeyPurpose.TOKEN_SIGNING, "ECDSA-P384", rotation=_plan()),
        )
    )
    assert inputs(result, KEY, "app-data")["rotationPeriod"] == "7776000s"
    assert "rotationPeriod" not in inputs(result, KEY, "jwt")


def test_deletion_window_and_key_ring_name() -> None:
    result = render_ring(
        ring(
            key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256", deletion_window_days=60),
            key_ring_name="acme-keys",
        )
    )
    assert inputs(result, KEY, "app-data")["destroyScheduledDuration"] == "5184000s"
    assert inputs(result, "gcp:kms/keyRing:KeyRing", "ring")["name"] == "acme-keys"
    assert inputs(result, KEY, "app-data")["keyRing"].endswith("/keyRings/acme-keys")


def test_keys_are_protected_by_default_and_unprotected_on_request() -> None:
    protected = render_ring(ring(key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256")))
    assert of_type(protected, KEY)["app-data"].protect
    unprotected = render_ring(
        ring(key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256"), protect=False)
    )
    assert not of_type(unprotected, KEY)["app-data"].protect


def test_rotation_plan_labels_are_made_valid_gcp_label_values() -> None:
    plan = RotationPlan(owner="Release Team <rt@acme.example>", rotate_by=date(2027, 3, 1))
    result = render_ring(ring(key("jwt", KeyPurpose.TOKEN_SIGNING, "ECDSA-P256", rotation=plan)))
    labels = inputs(result, KEY, "jwt")["labels"]
    assert labels["keyplane-rotation-owner"] == "release-team-rt-acme-example"
    assert labels["keyplane-rotate-by"] == "2027-03-01"


@pytest.mark.parametrize(
    ("value", "label"),
    [("2027-03-01", "2027-03-01"), ("Ops_Team", "ops_team"), ("x" * 70, "x" * 63), ("é!a", "a")],
)
def test_label_values(value: str, label: str) -> None:
    assert label_value(value) == label


def test_a_ring_without_administrators_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_ring(ring(admins=()))
    assert str(caught.value) == (
        "Invalid \"admins\" argument: key ring 'ring' needs at least one administrator"
    )


def test_an_algorithm_gcp_does_not_offer_is_refused() -> None:
    p521 = key("jwt", KeyPurpose.TOKEN_SIGNING, "ECDSA-P521", rotation=_plan())
    with pytest.raises(ComponentInputError) as caught:
        render_ring(ring(p521))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: key 'jwt': GCP does not offer ECDSA-P521 to sign "
        "(it offers it to: nothing)"
    )


def test_a_deletion_window_gcp_does_not_accept_is_refused() -> None:
    long_window = key(
        "app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256", deletion_window_days=121
    )
    with pytest.raises(ComponentInputError) as caught:
        render_ring(ring(long_window))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: key 'app-data': deletion_window_days 121 is outside what "
        "GCP accepts (1 to 120 days)"
    )


def test_a_short_deletion_window_is_provisioned_for_the_rules_to_report() -> None:
    short = key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256", deletion_window_days=7)
    result = render_ring(ring(short))
    assert inputs(result, KEY, "app-data")["destroyScheduledDuration"] == "604800s"


def test_a_key_listed_twice_is_refused() -> None:
    app = key("app-data", KeyPurpose.APPLICATION_ENCRYPTION, "AES-256")
    with pytest.raises(ComponentInputError) as caught:
        render_ring(ring(app, app))
    assert str(caught.value) == "Invalid \"keys\" argument: key 'app-data' is listed twice"


def test_a_public_auditor_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_ring(ring(auditors=("allAuthenticatedUsers",)))
    assert "Invalid \"auditors\" argument: 'allAuthenticatedUsers' (on 'ring')" in str(caught.value)


def _plan() -> RotationPlan:
    return RotationPlan(owner="release-team", rotate_by=date(2027, 3, 1))
