"""AuditLogSink: a multi-region validated trail, encrypted, into a locked private bucket."""

from __future__ import annotations

import dataclasses

import pytest

from keyplane.components.aws import AuditLogSink, AuditLogSinkArgs, ComponentInputError
from keyplane.components.aws.audit import bucket_policy, log_key_policy
from keyplane.render import RenderResult
from tests.aws.support import (
    KEY,
    allow_statements,
    bundled,
    of_type,
    one,
    policy,
    principals,
    run,
    statements,
)

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
TRAIL_ARN = "arn:aws:cloudtrail:eu-west-1:111111111111:trail/keyplane-prod"


def prod_args() -> AuditLogSinkArgs:
    return AuditLogSinkArgs.from_environment(bundled()["prod"])


def render_sink(env_name: str = "prod") -> RenderResult:
    return run(
        lambda: AuditLogSink(
            f"{env_name}-audit", AuditLogSinkArgs.from_environment(bundled()[env_name])
        ),
        stack=env_name,
    )


def test_a_multi_region_validated_encrypted_trail() -> None:
    result = render_sink()

    trail = one(result, TRAIL, "prod-audit-trail")
    assert trail.inputs["name"] == "keyplane-prod"
    assert trail.inputs["isMultiRegionTrail"] is True
    assert trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["includeGlobalServiceEvents"] is True
    assert trail.inputs["enableLogging"] is True
    assert trail.inputs["kmsKeyId"] == "arn:aws:kms:us-east-1:000000000000:key/prod-audit-key"
    assert trail.property_dependencies["kmsKeyId"] == (one(result, KEY, "prod-audit-key").urn,)
    assert trail.property_dependencies["s3BucketName"] == (
        one(result, BUCKET, "prod-audit-logs").urn,
    )
    assert trail.inputs["tags"] == {"keyplane-environment": "prod", "keyplane-managed": "true"}
    # CloudTrail checks the bucket policy when the trail is created.
    policy_urn = one(result, "aws:s3/bucketPolicy:BucketPolicy", "prod-audit-logs-policy").urn
    assert policy_urn in trail.dependencies
    assert prod_args().trail_arn == TRAIL_ARN


def test_the_bucket_is_locked_versioned_private_and_encrypted_with_the_log_key() -> None:
    result = render_sink()

    bucket = one(result, BUCKET, "prod-audit-logs")
    assert bucket.name != "logs"
    assert "bucket" not in bucket.inputs  # S3 completes the prefix with a unique suffix
    assert bucket.inputs["bucketPrefix"] == "prod-audit-logs-"
    assert bucket.inputs["objectLockEnabled"] is True
    assert bucket.inputs["forceDestroy"] is False
    assert bucket.inputs["tags"] == {"keyplane-environment": "prod", "keyplane-managed": "true"}

    def config(type_: str, suffix: str) -> dict[str, object]:
        registration = one(result, f"aws:s3/{type_}", f"prod-audit-logs-{suffix}")
        assert registration.property_dependencies["bucket"] == (bucket.urn,)
        return {k: v for k, v in registration.inputs.items() if k != "bucket"}

    assert config("bucketVersioning:BucketVersioning", "versioning") == {
        "versioningConfiguration": {"status": "Enabled"}
    }
    assert config("bucketObjectLockConfiguration:BucketObjectLockConfiguration", "object-lock") == {
        "objectLockEnabled": "Enabled",
        "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 400}},
    }
    assert config("bucketPublicAccessBlock:BucketPublicAccessBlock", "public-access-block") == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert config("bucketOwnershipControls:BucketOwnershipControls", "ownership") == {
        "rule": {"objectOwnership": "BucketOwnerEnforced"}
    }
    assert config(
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "encryption",
    ) == {
        "rules": [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": "arn:aws:kms:us-east-1:000000000000:key/prod-audit-key",
                },
                "bucketKeyEnabled": True,
            }
        ]
    }


def test_the_retention_is_the_environments() -> None:
    result = render_sink("dev")
    lock = one(
        result,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "dev-audit-logs-object-lock",
    )
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 90}}


