"""An immutable audit trail of key management and use (`keyplane:aws:AuditLogSink`).

A multi-region CloudTrail trail with log-file validation (KM-LOG-001), encrypted with its own
KMS key, writing to an S3 bucket under Object Lock in COMPLIANCE mode for the environment's
retention period (KM-LOG-002): not even the account root can delete or overwrite a log file
before its retention ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.components.aws._common import (
    PolicyDocument,
    Statement,
    document,
    invalid,
    partition,
    principal_block,
    tags,
    to_json,
)
from keyplane.components.aws.key_policy import key_policy
from keyplane.config.model import Environment
from keyplane.standard import (
    AWS_CLOUDTRAIL_SERVICE,
    AWS_DELETION_WINDOW_DAYS,
    PURPOSES,
    KeyPurpose,
    aws_logs_service,
)

TYPE = "keyplane:aws:AuditLogSink"

CLOUDTRAIL = AWS_CLOUDTRAIL_SERVICE
#: The retention periods CloudWatch Logs accepts, in days (PutRetentionPolicy).
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip
#: Purpose tag of the log key: a key a cloud service (CloudTrail) uses on the environment's
#: behalf (Policy §2, "cloud provider-managed keys").
LOG_KEY_PURPOSE = KeyPurpose.CLOUD_PROVIDER
#: S3 Object Lock default retention accepts 1 to 36500 days.
RETENTION_RANGE = (1, 36500)

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_TRAIL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]")
# The bucket name starts with the environment's name: S3 accepts lower-case letters, digits and
# dashes, and at most 37 characters of prefix (S3 appends 26 unique ones).
_ENVIRONMENT = re.compile(r"[a-z0-9][a-z0-9-]*")
BUCKET_PREFIX_MAX = 37


@dataclass(frozen=True)
class AuditLogSinkArgs:
    """What an AuditLogSink provisions.

    Attributes:
        environment: the environment's name (tags, trail name `keyplane-<environment>`).
        account_id: the environment's AWS account (CloudTrail writes `AWSLogs/<account>/`).
        region: the trail's home region.
        retention_days: days each log file stays immutable (Object Lock COMPLIANCE, 1 to 36500).
        admins: administrators of the log key (management actions only).
        auditors: principals that may read the log key's metadata.
        log_readers: principals that may decrypt this trail's log files (and nothing else the
            key might encrypt); none by default. They also need `s3:GetObject` on the bucket.
        protect: Pulumi's `protect` on the key, bucket and trail (staging and production).
        deletion_window_days: waiting period before the log key is deleted (7 to 30, default 30).
        principal_resources: resources the key policy's principals come from; the key waits for
            them (KMS refuses a policy naming a principal that does not exist yet).
        cloudwatch_logs: also deliver the trail to a CloudWatch Logs group `log_group_name`,
            encrypted with the log key, kept `cloudwatch_retention_days` (KM-MON-001's alarms
            count its events).
    """

    environment: str
    account_id: str
    region: str
    retention_days: int
    admins: tuple[str, ...]
    auditors: tuple[str, ...] = ()
    log_readers: tuple[str, ...] = ()
    protect: bool = False
    deletion_window_days: int = AWS_DELETION_WINDOW_DAYS
    principal_resources: tuple[pulumi.Resource, ...] = ()
    cloudwatch_logs: bool = False

    def __post_init__(self) -> None:
        if not _ACCOUNT.fullmatch(self.account_id):
            raise invalid(
                "account_id", f"expected a 12-digit AWS account ID (got {self.account_id!r})"
            )
        if not _REGION.fullmatch(self.region):
            raise invalid("region", f"expected an AWS region like eu-west-1 (got {self.region!r})")
        if not _ENVIRONMENT.fullmatch(self.environment):
            raise invalid(
                "environment",
                f"{self.environment!r} cannot start a bucket name (lower-case letters, digits, -)",
            )
        if not _TRAIL_NAME.fullmatch(self.trail_name):
            raise invalid("environment", f"{self.environment!r} cannot name a CloudTrail trail")
        low, high = RETENTION_RANGE
        if not low <= self.retention_days <= high:
            raise invalid(
                "retention_days",
                f"S3 Object Lock retains {low} to {high} days, not {self.retention_days}",
            )
        # Principals are checked before anything registers.
        log_key_policy(self)

    @classmethod
    def from_environment(
        cls,
        env: Environment,
        *,
        admins: tuple[str, ...] | None = None,
        auditors: tuple[str, ...] | None = None,
    ) -> AuditLogSinkArgs:
        if env.aws is None:
            raise invalid("env", f"environment {env.name!r} has no aws block")
        # The alarms of `monitoring` count what the trail delivers to CloudWatch Logs.
        return cls(
            cloudwatch_logs=env.monitoring is not None,
            environment=env.name,
            account_id=env.aws.account_id,
            region=env.aws.region,
            retention_days=env.logging.retention_days,
            admins=admins if admins is not None else env.access.key_admins,
            auditors=auditors if auditors is not None else env.access.auditors,
            protect=env.protected,
        )

    @property
    def trail_name(self) -> str:
        return f"keyplane-{self.environment}"

    @property
    def bucket_prefix(self) -> str:
        """`<environment>-audit-logs-`, shortened to what S3 accepts; never just `logs`."""
        suffix = "-audit-logs-"
        return self.environment[: BUCKET_PREFIX_MAX - len(suffix)] + suffix

    @property
    def log_group_name(self) -> str:
        """The CloudWatch Logs group the trail delivers to (with `cloudwatch_logs`)."""
        return f"/keyplane/{self.environment}/cloudtrail"

    @property
    def log_group_arn(self) -> str:
        """The group's ARN, known before it exists: the log key's policy names it."""
        return (
            f"arn:{partition(self.region)}:logs:{self.region}:{self.account_id}:"
            f"log-group:{self.log_group_name}"
        )

    @property
    def cloudwatch_retention_days(self) -> int:
        """`retention_days` rounded up to a period CloudWatch Logs accepts; 0 (never expire)
        beyond its longest."""
        return next((d for d in CLOUDWATCH_RETENTION_DAYS if d >= self.retention_days), 0)

    @property
    def trail_arn(self) -> str:
        """The trail's ARN, known before it exists: the key and bucket policies name it."""
        return (
            f"arn:{partition(self.region)}:cloudtrail:{self.region}:{self.account_id}:"
            f"trail/{self.trail_name}"
        )


