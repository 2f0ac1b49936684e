"""Key and secret audit logs, exported to a locked bucket (`keyplane:gcp:AuditLogSink`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from keyplane.components.gcp import roles
from keyplane.components.gcp._common import (
    SECONDS_PER_DAY,
    binding_name,
    check_members,
    digest,
    invalid,
    labels,
)

#: The services whose audit logs keyplane turns on and exports (KM-LOG-001).
AUDITED_SERVICES: tuple[str, ...] = ("cloudkms.googleapis.com", "secretmanager.googleapis.com")
#: Every kind of audit log: reads of key material and metadata, writes, and admin reads.
AUDIT_LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
#: Cloud Storage caps a retention period below 3,155,760,000 seconds (100 years).
_MAX_RETENTION_DAYS = 3_155_759_999 // SECONDS_PER_DAY
_BUCKET_NAME_MAX = 63


def audit_filter(services: tuple[str, ...] = AUDITED_SERVICES) -> str:
    """The sink's filter: every audit log (activity, data access, system, policy) of `services`."""
    names = " OR ".join(f'"{s}"' for s in services)
    return f'logName:"cloudaudit.googleapis.com" AND protoPayload.serviceName=({names})'


def default_bucket_name(project: str, environment: str) -> str:
    """`<project>-<environment>-kms-audit`, shortened with a hash beyond GCS's 63 characters."""
    name = f"{project}-{environment}-kms-audit"
    if len(name) <= _BUCKET_NAME_MAX:
        return name
    return f"{name[: _BUCKET_NAME_MAX - 9].rstrip('-')}-{digest(name)}"


@dataclass(frozen=True)
class GcpAuditLogSinkArgs:
    """Inputs of `GcpAuditLogSink`.

    project: GCP project whose audit logs are turned on and exported.
    location: Cloud Storage location of the log bucket (a region such as `europe-west1` or a
        multi-region such as `EU`; not `global`).
    environment: keyplane environment name, the `keyplane-environment` label.
    retention_days: days every exported log object is kept immutable (KM-LOG-002); the
        bucket's retention policy is locked, which is irreversible.
    auditors: IAM members granted `roles/storage.objectViewer` on the log bucket.
    bucket_name: default `<project>-<environment>-kms-audit` (bucket names are global).
    services: the services whose audit logs are configured and exported.
    protect: Pulumi `protect` on the bucket; default True.
    """

    project: str
    location: str
    environment: str
    retention_days: int
    auditors: tuple[str, ...] = ()
    bucket_name: str | None = None
    services: tuple[str, ...] = AUDITED_SERVICES
    protect: bool = True


class GcpAuditLogSink(pulumi.ComponentResource):
    """Data-access audit logs for KMS and Secret Manager, exported to a locked bucket.

    Outputs:
        bucket_name: the log bucket.
        sink_writer_identity: the sink's own service account, the only writer of the bucket.
    """

    bucket_name: pulumi.Output[str]
    sink_writer_identity: pulumi.Output[str]

    def __init__(
        self, name: str, args: GcpAuditLogSinkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check(name, args)
        super().__init__("keyplane:gcp:AuditLogSink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        for service in args.services:
            # Authoritative for this service's audit config only (other services keep theirs).
            gcp.projects.IAMAuditConfig(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=log_type)
                    for log_type in AUDIT_LOG_TYPES
                ],
                opts=child,
            )

        bucket_name = args.bucket_name or default_bucket_name(args.project, args.environment)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=bucket_name,
            project=args.project,
            location=args.location.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Object Versioning is not set: GCS refuses it on a bucket with a retention policy
            # (https://cloud.google.com/storage/docs/bucket-lock); the locked policy already
            # forbids deleting or replacing any object younger than the retention period.
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(args.retention_days * SECONDS_PER_DAY),
                is_locked=True,
            ),
            force_destroy=False,
            labels=labels(args.environment),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect or None),
        )
        self.bucket_name = bucket.name

        sink = gcp.logging.ProjectSink(
            f"{name}-sink",
            name=f"{args.environment}-kms-audit",
            project=args.project,
            description=f"keyplane: {args.environment} key and secret audit logs (KM-LOG-001)",
            destination=pulumi.Output.concat("storage.googleapis.com/", bucket.name),
            filter=audit_filter(args.services),
            unique_writer_identity=True,
            opts=child,
        )
        self.sink_writer_identity = sink.writer_identity
        gcp.storage.BucketIAMMember(
            f"{name}-writer",
            bucket=bucket.name,
            role=roles.STORAGE_OBJECT_CREATOR,
            member=sink.writer_identity,
            opts=child,
        )
        for member in args.auditors:
            gcp.storage.BucketIAMMember(
                binding_name(name, roles.STORAGE_OBJECT_VIEWER, member),
                bucket=bucket.name,
                role=roles.STORAGE_OBJECT_VIEWER,
                member=member,
                opts=child,
            )

        self.register_outputs(
            {"bucket_name": self.bucket_name, "sink_writer_identity": self.sink_writer_identity}
        )


def _check(name: str, args: GcpAuditLogSinkArgs) -> None:
    if args.location == "global":
        raise invalid(
            "location",
            f"Cloud Storage has no 'global' location for the log bucket of {name!r}; "
            "use a region or a multi-region such as EU",
        )
    if not 1 <= args.retention_days <= _MAX_RETENTION_DAYS:
        raise invalid(
            "retention_days",
            f"{args.retention_days}; Cloud Storage retains objects 1 to {_MAX_RETENTION_DAYS} days",
        )
    if not args.services:
        raise invalid("services", f"audit log sink {name!r} needs at least one service")
    check_members(name, "auditors", args.auditors)
