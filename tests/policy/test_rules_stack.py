"""Stack-level rules (CrossGuard AnalyzeStack), in process: joins across resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.adapters.pulumi import PulumiResource
from keyplane.cli.app import app
from keyplane.rules.catalog import Enforcement
from tests.azure.test_classic import export
from tests.policy.stacks import (
    ADMIN,
    ADMIN_ACTIONS,
    AZ_ADMIN,
    AZ_DEV,
    AZ_IDENTITY,
    AZ_ORDERS,
    BACKUP_AGENT,
    CRYPTO_OFFICER,
    CRYPTO_USER,
    DELETE,
    DEV_ACCOUNT,
    ENCRYPT_ACTIONS,
    GCP_ADMINS,
    GCP_ORDERS,
    GLOBEX,
    IDENTITY,
    ORDERS,
    ROLES,
    STACKS,
    UNKNOWN_WIRE,
    VAULT,
    VAULTS,
    aws_context,
    aws_stack,
    azure_assignment,
    azure_stack,
    edit_policy,
    expires,
    findings,
    gcp_member,
    gcp_stack,
    key_policy,
    messages,
    mutate,
    statement,
    urn,
    without,
)

Stack = list[PulumiResource]
Case = tuple[str, Callable[[], Stack], set[str]]
AKEY = "azure-native:keyvault:Key"

CASES: list[Case] = [
    # --- KM-ROT-003 -----------------------------------------------------------------------------
    (
        "aws-secret-rotation-too-slow",
        lambda: mutate(
            aws_stack(),
            "acme-payments-api-rotation",
            ["rotationRules", "automaticallyAfterDays"],
            120.0,
        ),
        {
            "KM-ROT-003 acme-payments-api: rotates about every 120 days (the longest interval between two rotations), more than 90 for api-secret "
            "secrets; lower rotation_days or file an exception."
        },
    ),
    (
        "aws-secret-rotation-missing",
        lambda: without(aws_stack(), "acme-payments-api-rotation"),
        {
            "KM-ROT-003 acme-payments-api: no automatic rotation is configured for api-secret "
            "secrets; rotate it automatically every 90 days or less (AWS SecretRotation, GCP "
            "rotation.rotationPeriod, Azure an expiry that triggers rotation)."
        },
    ),
    (
        "aws-secret-rotation-by-schedule",
        lambda: mutate(
            aws_stack(),
            "acme-payments-api-rotation",
            ["rotationRules"],
            {"scheduleExpression": "rate(100 days)"},
        ),
        {
            "KM-ROT-003 acme-payments-api: rotates about every 100 days (the longest interval between two rotations), more than 90 for api-secret "
            "secrets; lower rotation_days or file an exception."
        },
    ),
    (
        "gcp-secret-rotation-too-slow",
        lambda: mutate(
            gcp_stack(), "acme-payments-api", ["rotation", "rotationPeriod"], "10368000s"
        ),
        {
            "KM-ROT-003 acme-payments-api: rotates about every 120 days (the longest interval between two rotations), more than 90 for api-secret "
            "secrets; lower rotation_days or file an exception."
        },
    ),
    (
        "azure-secret-expires-too-late",
        lambda: mutate(
            azure_stack(),
            "acme-payments-api",
            ["properties", "attributes", "expires"],
            expires(120),
        ),
        {
            "KM-ROT-003 acme-payments-api: the secret expires in 120 days (2027-03-23), more than "
            "90 for api-secret secrets; rotate it and set its next expiry within 90 days."
        },
    ),
    (
        "azure-secret-expired",
        lambda: mutate(
            azure_stack(), "acme-payments-api", ["properties", "attributes", "expires"], expires(-1)
        ),
        {
            "KM-ROT-003 acme-payments-api: the secret expired on 2026-11-22 and was not rotated; "
            "rotate it and set its next expiry within 90 days."
        },
    ),
    # --- KM-ENV-002 -----------------------------------------------------------------------------
    (
        "aws-grant-to-development-account",
        lambda: edit_policy(
            aws_stack(),
            "acme-orders-db",
            statement(f"arn:aws:iam::{DEV_ACCOUNT}:role/reporting", ["kms:Decrypt"]),
        ),
        {
            f"KM-ENV-002 acme-orders-db: grants kms:Decrypt to arn:aws:iam::{DEV_ACCOUNT}:role/"
            f"reporting of environment dev ({DEV_ACCOUNT}); production keys are never reachable "
            "from development; remove the grant and give dev its own key."
        },
    ),
    (
        "gcp-grant-to-development-project",
        lambda: mutate(
            gcp_stack(),
            "release-signer",
            ["member"],
            "serviceAccount:ci@acme-dev-kms.iam.gserviceaccount.com",
        ),
        {
            "KM-ENV-002 release-signing: grants roles/cloudkms.signer to "
            "serviceAccount:ci@acme-dev-kms.iam.gserviceaccount.com of environment dev "
            "(acme-dev-kms); production keys are never reachable from development; remove the "
            "grant and give dev its own key."
        },
    ),
    (
        "azure-grant-to-development-principal",
        lambda: mutate(azure_stack(), "identity-user", ["principalId"], AZ_DEV),
        {
            f"KM-ENV-002 session-signing: grants Key Vault Crypto User to {AZ_DEV} of environment "
            "dev; production keys are never reachable from development; remove the grant and give "
            "dev its own key."
        },
    ),
    # --- KM-TEN-001 -----------------------------------------------------------------------------
    (
        "aws-tenant-key-granted-outside-the-tenant",
        lambda: edit_policy(aws_stack(), "acme-orders-db", statement(IDENTITY, ["kms:Decrypt"])),
        {
            "KM-TEN-001 acme-orders-db: acme-orders-db belongs to tenant acme but is granted to "
            f"a principal outside any tenant {IDENTITY}; remove the grant or give that principal "
            "a key of its own."
        },
    ),
    (
        "aws-dedicated-tenant-on-shared-key",
        lambda: edit_policy(aws_stack(), "session-signing", statement(ORDERS, ["kms:Sign"])),
        {
            f"KM-TEN-001 session-signing: tenant acme is dedicated but its principal {ORDERS} is "
            "granted the shared key session-signing; give the tenant its own key or declare it "
            "shared."
        },
    ),
    (
        "aws-shared-tenant-on-unregistered-key",
        lambda: edit_policy(aws_stack(), "session-signing", statement(GLOBEX, ["kms:Verify"])),
        {
            "KM-TEN-001 session-signing: tenant globex uses the shared key session-signing, which "
            "is not registered for it in shared-services.yaml; register it with a justification "
            "and risk acceptance."
        },
    ),
    (
        "gcp-dedicated-tenant-on-shared-key",
        lambda: mutate(gcp_stack(), "release-signer", ["member"], GCP_ORDERS),
        {
            f"KM-TEN-001 release-signing: tenant acme is dedicated but its principal {GCP_ORDERS} "
            "is granted the shared key release-signing; give the tenant its own key or declare it "
            "shared."
        },
    ),
    (
        "azure-tenant-key-granted-outside-the-tenant",
        lambda: mutate(azure_stack(), "orders-user", ["principalId"], AZ_IDENTITY),
        {
            "KM-TEN-001 acme-orders-db: acme-orders-db belongs to tenant acme but is granted to "
            f"a principal outside any tenant {AZ_IDENTITY}; remove the grant or give that "
            "principal a key of its own."
        },
    ),
    # --- KM-ACC-002 -----------------------------------------------------------------------------
    (
        "aws-administrator-also-decrypts",
        lambda: edit_policy(aws_stack(), "acme-orders-db", statement(ADMIN, ["kms:Decrypt"])),
        {
            f"KM-ACC-002 acme-orders-db: {ADMIN} both administers the key (kms:PutKeyPolicy, "
            "kms:EnableKeyRotation, kms:ScheduleKeyDeletion, kms:CancelKeyDeletion) and uses it "
            "(kms:Decrypt); split it into an administrator role and a user role."
        },
    ),
    (
        "gcp-administrator-also-encrypts",
        lambda: [
            *gcp_stack(),
            gcp_member(
                "admin-user",
                "cryptoKey",
                "acme-orders-db",
                "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                GCP_ADMINS,
            ),
        ],
        {
            f"KM-ACC-002 acme-orders-db: {GCP_ADMINS} both administers the key "
            "(roles/cloudkms.admin) and uses it (roles/cloudkms.cryptoKeyEncrypterDecrypter); "
            "split it into an administrator role and a user role."
        },
    ),
    (
        "azure-crypto-officer-administrator",
        lambda: mutate(azure_stack(), "primary-admin", ["roleDefinitionId"], CRYPTO_OFFICER),
        {
            f"KM-ACC-002 {key}: {AZ_ADMIN} both administers the key (Key Vault Crypto Officer) and "
            "uses it (Key Vault Crypto Officer); split it into an administrator role and a user "
            "role."
            for key in ("acme-orders-db", "session-signing")
        },
    ),
    # --- KM-BAK-001 -----------------------------------------------------------------------------
    (
        "aws-backup-key-shares-administrators",
        lambda: mutate(
            aws_stack(),
            "platform-backup",
            ["policy"],
            key_policy(statement(ADMIN, ADMIN_ACTIONS), statement(BACKUP_AGENT, ENCRYPT_ACTIONS)),
        ),
        {
            f"KM-BAK-001 platform-backup: backup key shares administrators {ADMIN} with primary "
            f"key acme-orders-db; shares administrators {ADMIN} with primary key session-signing; "
            "declare access.backup_key_admins distinct from key_admins and keep backup keys in "
            "their own key policy, key ring or vault."
        },
    ),
    (
        "gcp-backup-key-in-primary-ring",
        lambda: mutate(
            gcp_stack(),
            "platform-backup",
            ["keyRing"],
            "projects/acme-prod-kms/locations/europe-west1/keyRings/prod-primary",
        ),
        {
            f"KM-BAK-001 platform-backup: backup key shares administrators {GCP_ADMINS} with "
            "primary key acme-orders-db; lives in the same key ring as primary key acme-orders-db; "
            f"shares administrators {GCP_ADMINS} with primary key release-signing; lives in the "
            "same key ring as primary key release-signing; declare access.backup_key_admins "
            "distinct from key_admins and keep backup keys in their own key policy, key ring or "
            "vault."
        },
    ),
    (
        "azure-backup-administered-by-primary-admins",
        lambda: [
            *azure_stack(),
            azure_assignment(
                "backup-by-primary-admin",
                AZ_ADMIN,
                f"{ROLES}/00482a5a-887f-4fb3-b363-3b7fe8e74483",
                f"{VAULTS}/kv-prod-backup/keys/platform-backup",
                [urn(AKEY, "platform-backup"), urn(VAULT, "backup-vault")],
            ),
        ],
        {
            f"KM-BAK-001 platform-backup: backup key shares administrators {AZ_ADMIN} with primary "
            f"key acme-orders-db; shares administrators {AZ_ADMIN} with primary key "
            "session-signing; declare access.backup_key_admins distinct from key_admins and keep "
            "backup keys in their own key policy, key ring or vault.",
            f"KM-ACC-002 platform-backup: {AZ_ADMIN} both administers the key (Key Vault "
            "Administrator) and uses it (Key Vault Administrator); split it into an administrator "
            "role and a user role.",
        },
    ),
    # --- KM-LOG-001 -----------------------------------------------------------------------------
    (
        "aws-single-region-trail",
        lambda: mutate(aws_stack(), "audit-trail", ["isMultiRegionTrail"], False),
        {
            "KM-LOG-001 audit-trail: the trail is not multi-region; make it multi-region, with "
            "log-file validation, KMS encryption and management events including KMS."
        },
    ),
    (
        "aws-trail-excludes-kms",
        lambda: mutate(
            aws_stack(),
            "audit-trail",
            ["eventSelectors"],
            [
                {
                    "includeManagementEvents": True,
                    "excludeManagementEventSources": ["kms.amazonaws.com"],
                }
            ],
        ),
        {
            "KM-LOG-001 audit-trail: the trail leaves KMS events out; make it multi-region, with "
            "log-file validation, KMS encryption and management events including KMS."
        },
    ),
    (
        "aws-no-trail",
        lambda: without(aws_stack(), "audit-trail"),
        {
            "KM-LOG-001 prod: no CloudTrail trail logs the account's KMS events; add the "
            "environment's audit-log sink (a multi-region, validated, KMS-encrypted trail)."
        },
    ),
    (
        "gcp-no-data-access-logs",
        lambda: mutate(gcp_stack(), "kms-audit", ["auditLogConfigs"], [{"logType": "ADMIN_READ"}]),
        {
            "KM-LOG-001 prod: no data-access audit logs (DATA_READ, DATA_WRITE) for "
            "cloudkms.googleapis.com; enable DATA_READ and DATA_WRITE audit logs for "
            "cloudkms.googleapis.com and export them with a log sink."
        },
    ),
    (
        "azure-vault-without-diagnostics",
        lambda: without(azure_stack(), "backup-vault-diagnostics"),
        {
            "KM-LOG-001 backup-vault: the vault has no diagnostic setting sending its AuditEvent "
            "logs to storage or a workspace; add one with the audit category group or AuditEvent "
            "enabled."
        },
    ),
    # --- KM-LOG-002 -----------------------------------------------------------------------------
    (
        "aws-governance-mode",
        lambda: mutate(
            aws_stack(), "audit-logs-lock", ["rule", "defaultRetention", "mode"], "GOVERNANCE"
        ),
        {
            "KM-LOG-002 audit-logs: the audit-log store has object lock in GOVERNANCE mode "
            "(removable); enable Object Lock in COMPLIANCE mode of at least 400 days, with "
            "versioning."
        },
    ),
    (
        "aws-short-retention",
        lambda: mutate(aws_stack(), "audit-logs-lock", ["rule", "defaultRetention", "days"], 30.0),
        {
            "KM-LOG-002 audit-logs: the audit-log store keeps logs immutable 30 days, less than "
            "the environment's 400; enable Object Lock in COMPLIANCE mode of at least 400 days, "
            "with versioning."
        },
    ),
    (
        "aws-versioning-suspended",
        lambda: mutate(
            aws_stack(), "audit-logs-versioning", ["versioningConfiguration", "status"], "Suspended"
        ),
        {
            "KM-LOG-002 audit-logs: the audit-log store has versioning off; enable Object Lock in "
            "COMPLIANCE mode of at least 400 days, with versioning."
        },
    ),
    (
        "gcp-unlocked-retention",
        lambda: mutate(gcp_stack(), "audit-logs", ["retentionPolicy", "isLocked"], False),
        {
            "KM-LOG-002 audit-logs: the audit-log store has an unlocked retention policy; set a "
            "locked retention policy of at least 400 days."
        },
    ),
    (
        "azure-unlocked-immutability",
        lambda: mutate(
            azure_stack(),
            "audit-storage",
            ["immutableStorageWithVersioning", "immutabilityPolicy", "state"],
            "Unlocked",
        ),
        {
            "KM-LOG-002 audit-storage: the audit-log store has an unlocked retention policy; lock "
            "an immutability policy of at least 400 days on the log storage."
        },
    ),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_one_change_breaks_one_rule(
    case: str, build: Callable[[], Stack], expected: set[str]
) -> None:
    context = STACKS[case.split("-", 1)[0]][1]()
    result = findings(build(), context)
    assert {f.message for f in result} == expected
    assert {f.enforcement for f in result} == {Enforcement.MANDATORY}


def test_grant_scoped_to_one_key_does_not_reach_the_vaults_other_keys() -> None:
    stack = [
        *azure_stack(),
        azure_assignment(
            "orders-on-orders-db-again",
            AZ_ORDERS,
            CRYPTO_USER,
            f"{VAULTS}/kv-prod/keys/acme-orders-db",
            [urn(AKEY, "acme-orders-db"), urn(VAULT, "primary-vault")],
        ),
    ]
    assert findings(stack, STACKS["azure"][1]()) == []


def test_vault_wide_grant_reaches_every_key_of_the_vault() -> None:
    stack = [
        *azure_stack(),
        azure_assignment(
            "orders-on-vault",
            AZ_ORDERS,
            CRYPTO_USER,
            f"{VAULTS}/kv-prod",
            [urn(VAULT, "primary-vault")],
        ),
    ]
    assert {f.message for f in findings(stack, STACKS["azure"][1]())} == {
        f"KM-TEN-001 session-signing: tenant acme is dedicated but its principal {AZ_ORDERS} is "
        "granted the shared key session-signing; give the tenant its own key or declare it shared."
    }


def test_role_policy_joins_its_role_and_the_keys_it_names() -> None:
    """An inline policy on a tenant's role that reaches a shared key is a tenant breach (on
    keys whose policy delegates to IAM: otherwise KMS ignores the identity policy)."""
    root = statement("arn:aws:iam::111111111111:root", ["kms:DescribeKey"])
    delegating = edit_policy(
        edit_policy(aws_stack(), "session-signing", root), "platform-backup", root
    )
    stack = mutate(
        delegating,
        "acme-orders-service",
        ["inlinePolicies"],
        [
            {
                "name": "use-keys",
                "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                '"Action": ["kms:Sign"], "Resource": "arn:aws:kms:eu-west-1:111111111111:key/*"}]}',
            }
        ],
    )
    assert {f.message for f in findings(stack, STACKS["aws"][1]())} == {
        "KM-TEN-001 session-signing: tenant acme is dedicated but its principal "
        "aws-role:acme-orders-service is granted the shared key session-signing; give the tenant "
        "its own key or declare it shared.",
        "KM-TEN-001 platform-backup: tenant acme is dedicated but its principal "
        "aws-role:acme-orders-service is granted the shared key platform-backup; give the tenant "
        "its own key or declare it shared.",
    }


def test_secret_without_rotation_purpose_needs_none() -> None:
    stack = mutate(
        without(aws_stack(), "acme-payments-api-rotation"),
        "acme-payments-api",
        ["tags", "keyplane-purpose"],
        "application-encryption",
    )
    assert findings(stack, STACKS["aws"][1]()) == []


def test_missing_lock_configuration_fails_with_every_gap() -> None:
    stack = without(without(aws_stack(), "audit-logs-lock"), "audit-logs-versioning")
    assert {f.message for f in findings(stack, STACKS["aws"][1]())} == {
        "KM-LOG-002 audit-logs: the audit-log store has no retention lock; sets no retention "
        "period; has versioning off; enable Object Lock in COMPLIANCE mode of at least 400 days, "
        "with versioning."
    }


def test_unknown_lock_mode_cannot_be_judged() -> None:
    stack = mutate(
        aws_stack(),
        "audit-logs-lock",
        ["rule", "defaultRetention", "mode"],
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    )
    result = findings(stack, STACKS["aws"][1]())
    assert [(f.rule, f.enforcement, f.message) for f in result] == [
        (
            "KM-LOG-002",
            Enforcement.ADVISORY,
            "KM-LOG-002 audit-logs: cannot judge until deployed: whether the retention is locked "
            "is only known after deployment.",
        )
    ]


def test_role_policy_on_keys_that_do_not_delegate_grants_nothing() -> None:
    """KMS reads an identity policy only when the key policy allows the account root."""
    stack = mutate(
        aws_stack(),
        "acme-orders-service",
        ["inlinePolicies"],
        [
            {
                "name": "use-keys",
                "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
                '"Action": ["kms:Sign"], "Resource": "arn:aws:kms:eu-west-1:111111111111:key/*"}]}',
            }
        ],
    )
    assert findings(stack, STACKS["aws"][1]()) == []


# --- KM-MON-001: EventBridge rules see a key's use only with all management events -------------

MON_FIX = (
    "; declare monitoring.notify in the environment file, or deliver the trail to CloudWatch "
    "Logs with metric filters and alarms (or EventBridge rules) notifying an SNS topic."
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", set()),
        (
            "ENABLED",
            {
                "KM-MON-001 prod: no aws alert notifying a destination covers repeated failed use "
                f"of a key{MON_FIX}"
            },
        ),
        (
            DELETE,
            {
                "KM-MON-001 prod: no aws alert notifying a destination covers repeated failed use "
                f"of a key{MON_FIX}"
            },
        ),
        (
            UNKNOWN_WIRE,
            {
                "KM-MON-001 prod: cannot judge until deployed: where kms-events notifies is only "
                "known after deployment."
            },
        ),
    ],
    ids=["all-management-events", "enabled", "default", "unknown"],
)
def test_an_eventbridge_rule_covers_failed_use_only_with_read_only_events(
    state: Any, expected: set[str]
) -> None:
    """A failed Decrypt is a read-only management event: EventBridge delivers it to a rule only
    in the state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS."""
    baseline = messages(aws_stack(), aws_context())
    assert baseline == set()
    mutated = mutate(aws_stack(), "kms-events", ["state"], state)
    assert messages(mutated, aws_context()) == expected


def test_an_eventbridge_rule_narrowed_to_write_events_is_a_diff_risk(tmp_path: Path) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(export(aws_stack())))
    after.write_text(json.dumps(export(mutate(aws_stack(), "kms-events", ["state"], "ENABLED"))))
    result = CliRunner().invoke(app, ["diff", str(before), str(after), "--format", "json"])
    document = json.loads(result.stdout)
    risks = {(c["name"], r["rule"]) for c in document["changes"] for r in c["risks"]}
    assert ("kms-events", "KM-MON-001") in risks
