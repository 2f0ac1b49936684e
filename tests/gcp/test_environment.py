"""GcpEnvironment on the bundled prod-gcp environment and its variants."""

from __future__ import annotations

from collections import Counter

import pytest

from keyplane.components.gcp import ComponentInputError, GcpEnvironment
from keyplane.components.gcp.roles import BASIC_ROLES
from keyplane.config import KeySpec
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose, Tier
from tests.gcp.helpers import bundled, grants, inputs, of_type, render_env, run

KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
SECRET = "gcp:secretmanager/secret:Secret"

ADMINS = "group:kms-admins@acme.example"
AUDITORS = "group:security-audit@acme.example"
ORDERS = "serviceAccount:orders@acme-prod-apps.iam.gserviceaccount.com"
RELEASE = "serviceAccount:release@acme-prod-apps.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def prod() -> RenderResult:
    return render_env(bundled())


def test_prod_gcp_renders_the_whole_environment(prod: RenderResult) -> None:
    kinds = Counter(r.type for r in prod.resources)
    assert kinds == {
        "keyplane:gcp:Environment": 1,
        "keyplane:gcp:KeyRing": 1,
        "keyplane:gcp:SecretVault": 1,
        "keyplane:gcp:AuditLogSink": 1,
        "keyplane:gcp:Certificates": 1,
        "gcp:certificatemanager/certificate:Certificate": 1,
        "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": 1,
        RING: 1,
        KEY: 3,  # acme-orders-db, release-signing, and prod-gcp-secrets for the secrets
        "gcp:kms/keyRingIAMMember:KeyRingIAMMember": 2,
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": 3,
        "gcp:pubsub/topic:Topic": 1,
        "gcp:projects/serviceIdentity:ServiceIdentity": 1,
        "gcp:pubsub/topicIAMMember:TopicIAMMember": 1,
        SECRET: 1,
        "gcp:secretmanager/secretIamMember:SecretIamMember": 2,
        "gcp:projects/iAMAuditConfig:IAMAuditConfig": 2,
        "gcp:storage/bucket:Bucket": 1,
        "gcp:logging/projectSink:ProjectSink": 1,
        "gcp:storage/bucketIAMMember:BucketIAMMember": 2,
        # monitoring.notify: misuse alerts (KM-MON-001)
        "keyplane:gcp:MisuseAlerts": 1,
        "gcp:logging/metric:Metric": 4,
        "gcp:monitoring/alertPolicy:AlertPolicy": 4,
    }


def test_keys_and_secrets_keep_their_declared_names_in_urns(prod: RenderResult) -> None:
    urns = {r.urn for r in prod.resources}
    stem = "urn:pulumi:prod-gcp::keyplane::keyplane:gcp:Environment$"
    assert f"{stem}keyplane:gcp:KeyRing${KEY}::acme-orders-db" in urns
    assert f"{stem}keyplane:gcp:KeyRing${KEY}::release-signing" in urns
    assert f"{stem}keyplane:gcp:SecretVault${SECRET}::acme-payments-api" in urns


def test_every_child_has_a_parent_in_the_component_tree(prod: RenderResult) -> None:
    root = "urn:pulumi:prod-gcp::keyplane::keyplane:gcp:Environment::prod-gcp"
    for r in prod.resources:
        if r.urn == root:
            continue
        assert r.parent.startswith("urn:pulumi:prod-gcp::keyplane::keyplane:gcp:"), r.urn


