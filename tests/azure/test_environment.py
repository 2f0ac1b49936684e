"""AzureEnvironment on the bundled prod-azure environment and its variants."""

from __future__ import annotations

from collections import Counter

import pytest

from keyplane.components.azure import AzureEnvironment, ComponentInputError
from keyplane.config import KeySpec
from keyplane.render import RenderResult
from keyplane.standard import KeyPurpose, Tier
from keyplane.wire import SECRET_SIG, SIG_KEY
from tests.azure.helpers import (
    ASSIGNMENT,
    RG_ID,
    assignments,
    bundled,
    inputs,
    of_type,
    render_env,
    run,
)

KEY = "azure-native:keyvault:Key"
VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"

ADMIN = "7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
AUDITOR = "8c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1"
ORDERS = "9d3e4f50-6172-8394-a5b6-c7d8e9f0a1b2"
SESSIONS = "ae4f5061-7283-94a5-b6c7-d8e9f0a1b2c3"
VAULT_NAME = "prod-azure-641b3b"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/{VAULT_NAME}"


@pytest.fixture(scope="module")
def prod() -> RenderResult:
    return render_env(bundled(), secret_values={"acme-payments-api": "not-a-real-value"})


def test_prod_azure_renders_the_whole_environment(prod: RenderResult) -> None:
    assert Counter(r.type for r in prod.resources) == {
        "keyplane:azure:Environment": 1,
        "keyplane:azure:KeyVault": 1,
        "keyplane:azure:AuditLogSink": 1,
        "keyplane:azure:Certificates": 1,
        "azure-native:certificateregistration:AppServiceCertificateOrder": 1,
        "azure-native:certificateregistration:AppServiceCertificateOrderCertificate": 1,
        "azure-native:resources:ResourceGroup": 1,
        VAULT: 1,
        "azure-native:authorization:RoleDefinition": 1,
        KEY: 2,
        SECRET: 1,
        ASSIGNMENT: 7,
        "azure-native:storage:StorageAccount": 1,
        "azure-native:storage:BlobContainer": 1,
        "azure-native:storage:BlobContainerImmutabilityPolicy": 1,
        "azure-native:operationalinsights:Workspace": 1,
        DIAGNOSTICS: 1,
        # monitoring.notify: misuse alerts (KM-MON-001)
        "keyplane:azure:MisuseAlerts": 1,
        "azure-native:monitor:ActivityLogAlert": 7,
        "azure-native:monitor:ScheduledQueryRule": 1,
    }


def test_keys_and_secrets_keep_their_declared_names(prod: RenderResult) -> None:
    stem = "urn:pulumi:prod-azure::keyplane::keyplane:azure:Environment$keyplane:azure:KeyVault$"
    urns = {r.urn for r in prod.resources}
    assert {f"{stem}{KEY}::acme-orders-db", f"{stem}{KEY}::session-signing"} <= urns
    assert f"{stem}{SECRET}::acme-payments-api" in urns
    assert inputs(prod, KEY, "acme-orders-db")["keyName"] == "acme-orders-db"


def test_who_may_do_what_is_exactly_the_declared_access(prod: RenderResult) -> None:
    assert assignments(prod) == {
        # administrators manage keys (no cryptographic use) and secrets, at vault scope
        (f"vaults/{VAULT_NAME}", f"keyplane Key Administrator ({VAULT_NAME})", ADMIN),
        (f"vaults/{VAULT_NAME}", "Key Vault Secrets Officer", ADMIN),
        # auditors read metadata and the audit logs
        (f"vaults/{VAULT_NAME}", "Key Vault Reader", AUDITOR),
        (
            "storageAccounts/prodazurelogsbd47f32d/blobServices/default/containers/"
            "insights-logs-auditevent",
            "Storage Blob Data Reader",
            AUDITOR,
        ),
        ("workspaces/prod-azure-kms-audit-2418cb", "Log Analytics Reader", AUDITOR),
        # users on their own key only
        (f"vaults/{VAULT_NAME}/keys/acme-orders-db", "Key Vault Crypto User", ORDERS),
        (f"vaults/{VAULT_NAME}/keys/session-signing", "Key Vault Crypto User", SESSIONS),
    }


def test_no_assignment_is_broader_than_the_vault(prod: RenderResult) -> None:
    for assignment in of_type(prod, ASSIGNMENT).values():
        assert assignment.inputs["scope"].startswith(f"{RG_ID}/providers/")
        assert assignment.inputs["principalId"] != "*"
    # Owner, Contributor and Reader are never assigned.
    forbidden = {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    }
    for assignment in of_type(prod, ASSIGNMENT).values():
        assert assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1] not in forbidden


