"""KM-MON-001 in the live audit: the account's alarms, metric filters and EventBridge rules, read
from a moto server (and through a faulty proxy), judged as the pack judges the stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from keyplane.engines.audit.aws import Reader, run_audit
from keyplane.estate import load_estate
from keyplane.rules.catalog import Enforcement
from tests.audit.proxy import Fault, Proxy
from tests.audit.support import (
    ACCOUNT,
    ENV,
    ENVIRONMENT_YAML,
    REGION,
    TOPIC,
    build_account,
    client,
    create_alarms,
    write_estate,
)
from tests.audit.test_cli import endpoint, run  # noqa: F401 - the moto server fixture

RULE = "KM-MON-001"
FIX = (
    "; declare monitoring.notify in the environment file, or deliver the trail to CloudWatch "
    "Logs with metric filters and alarms (or EventBridge rules) notifying an SNS topic."
)
EVERY_SIGNAL = (
    "a key disabled or scheduled for deletion, a key policy, IAM binding or role assignment "
    "changed, a grant created, repeated failed use of a key"
)
#: Every KMS call recorded by CloudTrail, failures included (they carry an errorCode).
KMS_CALLS = {"source": ["aws.kms"], "detail-type": ["AWS API Call via CloudTrail"]}


def audit(endpoint_url: str, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(
        ENV,
        "--estate",
        str(write_estate(tmp_path)),
        "--endpoint-url",
        endpoint_url,
        "-f",
        "json",
        "--timeout",
        "120",
    )
    return code, json.loads(out) if out else {}, err


def monitoring(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["rule"] == RULE]


#: The state in which a rule receives read-only management events (the use of a key).
ALL_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def event_rule(
    endpoint_url: str | None, *, target: str | None = TOPIC, state: str = ALL_EVENTS
) -> None:
    events = client("events", endpoint_url)
    events.put_rule(Name="kms-misuse", EventPattern=json.dumps(KMS_CALLS), State=state)
    if target:
        events.put_targets(Rule="kms-misuse", Targets=[{"Id": "security", "Arn": target}])


# --- the account alerts, or it does not ------------------------------------------------------


def test_alarms_on_the_trails_metric_filters_pass(endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    build_account(endpoint)
    code, document, err = audit(endpoint, tmp_path)
    assert code == 0, err
    assert monitoring(document) == []
    counts = document["evidence"]["resources"]
    assert (counts["metric filters"], counts["alarms"]) == (6, 6)
    trail = next(r for r in document["resources"] if r["type"] == "AWS::CloudTrail::Trail")
    assert trail["inputs"]["log_group"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:keyplane-prod-trail:*"
    )


def _no_alarms(endpoint_url: str) -> None:
    cloudwatch = client("cloudwatch", endpoint_url)
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]]
    cloudwatch.delete_alarms(AlarmNames=names)


def _grant_alarm_deleted(endpoint_url: str) -> None:
    client("cloudwatch", endpoint_url).delete_alarms(AlarmNames=["keyplane-prod-grant-created"])


def _failed_use_alarm_silenced(endpoint_url: str) -> None:
    client("cloudwatch", endpoint_url).disable_alarm_actions(
        AlarmNames=["keyplane-prod-failed-key-use"]
    )


def _policy_alarm_to_a_queue(endpoint_url: str) -> None:
    cloudwatch = client("cloudwatch", endpoint_url)
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["keyplane-prod-key-policy-changed"])[
        "MetricAlarms"
    ]
    cloudwatch.put_metric_alarm(
        **{
            k: alarm[k]
            for k in (
                "AlarmName",
                "MetricName",
                "Namespace",
                "Statistic",
                "Period",
                "EvaluationPeriods",
                "Threshold",
                "ComparisonOperator",
            )
        },
        AlarmActions=[f"arn:aws:sqs:{REGION}:{ACCOUNT}:not-a-notification"],
    )


def _filter_on_another_group(endpoint_url: str) -> None:
    logs = client("logs", endpoint_url)
    [found] = [
        f
        for f in logs.describe_metric_filters(logGroupName="keyplane-prod-trail")["metricFilters"]
        if f["filterName"] == "keyplane-prod-key-disabled-or-deleted"
    ]
    logs.delete_metric_filter(logGroupName="keyplane-prod-trail", filterName=found["filterName"])
    logs.create_log_group(logGroupName="application-logs")
    logs.put_metric_filter(
        logGroupName="application-logs",
        filterName=found["filterName"],
        filterPattern=found["filterPattern"],
        metricTransformations=found["metricTransformations"],
    )


MUTATIONS: dict[str, tuple[Callable[[str], None], str]] = {
    "no alarms": (_no_alarms, EVERY_SIGNAL),
    "the grant alarm deleted": (_grant_alarm_deleted, "a grant created"),
    "the failed-use alarm's actions disabled": (
        _failed_use_alarm_silenced,
        "repeated failed use of a key",
    ),
    "the key-policy alarm notifying a queue": (
        _policy_alarm_to_a_queue,
        "a key policy, IAM binding or role assignment changed",
    ),
    "the deletion filter on a group no trail delivers to": (
        _filter_on_another_group,
        "a key disabled or scheduled for deletion",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_each_gap_in_the_alarms_is_a_mandatory_failure_naming_the_signals(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
    mutation: str,
) -> None:
    build_account(endpoint)
    mutate, missing = MUTATIONS[mutation]
    mutate(endpoint)
    code, document, err = audit(endpoint, tmp_path)
    assert code == 1, err
    [finding] = monitoring(document)
    assert finding["enforcement"] == "mandatory"
    assert finding["resource"] == ENV and finding["type"] == "AWS::Account"
    assert finding["message"] == (
        f"{RULE} {ENV}: no aws alert notifying a declared destination covers {missing}{FIX}"
    )
    assert [f["rule"] for f in document["findings"] if f["enforcement"] == "mandatory"] == [RULE]


def test_an_eventbridge_rule_on_kms_calls_with_an_sns_target_passes(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    build_account(endpoint, alarms=False)
    event_rule(endpoint)
    code, document, err = audit(endpoint, tmp_path)
    assert code == 0, err
    assert monitoring(document) == []
    assert document["evidence"]["resources"]["EventBridge rules"] == 1


def test_a_plain_enabled_eventbridge_rule_sees_no_failed_use_of_a_key(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`ENABLED` receives CloudTrail's write management events only: a failed Decrypt (a
    read-only event) never reaches the rule."""
    build_account(endpoint, alarms=False)
    event_rule(endpoint, state="ENABLED")
    code, document, err = audit(endpoint, tmp_path)
    assert code == 1, err
    [finding] = monitoring(document)
    assert finding["message"] == (
        f"{RULE} {ENV}: no aws alert notifying a declared destination covers repeated failed "
        f"use of a key{FIX}"
    )