def test_who_may_do_what_is_exactly_the_declared_access(prod: RenderResult) -> None:
    assert grants(prod) == {
        # key ring: administrators manage, auditors view; neither can use a key
        ("prod-gcp", "roles/cloudkms.admin", ADMINS),
        ("prod-gcp", "roles/cloudkms.viewer", AUDITORS),
        # each user on its own key only
        ("acme-orders-db", "roles/cloudkms.cryptoKeyEncrypterDecrypter", ORDERS),
        ("release-signing", "roles/cloudkms.signerVerifier", RELEASE),
        # the Secret Manager service agent (known after deploy) on the secrets' key and topic
        ("prod-gcp-secrets", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "<unknown>"),
        ("prod-gcp-secret-rotation", "roles/pubsub.publisher", "<unknown>"),
        # secrets: administrators manage versions without reading them, auditors view
        ("acme-payments-api", "roles/secretmanager.secretVersionManager", ADMINS),
        ("acme-payments-api", "roles/secretmanager.viewer", AUDITORS),
        # audit logs: the sink's identity writes, auditors read
        ("acme-prod-kms-prod-gcp-kms-audit", "roles/storage.objectCreator", "<unknown>"),
        ("acme-prod-kms-prod-gcp-kms-audit", "roles/storage.objectViewer", AUDITORS),
    }


def test_nothing_is_granted_to_the_public_or_through_basic_roles(prod: RenderResult) -> None:
    for _target, role, member in grants(prod):
        assert member not in {"allUsers", "allAuthenticatedUsers"}
        assert role not in BASIC_ROLES