def log_key_policy(args: AuditLogSinkArgs) -> PolicyDocument:
    """The log key: administrators, CloudTrail encrypting for this trail only, auditors.

    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
    """
    on_behalf_of_trail = {"aws:SourceArn": args.trail_arn, "aws:SourceAccount": args.account_id}
    uses: list[Statement] = [
        {
            "Sid": "CloudTrailEncryptsThisTrail",
            "Effect": "Allow",
            "Principal": {"Service": [CLOUDTRAIL]},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    **on_behalf_of_trail,
                    "kms:EncryptionContext:aws:cloudtrail:arn": args.trail_arn,
                }
            },
        },
        {
            "Sid": "CloudTrailDescribesTheKey",
            "Effect": "Allow",
            "Principal": {"Service": [CLOUDTRAIL]},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": on_behalf_of_trail},
        },
    ]
    if args.cloudwatch_logs:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        uses.append(
            {
                "Sid": "CloudWatchLogsEncryptsTheTrailGroup",
                "Effect": "Allow",
                "Principal": {"Service": [aws_logs_service(args.region)]},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": args.log_group_arn}
                },
            }
        )
    if args.log_readers:
        uses.append(
            {
                "Sid": "LogReadersDecryptThisTrail",
                "Effect": "Allow",
                "Principal": principal_block(args.log_readers, field="log_readers"),
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:EncryptionContext:aws:cloudtrail:arn": args.trail_arn}
                },
            }
        )
    return key_policy(admins=args.admins, auditors=args.auditors, uses=uses)


def delivery_role_policy(args: AuditLogSinkArgs) -> PolicyDocument:
    """What CloudTrail may do as the delivery role: write this trail's streams, nothing else.

    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html
    """
    return document(
        [
            {
                "Sid": "CloudTrailWritesTheTrailGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{args.log_group_arn}:log-stream:*",
            }
        ]
    )


def delivery_trust_policy(args: AuditLogSinkArgs) -> PolicyDocument:
    """Only CloudTrail, for this trail, may assume the delivery role."""
    return document(
        [
            {
                "Sid": "CloudTrailDeliversThisTrail",
                "Effect": "Allow",
                "Principal": {"Service": [CLOUDTRAIL]},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {
                        "aws:SourceArn": args.trail_arn,
                        "aws:SourceAccount": args.account_id,
                    }
                },
            }
        ]
    )


