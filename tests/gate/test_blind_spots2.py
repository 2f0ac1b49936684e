"""No blind spots, second part (issue 14): KM-COV-001 and the coverage line of every format,
the shapes the checks assume (unparseable documents, org and folder sinks, logging rules per
stack, KM-ENV-001's scope, GCP durations, Azure soft delete), and KM-STO-001 as written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.gate.test_blind_spots import scan as scan_file

runner = CliRunner()
STACK = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"
#: The tags every keyplane resource carries in prod (KM-ENV-001, KM-PUR-001).
TAGS = {"keyplane-environment": "prod", "keyplane-managed": "true"}


def resource(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::payments::{type_}::{name}",
        "custom": True,
        "type": type_,
        "inputs": inputs,
        "outputs": {},
        "parent": STACK,
        "id": name,
        **extra,
    }


def export(*resources: dict[str, Any]) -> dict[str, Any]:
    stack = {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}}
    return {"version": 3, "deployment": {"resources": [stack, *resources]}}


def scan(
    tmp_path: Path, document: dict[str, Any], *extra: str, format: str = "json"
) -> tuple[int, str]:
    path = tmp_path / f"stack-{len(list(tmp_path.glob('stack-*.json')))}.json"
    path.write_text(json.dumps(document))
    code, out = scan_file(path, *extra, format=format)
    assert code != 2, out
    return code, out


def findings(tmp_path: Path, document: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    code, out = scan(tmp_path, document)
    assert code in (0, 1), out
    return [f for f in json.loads(out)["findings"] if f["rule"] == rule]


def messages(tmp_path: Path, document: dict[str, Any], rule: str) -> list[str]:
    return sorted(f["message"] for f in findings(tmp_path, document, rule))


# --- KM-COV-001 --------------------------------------------------------------------------------

UNREAD = resource(
    "aws:ssm/parameter:Parameter",
    "ops-kms-admin",
    {"name": "/payments/db-password", "type": "SecureString", "keyId": "alias/orders"},
)
COV_MESSAGE = (
    "KM-COV-001 ops-kms-admin: keyplane cannot read resources of type "
    "aws:ssm/parameter:Parameter, which holds or grants access to keys, secrets or "
    "certificates: its settings were not judged; review it by hand (and record the review as an "
    "exception) or write it with a type keyplane reads."
)
#: A resource keyplane does not read and that holds nothing: neither reported nor "not judged".
TOPIC = resource("gcp:pubsub/topic:Topic", "events", {"name": "events"})


def test_unread_key_bearing_type_is_reported(tmp_path: Path) -> None:
    found = findings(tmp_path, export(UNREAD, TOPIC), "KM-COV-001")
    assert [(f["message"], f["enforcement"], f["type"]) for f in found] == [
        (COV_MESSAGE, "advisory", "aws:ssm/parameter:Parameter")
    ]


def test_read_and_harmless_types_are_not_reported(tmp_path: Path) -> None:
    alias = resource("aws:kms/alias:Alias", "orders", {"name": "alias/orders"})
    assert findings(tmp_path, export(TOPIC, alias), "KM-COV-001") == []


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        (
            "table",
            r"PASS: 0 mandatory, 1 advisory on 1 resource \(1 resource judged, 1 not "
            r"judged: aws:ssm/parameter:Parameter\)",
        ),
        ("markdown", r"1 resource judged, 1 not judged: aws:ssm/parameter:Parameter"),
        (
            "junit",
            r'name="resources" value="1 resource judged, 1 not judged: '
            r'aws:ssm/parameter:Parameter"',
        ),
        (
            "sarif",
            r'"summary": "1 resource judged, 1 not judged: '
            r'aws:ssm/parameter:Parameter"',
        ),
        ("json", r'"not_judged_types": \[\s*"aws:ssm/parameter:Parameter"\s*\]'),
    ],
)
def test_every_format_says_what_was_not_judged(tmp_path: Path, format: str, expected: str) -> None:
    code, out = scan(tmp_path, export(UNREAD, TOPIC), format=format)
    assert code == 0
    assert re.search(expected, out), out
    assert "KM-COV-001" in out


def test_json_summary_counts_judged_read_and_not_judged(tmp_path: Path) -> None:
    read_key = resource("aws:kms/key:Key", "shared", {}, external=True)
    _, out = scan(tmp_path, export(UNREAD, TOPIC, read_key))
    summary = json.loads(out)["summary"]
    assert (summary["judged"], summary["read"], summary["not_judged"]) == (1, 1, 1)
    assert summary["not_judged_types"] == ["aws:ssm/parameter:Parameter"]


# --- shapes the checks assume ------------------------------------------------------------------

POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": '
    '"arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"}]}'
)


def key(**inputs: Any) -> dict[str, Any]:
    return resource(
        "aws:kms/key:Key",
        "orders",
        {
            "enableKeyRotation": True,
            "deletionWindowInDays": 30,
            "policy": POLICY,
            "tags": {**TAGS, "keyplane-purpose": "database-encryption"},
            **inputs,
        },
        protect=True,
    )


def test_parseable_key_policy_is_no_coverage_finding(tmp_path: Path) -> None:
    assert findings(tmp_path, export(key()), "KM-COV-001") == []


def test_key_policy_with_a_trailing_comma_cannot_be_judged(tmp_path: Path) -> None:
    broken = POLICY.replace('"Resource": "*"}', '"Resource": "*",}')
    assert messages(tmp_path, export(key(policy=broken)), "KM-COV-001") == [
        "KM-COV-001 orders: cannot judge: policy is not valid JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 152 (char 151); the grants it holds were not "
        "judged; correct the document."
    ]


def test_unparseable_iam_policy_cannot_be_judged(tmp_path: Path) -> None:
    policy = resource("aws:iam/policy:Policy", "ops", {"policy": '{"Statement": [}', "name": "ops"})
    found = messages(tmp_path, export(policy), "KM-COV-001")
    assert len(found) == 1
    assert found[0].startswith("KM-COV-001 ops: cannot judge: policy is not valid JSON: ")


def gcp_key(period: Any) -> dict[str, Any]:
    return resource(
        "gcp:kms/cryptoKey:CryptoKey",
        "orders",
        {
            "keyRing": "projects/acme/locations/europe-west1/keyRings/prod",
            "rotationPeriod": period,
            "labels": {**TAGS, "keyplane-purpose": "database-encryption"},
        },
        protect=True,
    )


def test_gcp_rotation_in_seconds_is_read(tmp_path: Path) -> None:
    assert findings(tmp_path, export(gcp_key("7776000s")), "KM-ROT-002") == []
    assert messages(tmp_path, export(gcp_key("34560000s")), "KM-ROT-002") == [
        "KM-ROT-002 orders: rotation period 400 days exceeds 365 for database-encryption keys; "
        "lower rotation_days or file an exception."
    ]


@pytest.mark.parametrize("period", [90, "90"])
def test_gcp_rotation_without_unit_cannot_be_judged(tmp_path: Path, period: Any) -> None:
    found = findings(tmp_path, export(gcp_key(period)), "KM-ROT-002")
    assert [(f["message"], f["enforcement"]) for f in found] == [
        (
            f"KM-ROT-002 orders: cannot judge: rotationPeriod {period!r} is not a duration in "
            "seconds ending in 's' (such as '7776000s' for 90 days), as the provider requires.",
            "advisory",
        )
    ]


def vault(**properties: Any) -> dict[str, Any]:
    return resource(
        "azure-native:keyvault:Vault",
        "prod-vault",
        {
            "vaultName": "prod-vault",
            "properties": {
                "enablePurgeProtection": True,
                "softDeleteRetentionInDays": 90,
                "enableRbacAuthorization": True,
                "publicNetworkAccess": "Disabled",
                **properties,
            },
            "tags": TAGS,
        },
        protect=True,
    )


def test_azure_soft_delete_off_is_a_deletion_finding(tmp_path: Path) -> None:
    assert findings(tmp_path, export(vault()), "KM-DEL-001") == []
    assert messages(tmp_path, export(vault(enableSoftDelete=False)), "KM-DEL-001") == [
        "KM-DEL-001 prod-vault: soft delete is off; set enableSoftDelete to true."
    ]


def trail(**inputs: Any) -> dict[str, Any]:
    return resource(
        "aws:cloudtrail/trail:Trail",
        "audit-trail",
        {
            "isMultiRegionTrail": True,
            "enableLogFileValidation": True,
            "kmsKeyId": "arn:aws:kms:eu-west-1:111111111111:key/log",
            "s3BucketName": "prod-audit-logs",
            "tags": TAGS,
            **inputs,
        },
    )


def test_a_stack_holding_only_a_trail_is_judged(tmp_path: Path) -> None:
    assert findings(tmp_path, export(trail()), "KM-LOG-001") == []
    assert messages(tmp_path, export(trail(isMultiRegionTrail=False)), "KM-LOG-001") == [
        "KM-LOG-001 audit-trail: the trail is not multi-region; make it multi-region, with "
        "log-file validation, KMS encryption and management events including KMS."
    ]


def test_a_bucket_in_another_stack_cannot_be_judged(tmp_path: Path) -> None:
    assert messages(tmp_path, export(trail()), "KM-LOG-002") == [
        "KM-LOG-002 audit-trail: cannot judge: the audit logs go to prod-audit-logs, which is not "
        "in this stack; judge its immutability with the stack that manages it."
    ]


def gcp_estate(sink_type: str, locked: bool) -> dict[str, Any]:
    return export(
        gcp_key("7776000s"),
        resource(
            "gcp:projects/iAMAuditConfig:IAMAuditConfig",
            "kms-audit",
            {
                "project": "acme",
                "service": "cloudkms.googleapis.com",
                "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}],
            },
        ),
        resource(
            sink_type,
            "audit-sink",
            {
                "destination": "storage.googleapis.com/acme-audit",
                "filter": 'logName:"cloudaudit.googleapis.com"',
            },
        ),
        resource(
            "gcp:storage/bucket:Bucket",
            "audit-bucket",
            {
                "name": "acme-audit",
                "retentionPolicy": {"retentionPeriod": 400 * 86400, "isLocked": locked},
                "labels": TAGS,
            },
        ),
    )


@pytest.mark.parametrize(
    "sink_type",
    ["gcp:logging/organizationSink:OrganizationSink", "gcp:logging/folderSink:FolderSink"],
)
def test_organisation_and_folder_sinks_are_audit_sinks(tmp_path: Path, sink_type: str) -> None:
    assert findings(tmp_path, gcp_estate(sink_type, locked=True), "KM-LOG-001") == []
    assert findings(tmp_path, gcp_estate(sink_type, locked=True), "KM-LOG-002") == []
    unlocked = messages(tmp_path, gcp_estate(sink_type, locked=False), "KM-LOG-002")
    assert len(unlocked) == 1
    assert unlocked[0].startswith("KM-LOG-002 audit-bucket: the audit-log store has an unlocked")
