"""Resource-level rules (CrossGuard Analyze), in process: baseline passes, one field fails.

Each case changes one input of a compliant baseline stack (tests/policy/stacks.py) and asserts
the exact set of messages the whole stack then produces: the rule that must fail and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from keyplane.adapters.pulumi import PulumiResource
from keyplane.rules.catalog import Enforcement
from keyplane.standard import Tier
from tests.policy.stacks import (
    ACCOUNT,
    AS_OF,
    AZ_ORDERS,
    DELETE,
    GCP_ORDERS,
    MFA,
    OWNER,
    STACKS,
    UNKNOWN_WIRE,
    aws_context,
    aws_stack,
    azure_context,
    azure_stack,
    edit_policy,
    findings,
    gcp_context,
    gcp_stack,
    messages,
    mutate,
    res,
    statement,
    trust,
    unprotect,
)

Stack = list[PulumiResource]
APPROVED = (
    "AES-256, RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384, ECDSA-P521, Ed25519, "
    "HMAC-SHA256, HMAC-SHA384, HMAC-SHA512"
)
PURPOSES = (
    "application-encryption, database-encryption, backup-encryption, token-signing, api-secret, "
    "tls-certificate, ai-service-key, cloud-provider"
)


@pytest.mark.parametrize("cloud", sorted(STACKS))
def test_baseline_stack_is_compliant(cloud: str) -> None:
    stack, context = STACKS[cloud]
    assert findings(stack(), context()) == []


Case = tuple[str, Callable[[], Stack], set[str]]

CASES: list[Case] = [
    # --- KM-ALG-001 ---------------------------------------------------------------------------
    (
        "aws-unapproved-curve",
        lambda: mutate(
            aws_stack(), "session-signing", ["customerMasterKeySpec"], "ECC_SECG_P256K1"
        ),
        {
            f"KM-ALG-001 session-signing: algorithm ECDSA-SECP256K1 is not approved (approved: "
            f"{APPROVED}); recreate the key with an approved algorithm and re-encrypt or re-sign "
            "with it."
        },
    ),
    (
        "aws-unknown-algorithm",
        lambda: mutate(aws_stack(), "session-signing", ["customerMasterKeySpec"], "ML_DSA_44"),
        {
            f"KM-ALG-001 session-signing: algorithm 'ML_DSA_44' is not one the policy approves "
            f"(approved: {APPROVED}); recreate the key with an approved algorithm and re-encrypt "
            "or re-sign with it."
        },
    ),
    (
        "gcp-unapproved-curve",
        lambda: mutate(
            gcp_stack(),
            "release-signing",
            ["versionTemplate", "algorithm"],
            "EC_SIGN_SECP256K1_SHA256",
        ),
        {
            f"KM-ALG-001 release-signing: algorithm ECDSA-SECP256K1 is not approved (approved: "
            f"{APPROVED}); recreate the key with an approved algorithm and re-encrypt or re-sign "
            "with it."
        },
    ),
    (
        "azure-unapproved-curve",
        lambda: mutate(azure_stack(), "session-signing", ["properties", "curveName"], "P-256K"),
        {
            f"KM-ALG-001 session-signing: algorithm ECDSA-SECP256K1 is not approved (approved: "
            f"{APPROVED}); recreate the key with an approved algorithm and re-encrypt or re-sign "
            "with it."
        },
    ),
    # --- KM-ROT-001 -----------------------------------------------------------------------------
    (
        "aws-rotation-off",
        lambda: mutate(aws_stack(), "acme-orders-db", ["enableKeyRotation"], False),
        {
            "KM-ROT-001 acme-orders-db: automatic rotation is disabled on this aws KMS key; set "
            "enableKeyRotation to true (rotation_days in the environment file)."
        },
    ),
    (
        "gcp-rotation-off",
        lambda: mutate(gcp_stack(), "acme-orders-db", ["rotationPeriod"], DELETE),
        {
            "KM-ROT-001 acme-orders-db: automatic rotation is disabled on this gcp crypto key; set "
            "rotationPeriod (rotation_days in the environment file)."
        },
    ),
    (
        "azure-rotation-off",
        lambda: mutate(azure_stack(), "acme-orders-db", ["properties", "rotationPolicy"], DELETE),
        {
            "KM-ROT-001 acme-orders-db: automatic rotation is disabled on this azure Key Vault "
            "key; add a rotation policy with a rotate lifetime action."
        },
    ),
    # --- KM-ROT-002 -----------------------------------------------------------------------------
    (
        "aws-period-too-long",
        lambda: mutate(aws_stack(), "acme-orders-db", ["rotationPeriodInDays"], 395.0),
        {
            "KM-ROT-002 acme-orders-db: rotation period 395 days exceeds 365 for "
            "database-encryption keys; lower rotation_days or file an exception."
        },
    ),
    (
        "gcp-period-too-long",
        lambda: mutate(gcp_stack(), "acme-orders-db", ["rotationPeriod"], "34128000s"),
        {
            "KM-ROT-002 acme-orders-db: rotation period 395 days exceeds 365 for "
            "database-encryption keys; lower rotation_days or file an exception."
        },
    ),
    (
        "gcp-period-a-second-too-long",
        lambda: mutate(gcp_stack(), "acme-orders-db", ["rotationPeriod"], "31536001s"),
        {
            "KM-ROT-002 acme-orders-db: rotation period 366 days exceeds 365 for "
            "database-encryption keys; lower rotation_days or file an exception."
        },
    ),
    (
        "azure-period-too-long",
        lambda: mutate(
            azure_stack(),
            "session-signing",
            ["properties", "rotationPolicy", "lifetimeActions", 0, "trigger", "timeAfterCreate"],
            "P1Y",
        ),
        {
            "KM-ROT-002 session-signing: rotation period 365 days exceeds 180 for token-signing "
            "keys; lower rotation_days or file an exception."
        },
    ),
    (
        "aws-missing-purpose-uses-strictest-limit",
        lambda: mutate(aws_stack(), "acme-orders-db", ["tags", "keyplane-purpose"], DELETE),
        {
            f"KM-PUR-001 acme-orders-db: no keyplane-purpose tag; tag the resource with its "
            f"purpose (one of {PURPOSES}).",
            "KM-ROT-002 acme-orders-db: rotation period 365 days exceeds 90, the strictest limit, "
            "because the key declares no valid purpose; tag keyplane-purpose with its purpose or "
            "lower rotation_days.",
        },
    ),
    # --- KM-ROT-004 -----------------------------------------------------------------------------
    (
        "aws-no-manual-plan",
        lambda: mutate(aws_stack(), "session-signing", ["tags", "keyplane-rotation-owner"], DELETE),
        {
            "KM-ROT-004 session-signing: aws cannot rotate ECDSA-P256 keys automatically and no "
            "manual rotation plan is declared; tag keyplane-rotation-owner and keyplane-rotate-by "
            "(rotation: {owner, rotate_by} in the environment file) within 180 days for "
            "token-signing keys."
        },
    ),
    (
        "aws-manual-rotation-overdue",
        lambda: mutate(
            aws_stack(), "session-signing", ["tags", "keyplane-rotate-by"], "2026-11-01"
        ),
        {
            "KM-ROT-004 session-signing: manual rotation was due on 2026-11-01 and is overdue; "
            "rotate the key, record the change and set the next rotate_by."
        },
    ),
    (
        "aws-hmac-key-needs-plan",
        lambda: mutate(
            mutate(aws_stack(), "session-signing", ["customerMasterKeySpec"], "HMAC_256"),
            "session-signing",
            ["tags", "keyplane-rotate-by"],
            "someday",
        ),
        {
            "KM-ROT-004 session-signing: tag keyplane-rotate-by 'someday' is not a date "
            "YYYY-MM-DD; write the date the key must be rotated by."
        },
    ),
    (
        "gcp-rotate-by-too-far",
        lambda: mutate(
            gcp_stack(), "release-signing", ["labels", "keyplane-rotate-by"], "2027-12-01"
        ),
        {
            "KM-ROT-004 release-signing: rotate_by 2027-12-01 is more than 180 days away (at the "
            "latest 2027-05-22 for token-signing keys); bring rotate_by forward."
        },
    ),
    # --- KM-PUR-001 -----------------------------------------------------------------------------
    (
        "aws-secret-without-purpose",
        lambda: mutate(aws_stack(), "acme-payments-api", ["tags", "keyplane-purpose"], DELETE),
        {
            f"KM-PUR-001 acme-payments-api: no keyplane-purpose tag; tag the resource with its "
            f"purpose (one of {PURPOSES})."
        },
    ),
    (
        "aws-usage-does-not-fit-purpose",
        lambda: mutate(aws_stack(), "acme-orders-db", ["keyUsage"], "SIGN_VERIFY"),
        {
            "KM-PUR-001 acme-orders-db: a key whose usage is sign cannot serve "
            "database-encryption, whose keys encrypt; recreate the key with a matching usage or "
            "correct the purpose."
        },
    ),
    (
        "gcp-unknown-purpose",
        lambda: mutate(gcp_stack(), "acme-orders-db", ["labels", "keyplane-purpose"], "database"),
        {
            f"KM-PUR-001 acme-orders-db: keyplane-purpose 'database' is not one of the policy's "
            f"key types ({PURPOSES}); correct the tag.",
            "KM-ROT-002 acme-orders-db: rotation period 365 days exceeds 90, the strictest limit, "
            "because the key declares no valid purpose; tag keyplane-purpose with its purpose or "
            "lower rotation_days.",
        },
    ),
    (
        "azure-usage-does-not-fit-purpose",
        lambda: mutate(
            azure_stack(), "session-signing", ["properties", "keyOps"], ["encrypt", "decrypt"]
        ),
        {
            "KM-PUR-001 session-signing: a key whose usage is encrypt cannot serve token-signing, "
            "whose keys mac or sign; recreate the key with a matching usage or correct the purpose."
        },
    ),
    # --- KM-ENV-001 -----------------------------------------------------------------------------
    (
        "aws-role-of-another-environment",
        lambda: mutate(
            aws_stack(), "acme-orders-service", ["tags", "keyplane-environment"], "staging"
        ),
        {
            "KM-ENV-001 acme-orders-service: keyplane-environment is 'staging', not the stack's "
            "environment 'prod'; deploy it from its own environment's stack or correct the tag."
        },
    ),
    (
        "aws-untagged-trail",
        lambda: mutate(aws_stack(), "audit-trail", ["tags"], DELETE),
        {
            "KM-ENV-001 audit-trail: no keyplane-environment tag; tag it with the stack's "
            "environment prod."
        },
    ),
    (
        "gcp-unlabelled-log-bucket",
        lambda: mutate(gcp_stack(), "audit-logs", ["labels", "keyplane-environment"], DELETE),
        {
            "KM-ENV-001 audit-logs: no keyplane-environment tag; tag it with the stack's "
            "environment prod."
        },
    ),
    (
        "azure-secret-of-another-environment",
        lambda: mutate(azure_stack(), "acme-payments-api", ["tags", "keyplane-environment"], "dev"),
        {
            "KM-ENV-001 acme-payments-api: keyplane-environment is 'dev', not the stack's "
            "environment 'prod'; deploy it from its own environment's stack or correct the tag."
        },
    ),
    # --- KM-ACC-001 -----------------------------------------------------------------------------
    (
        "aws-key-policy-wildcard-principal",
        lambda: edit_policy(aws_stack(), "acme-orders-db", statement("*", ["kms:Decrypt"])),
        {
            "KM-ACC-001 acme-orders-db: grants kms:Decrypt to the wildcard principal *; name the "
            "principals and grant only the actions they need."
        },
    ),
    (
        "aws-key-policy-root-kms-star",
        lambda: edit_policy(
            aws_stack(), "platform-backup", statement(f"arn:aws:iam::{ACCOUNT}:root", ["kms:*"])
        ),
        {
            f"KM-ACC-001 platform-backup: grants kms:* to arn:aws:iam::{ACCOUNT}:root; name the "
            "principals and grant only the actions they need.",
            f"KM-ACC-002 platform-backup: arn:aws:iam::{ACCOUNT}:root both administers the key "
            "(kms:*) and uses it (kms:*); split it into an administrator role and a user role.",
        },
    ),
    (
        "aws-identity-policy-kms-star",
        lambda: [
            *aws_stack(),
            res(
                "aws:iam/policy:Policy",
                "kms-everything",
                {
                    "policy": json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
                        }
                    )
                },
            ),
        ],
        {
            "KM-ACC-001 kms-everything: grants kms:* to the roles it is attached to; name the "
            "principals and grant only the actions they need."
        },
    ),
    (
        "gcp-all-users",
        lambda: mutate(gcp_stack(), "orders-user", ["member"], "allUsers"),
        {
            "KM-ACC-001 orders-user: grants roles/cloudkms.cryptoKeyEncrypterDecrypter to the "
            "wildcard principal allUsers; name the principals and grant only the actions they need."
        },
    ),
    (
        "gcp-admin-role-to-a-user",
        lambda: mutate(gcp_stack(), "orders-user", ["role"], "roles/cloudkms.admin"),
        {
            f"KM-ACC-001 orders-user: grants roles/cloudkms.admin to {GCP_ORDERS}, who is not a "
            "declared key administrator; name the principals and grant only the actions they need."
        },
    ),
    (
        "azure-owner-to-a-user",
        lambda: mutate(azure_stack(), "orders-user", ["roleDefinitionId"], OWNER),
        {
            f"KM-ACC-001 orders-user: grants Owner to {AZ_ORDERS}, who is not a declared key "
            "administrator; name the principals and grant only the actions they need."
        },
    ),
    # --- KM-ACC-003 -----------------------------------------------------------------------------
    (
        "aws-admin-role-without-mfa",
        lambda: mutate(
            aws_stack(),
            "platform-key-admin",
            ["assumeRolePolicy"],
            trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops-sso"}),
        ),
        {
            f"KM-ACC-003 platform-key-admin: the administrator role can be assumed by "
            f"arn:aws:iam::{ACCOUNT}:role/ops-sso without MFA; name the trusted principals and "
            "require aws:MultiFactorAuthPresent (or a named identity provider) for administrator "
            "roles."
        },
    ),
    (
        "aws-role-trusts-anyone",
        lambda: mutate(aws_stack(), "acme-orders-service", ["assumeRolePolicy"], trust("*")),
        {
            "KM-ACC-003 acme-orders-service: the trust policy lets anyone (*) assume the role; "
            "name the trusted principals and require aws:MultiFactorAuthPresent (or a named "
            "identity provider) for administrator roles."
        },
    ),
    (
        "aws-role-trusts-whole-account",
        lambda: mutate(
            aws_stack(), "platform-key-admin", ["assumeRolePolicy"], trust({"AWS": ACCOUNT}, MFA)
        ),
        {
            f"KM-ACC-003 platform-key-admin: the trust policy lets every principal of account "
            f"{ACCOUNT} assume the role; name the trusted principals and require "
            "aws:MultiFactorAuthPresent (or a named identity provider) for administrator roles."
        },
    ),
    # --- KM-DEL-001 -----------------------------------------------------------------------------
    (
        "aws-short-deletion-window",
        lambda: mutate(aws_stack(), "acme-orders-db", ["deletionWindowInDays"], 7.0),
        {
            "KM-DEL-001 acme-orders-db: deletion window 7 days is shorter than 30; set "
            "deletion_window_days to 30."
        },
    ),
    (
        "aws-unprotected-key",
        lambda: unprotect(aws_stack(), "acme-orders-db"),
        {
            "KM-DEL-001 acme-orders-db: the Pulumi protect option is not set in the production "
            "environment prod; set protect=True (or retain_on_delete)."
        },
    ),
    (
        "aws-unprotected-hsm-cluster",
        lambda: unprotect(aws_stack(), "hsm"),
        {
            "KM-DEL-001 hsm: the Pulumi protect option is not set in the production environment "
            "prod; set protect=True (or retain_on_delete)."
        },
    ),
    (
        "gcp-short-destroy-duration",
        lambda: mutate(gcp_stack(), "acme-orders-db", ["destroyScheduledDuration"], "604800s"),
        {
            "KM-DEL-001 acme-orders-db: destroy-scheduled duration 7 days is shorter than 30; set "
            "deletion_window_days to 30 or more."
        },
    ),
    (
        "azure-short-soft-delete",
        lambda: mutate(
            azure_stack(), "primary-vault", ["properties", "softDeleteRetentionInDays"], 7.0
        ),
        {
            "KM-DEL-001 primary-vault: soft-delete retention 7 days is shorter than 90; set "
            "softDeleteRetentionInDays to 90."
        },
    ),
    (
        "azure-no-purge-protection",
        lambda: mutate(
            azure_stack(), "primary-vault", ["properties", "enablePurgeProtection"], False
        ),
        {
            "KM-DEL-001 primary-vault: purge protection is off; set enablePurgeProtection to true.",
            "KM-STO-002 primary-vault: purge protection is off; set enablePurgeProtection to true.",
        },
    ),
    # --- KM-HSM-001 -----------------------------------------------------------------------------
    (
        "aws-external-key-store",
        lambda: mutate(aws_stack(), "acme-orders-db", ["xksKeyId"], "xks-key-1"),
        {
            "KM-HSM-001 acme-orders-db: production database-encryption key is kept in an external "
            "key manager (EXTERNAL_KEY_STORE); let KMS generate the material (or use the CloudHSM "
            "key store), not imported or external key material.",
            "KM-ROT-004 acme-orders-db: aws cannot rotate AES-256 keys automatically and no manual "
            "rotation plan is declared; tag keyplane-rotation-owner and keyplane-rotate-by "
            "(rotation: {owner, rotate_by} in the environment file) within 365 days for "
            "database-encryption keys.",
        },
    ),
    (
        "gcp-software-key",
        lambda: mutate(
            gcp_stack(), "acme-orders-db", ["versionTemplate", "protectionLevel"], "SOFTWARE"
        ),
        {
            "KM-HSM-001 acme-orders-db: production database-encryption key is software-protected "
            "(SOFTWARE); set versionTemplate.protectionLevel to HSM."
        },
    ),
    (
        "azure-software-key",
        lambda: mutate(azure_stack(), "acme-orders-db", ["properties", "kty"], "RSA"),
        {
            "KM-HSM-001 acme-orders-db: production database-encryption key is software-protected "
            "(RSA); use an -HSM key type in a premium vault, or a Managed HSM."
        },
    ),
    # --- KM-STO-001 -----------------------------------------------------------------------------
    (
        "aws-plain-secret-string",
        lambda: mutate(aws_stack(), "acme-payments-api-value", ["secretString"], "s3cr3t"),
        {
            "KM-STO-001 acme-payments-api-value: secretString holds a plain-text value in the "
            "resource inputs; pass it as a Pulumi secret (pulumi config set --secret, "
            "pulumi.Output.secret) and remove it from the code and its history."
        },
    ),
    (
        "gcp-plain-secret-data",
        lambda: mutate(gcp_stack(), "acme-payments-api-value", ["secretData"], "s3cr3t"),
        {
            "KM-STO-001 acme-payments-api-value: secretData holds a plain-text value in the "
            "resource inputs; pass it as a Pulumi secret (pulumi config set --secret, "
            "pulumi.Output.secret) and remove it from the code and its history."
        },
    ),
    (
        "azure-plain-secret-value",
        lambda: mutate(azure_stack(), "acme-payments-api", ["properties", "value"], "s3cr3t"),
        {
            "KM-STO-001 acme-payments-api: properties.value holds a plain-text value in the "
            "resource inputs; pass it as a Pulumi secret (pulumi config set --secret, "
            "pulumi.Output.secret) and remove it from the code and its history."
        },
    ),
    # --- KM-STO-002 -----------------------------------------------------------------------------
    (
        "aws-secret-with-provider-key",
        lambda: mutate(aws_stack(), "acme-payments-api", ["kmsKeyId"], DELETE),
        {
            "KM-STO-002 acme-payments-api: the secret is encrypted with the provider's own key; "
            "set kmsKeyId to the environment's customer-managed key."
        },
    ),
    (
        "aws-secret-with-another-accounts-key",
        lambda: mutate(
            aws_stack(),
            "acme-payments-api",
            ["kmsKeyId"],
            "arn:aws:kms:eu-west-1:333333333333:key/9f1c",
        ),
        {
            "KM-STO-002 acme-payments-api: the secret is encrypted with a key of account "
            f"333333333333, not the environment's ({ACCOUNT}); set kmsKeyId to the environment's "
            "customer-managed key."
        },
    ),
    (
        "gcp-secret-with-google-key",
        lambda: mutate(gcp_stack(), "acme-payments-api", ["replication"], {"auto": {}}),
        {
            "KM-STO-002 acme-payments-api: the secret is encrypted with the provider's own key; "
            "set replication's customerManagedEncryption.kmsKeyName to the environment's key."
        },
    ),
    (
        "azure-public-vault",
        lambda: mutate(
            azure_stack(), "primary-vault", ["properties", "publicNetworkAccess"], "Enabled"
        ),
        {
            "KM-STO-002 primary-vault: public network access is enabled; set publicNetworkAccess "
            "to Disabled."
        },
    ),
    (
        "azure-vault-access-policies",
        lambda: mutate(
            azure_stack(), "backup-vault", ["properties", "enableRbacAuthorization"], DELETE
        ),
        {
            "KM-STO-002 backup-vault: RBAC authorization is off; set enableRbacAuthorization to "
            "true."
        },
    ),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_one_field_breaks_one_rule(
    case: str, build: Callable[[], Stack], expected: set[str]
) -> None:
    cloud = case.split("-", 1)[0]
    context = STACKS[cloud][1]()
    result = findings(build(), context)
    assert {f.message for f in result} == expected
    assert {f.enforcement for f in result} == {Enforcement.MANDATORY}


def test_unprotected_key_passes_in_development() -> None:
    stack = unprotect(aws_stack(), "acme-orders-db")
    assert messages(stack, aws_context(tier=Tier.DEVELOPMENT)) == set()


def test_no_declared_tier_is_judged_as_production() -> None:
    stack = mutate(
        gcp_stack(), "acme-orders-db", ["versionTemplate", "protectionLevel"], "SOFTWARE"
    )
    assert messages(unprotect(stack, "acme-orders-db"), gcp_context(tier=None)) == {
        "KM-DEL-001 acme-orders-db: the Pulumi protect option is not set in the production "
        "environment prod (no tier declared: judged as production); set protect=True (or "
        "retain_on_delete).",
        "KM-HSM-001 acme-orders-db: production database-encryption key is software-protected "
        "(SOFTWARE); set versionTemplate.protectionLevel to HSM.",
    }


def test_software_key_passes_outside_production() -> None:
    stack = mutate(azure_stack(), "acme-orders-db", ["properties", "kty"], "RSA")
    assert messages(stack, azure_context(tier=Tier.STAGING)) == set()


def test_manual_plan_due_today_passes() -> None:
    stack = mutate(
        aws_stack(), "session-signing", ["tags", "keyplane-rotate-by"], AS_OF.isoformat()
    )
    assert messages(stack, aws_context()) == set()
    latest = (AS_OF + timedelta(days=180)).isoformat()
    stack = mutate(aws_stack(), "session-signing", ["tags", "keyplane-rotate-by"], latest)
    assert messages(stack, aws_context()) == set()


# --- values only known after deployment ----------------------------------------------------------

UNKNOWN_CASES: list[Case] = [
    (
        "aws-rotation-computed",
        lambda: mutate(aws_stack(), "acme-orders-db", ["enableKeyRotation"], UNKNOWN_WIRE),
        {
            "KM-ROT-001 acme-orders-db: cannot judge until deployed: whether automatic rotation "
            "is enabled is only known after deployment."
        },
    ),
    (
        "gcp-protection-computed",
        lambda: mutate(
            gcp_stack(), "acme-orders-db", ["versionTemplate", "protectionLevel"], UNKNOWN_WIRE
        ),
        {
            "KM-HSM-001 acme-orders-db: cannot judge until deployed: the key's protection level "
            "is only known after deployment."
        },
    ),
    (
        "azure-tags-computed",
        lambda: mutate(azure_stack(), "acme-payments-api", ["tags"], UNKNOWN_WIRE),
        {
            "KM-PUR-001 acme-payments-api: cannot judge until deployed: the keyplane-purpose tag "
            "is only known after deployment.",
            "KM-ENV-001 acme-payments-api: cannot judge until deployed: the keyplane-environment "
            "tag is only known after deployment.",
            "KM-ROT-003 acme-payments-api: cannot judge until deployed: the secret's purpose tag "
            "is only known after deployment.",
            "KM-TEN-001 acme-payments-api: cannot judge until deployed: the keyplane-tenant tag "
            "is only known after deployment.",
        },
    ),
]


@pytest.mark.parametrize(
    ("case", "build", "expected"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES]
)
def test_unknown_values_cannot_be_judged_until_deployed(
    case: str, build: Callable[[], Stack], expected: set[str]
) -> None:
    context = STACKS[case.split("-", 1)[0]][1]()
    result = findings(build(), context)
    assert {f.message for f in result} == expected
    assert {f.enforcement for f in result} == {Enforcement.ADVISORY}