@pytest.mark.parametrize(
    ("target", "state"),
    [
        (None, ALL_EVENTS),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue", ALL_EVENTS),
        (TOPIC, "DISABLED"),
    ],
    ids=["no target", "a queue target", "disabled"],
)
def test_an_eventbridge_rule_that_notifies_no_one_does_not_count(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
    target: str | None,
    state: str,
) -> None:
    build_account(endpoint, alarms=False)
    event_rule(endpoint, target=target, state=state)
    code, document, err = audit(endpoint, tmp_path)
    assert code == 1, err
    [finding] = monitoring(document)
    assert (
        finding["message"]
        == f"{RULE} {ENV}: no aws alert notifying a declared destination covers {EVERY_SIGNAL}{FIX}"
    )


# --- what the auditor may not read is never a verdict ------------------------------------------


@pytest.fixture
def proxied(endpoint: str) -> Iterator[tuple[str, Proxy]]:  # noqa: F811
    with Proxy(endpoint).running() as running:
        yield endpoint, running


REFUSED = {
    "DescribeAlarms": (
        "the CloudWatch alarms",
        "cloudwatch:DescribeAlarms",
        ACCOUNT + "/" + REGION,
    ),
    "DescribeMetricFilters": (
        "the CloudWatch Logs metric filters",
        "logs:DescribeMetricFilters",
        ACCOUNT + "/" + REGION,
    ),
    "ListRules": ("the EventBridge rules", "events:ListRules", ACCOUNT + "/" + REGION),
    "ListTargetsByRule": (
        "the EventBridge rule's targets",
        "events:ListTargetsByRule",
        "kms-misuse",
    ),
}


