"""A compliant AWS account for the `prod` test environment, built with boto3 (moto or a moto
server), and the test estate that declares it.

Being production, the account alerts on key misuse (KM-MON-001): its trail delivers to a
CloudWatch Logs group whose metric filters feed alarms notifying an SNS topic, written from the
AWS alerting component's own specs (`alarm_specs`), so the audit judges what the component
deploys.

moto's default account is 123456789012, so the environment declares that account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from keyplane.components.aws.monitoring import NAMESPACE, alarm_specs

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ENV = "prod"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/key-admin"
USER = f"arn:aws:iam::{ACCOUNT}:role/orders-service"
AUDITOR = f"arn:aws:iam::{ACCOUNT}:role/auditor"
BUCKET = "kp-prod-audit-logs"
TRAIL = "keyplane-prod"
ROTATION_LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate-payments-api"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:kp-prod-alerts"
LOG_GROUP = "keyplane-prod-trail"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*"
TRAIL_LOGS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/keyplane-prod-trail-logs"

ENVIRONMENT_YAML = f"""\
name: {ENV}
tier: production
cloud: aws
aws:
  account_id: "{{account}}"
  region: {REGION}
hsm:
  enabled: false
logging:
  retention_days: 400
monitoring:
  notify: [{TOPIC}]
keys:
  - name: orders-db
    purpose: database-encryption
    algorithm: AES-256
  - name: app-data
    purpose: application-encryption
    algorithm: AES-256
secrets:
  - name: payments-api
    purpose: api-secret
    rotation_days: 90
    aws:
      rotation_lambda_arn: {ROTATION_LAMBDA}
access:
  key_admins: [{ADMIN}]
  auditors: [{AUDITOR}]
  key_users:
    - principal: {USER}
      keys: [orders-db, app-data]
"""


def write_estate(root: Path, account: str = ACCOUNT) -> Path:
    estate = root / "environments"
    estate.mkdir()
    (estate / f"{ENV}.yaml").write_text(ENVIRONMENT_YAML.format(account=account))
    return estate


ADMIN_ACTIONS = [
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
]
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def key_policy(*, user: str | dict[str, Any] = USER, service: str | None = None) -> str:
    """Administrators administer, users use: no wildcards, duties separated."""
    principal = user if isinstance(user, dict) else {"AWS": user}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Administer",
            "Effect": "Allow",
            "Principal": {"AWS": ADMIN},
            "Action": ADMIN_ACTIONS,
            "Resource": "*",
        },
        {
            "Sid": "Use",
            "Effect": "Allow",
            "Principal": principal,
            "Action": USE_ACTIONS,
            "Resource": "*",
        },
    ]
    if service:
        statements.append(
            {
                "Sid": "ServiceEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def tags(purpose: str, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [
        {key: k, value: v}
        for k, v in {
            "keyplane-environment": ENV,
            "keyplane-purpose": purpose,
            "keyplane-managed": "true",
        }.items()
    ]


@dataclass
class Account:
    """What `build_account` created: key ARNs by declared name, the secret's ARN."""

    keys: dict[str, str] = field(default_factory=dict)
    secret: str = ""
    trail: str = ""


def client(service: str, endpoint_url: str | None = None, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def create_key(
    kms: Any,
    name: str,
    purpose: str,
    *,
    spec: str = "SYMMETRIC_DEFAULT",
    usage: str = "ENCRYPT_DECRYPT",
    policy: str | None = None,
    rotate: bool = True,
) -> str:
    metadata = kms.create_key(
        KeySpec=spec,
        KeyUsage=usage,
        Policy=policy or key_policy(),
        Tags=tags(purpose, "TagKey", "TagValue"),
    )["KeyMetadata"]
    if rotate:
        kms.enable_key_rotation(KeyId=metadata["KeyId"], RotationPeriodInDays=365)
    kms.create_alias(AliasName=f"alias/{ENV}/{name}", TargetKeyId=metadata["KeyId"])
    return str(metadata["Arn"])


def configure_secret_rotation(sm: Any, secret: str, days: int) -> None:
    """moto keeps the rotation settings, then fails to find the (absent) rotation Lambda."""
    try:
        sm.rotate_secret(
            SecretId=secret,
            RotationLambdaARN=ROTATION_LAMBDA,
            RotationRules={"AutomaticallyAfterDays": days},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


def create_alarms(endpoint_url: str | None = None, region: str = REGION) -> list[str]:
    """The AWS alerting component's metric filters on the trail's log group (in `region`), each
    with an alarm notifying TOPIC; the alarms' names."""
    logs = client("logs", endpoint_url, region)
    cloudwatch = client("cloudwatch", endpoint_url, region)
    names = []
    for spec in alarm_specs():
        metric = f"keyplane-{ENV}-{spec.slug}"
        logs.put_metric_filter(
            logGroupName=LOG_GROUP,
            filterName=metric,
            filterPattern=spec.pattern,
            metricTransformations=[
                {"metricName": metric, "metricNamespace": NAMESPACE, "metricValue": "1"}
            ],
        )
        cloudwatch.put_metric_alarm(
            AlarmName=metric,
            AlarmDescription=spec.description,
            MetricName=metric,
            Namespace=NAMESPACE,
            Statistic="Sum",
            Period=spec.period_seconds,
            EvaluationPeriods=1,
            Threshold=spec.threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[TOPIC],
            ActionsEnabled=True,
        )
        names.append(metric)
    return names


def build_account(
    endpoint_url: str | None = None, *, validation: bool = True, alarms: bool = True
) -> Account:
    """The compliant account of the `prod` environment (`alarms`: with the alerting
    component's filters and alarms on the trail's log group)."""
    account = Account()
    kms = client("kms", endpoint_url)
    account.keys["orders-db"] = create_key(kms, "orders-db", "database-encryption")
    account.keys["app-data"] = create_key(kms, "app-data", "application-encryption")
    account.keys["audit-logs"] = create_key(
        kms,
        "audit-logs",
        "cloud-provider",
        policy=key_policy(user=AUDITOR, service="cloudtrail.amazonaws.com"),
    )

    s3 = client("s3", endpoint_url)
    s3.create_bucket(
        Bucket=BUCKET,
        ObjectLockEnabledForBucket=True,
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
        },
    )
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags("cloud-provider")})

    client("sns", endpoint_url).create_topic(Name=TOPIC.rsplit(":", 1)[-1])
    client("logs", endpoint_url).create_log_group(logGroupName=LOG_GROUP)
    trails = client("cloudtrail", endpoint_url)
    trail = trails.create_trail(
        Name=TRAIL,
        S3BucketName=BUCKET,
        CloudWatchLogsLogGroupArn=LOG_GROUP_ARN,
        CloudWatchLogsRoleArn=TRAIL_LOGS_ROLE,
        IsMultiRegionTrail=True,
        EnableLogFileValidation=validation,
        KmsKeyId=account.keys["audit-logs"],
        TagsList=tags("cloud-provider"),
    )
    trails.start_logging(Name=TRAIL)
    account.trail = str(trail["TrailARN"])

    sm = client("secretsmanager", endpoint_url)
    secret = sm.create_secret(
        Name=f"{ENV}/payments-api",
        SecretString="not-a-real-secret",
        KmsKeyId=account.keys["app-data"],
        Tags=tags("api-secret"),
    )
    account.secret = str(secret["ARN"])
    configure_secret_rotation(sm, account.secret, 90)
    if alarms:
        create_alarms(endpoint_url)
    return account
