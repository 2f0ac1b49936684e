"""The Terraform-bridged azure provider (pulumi-azure, "classic"): its Key Vault, keys, secrets,
access policies, role assignments, diagnostic settings, alerts, storage immutability and
certificates are read as the same facts as their azure-native twins, judged alike in process,
through `scan` and through checkov, and a change to one is a diff risk (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource, unread_type
from keyplane.adapters.terraform import facts_from_values
from keyplane.cli.app import app
from keyplane.facts.model import (
    AccessBinding,
    Certificate,
    DiagnosticSetting,
    Key,
    SecretValue,
    Vault,
)
from keyplane.terraform.azure import CLASSIC_TYPES
from tests.checkov.support import checkov_failures, in_process_failures, registration, scan
from tests.policy.stacks import (
    ACTION_GROUP,
    AS_OF,
    AZ_ADMIN,
    AZ_BACKUP_ADMIN,
    AZ_IDENTITY,
    AZ_ORDERS,
    CRYPTO_USER,
    DELETE,
    KEY_ADMIN_ROLE,
    RG,
    STORAGE_ID,
    VAULTS,
    azure_context,
    azure_stack,
    messages,
    mutate,
    res,
    secret,
    tags,
    urn,
)

VAULT = "azure:keyvault/keyVault:KeyVault"
KEY = "azure:keyvault/key:Key"
ASSIGN = "azure:authorization/assignment:Assignment"
ROLE_DEF = "azure:authorization/roleDefinition:RoleDefinition"
TENANT = "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
runner = CliRunner()


def vault(name: str, vault_name: str) -> PulumiResource:
    return res(
        VAULT,
        name,
        {
            "name": vault_name,
            "resourceGroupName": "kms-prod",
            "location": "westeurope",
            "skuName": "premium",
            "tenantId": TENANT,
            "purgeProtectionEnabled": True,
            "enableRbacAuthorization": True,
            "publicNetworkAccessEnabled": False,
            "softDeleteRetentionDays": 90.0,
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            "tags": tags(),
        },
        protect=True,
    )


def key(
    name: str,
    vault_name: str,
    purpose: str,
    tenant: str | None = None,
    rotation_days: int = 365,
    **properties: Any,
) -> PulumiResource:
    vault_resource = {"kv-prod": "primary-vault", "kv-prod-backup": "backup-vault"}[vault_name]
    body = {
        "name": name,
        "keyVaultId": f"{VAULTS}/{vault_name}",
        "keyType": "RSA-HSM",
        "keySize": 3072.0,
        "keyOpts": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        "rotationPolicy": {
            "expireAfter": f"P{rotation_days + 30}D",
            "notifyBeforeExpiry": "P30D",
            "automatic": {"timeAfterCreation": f"P{rotation_days}D"},
        },
        "tags": tags(purpose, tenant),
        **properties,
    }
    return res(
        KEY,
        name,
        {k: v for k, v in body.items() if v is not None},
        protect=True,
        deps={"keyVaultId": [urn(VAULT, vault_resource)]},
    )


def assignment(
    name: str, principal: str, role: dict[str, str], scope: str, scope_deps: Sequence[str]
) -> PulumiResource:
    return res(
        ASSIGN,
        name,
        {"principalId": principal, "scope": scope, **role},
        deps={"scope": list(scope_deps)},
    )


def classic_stack() -> list[PulumiResource]:
    """azure_stack (tests/policy/stacks.py) written with pulumi-azure."""
    primary, backup = urn(VAULT, "primary-vault"), urn(VAULT, "backup-vault")
    admin_role = {"roleDefinitionId": KEY_ADMIN_ROLE}
    return [
        vault("primary-vault", "kv-prod"),
        vault("backup-vault", "kv-prod-backup"),
        key("acme-orders-db", "kv-prod", "database-encryption", tenant="acme"),
        key("platform-backup", "kv-prod-backup", "backup-encryption"),
        key(
            "session-signing",
            "kv-prod",
            "token-signing",
            rotation_days=180,
            keyType="EC-HSM",
            keySize=None,
            curve="P-256",
            keyOpts=["sign", "verify"],
        ),
        res(
            ROLE_DEF,
            "key-administrator",
            {
                "name": "keyplane Key Administrator",
                "roleDefinitionId": "0113e10f-51b1-5d25-9d8d-c45b086e84cf",
                "scope": RG,
                "permissions": [
                    {
                        "actions": ["Microsoft.KeyVault/vaults/read"],
                        "dataActions": [
                            "Microsoft.KeyVault/vaults/keys/read",
                            "Microsoft.KeyVault/vaults/keys/create/action",
                            "Microsoft.KeyVault/vaults/keys/rotate/action",
                            "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
                        ],
                        "notDataActions": [
                            "Microsoft.KeyVault/vaults/keys/encrypt/action",
                            "Microsoft.KeyVault/vaults/keys/decrypt/action",
                        ],
                    }
                ],
            },
        ),
        assignment("primary-admin", AZ_ADMIN, admin_role, f"{VAULTS}/kv-prod", [primary]),
        assignment(
            "backup-admin", AZ_BACKUP_ADMIN, admin_role, f"{VAULTS}/kv-prod-backup", [backup]
        ),
        assignment(
            "orders-user",
            AZ_ORDERS,
            # A built-in role by name, as pulumi-azure allows.
            {"roleDefinitionName": "Key Vault Crypto User"},
            f"{VAULTS}/kv-prod/keys/acme-orders-db",
            [urn(KEY, "acme-orders-db"), primary],
        ),
        assignment(
            "identity-user",
            AZ_IDENTITY,
            {"roleDefinitionId": CRYPTO_USER},
            f"{VAULTS}/kv-prod/keys/session-signing",
            [urn(KEY, "session-signing"), primary],
        ),
        res(
            "azure:keyvault/secret:Secret",
            "acme-payments-api",
            {
                "name": "acme-payments-api",
                "keyVaultId": f"{VAULTS}/kv-prod",
                "value": secret("s3cr3t"),
                "expirationDate": f"{AS_OF.replace(month=12, day=23).isoformat()}T00:00:00Z",
                "tags": tags("api-secret", "acme"),
            },
            protect=True,
            deps={"keyVaultId": [primary]},
        ),
        *(
            res(
                "azure:monitoring/diagnosticSetting:DiagnosticSetting",
                f"{name}-diagnostics",
                {
                    "name": f"{name}-diagnostics",
                    "targetResourceId": f"{VAULTS}/{vault_name}",
                    "enabledLogs": [{"categoryGroup": "audit"}],
                    "storageAccountId": STORAGE_ID,
                },
                deps={"targetResourceId": [urn(VAULT, name)]},
            )
            for name, vault_name in (
                ("primary-vault", "kv-prod"),
                ("backup-vault", "kv-prod-backup"),
            )
        ),
        *(
            res(
                "azure:monitoring/activityLogAlert:ActivityLogAlert",
                f"{label}-alert",
                {
                    "name": f"{label}-alert",
                    "resourceGroupName": "kms-prod",
                    "scopes": [RG],
                    "criteria": {"category": "Administrative", "operationName": operation},
                    "actions": [{"actionGroupId": ACTION_GROUP}],
                    "tags": tags(),
                },
            )
            for label, operation in (
                ("vault-delete", "Microsoft.KeyVault/vaults/delete"),
                ("role-assignment", "Microsoft.Authorization/roleAssignments/write"),
            )
        ),
        res(
            "azure:monitoring/scheduledQueryRulesAlertV2:ScheduledQueryRulesAlertV2",
            "failed-key-use-alert",
            {
                "name": "failed-key-use-alert",
                "scopes": [f"{RG}/providers/Microsoft.OperationalInsights/workspaces/audit"],
                "criterias": [
                    {
                        "query": "AzureDiagnostics | where ResourceProvider == "
                        '"MICROSOFT.KEYVAULT" | where ResultType != "Success"',
                        "operator": "GreaterThan",
                        "threshold": 0.0,
                        "timeAggregationMethod": "Count",
                    }
                ],
                "action": {"actionGroups": [ACTION_GROUP]},
                "tags": tags(),
            },
        ),
        res(
            "azure:storage/account:Account",
            "audit-storage",
            {
                "name": "prodauditlogs",
                "accountKind": "StorageV2",
                "accountTier": "Standard",
                "accountReplicationType": "GRS",
                "minTlsVersion": "TLS1_2",
                "blobProperties": {"versioningEnabled": True},
                "immutabilityPolicy": {
                    "periodSinceCreationInDays": 400.0,
                    "state": "Locked",
                    "allowProtectedAppendWrites": False,
                },
                "tags": tags(),
            },
            protect=True,
        ),
    ]


# (label, classic resource, classic input path, value, native resource, native path, value)
MUTATIONS: Sequence[tuple[str, str, tuple[str, ...], Any, tuple[str | int, ...], Any]] = (
    (
        "no-purge",
        "primary-vault",
        ("purgeProtectionEnabled",),
        False,
        ("properties", "enablePurgeProtection"),
        False,
    ),
    (
        "public",
        "primary-vault",
        ("publicNetworkAccessEnabled",),
        True,
        ("properties", "publicNetworkAccess"),
        "Enabled",
    ),
    (
        "soft-delete-7",
        "primary-vault",
        ("softDeleteRetentionDays",),
        7.0,
        ("properties", "softDeleteRetentionInDays"),
        7.0,
    ),
    (
        "no-rbac",
        "primary-vault",
        ("enableRbacAuthorization",),
        False,
        ("properties", "enableRbacAuthorization"),
        False,
    ),
    (
        "no-rotation",
        "acme-orders-db",
        ("rotationPolicy",),
        DELETE,
        ("properties", "rotationPolicy"),
        DELETE,
    ),
    ("rsa-1024", "acme-orders-db", ("keySize",), 1024.0, ("properties", "keySize"), 1024.0),
    ("software", "acme-orders-db", ("keyType",), "RSA", ("properties", "kty"), "RSA"),
    (
        "rotation-400",
        "acme-orders-db",
        ("rotationPolicy", "automatic", "timeAfterCreation"),
        "P400D",
        ("properties", "rotationPolicy", "lifetimeActions", 0, "trigger", "timeAfterCreate"),
        "P400D",
    ),
    ("plaintext", "acme-payments-api", ("value",), "hunter2", ("properties", "value"), "hunter2"),
    (
        "owner",
        "orders-user",
        ("roleDefinitionName",),
        "Owner",
        ("roleDefinitionId",),
        "/subscriptions/5f0c3a9e-1b2d-4c6e-8f00-0123456789ab/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    ),
)


def test_the_classic_baseline_is_judged_like_the_native_one() -> None:
    classic = messages(classic_stack(), azure_context())
    assert classic == messages(azure_stack(), azure_context())


def test_every_classic_resource_of_the_baseline_is_read() -> None:
    assert [r.type for r in classic_stack() if unread_type(r.type)] == []
    assert {row.token for row in CLASSIC_TYPES} <= {
        *(r.type for r in classic_stack()),
        "azure:keyvault/accessPolicy:AccessPolicy",
        "azure:keyvault/managedHardwareSecurityModule:ManagedHardwareSecurityModule",
        "azure:keyvault/certificate:Certificate",
        "azure:storage/containerImmutabilityPolicy:ContainerImmutabilityPolicy",
    }


@pytest.mark.parametrize(
    ("label", "name", "path", "value", "native_path", "native_value"),
    MUTATIONS,
    ids=[m[0] for m in MUTATIONS],
)
def test_each_classic_mutation_fails_like_its_native_twin(
    label: str,
    name: str,
    path: tuple[str, ...],
    value: Any,
    native_path: tuple[str | int, ...],
    native_value: Any,
) -> None:
    context = azure_context()
    baseline = messages(classic_stack(), context)
    classic = messages(mutate(classic_stack(), name, path, value), context) - baseline
    native = {
        # Each form names the input it reads: azure-native's `properties.value`, azurerm's `value`.
        m.replace(" properties.value holds", " value holds")
        for m in messages(mutate(azure_stack(), name, native_path, native_value), context)
        - baseline
    }
    assert classic, label
    assert classic == native


def test_inline_access_policies_are_grants_when_rbac_is_off() -> None:
    [resource] = mutate(
        [vault("primary-vault", "kv-prod")], "primary-vault", ("enableRbacAuthorization",), False
    )
    inputs = {
        **resource.inputs,
        "accessPolicies": [
            {
                "tenantId": TENANT,
                "objectId": "deadbeef-0000-4000-8000-000000000000",
                "keyPermissions": ["Get", "Decrypt"],
                "secretPermissions": [],
            }
        ],
    }
    facts = facts_from_resource(PulumiResource(VAULT, "v", urn(VAULT, "v"), inputs))
    [binding] = [f for f in facts if isinstance(f, AccessBinding)]
    assert binding.grants != () and [g.principal for g in binding.grants] == [  # type: ignore[union-attr]
        "deadbeef-0000-4000-8000-000000000000"
    ]
    [vault_facts] = [f for f in facts if isinstance(f, Vault)]
    assert vault_facts.type == VAULT and vault_facts.rbac_authorization is False


def test_a_separate_access_policy_grants_on_its_vault() -> None:
    policy = res(
        "azure:keyvault/accessPolicy:AccessPolicy",
        "ops",
        {
            "keyVaultId": f"{VAULTS}/kv-prod",
            "tenantId": TENANT,
            "objectId": "deadbeef-0000-4000-8000-000000000000",
            "keyPermissions": ["Get", "Decrypt", "Sign"],
        },
        deps={"keyVaultId": [urn(VAULT, "primary-vault")]},
    )
    [binding] = facts_from_resource(policy)
    assert isinstance(binding, AccessBinding)
    assert binding.target is not None and binding.target.urns == (urn(VAULT, "primary-vault"),)
    granted = (
        "granted to principals environment prod does not declare: "
        "deadbeef-0000-4000-8000-000000000000 (microsoft.keyvault/vaults/keys/read, "
        "microsoft.keyvault/vaults/keys/decrypt/action, microsoft.keyvault/vaults/keys/sign/action "
        "through statement access policy of azure:keyvault/accessPolicy:AccessPolicy ops); remove "
        "the grants, or declare the principals in the environment file's access block."
    )
    assert found_messages([*classic_stack(), policy]) == {
        f"KM-ACC-004 {name}: {granted}" for name in ("acme-orders-db", "session-signing")
    }


def found_messages(stack: list[PulumiResource]) -> set[str]:
    return messages(stack, azure_context()) - messages(classic_stack(), azure_context())


def test_managed_hsm_is_a_vault() -> None:
    hsm = res(
        "azure:keyvault/managedHardwareSecurityModule:ManagedHardwareSecurityModule",
        "hsm",
        {
            "name": "prod-hsm",
            "skuName": "Standard_B1",
            "tenantId": TENANT,
            "adminObjectIds": [AZ_ADMIN],
            "purgeProtectionEnabled": False,
            "softDeleteRetentionDays": 90.0,
            "publicNetworkAccessEnabled": False,
        },
    )
    [facts] = [f for f in facts_from_resource(hsm) if isinstance(f, Vault)]
    assert (facts.managed_hsm, facts.purge_protection, facts.public_network_access) == (
        True,
        False,
        False,
    )


CERTIFICATE: dict[str, Any] = {
    "name": "api",
    "keyVaultId": f"{VAULTS}/kv-prod",
    "certificatePolicy": {
        "issuerParameters": {"name": "Self"},
        "keyProperties": {
            "exportable": True,
            "keyType": "RSA",
            "keySize": 2048.0,
            "reuseKey": False,
        },
        "lifetimeActions": [
            {"action": {"actionType": "AutoRenew"}, "trigger": {"daysBeforeExpiry": 30.0}}
        ],
        "secretProperties": {"contentType": "application/x-pkcs12"},
        "x509CertificateProperties": {
            "subject": "CN=api.acme.example",
            "validityInMonths": 12.0,
            "keyUsages": ["digitalSignature", "keyEncipherment"],
        },
    },
    "tags": tags("tls-certificate"),
}


def certificate(**changes: Any) -> PulumiResource:
    inputs = json.loads(json.dumps(CERTIFICATE))
    for path, value in changes.items():
        node = inputs
        *head, last = path.split("__")
        for part in head:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return res("azure:keyvault/certificate:Certificate", "api", inputs)


def _crt(resource: PulumiResource) -> set[str]:
    return {
        m
        for m in messages([resource], azure_context())
        if m.startswith(("KM-CRT-001", "KM-STO-001"))
    }


def test_an_auto_renewing_certificate_passes() -> None:
    [facts] = [f for f in facts_from_resource(certificate()) if isinstance(f, Certificate)]
    assert (facts.renews_automatically, facts.algorithm) == (True, "RSA-2048")
    assert _crt(certificate()) == set()


def test_a_certificate_without_auto_renew_fails() -> None:
    emailed = certificate(
        certificatePolicy__lifetimeActions=[
            {"action": {"actionType": "EmailContacts"}, "trigger": {"daysBeforeExpiry": 30.0}}
        ]
    )
    [message] = _crt(emailed)
    assert message.startswith("KM-CRT-001 api:") and "lifetime action EmailContacts" in message


def test_a_certificate_with_a_short_rsa_key_fails() -> None:
    [message] = _crt(certificate(certificatePolicy__keyProperties__keySize=1024.0))
    assert message.startswith("KM-CRT-001 api:") and "RSA-1024" in message


CERT = "azure:keyvault/certificate:Certificate"
IMPORTED = res(
    CERT,
    "api-imported",
    {
        "name": "api",
        "keyVaultId": f"{VAULTS}/kv-prod",
        "certificate": {"contents": "MIIKPAIBAzCCCf", "password": ""},
    },
)
CERTIFICATE_1024 = {
    **CERTIFICATE,
    "certificatePolicy": {
        **CERTIFICATE["certificatePolicy"],
        "keyProperties": {
            "exportable": True,
            "keyType": "RSA",
            "keySize": 1024.0,
            "reuseKey": False,
        },
    },
}


def test_an_imported_certificate_in_clear_fails_both_rules() -> None:
    found = _crt(IMPORTED)
    assert {m.split(" ", 1)[0] for m in found} == {"KM-CRT-001", "KM-STO-001"}
    assert any("certificate.contents holds a plain-text value" in m for m in found)


def test_the_plan_form_of_a_certificate_reads_alike() -> None:
    plan_facts = facts_from_values(
        "azurerm_key_vault_certificate",
        {
            "name": "api",
            "certificate_policy": [
                {
                    "key_properties": [{"key_type": "EC", "curve": "P-384", "exportable": True}],
                    "lifetime_action": [
                        {
                            "action": [{"action_type": "AutoRenew"}],
                            "trigger": [{"days_before_expiry": 30}],
                        }
                    ],
                }
            ],
        },
        address="azurerm_key_vault_certificate.api",
    )
    [facts] = [f for f in plan_facts if isinstance(f, Certificate)]
    assert (facts.renews_automatically, facts.algorithm) == (True, "ECDSA-P384")


def test_the_secrets_expiry_date_is_read_from_rfc3339() -> None:
    [secret_resource] = [r for r in classic_stack() if r.name == "acme-payments-api"]
    facts = facts_from_resource(secret_resource)
    assert {type(f).__name__ for f in facts} >= {"Secret", "SecretValue"}
    [value] = [f for f in facts if isinstance(f, SecretValue)]
    assert (value.field, value.plaintext) == ("value", False)


def test_key_facts_match_their_native_twin() -> None:
    [classic] = facts_from_resource(next(r for r in classic_stack() if r.name == "session-signing"))
    [native] = facts_from_resource(next(r for r in azure_stack() if r.name == "session-signing"))
    assert isinstance(classic, Key) and isinstance(native, Key)
    for name in ("algorithm", "usage", "rotation_enabled", "rotation_days", "origin", "protection"):
        assert getattr(classic, name) == getattr(native, name), name


# --- through scan, checkov and diff ----------------------------------------------------------


def export(resources: Sequence[PulumiResource]) -> dict[str, Any]:
    stack = "urn:pulumi:prod::keyplane::pulumi:pulumi:Stack::keyplane-prod"
    return {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": stack, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}},
                *(
                    {
                        "urn": r.urn,
                        "custom": True,
                        "type": r.type,
                        "inputs": dict(r.inputs),
                        "outputs": {},
                        "parent": stack,
                        "protect": r.protect,
                        "propertyDependencies": {
                            k: list(v) for k, v in r.property_dependencies.items()
                        },
                    }
                    for r in resources
                ),
            ]
        },
    }


def _scan(
    tmp_path: Path, resources: Sequence[PulumiResource], name: str
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(export(resources)))
    result = runner.invoke(
        app,
        ["scan", str(path), "--no-checkov", "--format", "json", "--as-of", AS_OF.isoformat()],
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_scan_of_a_classic_vault_without_purge_protection(tmp_path: Path) -> None:
    _, clean = _scan(tmp_path, classic_stack(), "baseline")
    baseline = {f["message"] for f in clean["findings"] if f["enforcement"] == "mandatory"}
    code, document = _scan(
        tmp_path,
        mutate(classic_stack(), "primary-vault", ("purgeProtectionEnabled",), False),
        "mutated",
    )
    added = {
        f["message"] for f in document["findings"] if f["enforcement"] == "mandatory"
    } - baseline
    assert code == 1
    assert (
        "KM-STO-002 primary-vault: purge protection is off; set enablePurgeProtection to true."
        in added
    )
    assert not any(f["rule"] == "KM-COV-001" for f in document["findings"])


CHECKOV_MUTATIONS = [m for m in MUTATIONS if m[0] != "owner"]


@pytest.fixture(scope="module")
def scanned() -> tuple[Any, Any, list[PulumiResource]]:
    resources = list(classic_stack())
    for label, name, path, value, _, _ in CHECKOV_MUTATIONS:
        [resource] = [r for r in mutate(classic_stack(), name, path, value) if r.name == name]
        renamed = f"{name}-{label}"
        resources.append(
            PulumiResource(
                type=resource.type,
                name=renamed,
                urn=resource.urn.replace(f"::{name}", f"::{renamed}"),
                inputs=resource.inputs,
                protect=resource.protect,
                property_dependencies=resource.property_dependencies,
            )
        )
    resources += [certificate(), IMPORTED, res(CERT, "api-1024", CERTIFICATE_1024)]
    plan, run = scan([registration(r) for r in resources], azure_context())
    return plan, run, resources


def test_checkov_gives_the_classic_resources_the_packs_verdicts(
    scanned: tuple[Any, Any, list[PulumiResource]],
) -> None:
    plan, run, resources = scanned
    names = {urn: address.split(".", 1)[1] for address, urn in plan.urn_by_address.items()}
    failures = checkov_failures(run)
    assert failures == in_process_failures(resources, azure_context(), names)
    failed = {urn.rsplit("::", 1)[-1] for urn, _ in failures}
    assert {f"{name}-{label}" for label, name, *_ in CHECKOV_MUTATIONS} <= failed
    assert not failed & {r.name for r in [*classic_stack(), certificate()]}
    assert {rule for urn, rule in failures if urn.endswith("::api-imported")} == {
        "KM-CRT-001",
        "KM-STO-001",
    }
    assert {rule for urn, rule in failures if urn.endswith("::api-1024")} == {"KM-CRT-001"}


def test_turning_purge_protection_off_is_a_diff_risk(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(export(classic_stack())))
    after.write_text(
        json.dumps(
            export(mutate(classic_stack(), "primary-vault", ("purgeProtectionEnabled",), False))
        )
    )
    result = runner.invoke(app, ["diff", str(before), str(after), "--format", "json"])
    document = json.loads(result.stdout)
    risks = {(c["name"], r["rule"]) for c in document["changes"] for r in c["risks"]}
    assert ("primary-vault", "KM-DEL-001") in risks


@pytest.mark.parametrize(("enabled", "expected"), [(True, {"AuditEvent"}), (False, set())])
def test_a_diagnostic_settings_deprecated_log_blocks_are_read(
    enabled: bool, expected: set[str]
) -> None:
    setting = res(
        "azure:monitoring/diagnosticSetting:DiagnosticSetting",
        "kv-diagnostics",
        {
            "targetResourceId": f"{VAULTS}/kv-prod",
            "logs": [{"category": "AuditEvent", "enabled": enabled}],
            "storageAccountId": STORAGE_ID,
        },
    )
    [facts] = facts_from_resource(setting)
    assert isinstance(facts, DiagnosticSetting) and facts.enabled_logs == frozenset(expected)
    plan = facts_from_values(
        "azurerm_monitor_diagnostic_setting",
        {
            "target_resource_id": f"{VAULTS}/kv-prod",
            "log": [{"category": "AuditEvent", "enabled": enabled}],
        },
        address="azurerm_monitor_diagnostic_setting.kv",
    )
    assert [f.enabled_logs for f in plan if isinstance(f, DiagnosticSetting)] == [
        frozenset(expected)
    ]
