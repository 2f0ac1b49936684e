"""Compliant baseline stacks per cloud, written as the analyzer receives them, and mutations.

Each baseline is one production environment "prod" with a primary key, a backup key, a key its
cloud cannot rotate (AWS, GCP) or a signing key (Azure), grants, a secret, audit logging and
immutable log storage. Every rule passes on it; a test changes one field and asserts exactly what
fails.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from keyplane.adapters.pulumi import PulumiResource, stack_facts
from keyplane.findings import ExceptionScope, Finding
from keyplane.rules.context import Context, OtherEnvironment
from keyplane.rules.judge import judge
from keyplane.standard import Cloud, Isolation, Tier
from keyplane.wire import SECRET_SIG, SIG_KEY

AS_OF = date(2026, 11, 23)
ENV = "prod"
UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
DELETE = object()


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{ENV}::keyplane::{type_}::{name}"


def res(
    type_: str,
    name: str,
    inputs: Mapping[str, Any],
    *,
    protect: bool = False,
    deps: Mapping[str, Sequence[str]] | None = None,
) -> PulumiResource:
    return PulumiResource(
        type=type_,
        name=name,
        urn=urn(type_, name),
        inputs=inputs,
        protect=protect,
        property_dependencies={k: tuple(v) for k, v in (deps or {}).items()},
    )


def secret(value: Any) -> dict[str, Any]:
    return {SIG_KEY: SECRET_SIG, "value": value}


def tags(purpose: str | None = None, tenant: str | None = None, **extra: str) -> dict[str, str]:
    result = {"keyplane-managed": "true", "keyplane-environment": ENV}
    if purpose:
        result["keyplane-purpose"] = purpose
    if tenant:
        result["keyplane-tenant"] = tenant
    result.update({k.replace("_", "-"): v for k, v in extra.items()})
    return result


ROTATE_BY = (AS_OF + timedelta(days=100)).isoformat()

# --- AWS ------------------------------------------------------------------------------------

ACCOUNT = "111111111111"
DEV_ACCOUNT = "333333333333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-key-admin"
BACKUP_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/backup-key-admin"
AUDITOR = f"arn:aws:iam::{ACCOUNT}:role/security-audit"
ORDERS = f"arn:aws:iam::{ACCOUNT}:role/acme-orders-service"
GLOBEX = f"arn:aws:iam::{ACCOUNT}:role/globex-orders-service"
BACKUP_AGENT = f"arn:aws:iam::{ACCOUNT}:role/backup-agent"
IDENTITY = f"arn:aws:iam::{ACCOUNT}:role/identity-service"
ADMIN_ACTIONS = [
    "kms:Describe*",
    "kms:PutKeyPolicy",
    "kms:EnableKeyRotation",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
ENCRYPT_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"]
SIGN_ACTIONS = ["kms:Sign", "kms:Verify", "kms:GetPublicKey"]


def statement(principal: Any, actions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": principal if principal == "*" else {"AWS": principal},
        "Action": actions,
        "Resource": "*",
        **extra,
    }


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(principal: Any, condition: Mapping[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        body["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [body]})


MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
K, ROLE, SECRET = "aws:kms/key:Key", "aws:iam/role:Role", "aws:secretsmanager/secret:Secret"
BUCKET = "aws:s3/bucket:Bucket"


def aws_stack() -> list[PulumiResource]:
    return [
        res(
            K,
            "acme-orders-db",
            {
                "enableKeyRotation": True,
                "rotationPeriodInDays": 365.0,
                "deletionWindowInDays": 30.0,
                "tags": tags("database-encryption", "acme"),
                "policy": key_policy(
                    statement(ADMIN, ADMIN_ACTIONS), statement(ORDERS, ENCRYPT_ACTIONS)
                ),
            },
            protect=True,
        ),
        res(
            K,
            "platform-backup",
            {
                "enableKeyRotation": True,
                "deletionWindowInDays": 30.0,
                "tags": tags("backup-encryption"),
                "policy": key_policy(
                    statement(BACKUP_ADMIN, ADMIN_ACTIONS), statement(BACKUP_AGENT, ENCRYPT_ACTIONS)
                ),
            },
            protect=True,
        ),
        res(
            K,
            "session-signing",
            {
                "customerMasterKeySpec": "ECC_NIST_P256",
                "keyUsage": "SIGN_VERIFY",
                "tags": tags(
                    "token-signing",
                    keyplane_rotation_owner="identity-team",
                    keyplane_rotate_by=ROTATE_BY,
                ),
                "policy": key_policy(
                    statement(ADMIN, ADMIN_ACTIONS), statement(IDENTITY, SIGN_ACTIONS)
                ),
            },
            protect=True,
        ),
        res(
            ROLE,
            "acme-orders-service",
            {
                "name": "acme-orders-service",
                "assumeRolePolicy": trust({"Service": "ec2.amazonaws.com"}),
                "tags": tags(tenant="acme"),
            },
        ),
        res(
            ROLE,
            "platform-key-admin",
            {
                "name": "platform-key-admin",
                "assumeRolePolicy": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops-sso"}, MFA),
                "tags": tags(),
            },
        ),
        res(
            SECRET,
            "acme-payments-api",
            {
                "name": "prod/acme-payments-api",
                "kmsKeyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/0b7e1f6c",
                "tags": tags("api-secret", "acme"),
            },
        ),
        res(
            "aws:secretsmanager/secretRotation:SecretRotation",
            "acme-payments-api-rotation",
            {
                "secretId": UNKNOWN_WIRE,
                "rotationLambdaArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:rotate",
                "rotationRules": {"automaticallyAfterDays": 30.0},
            },
            deps={"secretId": [urn(SECRET, "acme-payments-api")]},
        ),
        res(
            "aws:secretsmanager/secretVersion:SecretVersion",
            "acme-payments-api-value",
            {"secretId": UNKNOWN_WIRE, "secretString": secret("s3cr3t")},
            deps={"secretId": [urn(SECRET, "acme-payments-api")]},
        ),
        res(
            "aws:cloudtrail/trail:Trail",
            "audit-trail",
            {
                "isMultiRegionTrail": True,
                "enableLogFileValidation": True,
                "kmsKeyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/audit",
                "s3BucketName": "prod-audit-logs",
                "tags": tags(),
            },
        ),
        res(
            BUCKET,
            "audit-logs",
            {"bucket": "prod-audit-logs", "objectLockEnabled": True, "tags": tags()},
            protect=True,
        ),
        res(
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "audit-logs-lock",
            {
                "bucket": UNKNOWN_WIRE,
                "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 400.0}},
            },
            deps={"bucket": [urn(BUCKET, "audit-logs")]},
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "audit-logs-versioning",
            {"bucket": "prod-audit-logs", "versioningConfiguration": {"status": "Enabled"}},
        ),
        # KM-MON-001: every KMS call (failures included) goes to the security topic; the use of
        # a key is a read-only management event, which a rule receives only in this state.
        res(
            "aws:cloudwatch/eventRule:EventRule",
            "kms-events",
            {
                "name": "kms-events",
                "state": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                "eventPattern": '{"source": ["aws.kms"], "detail-type": '
                '["AWS API Call via CloudTrail"]}',
                "tags": tags(),
            },
        ),
        res(
            "aws:cloudwatch/eventTarget:EventTarget",
            "kms-events-to-security",
            {"rule": "kms-events", "arn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:security-alerts"},
        ),
        res(
            "aws:cloudhsmv2/cluster:Cluster",
            "hsm",
            {"hsmType": "hsm2m.medium", "subnetIds": ["subnet-0a1b2c3d"], "tags": tags()},
            protect=True,
        ),
    ]


def aws_context(**changes: Any) -> Context:
    base: dict[str, Any] = {
        "environment": ENV,
        "as_of": AS_OF,
        "tier": Tier.PRODUCTION,
        "cloud": Cloud.AWS,
        "scope": ACCOUNT,
        "retention_days": 400,
        "key_admins": frozenset({ADMIN}),
        "backup_key_admins": frozenset({BACKUP_ADMIN}),
        "auditors": frozenset({AUDITOR}),
        "key_users": MappingProxyType(
            {ORDERS: "acme", GLOBEX: "globex", BACKUP_AGENT: None, IDENTITY: None}
        ),
        "tenants": MappingProxyType({"acme": Isolation.DEDICATED, "globex": Isolation.SHARED}),
        "shared_keys": MappingProxyType({"search-index": frozenset({"globex"})}),
        "other_environments": (
            OtherEnvironment(
                "dev",
                Tier.DEVELOPMENT,
                DEV_ACCOUNT,
                frozenset({f"arn:aws:iam::{DEV_ACCOUNT}:role/platform-key-admin"}),
            ),
        ),
    }
    base.update(changes)
    return Context(**base)


# --- GCP ------------------------------------------------------------------------------------

PROJECT = "acme-prod-kms"
RING = f"projects/{PROJECT}/locations/europe-west1/keyRings"
GCP_ADMINS = "group:kms-admins@acme.example"
GCP_BACKUP_ADMINS = "group:backup-admins@acme.example"
GCP_ORDERS = "serviceAccount:orders@acme-prod-apps.iam.gserviceaccount.com"
GCP_RELEASE = "serviceAccount:release@acme-prod-apps.iam.gserviceaccount.com"
CK, KR = "gcp:kms/cryptoKey:CryptoKey", "gcp:kms/keyRing:KeyRing"
GBUCKET = "gcp:storage/bucket:Bucket"


def gcp_key(
    name: str, ring: str, label: str, tenant: str | None = None, **inputs: Any
) -> PulumiResource:
    body = {
        "name": name,
        "keyRing": f"{RING}/prod-{ring}",
        "rotationPeriod": "31536000s",
        "destroyScheduledDuration": "2592000s",
        "versionTemplate": {"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "HSM"},
        "labels": tags(label, tenant),
        **inputs,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return res(CK, name, body, protect=True, deps={"keyRing": [urn(KR, f"{ring}-ring")]})


def gcp_member(name: str, kind: str, target: str, role: str, member: str) -> PulumiResource:
    type_ = f"gcp:kms/{kind}IAMMember:{kind[0].upper()}{kind[1:]}IAMMember"
    field = "keyRingId" if kind == "keyRing" else "cryptoKeyId"
    target_type = KR if kind == "keyRing" else CK
    return res(
        type_,
        name,
        {field: UNKNOWN_WIRE, "role": role, "member": member},
        deps={field: [urn(target_type, target)]},
    )


def gcp_stack() -> list[PulumiResource]:
    return [
        res(KR, "primary-ring", {"name": "prod-primary", "location": "europe-west1"}),
        res(KR, "backup-ring", {"name": "prod-backup", "location": "europe-west1"}),
        gcp_key("acme-orders-db", "primary", "database-encryption", tenant="acme"),
        gcp_key("platform-backup", "backup", "backup-encryption"),
        gcp_key(
            "release-signing",
            "primary",
            "token-signing",
            purpose="ASYMMETRIC_SIGN",
            rotationPeriod=None,
            versionTemplate={"algorithm": "EC_SIGN_P256_SHA256", "protectionLevel": "HSM"},
            labels=tags(
                "token-signing",
                keyplane_rotation_owner="release-team",
                keyplane_rotate_by=ROTATE_BY,
            ),
        ),
        gcp_member("primary-admins", "keyRing", "primary-ring", "roles/cloudkms.admin", GCP_ADMINS),
        gcp_member(
            "backup-admins", "keyRing", "backup-ring", "roles/cloudkms.admin", GCP_BACKUP_ADMINS
        ),
        gcp_member(
            "orders-user",
            "cryptoKey",
            "acme-orders-db",
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            GCP_ORDERS,
        ),
        gcp_member(
            "release-signer", "cryptoKey", "release-signing", "roles/cloudkms.signer", GCP_RELEASE
        ),
        res(
            "gcp:secretmanager/secret:Secret",
            "acme-payments-api",
            {
                "secretId": "acme-payments-api",
                "replication": {
                    "auto": {
                        "customerManagedEncryption": {
                            "kmsKeyName": f"{RING}/prod-primary/cryptoKeys/secrets"
                        }
                    }
                },
                "rotation": {"rotationPeriod": "7776000s"},
                "labels": tags("api-secret", "acme"),
            },
        ),
        res(
            "gcp:secretmanager/secretVersion:SecretVersion",
            "acme-payments-api-value",
            {"secret": UNKNOWN_WIRE, "secretData": secret("s3cr3t")},
        ),
        res(
            "gcp:projects/iAMAuditConfig:IAMAuditConfig",
            "kms-audit",
            {
                "project": PROJECT,
                "service": "cloudkms.googleapis.com",
                "auditLogConfigs": [
                    {"logType": "ADMIN_READ"},
                    {"logType": "DATA_READ"},
                    {"logType": "DATA_WRITE"},
                ],
            },
        ),
        res(
            "gcp:logging/projectSink:ProjectSink",
            "audit-sink",
            {
                "destination": "storage.googleapis.com/prod-audit-logs",
                "filter": 'logName:"cloudaudit.googleapis.com"',
            },
        ),
        # KM-MON-001: one log-match alert on the misuse signals.
        res(
            "gcp:monitoring/alertPolicy:AlertPolicy",
            "kms-misuse",
            {
                "displayName": "kms misuse",
                "combiner": "OR",
                "conditions": [
                    {
                        "displayName": "kms misuse",
                        "conditionMatchedLog": {
                            "filter": 'protoPayload.serviceName="cloudkms.googleapis.com" AND '
                            '(protoPayload.methodName:"DestroyCryptoKeyVersion" OR '
                            'protoPayload.methodName:"SetIamPolicy" OR '
                            '(protoPayload.methodName:"Decrypt" AND protoPayload.status.code!=0))'
                        },
                    }
                ],
                "notificationChannels": [f"projects/{PROJECT}/notificationChannels/4711"],
            },
        ),
        res(
            GBUCKET,
            "audit-logs",
            {
                "name": "prod-audit-logs",
                "location": "EU",
                "retentionPolicy": {"retentionPeriod": "34560000", "isLocked": True},
                "labels": tags(),
            },
            protect=True,
        ),
    ]


def gcp_context(**changes: Any) -> Context:
    base: dict[str, Any] = {
        "environment": ENV,
        "as_of": AS_OF,
        "tier": Tier.PRODUCTION,
        "cloud": Cloud.GCP,
        "scope": PROJECT,
        "retention_days": 400,
        "key_admins": frozenset({GCP_ADMINS}),
        "backup_key_admins": frozenset({GCP_BACKUP_ADMINS}),
        "key_users": MappingProxyType({GCP_ORDERS: "acme", GCP_RELEASE: None}),
        "tenants": MappingProxyType({"acme": Isolation.DEDICATED}),
        "other_environments": (OtherEnvironment("dev", Tier.DEVELOPMENT, "acme-dev-kms"),),
    }
    base.update(changes)
    return Context(**base)


# --- Azure ----------------------------------------------------------------------------------

SUBSCRIPTION = "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
RG = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/kms-prod"
VAULTS = f"{RG}/providers/Microsoft.KeyVault/vaults"
ROLES = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions"
CRYPTO_USER = f"{ROLES}/12338af0-0e69-4776-bea7-57ae8d297424"
CRYPTO_OFFICER = f"{ROLES}/14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
OWNER = f"{ROLES}/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
AZ_ADMIN = "7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
AZ_BACKUP_ADMIN = "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"
AZ_ORDERS = "9d3e4f50-6172-8394-a5b6-c7d8e9f0a1b2"
AZ_IDENTITY = "ae4f5061-7283-94a5-b6c7-d8e9f0a1b2c3"
AZ_DEV = "1f2e3d4c-5b6a-7988-a7b6-c5d4e3f2a1b0"
VAULT, AKEY = "azure-native:keyvault:Vault", "azure-native:keyvault:Key"
ACTION_GROUP = f"{RG}/providers/microsoft.insights/actionGroups/security-alerts"
ASSIGN = "azure-native:authorization:RoleAssignment"
ROLE_DEF = "azure-native:authorization:RoleDefinition"
STORAGE = "azure-native:storage:StorageAccount"
DIAG = "azure-native:monitor:DiagnosticSetting"


def azure_vault(name: str, vault_name: str) -> PulumiResource:
    return res(
        VAULT,
        name,
        {
            "vaultName": vault_name,
            "resourceGroupName": "kms-prod",
            "properties": {
                "sku": {"family": "A", "name": "premium"},
                "tenantId": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
                "enablePurgeProtection": True,
                "enableRbacAuthorization": True,
                "publicNetworkAccess": "Disabled",
                "softDeleteRetentionInDays": 90.0,
            },
            "tags": tags(),
        },
        protect=True,
    )


def azure_key(
    name: str,
    vault: str,
    purpose: str,
    tenant: str | None = None,
    rotation_days: int = 365,
    **properties: Any,
) -> PulumiResource:
    vault_name = {"primary-vault": "kv-prod", "backup-vault": "kv-prod-backup"}[vault]
    body = {
        "kty": "RSA-HSM",
        "keySize": 3072.0,
        "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
        "rotationPolicy": {
            "lifetimeActions": [
                {
                    "trigger": {"timeAfterCreate": f"P{rotation_days}D"},
                    "action": {"type": "rotate"},
                },
                {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "notify"}},
            ],
            "attributes": {"expiryTime": f"P{rotation_days + 30}D"},
        },
        **properties,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return res(
        AKEY,
        name,
        {
            "vaultName": vault_name,
            "keyName": name,
            "resourceGroupName": "kms-prod",
            "properties": body,
            "tags": tags(purpose, tenant),
        },
        protect=True,
        deps={"vaultName": [urn(VAULT, vault)]},
    )


def azure_assignment(
    name: str, principal: str, role: str, scope: str, scope_deps: Sequence[str], **deps: Any
) -> PulumiResource:
    return res(
        ASSIGN,
        name,
        {"principalId": principal, "roleDefinitionId": role, "scope": scope},
        deps={"scope": list(scope_deps), **deps},
    )


KEY_ADMIN_ROLE = f"{ROLES}/0113e10f-51b1-5d25-9d8d-c45b086e84cf"
STORAGE_ID = f"{RG}/providers/Microsoft.Storage/storageAccounts/prodauditlogs"


def expires(days: int) -> float:
    return float(datetime.combine(AS_OF + timedelta(days=days), time(), tzinfo=UTC).timestamp())


def azure_stack() -> list[PulumiResource]:
    primary, backup = urn(VAULT, "primary-vault"), urn(VAULT, "backup-vault")
    return [
        azure_vault("primary-vault", "kv-prod"),
        azure_vault("backup-vault", "kv-prod-backup"),
        azure_key("acme-orders-db", "primary-vault", "database-encryption", tenant="acme"),
        azure_key("platform-backup", "backup-vault", "backup-encryption"),
        azure_key(
            "session-signing",
            "primary-vault",
            "token-signing",
            rotation_days=180,
            kty="EC-HSM",
            keySize=None,
            curveName="P-256",
            keyOps=["sign", "verify"],
        ),
        res(
            ROLE_DEF,
            "key-administrator",
            {
                "roleName": "keyplane Key Administrator",
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
        azure_assignment(
            "primary-admin",
            AZ_ADMIN,
            KEY_ADMIN_ROLE,
            f"{VAULTS}/kv-prod",
            [primary],
            roleDefinitionId=[urn(ROLE_DEF, "key-administrator")],
        ),
        azure_assignment(
            "backup-admin",
            AZ_BACKUP_ADMIN,
            KEY_ADMIN_ROLE,
            f"{VAULTS}/kv-prod-backup",
            [backup],
            roleDefinitionId=[urn(ROLE_DEF, "key-administrator")],
        ),
        azure_assignment(
            "orders-user",
            AZ_ORDERS,
            CRYPTO_USER,
            f"{VAULTS}/kv-prod/keys/acme-orders-db",
            [urn(AKEY, "acme-orders-db"), primary],
        ),
        azure_assignment(
            "identity-user",
            AZ_IDENTITY,
            CRYPTO_USER,
            f"{VAULTS}/kv-prod/keys/session-signing",
            [urn(AKEY, "session-signing"), primary],
        ),
        res(
            "azure-native:keyvault:Secret",
            "acme-payments-api",
            {
                "vaultName": "kv-prod",
                "secretName": "acme-payments-api",
                "properties": {
                    "value": secret("s3cr3t"),
                    "attributes": {"enabled": True, "expires": expires(60)},
                },
                "tags": tags("api-secret", "acme"),
            },
            protect=True,
            deps={"vaultName": [primary]},
        ),
        *(
            res(
                DIAG,
                f"{vault}-diagnostics",
                {
                    "resourceUri": f"{VAULTS}/{vault_name}",
                    "logs": [{"categoryGroup": "audit", "enabled": True}],
                    "storageAccountId": STORAGE_ID,
                },
                deps={"resourceUri": [urn(VAULT, vault)]},
            )
            for vault, vault_name in (
                ("primary-vault", "kv-prod"),
                ("backup-vault", "kv-prod-backup"),
            )
        ),
        # KM-MON-001: activity-log and log-query alerts to the security action group.
        res(
            "azure-native:monitor:ActivityLogAlert",
            "vault-admin-alert",
            {
                "scopes": [RG],
                "condition": {
                    "allOf": [
                        {"field": "category", "equals": "Administrative"},
                        {
                            "anyOf": [
                                {"field": "operationName", "equals": operation}
                                for operation in (
                                    "Microsoft.KeyVault/vaults/delete",
                                    "Microsoft.Authorization/roleAssignments/write",
                                )
                            ]
                        },
                    ]
                },
                "actions": {"actionGroups": [{"actionGroupId": ACTION_GROUP}]},
                "tags": tags(),
            },
        ),
        res(
            "azure-native:monitor:ScheduledQueryRule",
            "failed-key-use-alert",
            {
                "scopes": [f"{RG}/providers/Microsoft.OperationalInsights/workspaces/audit"],
                "criteria": {
                    "allOf": [
                        {
                            "query": "AzureDiagnostics | where ResourceProvider == "
                            '"MICROSOFT.KEYVAULT" | where ResultType != "Success"'
                        }
                    ]
                },
                "actions": {"actionGroups": [ACTION_GROUP]},
                "tags": tags(),
            },
        ),
        res(
            STORAGE,
            "audit-storage",
            {
                "accountName": "prodauditlogs",
                "kind": "StorageV2",
                "minimumTlsVersion": "TLS1_2",
                "immutableStorageWithVersioning": {
                    "enabled": True,
                    "immutabilityPolicy": {
                        "immutabilityPeriodSinceCreationInDays": 400.0,
                        "state": "Locked",
                    },
                },
                "tags": tags(),
            },
            protect=True,
        ),
    ]


def azure_context(**changes: Any) -> Context:
    base: dict[str, Any] = {
        "environment": ENV,
        "as_of": AS_OF,
        "tier": Tier.PRODUCTION,
        "cloud": Cloud.AZURE,
        "scope": SUBSCRIPTION,
        "retention_days": 400,
        "key_admins": frozenset({AZ_ADMIN}),
        "backup_key_admins": frozenset({AZ_BACKUP_ADMIN}),
        "key_users": MappingProxyType({AZ_ORDERS: "acme", AZ_IDENTITY: None}),
        "tenants": MappingProxyType({"acme": Isolation.DEDICATED}),
        "other_environments": (
            OtherEnvironment("dev", Tier.DEVELOPMENT, None, frozenset({AZ_DEV})),
        ),
    }
    base.update(changes)
    return Context(**base)


STACKS = {
    "aws": (aws_stack, aws_context),
    "gcp": (gcp_stack, gcp_context),
    "azure": (azure_stack, azure_context),
}


# --- mutations and judging ----------------------------------------------------------------------


def mutate(
    stack: Sequence[PulumiResource], name: str, path: Sequence[str | int], value: Any
) -> list[PulumiResource]:
    """The stack with one input of resource `name` set (or deleted with DELETE)."""
    result = []
    found = False
    for resource in stack:
        if resource.name != name:
            result.append(resource)
            continue
        found = True
        inputs = copy.deepcopy(dict(resource.inputs))
        node: Any = inputs
        for part in path[:-1]:
            node = node[part]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        result.append(
            PulumiResource(
                type=resource.type,
                name=resource.name,
                urn=resource.urn,
                inputs=inputs,
                protect=resource.protect,
                property_dependencies=resource.property_dependencies,
            )
        )
    assert found, f"no resource {name!r} in the stack"
    return result


def edit_policy(
    stack: Sequence[PulumiResource], name: str, *statements: dict[str, Any]
) -> list[PulumiResource]:
    """The stack with statements added to key `name`'s key policy."""
    [resource] = [r for r in stack if r.name == name]
    doc = json.loads(resource.inputs["policy"])
    doc["Statement"].extend(statements)
    return mutate(stack, name, ["policy"], json.dumps(doc))


def unprotect(stack: Sequence[PulumiResource], name: str) -> list[PulumiResource]:
    return [
        PulumiResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            inputs=r.inputs,
            protect=False if r.name == name else r.protect,
            property_dependencies=r.property_dependencies,
        )
        for r in stack
    ]


def without(stack: Sequence[PulumiResource], name: str) -> list[PulumiResource]:
    assert any(r.name == name for r in stack)
    return [r for r in stack if r.name != name]


def findings(stack: Sequence[PulumiResource], context: Context) -> list[Finding]:
    return judge(stack_facts(stack).resources, context)


def messages(stack: Sequence[PulumiResource], context: Context) -> set[str]:
    return {f.message for f in findings(stack, context)}


def exception(
    id_: str, rule: str, resource: str, expires_on: date, environment: str = ENV
) -> ExceptionScope:
    return ExceptionScope(id_, rule, environment, resource, expires_on)
