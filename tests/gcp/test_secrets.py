"""GcpSecretVault: customer-managed encryption, rotation notifications, service agent, access."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from keyplane.components.gcp import (
    ComponentInputError,
    GcpSecret,
    GcpSecretVault,
    GcpSecretVaultArgs,
)
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose
from tests.gcp.helpers import grants, inputs, of_type, run

SECRET = "gcp:secretmanager/secret:Secret"
KEY_ID = (
    "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp/cryptoKeys/prod-gcp-secrets"
)
AGENT = "serviceAccount:service-123456789012@gcp-sa-secretmanager.iam.gserviceaccount.com"
USER = "serviceAccount:payments@acme-prod-apps.iam.gserviceaccount.com"


def vault(**fields: Any) -> GcpSecretVaultArgs:
    return GcpSecretVaultArgs(
        **{
            "project": "acme-prod-kms",
            "location": "europe-west1",
            "environment": "prod-gcp",
            "kms_key_id": KEY_ID,
            "secrets": (
                GcpSecret("acme-payments-api", KeyPurpose.API_SECRET, 90, "acme", (USER,)),
            ),
            "admins": ("group:kms-admins@acme.example",),
            "rotation_starts_on": date(2026, 1, 1),
            **fields,
        }
    )


def render_vault(args: GcpSecretVaultArgs) -> RenderResult:
    return run(lambda: GcpSecretVault("vault", args))


def test_a_secret_is_encrypted_by_the_key_and_notifies_its_rotation() -> None:
    result = render_vault(vault())
    secret = inputs(result, SECRET, "acme-payments-api")
    assert secret == {
        "secretId": "acme-payments-api",
        "project": "acme-prod-kms",
        "labels": {
            "keyplane-environment": "prod-gcp",
            "keyplane-purpose": "api-secret",
            "keyplane-tenant": "acme",
            "keyplane-managed": "true",
        },
        "replication": {
            "userManaged": {
                "replicas": [
                    {
                        "location": "europe-west1",
                        "customerManagedEncryption": {"kmsKeyName": KEY_ID},
                    }
                ]
            }
        },
        "topics": [{"name": "projects/acme-prod-kms/topics/prod-gcp-secret-rotation"}],
        "rotation": {"rotationPeriod": "7776000s", "nextRotationTime": "2026-04-01T00:00:00Z"},
        "versionDestroyTtl": "2592000s",
    }
    assert of_type(result, SECRET)["acme-payments-api"].protect


def test_secrets_wait_for_the_service_agent_grants() -> None:
    result = render_vault(vault())
    secret = of_type(result, SECRET)["acme-payments-api"]
    grant_urns = {
        r.urn
        for r in result.resources
        if r.name in {"vault-agent-encrypterdecrypter", "vault-agent-publisher"}
    }
    assert len(grant_urns) == 2
    assert grant_urns <= set(secret.dependencies)


def test_a_known_project_number_names_the_service_agent_at_preview() -> None:
    result = render_vault(vault(project_number="123456789012"))
    assert not of_type(result, "gcp:projects/serviceIdentity:ServiceIdentity")
    assert grants(result) == {
        ("prod-gcp-secrets", "roles/cloudkms.cryptoKeyEncrypterDecrypter", AGENT),
        ("prod-gcp-secret-rotation", "roles/pubsub.publisher", AGENT),
        ("acme-payments-api", "roles/secretmanager.secretAccessor", USER),
        (
            "acme-payments-api",
            "roles/secretmanager.secretVersionManager",
            "group:kms-admins@acme.example",
        ),
    }


def test_global_secrets_replicate_automatically_under_the_key() -> None:
    result = render_vault(vault(location="global"))
    assert inputs(result, SECRET, "acme-payments-api")["replication"] == {
        "auto": {"customerManagedEncryption": {"kmsKeyName": KEY_ID}}
    }


def test_rotation_starts_today_by_default() -> None:
    result = render_vault(vault(rotation_starts_on=None))
    next_rotation = inputs(result, SECRET, "acme-payments-api")["rotation"]["nextRotationTime"]
    assert next_rotation.endswith("T00:00:00Z")
    assert date.fromisoformat(next_rotation[:10]) > date.today()


def test_unprotected_on_request() -> None:
    result = render_vault(vault(protect=False))
    assert not of_type(result, SECRET)["acme-payments-api"].protect


def test_a_multi_region_location_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(location="europe"))
    assert str(caught.value) == (
        "Invalid \"location\" argument: 'europe' is a multi-region; Secret Manager encrypts a "
        "secret with a key in its replica's region: use a region (like europe-west1) or global"
    )


def test_a_public_secret_user_is_refused() -> None:
    public = GcpSecret("acme-payments-api", KeyPurpose.API_SECRET, 90, users=("allUsers",))
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(secrets=(public,)))
    assert str(caught.value).startswith(
        "Invalid \"users\" argument: 'allUsers' (on 'acme-payments-api') is a public principal"
    )


def test_a_secret_listed_twice_is_refused() -> None:
    secret = GcpSecret("acme-payments-api", KeyPurpose.API_SECRET, 90)
    with pytest.raises(ComponentInputError) as caught:
        render_vault(vault(secrets=(secret, secret)))
    assert str(caught.value) == (
        "Invalid \"secrets\" argument: secret 'acme-payments-api' is listed twice"
    )