def test_the_vault_is_premium_rbac_purge_protected_and_private(prod: RenderResult) -> None:
    vault = of_type(prod, VAULT)["prod-azure-vault"]
    assert vault.protect
    assert dict(vault.inputs) == {
        "vaultName": VAULT_NAME,
        "resourceGroupName": "kms-prod",
        "location": "westeurope",
        "tags": {"keyplane-environment": "prod-azure", "keyplane-managed": "true"},
        "properties": {
            "tenantId": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
            "sku": {"family": "A", "name": "premium"},
            "enableRbacAuthorization": True,
            "enableSoftDelete": True,
            "enablePurgeProtection": True,
            "softDeleteRetentionInDays": 90,
            "publicNetworkAccess": "Disabled",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            "enabledForDeployment": False,
            "enabledForDiskEncryption": False,
            "enabledForTemplateDeployment": False,
        },
    }


def test_production_keys_are_hsm_keys_that_rotate(prod: RenderResult) -> None:
    orders = of_type(prod, KEY)["acme-orders-db"]
    assert orders.protect
    assert orders.inputs["properties"] == {
        "kty": "RSA-HSM",
        "keySize": 3072,
        "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        "attributes": {"enabled": True, "exportable": False},
        "rotationPolicy": {
            "attributes": {"expiryTime": "P395D"},
            "lifetimeActions": [
                {"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P365D"}},
                {"action": {"type": "notify"}, "trigger": {"timeBeforeExpiry": "P30D"}},
            ],
        },
    }
    assert orders.inputs["tags"] == {
        "keyplane-environment": "prod-azure",
        "keyplane-purpose": "database-encryption",
        "keyplane-tenant": "acme",
        "keyplane-managed": "true",
    }
    signing = inputs(prod, KEY, "session-signing")["properties"]
    assert (signing["kty"], signing["curveName"], signing["keyOps"]) == (
        "EC-HSM",
        "P-256",
        ["sign", "verify"],
    )
    assert signing["rotationPolicy"]["lifetimeActions"][0]["trigger"] == {
        "timeAfterCreate": "P180D"
    }


def test_secret_values_are_pulumi_secrets_and_secrets_expire(prod: RenderResult) -> None:
    secret = of_type(prod, SECRET)["acme-payments-api"]
    value = secret.inputs["properties"]["value"]
    assert value[SIG_KEY] == SECRET_SIG
    assert secret.inputs["properties"]["attributes"] == {
        "enabled": True,
        "expires": 1775001600,  # 2026-01-01 + 90 days, 00:00 UTC
    }
    assert secret.inputs["tags"]["keyplane-purpose"] == "api-secret"
    assert secret.protect


def test_a_secret_without_a_value_is_left_out_until_one_is_given() -> None:
    result = render_env(bundled())
    assert not of_type(result, SECRET)
    assert result.outputs["secret_ids"] == {}


def test_diagnostic_settings_send_the_vault_audit_logs_to_both_destinations(
    prod: RenderResult,
) -> None:
    setting = of_type(prod, DIAGNOSTICS)["prod-azure-audit-vault-diagnostics"]
    assert dict(setting.inputs) == {
        "name": "keyplane-prod-azure-audit",
        "resourceUri": VAULT_ID,
        "logs": [{"categoryGroup": "audit", "enabled": True}],
        "storageAccountId": f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/"
        "prodazurelogsbd47f32d",
        "workspaceId": f"{RG_ID}/providers/Microsoft.OperationalInsights/workspaces/"
        "prod-azure-kms-audit-2418cb",
    }


def test_development_keys_are_software_and_unprotected() -> None:
    env = bundled()
    env = env.model_copy(
        update={
            "name": "dev-azure",
            "tier": Tier.DEVELOPMENT,
            "hsm": env.hsm.model_copy(update={"enabled": False}),
        }
    )
    result = render_env(env)
    ktys = {n: k.inputs["properties"]["kty"] for n, k in of_type(result, KEY).items()}
    assert ktys == {"acme-orders-db": "RSA", "session-signing": "EC"}
    assert not any(r.protect for r in result.resources)


