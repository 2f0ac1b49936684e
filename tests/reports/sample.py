"""A hand-built report: each kind of finding and of resource input the formats must handle."""

from __future__ import annotations

from datetime import UTC, datetime

from keyplane.findings import Engine, Finding
from keyplane.reports import Report
from keyplane.rules.catalog import Enforcement
from keyplane.wire import SECRET_SIG, SIG_KEY, UNKNOWN, Registration

STACK_URN = "urn:pulumi:prod::keyplane::pulumi:pulumi:Stack::keyplane-prod"
KEY_URN = "urn:pulumi:prod::keyplane::keyplane:aws:KeyRing$aws:kms/key:Key::acme-orders-db"
SECRET_URN = (
    "urn:pulumi:prod::keyplane::keyplane:aws:SecretVault"
    "$aws:secretsmanager/secretVersion:SecretVersion::acme-api-token"
)
ALIAS_URN = "urn:pulumi:prod::keyplane::keyplane:aws:KeyRing$aws:kms/alias:Alias::acme-orders-db"
CHECKOV_RESOURCE = "aws_kms_key.acme_orders_db"
GUIDELINE = "https://docs.prismacloud.io/en/enterprise-edition/policy-reference/aws-policies/aws-logging-policies/logging-8"
#: The plain text of the one secret input; no output of any format may contain it.
SECRET_VALUE = "s3cr3t-hunter2-api-token"
NESTED_SECRET = "nested-secret-in-a-list"

ROT_002 = Finding(
    rule="KM-ROT-002",
    enforcement=Enforcement.MANDATORY,
    resource=KEY_URN,
    type="aws:kms/key:Key",
    message="KM-ROT-002 acme-orders-db: rotation period 400 days exceeds 365 for "
    "database-encryption keys; lower rotation_days or file an exception.",
    engine=Engine.CROSSGUARD,
)
HSM_001_EXCEPTED = Finding(
    rule="KM-HSM-001",
    enforcement=Enforcement.ADVISORY,
    resource=KEY_URN,
    type="aws:kms/key:Key",
    message="KM-HSM-001 acme-orders-db: database-encryption key is not in the CloudHSM key "
    "store [excepted by EXC-2026-007 until 2026-12-31]",
    engine=Engine.CROSSGUARD,
    exception="EXC-2026-007",
)
STO_001_LEAKY = Finding(
    # An engine quoting the value it found: the reports must still not show it.
    rule="KM-STO-001",
    enforcement=Enforcement.MANDATORY,
    resource=SECRET_URN,
    type="aws:secretsmanager/secretVersion:SecretVersion",
    message=f"KM-STO-001 acme-api-token: secretString {SECRET_VALUE!r} is not a Pulumi secret "
    "in the program's config | pass it with --secret",
    engine=Engine.CROSSGUARD,
)
CKV_AWS_7 = Finding(
    rule="CKV_AWS_7",
    enforcement=Enforcement.ADVISORY,
    resource=CHECKOV_RESOURCE,
    type="aws_kms_key",
    message=f"CKV_AWS_7 {CHECKOV_RESOURCE}: Ensure rotation for customer created CMKs is "
    f"enabled (guideline: {GUIDELINE})",
    engine=Engine.CHECKOV,
)
ROT_004_CONFIG = Finding(
    rule="KM-ROT-004",
    enforcement=Enforcement.MANDATORY,
    resource="acme-signing",
    type="keyplane:config:Key",
    message="KM-ROT-004 acme-signing: rotation.rotate_by 2027-09-01 | is later than\n"
    "the purpose's 180-day period",
    engine=Engine.CONFIG,
    file="environments/prod.yaml",
    line=14,
)
FINDINGS = (ROT_002, HSM_001_EXCEPTED, STO_001_LEAKY, CKV_AWS_7, ROT_004_CONFIG)
CHECKED_RULES = ("KM-ACC-001", "KM-HSM-001", "KM-ROT-001", "KM-ROT-002", "KM-STO-001")


def registration(
    urn: str, type_: str, name: str, inputs: dict[str, object], *, protect: bool = False
) -> Registration:
    return Registration(
        urn=urn,
        type=type_,
        name=name,
        custom=True,
        parent=STACK_URN,
        dependencies=(),
        protect=protect,
        retain_on_delete=False,
        provider="",
        inputs=inputs,
    )


RESOURCES = (
    registration(
        KEY_URN,
        "aws:kms/key:Key",
        "acme-orders-db",
        {
            "enableKeyRotation": True,
            "rotationPeriodInDays": 400.0,
            "deletionWindowInDays": 30.0,
            "tags": {"keyplane-environment": "prod", "keyplane-purpose": "database-encryption"},
        },
        protect=True,
    ),
    registration(
        SECRET_URN,
        "aws:secretsmanager/secretVersion:SecretVersion",
        "acme-api-token",
        {
            "secretString": {SIG_KEY: SECRET_SIG, "value": SECRET_VALUE},
            "versionStages": [{SIG_KEY: SECRET_SIG, "value": [NESTED_SECRET]}, "AWSCURRENT"],
        },
    ),
    registration(
        ALIAS_URN,
        "aws:kms/alias:Alias",
        "acme-orders-db",
        {"name": "alias/acme-orders-db", "targetKeyId": UNKNOWN},
    ),
)


def make_report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "findings": FINDINGS,
        "resources": RESOURCES,
        "environment": "prod",
        "checked_rules": CHECKED_RULES,
        "started_at": datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        "duration_seconds": 4.25,
    }
    fields.update(changes)
    return Report(**fields)  # type: ignore[arg-type]