def bucket_policy(args: AuditLogSinkArgs, bucket_arn: str) -> PolicyDocument:
    """CloudTrail may write this trail's logs, nothing else; plain HTTP is refused.

    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
    """
    on_behalf_of_trail = {"aws:SourceArn": args.trail_arn, "aws:SourceAccount": args.account_id}
    return document(
        [
            {
                "Sid": "CloudTrailChecksTheBucketAcl",
                "Effect": "Allow",
                "Principal": {"Service": [CLOUDTRAIL]},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": on_behalf_of_trail},
            },
            {
                "Sid": "CloudTrailWritesThisTrail",
                "Effect": "Allow",
                "Principal": {"Service": [CLOUDTRAIL]},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{args.account_id}/*",
                "Condition": {
                    "StringEquals": {
                        **on_behalf_of_trail,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    }
                },
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ]
    )


class AuditLogSink(pulumi.ComponentResource):
    """A multi-region, validated, KMS-encrypted trail writing to a locked, private bucket.

    Children: the log key `<name>-key` (alias `alias/<env>/keyplane/audit-logs`), the bucket
    `<name>-logs` (Object Lock enabled at creation; versioning, COMPLIANCE retention, public
    access block, ownership, SSE-KMS and policy as `<name>-logs-*`), the trail `<name>-trail`; with
    `cloudwatch_logs`, the log group `<name>-log-group` and the role CloudTrail delivers to it
    with, `<name>-delivery-role`.

    Outputs:
        trail_arn, trail_name: the trail.
        bucket_name, bucket_arn: the log bucket (`<environment>-audit-logs-<unique suffix>`).
        log_key_arn: the key the logs are encrypted with.
        log_group_name: the CloudWatch Logs group the trail delivers to (with
            `cloudwatch_logs`; else None).
    """

    key: aws.kms.Key
    bucket: aws.s3.Bucket
    trail: aws.cloudtrail.Trail
    trail_arn: pulumi.Output[str]
    trail_name: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    log_key_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: AuditLogSinkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        policy = to_json(log_key_policy(args))
        sink_tags = tags(args.environment)
        key_tags = tags(args.environment, purpose=LOG_KEY_PURPOSE)
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)

        self.key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"keyplane {args.environment}: encrypts the audit trail's logs",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                key_usage="ENCRYPT_DECRYPT",
                enable_key_rotation=True,
                rotation_period_in_days=PURPOSES[LOG_KEY_PURPOSE].max_rotation_days,
                deletion_window_in_days=args.deletion_window_days,
                policy=policy,
                bypass_policy_lockout_safety_check=False,
                multi_region=False,
                tags=key_tags,
            ),
            opts=pulumi.ResourceOptions.merge(
                protected, pulumi.ResourceOptions(depends_on=list(args.principal_resources))
            ),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(
                name=f"alias/{args.environment}/keyplane/audit-logs", target_key_id=self.key.key_id
            ),
            opts=child,
        )

        # Object Lock can only be turned on when the bucket is created.
        self.bucket = aws.s3.Bucket(
            f"{name}-logs",
            aws.s3.BucketArgs(
                bucket_prefix=args.bucket_prefix,
                object_lock_enabled=True,
                force_destroy=False,
                tags=sink_tags,
            ),
            opts=protected,
        )
        bucket = self.bucket.id
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-logs-public-access-block",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=bucket,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-logs-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-logs-versioning",
            bucket=bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        lock = aws.s3.BucketObjectLockConfiguration(
            f"{name}-logs-object-lock",
            bucket=bucket,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode="COMPLIANCE", days=args.retention_days
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-logs-encryption",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        policy_resource = aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            aws.s3.BucketPolicyArgs(
                bucket=bucket,
                policy=self.bucket.arn.apply(lambda arn: to_json(bucket_policy(args, arn))),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )

        # CloudTrail checks the role and the group when the trail is created.
        group_arn: pulumi.Input[str] | None = None
        role_arn: pulumi.Input[str] | None = None
        delivery_deps: list[pulumi.Resource] = []
        self.log_group: aws.cloudwatch.LogGroup | None = None
        if args.cloudwatch_logs:
            self.log_group = aws.cloudwatch.LogGroup(
                f"{name}-log-group",
                aws.cloudwatch.LogGroupArgs(
                    name=args.log_group_name,
                    kms_key_id=self.key.arn,
                    retention_in_days=args.cloudwatch_retention_days,
                    tags=sink_tags,
                ),
                opts=protected,
            )
            role = aws.iam.Role(
                f"{name}-delivery-role",
                aws.iam.RoleArgs(
                    name_prefix=f"{args.trail_name[:24]}-logs-",
                    assume_role_policy=to_json(delivery_trust_policy(args)),
                    inline_policies=[
                        aws.iam.RoleInlinePolicyArgs(
                            name="deliver-trail", policy=to_json(delivery_role_policy(args))
                        )
                    ],
                    tags=sink_tags,
                ),
                opts=child,
            )
            group_arn = self.log_group.arn.apply(lambda arn: f"{arn}:*")
            role_arn = role.arn
            delivery_deps = [self.log_group, role]

        # CloudTrail checks the bucket policy and the key when the trail is created.
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            aws.cloudtrail.TrailArgs(
                name=args.trail_name,
                s3_bucket_name=bucket,
                kms_key_id=self.key.arn,
                is_multi_region_trail=True,
                include_global_service_events=True,
                enable_log_file_validation=True,
                enable_logging=True,
                tags=sink_tags,
                cloud_watch_logs_group_arn=group_arn,
                cloud_watch_logs_role_arn=role_arn,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=[policy_resource, encryption, lock, *delivery_deps],
            ),
        )

        self.trail_arn = self.trail.arn
        self.trail_name = self.trail.name
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.log_key_arn = self.key.arn
        self.log_group_name = self.log_group.name if self.log_group else None
        self.register_outputs(
            {
                **({"log_group_name": self.log_group_name} if self.log_group_name else {}),
                "trail_arn": self.trail_arn,
                "trail_name": self.trail_name,
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "log_key_arn": self.log_key_arn,
            }
        )
