"""GcpAuditLogSink: audit configs, the locked bucket and the sink's only grant."""

from __future__ import annotations

from typing import Any

import pytest

from keyplane.components.gcp import ComponentInputError, GcpAuditLogSink, GcpAuditLogSinkArgs
from keyplane.components.gcp.audit import default_bucket_name
from keyplane.render import RenderResult
from tests.gcp.helpers import grants, inputs, of_type, run

BUCKET = "gcp:storage/bucket:Bucket"
AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
SINK = "gcp:logging/projectSink:ProjectSink"


def sink(**fields: Any) -> GcpAuditLogSinkArgs:
    return GcpAuditLogSinkArgs(
        **{
            "project": "acme-prod-kms",
            "location": "europe-west1",
            "environment": "prod-gcp",
            "retention_days": 400,
            "auditors": ("group:security-audit@acme.example",),
            **fields,
        }
    )


def render_sink(args: GcpAuditLogSinkArgs) -> RenderResult:
    return run(lambda: GcpAuditLogSink("audit", args))


@pytest.fixture(scope="module")
def audit() -> RenderResult:
    return render_sink(sink())


def test_every_audit_log_of_kms_and_secret_manager_is_on(audit: RenderResult) -> None:
    configs = {r.inputs["service"]: r.inputs for r in of_type(audit, AUDIT_CONFIG).values()}
    assert set(configs) == {"cloudkms.googleapis.com", "secretmanager.googleapis.com"}
    for config in configs.values():
        assert config["project"] == "acme-prod-kms"
        assert {c["logType"] for c in config["auditLogConfigs"]} == {
            "ADMIN_READ",
            "DATA_READ",
            "DATA_WRITE",
        }
        assert all("exemptedMembers" not in c for c in config["auditLogConfigs"])


def test_the_bucket_is_locked_private_and_labelled(audit: RenderResult) -> None:
    bucket = of_type(audit, BUCKET)["audit-bucket"]
    assert bucket.protect
    assert dict(bucket.inputs) == {
        "name": "acme-prod-kms-prod-gcp-kms-audit",
        "project": "acme-prod-kms",
        "location": "EUROPE-WEST1",
        "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced",
        "retentionPolicy": {"retentionPeriod": str(400 * 86400), "isLocked": True},
        "forceDestroy": False,
        "labels": {"keyplane-environment": "prod-gcp", "keyplane-managed": "true"},
    }
    # GCS refuses Object Versioning on a bucket with a retention policy.
    assert "versioning" not in bucket.inputs


def test_the_sink_exports_audit_logs_of_both_services_with_its_own_identity(
    audit: RenderResult,
) -> None:
    assert inputs(audit, SINK, "audit-sink") == {
        "name": "prod-gcp-kms-audit",
        "project": "acme-prod-kms",
        "description": "keyplane: prod-gcp key and secret audit logs (KM-LOG-001)",
        "destination": "storage.googleapis.com/acme-prod-kms-prod-gcp-kms-audit",
        "filter": 'logName:"cloudaudit.googleapis.com" AND protoPayload.serviceName='
        '("cloudkms.googleapis.com" OR "secretmanager.googleapis.com")',
        "uniqueWriterIdentity": True,
    }


def test_the_sink_only_creates_objects_and_auditors_only_read(audit: RenderResult) -> None:
    assert grants(audit) == {
        ("acme-prod-kms-prod-gcp-kms-audit", "roles/storage.objectCreator", "<unknown>"),
        (
            "acme-prod-kms-prod-gcp-kms-audit",
            "roles/storage.objectViewer",
            "group:security-audit@acme.example",
        ),
    }
    writer = of_type(audit, "gcp:storage/bucketIAMMember:BucketIAMMember")["audit-writer"]
    sink_urn = of_type(audit, SINK)["audit-sink"].urn
    assert sink_urn in writer.dependencies


def test_long_bucket_names_are_shortened_stably() -> None:
    name = default_bucket_name("a" * 30, "e" * 40)
    assert len(name) == 63
    assert name == default_bucket_name("a" * 30, "e" * 40)
    assert name != default_bucket_name("a" * 30, "e" * 39 + "f")
    assert default_bucket_name("acme-prod-kms", "prod-gcp") == "acme-prod-kms-prod-gcp-kms-audit"


def test_a_named_bucket_and_development_tier() -> None:
    result = render_sink(sink(bucket_name="acme-audit", protect=False))
    bucket = of_type(result, BUCKET)["audit-bucket"]
    assert bucket.inputs["name"] == "acme-audit"
    assert not bucket.protect
    # Immutability does not depend on the tier: the policy is locked everywhere (KM-LOG-002).
    assert bucket.inputs["retentionPolicy"]["isLocked"] is True


def test_a_global_location_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_sink(sink(location="global"))
    assert str(caught.value) == (
        "Invalid \"location\" argument: Cloud Storage has no 'global' location for the log "
        "bucket of 'audit'; use a region or a multi-region such as EU"
    )


@pytest.mark.parametrize("days", [0, 36525])
def test_a_retention_cloud_storage_cannot_keep_is_refused(days: int) -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_sink(sink(retention_days=days))
    assert str(caught.value) == (
        f'Invalid "retention_days" argument: {days}; Cloud Storage retains objects 1 to 36524 days'
    )