def test_production_keys_are_hsm_protected_and_protected(prod: RenderResult) -> None:
    keys = of_type(prod, KEY)
    assert {name: k.inputs["versionTemplate"] for name, k in keys.items()} == {
        "acme-orders-db": {"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "HSM"},
        "release-signing": {"algorithm": "EC_SIGN_P256_SHA256", "protectionLevel": "HSM"},
        "prod-gcp-secrets": {"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "HSM"},
    }
    assert all(k.protect for k in keys.values())
    assert of_type(prod, RING)["prod-gcp-ring"].protect


def test_symmetric_keys_rotate_and_signing_keys_carry_their_manual_plan(
    prod: RenderResult,
) -> None:
    orders = inputs(prod, KEY, "acme-orders-db")
    assert orders["purpose"] == "ENCRYPT_DECRYPT"
    assert orders["rotationPeriod"] == "31536000s"
    assert orders["destroyScheduledDuration"] == "2592000s"
    assert orders["keyRing"] == "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp"
    assert orders["labels"] == {
        "keyplane-environment": "prod-gcp",
        "keyplane-purpose": "database-encryption",
        "keyplane-tenant": "acme",
        "keyplane-managed": "true",
    }
    signing = inputs(prod, KEY, "release-signing")
    assert signing["purpose"] == "ASYMMETRIC_SIGN"
    assert "rotationPeriod" not in signing
    assert signing["labels"] == {
        "keyplane-environment": "prod-gcp",
        "keyplane-purpose": "token-signing",
        "keyplane-managed": "true",
        "keyplane-rotation-owner": "release-team",
        "keyplane-rotate-by": "2027-03-01",
    }


def test_the_secrets_key_is_a_cloud_provider_key_used_by_secret_manager_only(
    prod: RenderResult,
) -> None:
    key = inputs(prod, KEY, "prod-gcp-secrets")
    assert key["labels"]["keyplane-purpose"] == "cloud-provider"
    assert key["rotationPeriod"] == "31536000s"
    secret = inputs(prod, SECRET, "acme-payments-api")
    replica = secret["replication"]["userManaged"]["replicas"][0]
    assert replica == {
        "location": "europe-west1",
        "customerManagedEncryption": {
            "kmsKeyName": "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp/"
            "cryptoKeys/prod-gcp-secrets"
        },
    }


def test_development_keys_are_software_and_unprotected() -> None:
    env = bundled().model_copy(
        update={
            "name": "dev-gcp",
            "tier": Tier.DEVELOPMENT,
            "hsm": bundled().hsm.model_copy(update={"enabled": False}),
        }
    )
    result = render_env(env)
    keys = of_type(result, KEY)
    assert {k.inputs["versionTemplate"]["protectionLevel"] for k in keys.values()} == {"SOFTWARE"}
    assert not any(r.protect for r in result.resources)
    assert inputs(result, KEY, "acme-orders-db")["labels"]["keyplane-environment"] == "dev-gcp"


def test_staging_keys_are_protected_even_when_software() -> None:
    env = bundled().model_copy(update={"tier": Tier.STAGING})
    env = env.model_copy(update={"hsm": env.hsm.model_copy(update={"enabled": False})})
    result = render_env(env)
    keys = of_type(result, KEY)
    assert all(k.protect for k in keys.values())
    assert {k.inputs["versionTemplate"]["protectionLevel"] for k in keys.values()} == {"SOFTWARE"}


def test_backup_keys_live_in_their_own_ring_with_their_own_administrators() -> None:
    env = bundled()
    backup = KeySpec(name="acme-backups", purpose=KeyPurpose.BACKUP_ENCRYPTION, algorithm="AES-256")
    env = env.model_copy(
        update={
            "keys": (*env.keys, backup),
            "access": env.access.model_copy(
                update={"backup_key_admins": ("group:backup-admins@acme.example",)}
            ),
        }
    )
    result = render_env(env)
    rings = {r.inputs["name"] for r in of_type(result, RING).values()}
    assert rings == {"prod-gcp", "prod-gcp-backup"}
    assert inputs(result, KEY, "acme-backups")["keyRing"].endswith("/keyRings/prod-gcp-backup")
    ring_grants = {g for g in grants(result) if g[0] in rings}
    assert ring_grants == {
        ("prod-gcp", "roles/cloudkms.admin", ADMINS),
        ("prod-gcp", "roles/cloudkms.viewer", AUDITORS),
        ("prod-gcp-backup", "roles/cloudkms.admin", "group:backup-admins@acme.example"),
        ("prod-gcp-backup", "roles/cloudkms.viewer", AUDITORS),
    }
    assert result.outputs["key_ring_ids"] == {
        "prod-gcp": "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp",
        "prod-gcp-backup": "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp-backup",
    }


def test_without_secrets_there_is_no_vault_and_no_secrets_key() -> None:
    result = render_env(bundled().model_copy(update={"secrets": ()}))
    assert set(of_type(result, KEY)) == {"acme-orders-db", "release-signing"}
    assert not of_type(result, "keyplane:gcp:SecretVault")
    assert not of_type(result, "gcp:pubsub/topic:Topic")


def test_outputs_name_every_declared_key_and_secret(prod: RenderResult) -> None:
    ring = "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-gcp"
    assert prod.outputs["key_ids"] == {
        "acme-orders-db": f"{ring}/cryptoKeys/acme-orders-db",
        "release-signing": f"{ring}/cryptoKeys/release-signing",
    }
    assert prod.outputs["secret_ids"] == {
        "acme-payments-api": "projects/acme-prod-kms/secrets/acme-payments-api"
    }
    assert prod.outputs["audit_bucket_name"] == "acme-prod-kms-prod-gcp-kms-audit"


def test_an_environment_on_another_cloud_is_refused() -> None:
    env = bundled("prod-azure")
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: GcpEnvironment("prod-azure", env), stack="prod-azure")
    assert str(caught.value) == (
        "Invalid \"env\" argument: environment 'prod-azure' is on azure, not gcp; provision it "
        "with the component of its cloud"
    )


def test_a_declared_key_named_like_the_secrets_key_is_refused() -> None:
    env = bundled()
    clash = KeySpec(
        name="prod-gcp-secrets", purpose=KeyPurpose.APPLICATION_ENCRYPTION, algorithm="AES-256"
    )
    env = env.model_copy(update={"keys": (*env.keys, clash)})
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: GcpEnvironment("prod-gcp", env))
    assert str(caught.value) == (
        "Invalid \"env\" argument: key 'prod-gcp-secrets' of environment 'prod-gcp' takes the "
        "name of the key that encrypts the environment's secrets; rename the declared key"
    )


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_a_public_key_user_is_refused(member: str) -> None:
    env = bundled()
    users = (env.access.key_users[0].model_copy(update={"principal": member}),)
    env = env.model_copy(update={"access": env.access.model_copy(update={"key_users": users})})
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: GcpEnvironment("prod-gcp", env))
    assert str(caught.value) == (
        f"Invalid \"users\" argument: '{member}' (on 'acme-orders-db') is a public principal; "
        "keyplane never grants keys or secrets to everyone (KM-ACC-001): remove it"
    )
