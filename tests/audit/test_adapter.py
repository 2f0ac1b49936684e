"""The boto3 adapter alone: describe-call answers in, the Pulumi adapter's facts out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keyplane.adapters.boto3 import (
    alarm_facts,
    bucket_facts,
    display_name,
    event_rule_facts,
    event_target_facts,
    key_facts,
    metric_filter_facts,
    trail_facts,
)
from keyplane.adapters.pulumi import stack_facts
from keyplane.components.aws.monitoring import NAMESPACE, alarm_specs
from keyplane.facts import UNKNOWN, Immutability, KeyOrigin
from keyplane.facts.model import Alert, AlertTarget, LogMetric
from keyplane.facts.signals import Signal
from keyplane.standard import ALGORITHMS, Usage
from tests.policy.stacks import res

ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234"
METADATA = {
    "KeyId": "1234",
    "Arn": ARN,
    "KeySpec": "SYMMETRIC_DEFAULT",
    "KeyUsage": "ENCRYPT_DECRYPT",
    "Origin": "AWS_KMS",
    "KeyManager": "CUSTOMER",
    "KeyState": "Enabled",
}
POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*"}]}
)


def test_a_symmetric_key_with_rotation_reports_its_period() -> None:
    key = key_facts(
        METADATA,
        name="orders-db",
        tags={"keyplane-purpose": "database-encryption"},
        rotation={"KeyRotationEnabled": True, "RotationPeriodInDays": 180},
        policy=POLICY,
    )
    assert key.algorithm is ALGORITHMS["AES-256"]
    assert key.usage is Usage.ENCRYPT
    assert (key.rotation_enabled, key.rotation_days) == (True, 180)
    assert key.origin is KeyOrigin.CLOUD_HSM
    assert key.protect is UNKNOWN and key.deletion_window_days is UNKNOWN
    assert [g.principal for g in key.grants] == ["*"]  # type: ignore[union-attr]


def test_rotation_without_a_reported_period_is_yearly_as_in_the_pulumi_adapter() -> None:
    key = key_facts(METADATA, name="k", tags={}, rotation={"KeyRotationEnabled": True}, policy=None)
    assert key.rotation_days == 365


def test_unreadable_answers_are_unknown_not_guessed() -> None:
    key = key_facts(METADATA, name="k", tags=UNKNOWN, rotation=UNKNOWN, policy=UNKNOWN)
    assert key.rotation_enabled is UNKNOWN and key.rotation_days is UNKNOWN
    assert key.grants is UNKNOWN and key.tags is UNKNOWN


def test_an_asymmetric_key_cannot_rotate() -> None:
    metadata = {**METADATA, "KeySpec": "ECC_SECG_P256K1", "KeyUsage": "SIGN_VERIFY"}
    key = key_facts(metadata, name="k", tags={}, rotation=None, policy=None)
    assert key.algorithm is ALGORITHMS["ECDSA-SECP256K1"]
    assert key.usage is Usage.SIGN
    assert (key.can_rotate_automatically, key.rotation_enabled) == (False, False)


def test_keys_in_a_custom_key_store_are_dedicated_hsm_keys() -> None:
    metadata = {**METADATA, "Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": "cks-1"}
    key = key_facts(metadata, name="k", tags={}, rotation=None, policy=None)
    assert key.origin is KeyOrigin.DEDICATED_HSM
    assert key.can_rotate_automatically is False


def test_the_declared_name_comes_from_keyplanes_alias() -> None:
    assert display_name(ARN, ["alias/other", "alias/prod/orders-db"], "prod") == "orders-db"
    assert display_name(ARN, ["alias/legacy"], "prod") == "legacy"
    assert display_name(ARN, [], "prod") == "1234"


def test_trail_selectors_that_drop_kms_events_are_seen() -> None:
    trail = {"Name": "t", "TrailARN": "arn:t", "S3BucketName": "b"}
    selectors = {
        "EventSelectors": [
            {
                "IncludeManagementEvents": True,
                "ExcludeManagementEventSources": ["kms.amazonaws.com"],
            }
        ]
    }
    facts = trail_facts(trail, status={"IsLogging": True}, selectors=selectors, tags={})
    assert facts.excludes_kms_events is True
    assert facts.multi_region is False and facts.log_file_validation is False
    assert trail_facts(trail, status=UNKNOWN, selectors={}, tags={}).logging_enabled is UNKNOWN


def test_a_bucket_without_object_lock_has_no_immutability() -> None:
    bucket = bucket_facts("b", lock=None, versioning={}, tags={})
    assert (bucket.immutability, bucket.object_lock_enabled, bucket.versioning) == (
        None,
        False,
        False,
    )
    locked = bucket_facts(
        "b",
        lock={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}},
        },
        versioning={"Status": "Enabled"},
        tags={},
    )
    assert locked.immutability is Immutability.COMPLIANCE and locked.retention_days == 730


# --- alerts on key misuse: the Pulumi adapter's facts from the same resources -----------------

TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
KMS_CALLS = '{"source": ["aws.kms"], "detail-type": ["AWS API Call via CloudTrail"]}'


def _pulumi(type_: str, inputs: dict[str, Any]) -> Any:
    [facts] = stack_facts([res(type_, "x", inputs)]).resources
    return facts


@pytest.mark.parametrize("spec", alarm_specs(), ids=lambda s: s.slug)
def test_a_metric_filter_reads_as_the_pulumi_adapter_reads_it(spec: Any) -> None:
    live = metric_filter_facts(
        {
            "filterName": spec.slug,
            "filterPattern": spec.pattern,
            "logGroupName": "trail-group",
            "metricTransformations": [
                {"metricName": spec.slug, "metricNamespace": NAMESPACE, "metricValue": "1"}
            ],
        },
        account="123456789012",
        region="eu-west-1",
    )
    planned = _pulumi(
        "aws:cloudwatch/logMetricFilter:LogMetricFilter",
        {
            "name": spec.slug,
            "pattern": spec.pattern,
            "logGroupName": "trail-group",
            "metricTransformation": {"name": spec.slug, "namespace": NAMESPACE, "value": "1"},
        },
    )
    assert isinstance(planned, LogMetric)
    assert (live.metric, live.signals) == (planned.metric, planned.signals)
    assert live.metric == f"{NAMESPACE}/{spec.slug}" and live.signals
    assert live.log_group is not None
    assert live.log_group.value == "arn:aws:logs:eu-west-1:123456789012:log-group:trail-group"


def test_an_alarm_reads_as_the_pulumi_adapter_reads_it() -> None:
    live = alarm_facts(
        {
            "AlarmName": "grants",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:grants",
            "MetricName": "grant-created",
            "Namespace": NAMESPACE,
            "ActionsEnabled": True,
            "AlarmActions": [TOPIC, "arn:aws:sqs:eu-west-1:123456789012:q"],
        }
    )
    planned = _pulumi(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {
            "name": "grants",
            "metricName": "grant-created",
            "namespace": NAMESPACE,
            "actionsEnabled": True,
            "alarmActions": [TOPIC, "arn:aws:sqs:eu-west-1:123456789012:q"],
        },
    )
    assert isinstance(planned, Alert)
    assert (live.metrics, live.destinations, live.enabled) == (
        planned.metrics,
        planned.destinations,
        planned.enabled,
    )
    assert live.destinations == (TOPIC,)


def test_a_metric_math_alarm_watches_each_metric_and_silence_is_never_assumed_on() -> None:
    live = alarm_facts(
        {
            "AlarmName": "math",
            "Metrics": [
                {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "ns", "MetricName": "a"}}},
                {"Id": "e1", "Expression": "m1 * 2"},
            ],
            "AlarmActions": [TOPIC],
        }
    )
    assert live.metrics == frozenset({"ns/a"})
    assert live.enabled is UNKNOWN  # the answer did not say: not "enabled"


@pytest.mark.parametrize(
    ("state", "enabled"),
    [
        ("ENABLED", True),
        ("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", True),
        ("DISABLED", False),
    ],
)
def test_an_event_rule_reads_as_the_pulumi_adapter_reads_it(state: str, enabled: bool) -> None:
    arn = "arn:aws:events:eu-west-1:123456789012:rule/kms"
    live = event_rule_facts({"Name": "kms", "Arn": arn, "EventPattern": KMS_CALLS, "State": state})
    planned = _pulumi(
        "aws:cloudwatch/eventRule:EventRule",
        {"name": "kms", "eventPattern": KMS_CALLS, "state": state},
    )
    assert isinstance(planned, Alert)
    assert (live.signals, live.enabled, live.targets_apart) == (
        planned.signals,
        planned.enabled,
        planned.targets_apart,
    )
    assert live.enabled is enabled
    assert {Signal.DISABLED, Signal.POLICY, Signal.GRANT} <= live.signals  # type: ignore[operator]
    # The use of a key is a read-only management event: only this state receives it.
    all_events = state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert (Signal.FAILED_USE in live.signals) is all_events  # type: ignore[operator]
    target = event_target_facts(live, {"Id": "1", "Arn": TOPIC})
    assert isinstance(target, AlertTarget) and target.destination == TOPIC
    assert live.matches(target.rule)
    assert event_target_facts(live, {"Id": "2", "Arn": "arn:aws:sqs:x"}).destination is None


def test_a_scheduled_rule_matches_no_signal() -> None:
    live = event_rule_facts(
        {"Name": "nightly", "ScheduleExpression": "rate(1 day)", "State": "ENABLED"}
    )
    assert live.signals == frozenset()


def test_the_trails_log_group_is_read() -> None:
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:trail:*"
    trail = {"Name": "t", "TrailARN": "arn:t", "S3BucketName": "b"}
    delivering = trail_facts(
        {**trail, "CloudWatchLogsLogGroupArn": group}, status={}, selectors={}, tags={}
    )
    assert delivering.log_group is not None and delivering.log_group.value == group
    assert trail_facts(trail, status={}, selectors={}, tags={}).log_group is None