@pytest.mark.parametrize("alarms", [True, False], ids=["alerting account", "silent account"])
@pytest.mark.parametrize("operation", list(REFUSED))
def test_a_refused_read_of_the_alerts_leaves_the_rule_unverifiable_not_passed_or_failed(
    proxied: tuple[str, Proxy], tmp_path: Path, operation: str, alarms: bool
) -> None:
    endpoint_url, proxy = proxied
    build_account(endpoint_url, alarms=alarms)
    if operation == "ListTargetsByRule":
        event_rule(endpoint_url)
    proxy.faults[operation] = Fault("denied")
    code, document, err = audit(proxy.url, tmp_path)
    assert proxy.seen[operation] >= 1
    assert code == 0, err  # a refused permission is advisory, as for every rule
    what, permission, subject = REFUSED[operation]
    [finding] = monitoring(document)
    assert finding["enforcement"] == "advisory"
    assert finding["message"] == (
        f"{RULE} {subject}: unverifiable: {what} could not be read (AccessDeniedException); "
        f"grant the auditor {permission} to judge {RULE}."
    )


# --- in process: faults, tiers -------------------------------------------------------------------


def _raise(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, operation)


def test_alarms_that_cannot_be_read_keep_the_rule_mandatory(tmp_path: Path) -> None:
    with mock_aws():
        build_account()
        session = boto3.session.Session(region_name=REGION)

        def throttle(**_: Any) -> None:
            raise _raise("ThrottlingException", "DescribeAlarms")

        session.events.register("provide-client-params.cloudwatch.DescribeAlarms", throttle)
        result = run_audit(
            load_estate(write_estate(tmp_path)),
            ENV,
            as_of=date.today(),
            session=session,
            reader=Reader(attempts=2, backoff_seconds=0),
        )
    [finding] = [f for f in result.findings if f.rule == RULE]
    assert finding.enforcement is Enforcement.MANDATORY
    assert finding.message == (
        f"{RULE} {ACCOUNT}/{REGION}: unverifiable: the CloudWatch alarms could not be read "
        "(DescribeAlarms: ThrottlingException (after 2 attempts)); KM-MON-001 is not judged on "
        "it: rerun the audit when the service answers (raise --timeout if the deadline passed)."
    )


def test_a_development_account_needs_no_alerts(tmp_path: Path) -> None:
    estate = tmp_path / "environments"
    estate.mkdir()
    development = ENVIRONMENT_YAML.format(account=ACCOUNT).replace(
        "tier: production", "tier: development"
    )
    (estate / f"{ENV}.yaml").write_text(development)
    with mock_aws():
        build_account(alarms=False)
        result = run_audit(
            load_estate(estate), ENV, as_of=date.today(), reader=Reader(backoff_seconds=0)
        )
    assert [f for f in result.findings if f.rule == RULE] == []
    assert not [f for f in result.findings if f.enforcement is Enforcement.MANDATORY]


def test_alarms_and_rules_are_read_in_every_region_a_trail_delivers_to(tmp_path: Path) -> None:
    """A multi-region trail delivers to its home region's group: its filters and alarms are
    there, not in the audited region."""
    with mock_aws():
        build_account(alarms=False)
        home = "us-east-1"
        boto3.client("logs", region_name=home).create_log_group(logGroupName="keyplane-prod-trail")
        group = f"arn:aws:logs:{home}:{ACCOUNT}:log-group:keyplane-prod-trail:*"
        client("cloudtrail").update_trail(
            Name="keyplane-prod",
            CloudWatchLogsLogGroupArn=group,
            CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail-logs",
        )
        create_alarms(region=home)
        result = run_audit(
            load_estate(write_estate(tmp_path)),
            ENV,
            as_of=date.today(),
            reader=Reader(backoff_seconds=0),
        )
    assert [f for f in result.findings if f.rule == RULE] == []
    assert result.evidence.counts["alarms"] == 6