def test_only_cloudtrail_writes_this_trails_logs_and_only_over_tls() -> None:
    arn = "arn:aws:s3:::prod-audit-logs-1234567"
    document = statements(bucket_policy(prod_args(), arn))
    source = {"aws:SourceArn": TRAIL_ARN, "aws:SourceAccount": "111111111111"}

    assert document["CloudTrailChecksTheBucketAcl"] == {
        "Sid": "CloudTrailChecksTheBucketAcl",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudtrail.amazonaws.com"]},
        "Action": "s3:GetBucketAcl",
        "Resource": arn,
        "Condition": {"StringEquals": source},
    }
    assert document["CloudTrailWritesThisTrail"] == {
        "Sid": "CloudTrailWritesThisTrail",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudtrail.amazonaws.com"]},
        "Action": "s3:PutObject",
        "Resource": f"{arn}/AWSLogs/111111111111/*",
        "Condition": {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}},
    }
    assert document["DenyInsecureTransport"] == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_the_rendered_bucket_policy_names_the_bucket() -> None:
    result = render_sink()
    rendered = policy(one(result, "aws:s3/bucketPolicy:BucketPolicy", "prod-audit-logs-policy"))
    assert rendered == bucket_policy(
        prod_args(), "arn:aws:s3:us-east-1:000000000000:bucket/prod-audit-logs"
    )


def test_the_log_key_lets_cloudtrail_encrypt_for_this_trail_only() -> None:
    result = render_sink()
    key = one(result, KEY, "prod-audit-key")
    document = statements(policy(key))

    assert list(document) == [
        "KeyAdministration",
        "CloudTrailEncryptsThisTrail",
        "CloudTrailDescribesTheKey",
        # prod declares monitoring: the trail's CloudWatch Logs group is encrypted with the key.
        "CloudWatchLogsEncryptsTheTrailGroup",
        "KeyAudit",
    ]
    logs = document["CloudWatchLogsEncryptsTheTrailGroup"]
    assert principals(logs, "Service") == ["logs.eu-west-1.amazonaws.com"]
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                "arn:aws:logs:eu-west-1:111111111111:log-group:/keyplane/prod/cloudtrail"
            )
        }
    }
    encrypt = document["CloudTrailEncryptsThisTrail"]
    assert principals(encrypt, "Service") == ["cloudtrail.amazonaws.com"]
    assert encrypt["Condition"] == {
        "StringEquals": {
            "aws:SourceArn": TRAIL_ARN,
            "aws:SourceAccount": "111111111111",
            "kms:EncryptionContext:aws:cloudtrail:arn": TRAIL_ARN,
        }
    }
    for statement in allow_statements(policy(key)):
        assert "*" not in principals(statement)
        assert "Condition" in statement or statement["Sid"] in ("KeyAdministration", "KeyAudit")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["tags"]["keyplane-purpose"] == "cloud-provider"
    assert log_key_policy(prod_args()) == policy(key)


@pytest.mark.parametrize(
    ("env_name", "protected"), [("dev", False), ("staging", True), ("prod", True)]
)
def test_key_bucket_and_trail_are_protected_in_staging_and_production(
    env_name: str, protected: bool
) -> None:
    result = render_sink(env_name)
    assert {
        r.type: r.protect
        for r in of_type(result, KEY) + of_type(result, BUCKET) + of_type(result, TRAIL)
    } == {KEY: protected, BUCKET: protected, TRAIL: protected}


def test_log_readers_may_decrypt_this_trails_logs_only() -> None:
    reader = "arn:aws:iam::111111111111:role/log-reader"
    args = dataclasses.replace(prod_args(), log_readers=(reader,))
    document = statements(log_key_policy(args))
    assert document["LogReadersDecryptThisTrail"] == {
        "Sid": "LogReadersDecryptThisTrail",
        "Effect": "Allow",
        "Principal": {"AWS": [reader]},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:aws:cloudtrail:arn": TRAIL_ARN}},
    }
    assert "LogReadersDecryptThisTrail" not in statements(log_key_policy(prod_args()))


# --- impossible inputs --------------------------------------------------------------------------


def test_retention_must_be_one_object_lock_accepts() -> None:
    with pytest.raises(ComponentInputError) as raised:
        dataclasses.replace(prod_args(), retention_days=0)
    assert str(raised.value) == (
        'Invalid "retention_days" argument: S3 Object Lock retains 1 to 36500 days, not 0'
    )


def test_an_environment_name_that_cannot_start_a_bucket_name_is_refused() -> None:
    with pytest.raises(ComponentInputError) as raised:
        dataclasses.replace(prod_args(), environment="Prod_EU")
    assert str(raised.value) == (
        "Invalid \"environment\" argument: 'Prod_EU' cannot start a bucket name (lower-case "
        "letters, digits, -)"
    )


def test_long_environment_names_still_make_a_bucket_prefix_s3_accepts() -> None:
    name = "a-very-long-environment-name-of-forty-eight-char"
    assert len(name) == 48
    prefix = dataclasses.replace(prod_args(), environment=name).bucket_prefix
    assert prefix == "a-very-long-environment-n-audit-logs-"
    assert len(prefix) <= 37
