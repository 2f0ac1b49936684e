"""The key-bearing Terraform types checkov sees get the same facts as their Pulumi twins, and the
audit reads a cron schedule with the same parser."""

from __future__ import annotations

import json

from keyplane.adapters.boto3 import secret_facts
from keyplane.adapters.terraform import SUPPORTED_TYPES, facts_from_values
from keyplane.facts.model import AccessBinding, Key, SecretValue

OPEN = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*"}]}
)
KMS_STAR = json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})


def test_terraform_types_are_read() -> None:
    assert {
        "aws_kms_replica_key",
        "aws_kms_replica_external_key",
        "aws_kms_external_key",
        "aws_iam_user_policy",
        "aws_iam_group_policy",
    } <= SUPPORTED_TYPES


def test_replica_key_has_its_own_policy_and_window() -> None:
    (key,) = facts_from_values(
        "aws_kms_replica_key",
        {
            "primary_key_arn": "arn:aws:kms:eu-west-1:1:key/mrk-1",
            "policy": OPEN,
            "deletion_window_in_days": 7,
        },
        address="aws_kms_replica_key.dr",
    )
    assert isinstance(key, Key)
    assert key.deletion_window_days == 7
    assert key.replica_of is not None
    assert key.grants != () and {g.principal for g in key.grants} == {"*"}  # type: ignore[union-attr]


def test_external_key_material_in_clear_is_a_secret_value() -> None:
    facts = facts_from_values(
        "aws_kms_external_key",
        {"key_material_base64": "c2VjcmV0LW1hdGVyaWFs"},
        address="aws_kms_external_key.imported",
    )
    values = [f for f in facts if isinstance(f, SecretValue)]
    assert [(v.field, v.plaintext) for v in values] == [("keyMaterialBase64", True)]


def test_user_policy_is_an_identity_policy() -> None:
    (binding,) = facts_from_values(
        "aws_iam_user_policy",
        {"user": "ci-deployer", "policy": KMS_STAR},
        address="aws_iam_user_policy.ci",
    )
    assert isinstance(binding, AccessBinding) and binding.identity
    assert isinstance(binding.grants, tuple)
    assert {(g.principal, g.actions) for g in binding.grants} == {
        ("aws-user:ci-deployer", ("kms:*",))
    }


def test_bare_list_principal_keeps_its_wildcard() -> None:
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": ["arn:aws:iam::1:role/x", "*"],
                    "Action": "kms:Decrypt",
                }
            ]
        }
    )
    (key,) = facts_from_values("aws_kms_key", {"policy": policy}, address="aws_kms_key.k")
    assert isinstance(key, Key) and isinstance(key.grants, tuple)
    assert {g.principal for g in key.grants} == {"arn:aws:iam::1:role/x", "*"}


def test_audit_reads_cron_schedules() -> None:
    described = {
        "ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:s",
        "Name": "s",
        "RotationEnabled": True,
        "RotationRules": {"ScheduleExpression": "cron(0 4 1 1/6 ? *)"},
    }
    assert secret_facts(described, name="s", policy=None).rotation_days == 184
    described["RotationRules"] = {"ScheduleExpression": "cron(0 4 30 2 ? *)"}
    broken = secret_facts(described, name="s", policy=None)
    assert broken.rotation_days is None
    assert broken.schedule_problem is not None
    assert "RotationRules.ScheduleExpression 'cron(0 4 30 2 ? *)': never fires" in (
        broken.schedule_problem
    )