def test_backup_keys_live_in_their_own_vault_with_their_own_administrators() -> None:
    env = bundled()
    backup_admin = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    backup = KeySpec(
        name="acme-backups", purpose=KeyPurpose.BACKUP_ENCRYPTION, algorithm="RSA-4096"
    )
    env = env.model_copy(
        update={
            "keys": (*env.keys, backup),
            "access": env.access.model_copy(update={"backup_key_admins": (backup_admin,)}),
        }
    )
    result = render_env(env)
    vaults = {v.inputs["vaultName"] for v in of_type(result, VAULT).values()}
    backup_vault = "prod-azure-backup-77256e"
    assert vaults == {VAULT_NAME, backup_vault}
    assert inputs(result, KEY, "acme-backups")["vaultName"] == backup_vault
    admins = {
        (scope, principal)
        for scope, role, principal in assignments(result)
        if role.startswith("keyplane Key Administrator")
    }
    assert admins == {(f"vaults/{VAULT_NAME}", ADMIN), (f"vaults/{backup_vault}", backup_admin)}
    targets = {
        s.inputs["resourceUri"].rsplit("/", 1)[-1] for s in of_type(result, DIAGNOSTICS).values()
    }
    assert targets == {VAULT_NAME, backup_vault}


def test_an_existing_resource_group_is_used_as_is() -> None:
    result = render_env(bundled(), create_resource_group=False)
    assert not of_type(result, "azure-native:resources:ResourceGroup")
    assert inputs(result, VAULT, "prod-azure-vault")["resourceGroupName"] == "kms-prod"


def test_principal_types_are_sent_only_where_declared() -> None:
    result = render_env(bundled(), principal_types={ORDERS: "ServicePrincipal", ADMIN: "Group"})
    types = {
        (r.inputs["principalId"], r.inputs.get("principalType"))
        for r in of_type(result, ASSIGNMENT).values()
    }
    assert types == {
        (ADMIN, "Group"),
        (AUDITOR, None),
        (ORDERS, "ServicePrincipal"),
        (SESSIONS, None),
    }


def test_role_assignment_names_are_stable_guids() -> None:
    first = {
        r.name: r.inputs["roleAssignmentName"]
        for r in of_type(render_env(bundled()), ASSIGNMENT).values()
    }
    again = {
        r.name: r.inputs["roleAssignmentName"]
        for r in of_type(render_env(bundled()), ASSIGNMENT).values()
    }
    assert first == again
    assert len(set(first.values())) == len(first)
    assert all(len(v) == 36 and v.count("-") == 4 for v in first.values())


def test_outputs(prod: RenderResult) -> None:
    assert prod.outputs["vault_ids"] == {VAULT_NAME: VAULT_ID}
    assert prod.outputs["key_ids"] == {
        "acme-orders-db": f"{VAULT_ID}/keys/acme-orders-db",
        "session-signing": f"{VAULT_ID}/keys/session-signing",
    }
    assert prod.outputs["secret_ids"] == {
        "acme-payments-api": f"{VAULT_ID}/secrets/acme-payments-api"
    }


def test_an_environment_on_another_cloud_is_refused() -> None:
    env = bundled("prod-gcp")
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: AzureEnvironment("prod-gcp", env), stack="prod-gcp")
    assert str(caught.value) == (
        "Invalid \"env\" argument: environment 'prod-gcp' is on gcp, not azure; provision it "
        "with the component of its cloud"
    )


def test_an_aes_key_is_refused_because_it_needs_a_managed_hsm() -> None:
    env = bundled()
    aes = KeySpec(
        name="app-data", purpose=KeyPurpose.APPLICATION_ENCRYPTION, algorithm="AES-256", hsm=True
    )
    env = env.model_copy(update={"keys": (*env.keys, aes)})
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: AzureEnvironment("prod-azure", env))
    assert str(caught.value) == (
        "Invalid \"keys\" argument: key 'app-data': Azure offers AES-256 only as oct-HSM in a "
        "Managed HSM, which keyplane does not provision (premium vaults hold RSA-HSM and EC-HSM "
        "keys); use RSA-2048 or larger"
    )


def test_a_wildcard_user_is_refused() -> None:
    env = bundled()
    users = (env.access.key_users[0].model_copy(update={"principal": "*"}),)
    env = env.model_copy(update={"access": env.access.model_copy(update={"key_users": users})})
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: AzureEnvironment("prod-azure", env))
    assert str(caught.value) == (
        "Invalid \"users\" argument: '*' (on 'acme-orders-db') is everyone; keyplane never "
        "grants keys or secrets to everyone (KM-ACC-001): remove it"
    )


def test_a_value_for_an_undeclared_secret_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        run(lambda: AzureEnvironment("prod-azure", bundled(), secret_values={"typo": "x"}))
    assert str(caught.value) == (
        "Invalid \"secret_values\" argument: no secret of 'prod-azure-vault' is named 'typo'"
    )
