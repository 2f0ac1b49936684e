"""KM-MON-001: alerts on key misuse, from the components' data to preview, scan and checkov."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.adapters.pulumi import stack_facts
from keyplane.cli.app import app
from keyplane.components.aws.monitoring import NAMESPACE, alarm_specs
from keyplane.components.environment import deploy_environment
from keyplane.facts.signals import Signal, signals_in
from keyplane.render import RenderResult
from keyplane.rules.context import Context
from keyplane.rules.judge import check_stack
from keyplane.rules.verdict import Outcome
from keyplane.standard import Cloud, Tier
from tests.aws.support import ESTATE, HSM_READY, bundled, of_type, one, run
from tests.checkov.support import scan as checkov_scan

runner = CliRunner()
TOPIC = "arn:aws:sns:eu-west-1:111111111111:security-alerts"


def render(env_name: str) -> RenderResult:
    env = bundled()[env_name]
    return run(lambda: deploy_environment(env), stack=env_name, config=HSM_READY)


def verdicts(result: RenderResult, tier: Tier = Tier.PRODUCTION) -> list[Any]:
    context = Context(environment="prod", as_of=date(2026, 11, 29), tier=tier)
    return check_stack("KM-MON-001", stack_facts(result.resources), context)


def without(result: RenderResult, predicate: Any) -> RenderResult:
    return RenderResult(
        result.project,
        result.stack,
        [r for r in result.resources if not predicate(r)],
        result.outputs,
    )


# --- the components, as data -------------------------------------------------------------------


def test_the_aws_alarms_watch_the_trails_group_and_notify_the_declared_topic() -> None:
    result = render("prod")
    trail = one(result, "aws:cloudtrail/trail:Trail", "prod-audit-trail")
    group = one(result, "aws:cloudwatch/logGroup:LogGroup", "prod-audit-log-group")
    assert group.inputs["name"] == "/keyplane/prod/cloudtrail"
    assert group.inputs["retentionInDays"] == 400
    assert "kmsKeyId" in group.inputs or "kmsKeyId" in group.property_dependencies
    assert "cloudWatchLogsGroupArn" in trail.inputs or trail.property_dependencies.get(
        "cloudWatchLogsGroupArn"
    )
    role = one(result, "aws:iam/role:Role", "prod-audit-delivery-role")
    inline = json.loads(role.inputs["inlinePolicies"][0]["policy"])
    assert inline["Statement"] == [
        {
            "Sid": "CloudTrailWritesTheTrailGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "arn:aws:logs:eu-west-1:111111111111:log-group:/keyplane/prod/cloudtrail"
            ":log-stream:*",
        }
    ]
    filters = {
        r.name: r.inputs for r in of_type(result, "aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    alarms = {r.name: r.inputs for r in of_type(result, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(filters) == {f"prod-alarms-{s.slug}" for s in alarm_specs()}
    for spec in alarm_specs():
        alarm = alarms[f"prod-alarms-{spec.slug}-alarm"]
        assert alarm["alarmActions"] == [TOPIC]
        assert (alarm["namespace"], alarm["metricName"]) == (NAMESPACE, spec.slug)
        assert alarm["threshold"] == spec.threshold
        assert alarm["tags"]["keyplane-purpose"] == "misuse-alerts"
    disabled = filters["prod-alarms-key-disabled-or-deleted"]["pattern"]
    assert '($.eventName = "DisableKey")' in disabled
    assert '($.eventName = "ScheduleKeyDeletion")' in disabled
    failed = next(s for s in alarm_specs() if s.slug == "failed-key-use")
    assert (failed.threshold, failed.period_seconds) == (5, 300)
    assert signals_in(failed.pattern, Cloud.AWS) == {Signal.FAILED_USE}


def test_dev_without_monitoring_has_no_alarms_and_no_cloudwatch_delivery() -> None:
    result = render("dev")
    assert not of_type(result, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert not of_type(result, "aws:cloudwatch/logGroup:LogGroup")
    assert verdicts(result, Tier.DEVELOPMENT) == []


def test_the_gcp_alert_policies_notify_the_declared_channel() -> None:
    result = render("prod-gcp")
    policies = of_type(result, "gcp:monitoring/alertPolicy:AlertPolicy")
    assert policies
    for policy in policies:
        assert policy.inputs["notificationChannels"] == [
            "projects/acme-prod-kms/notificationChannels/4711"
        ]
    metrics = {
        r.inputs["name"]: r.inputs["filter"] for r in of_type(result, "gcp:logging/metric:Metric")
    }
    destroyed = metrics["keyplane-prod-gcp-key-version-disabled-or-destroyed"]
    assert 'protoPayload.methodName:"DestroyCryptoKeyVersion"' in destroyed
    assert "protoPayload.status.code!=0" in metrics["keyplane-prod-gcp-failed-key-use"]
    assert verdicts(result) == []


def test_the_azure_alerts_go_to_the_declared_action_group() -> None:
    result = render("prod-azure")
    alerts = of_type(result, "azure-native:monitor:ActivityLogAlert")
    operations = {
        c["equals"]
        for a in alerts
        for c in a.inputs["condition"]["allOf"]
        if c["field"] == "operationName"
    }
    assert "Microsoft.Authorization/roleAssignments/write" in operations
    assert "Microsoft.KeyVault/vaults/delete" in operations
    group = bundled()["prod-azure"].monitoring.notify[0]  # type: ignore[union-attr]
    for alert in alerts:
        assert alert.inputs["actions"]["actionGroups"] == [{"actionGroupId": group}]
    (query,) = of_type(result, "azure-native:monitor:ScheduledQueryRule")
    assert query.inputs["actions"]["actionGroups"] == [group]
    assert query.inputs["criteria"]["allOf"][0]["threshold"] == 5
    assert verdicts(result) == []


# --- the rule: a compliant baseline and one-change mutations -----------------------------------


def test_the_bundled_prod_passes_and_each_lost_piece_fails_with_the_missing_signal() -> None:
    result = render("prod")
    assert verdicts(result) == []
    no_grant_alarm = without(result, lambda r: r.name == "prod-alarms-grant-created-alarm")
    (verdict,) = verdicts(no_grant_alarm)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.message == (
        "KM-MON-001 prod: no aws alert notifying a destination covers a grant created; declare "
        "monitoring.notify in the environment file, or deliver the trail to CloudWatch Logs "
        "with metric filters and alarms (or EventBridge rules) notifying an SNS topic."
    )
    # Filters on a group no trail delivers to count nothing.
    undelivered = without(result, lambda r: r.type == "aws:cloudtrail/trail:Trail")
    assert [v.outcome for v in verdicts(undelivered)] == [Outcome.FAIL]
    no_alarms = without(result, lambda r: r.type == "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert "a key disabled or scheduled for deletion" in verdicts(no_alarms)[0].message


def test_an_alarm_without_actions_or_switched_off_is_no_alert() -> None:
    result = render("prod")
    changes: tuple[dict[str, Any], ...] = ({"alarmActions": []}, {"actionsEnabled": False})
    for change in changes:
        mutated = RenderResult(
            result.project,
            result.stack,
            [
                _with(r, change) if r.name == "prod-alarms-key-policy-changed-alarm" else r
                for r in result.resources
            ],
            result.outputs,
        )
        (verdict,) = verdicts(mutated)
        assert verdict.outcome is Outcome.FAIL
        assert "covers a key policy, IAM binding or role assignment changed;" in verdict.message


def _with(registration: Any, change: dict[str, Any]) -> Any:
    from dataclasses import replace

    return replace(registration, inputs={**registration.inputs, **change})


def test_signals_read_from_hand_written_filters() -> None:
    cis = "{($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion))}"
    assert signals_in(cis, Cloud.AWS) == {Signal.DISABLED}
    assert signals_in('{ $.eventName != "DisableKey" }', Cloud.AWS) == frozenset()
    assert signals_in('{ ($.errorCode = "AccessDenied*") }', Cloud.AWS) == {Signal.FAILED_USE}


# --- through the CLI: preview, scan and checkov -------------------------------------------------


def _no_monitoring(tmp_path: Path) -> Path:
    estate = tmp_path / "estate"
    shutil.copytree(ESTATE, estate)
    prod = estate / "prod.yaml"
    text = re.sub(r"monitoring:.*\n  notify:\n    - .*\n", "", prod.read_text())
    prod.write_text(text)
    return estate


def test_removing_monitoring_is_mandatory_in_preview_scan_and_checkov(tmp_path: Path) -> None:
    estate = _no_monitoring(tmp_path)
    out = tmp_path / "preview.json"
    result = runner.invoke(
        app,
        [
            "preview",
            "prod",
            "--estate",
            str(estate),
            "--as-of",
            "2026-11-29",
            "--format",
            "json",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output
    findings = json.loads(out.read_text())["findings"]
    mon = [f for f in findings if f["rule"] == "KM-MON-001"]
    assert mon and all(f["enforcement"] == "mandatory" for f in mon)
    # The preview's resources as a `pulumi preview --json` (secrets stay redacted).
    resources = json.loads(out.read_text())["resources"]
    steps = [
        {
            "op": "create",
            "urn": r["urn"],
            "newState": {
                "urn": r["urn"],
                "type": r["type"],
                "custom": not r["type"].startswith("keyplane:"),
                "parent": r.get("parent") or "",
                "protect": r.get("protect", False),
                "inputs": r.get("inputs", {}),
            },
        }
        for r in resources
    ]
    preview = tmp_path / "pulumi-preview.json"
    preview.write_text(json.dumps({"steps": steps}))
    scanned = runner.invoke(
        app,
        [
            "scan",
            str(preview),
            "--env",
            "prod",
            "--estate",
            str(estate),
            "--as-of",
            "2026-11-29",
            "--no-checkov",
        ],
    )
    assert scanned.exit_code == 1, scanned.output
    assert "KM-MON-001" in scanned.output


@pytest.mark.parametrize(
    ("env_name", "strip"),
    [
        ("prod", "aws:cloudwatch/metricAlarm:MetricAlarm"),
        ("prod-gcp", "gcp:monitoring/alertPolicy:AlertPolicy"),
        ("prod-azure", "azure-native:monitor:ActivityLogAlert"),
    ],
)
def test_checkov_judges_the_plan_form_alike(env_name: str, strip: str) -> None:
    result = render(env_name)
    context = Context(environment=env_name, as_of=date(2026, 11, 29), tier=Tier.PRODUCTION)
    _, passing = checkov_scan(result.resources, context)
    assert not [f for f in passing.findings if f.rule == "KM-MON-001"]
    _, failing = checkov_scan(without(result, lambda r: r.type == strip).resources, context)
    messages = {f.message for f in failing.findings if f.rule == "KM-MON-001"}
    assert len(messages) == 1
    assert next(iter(messages)).startswith(f"KM-MON-001 {env_name}: no ")


@pytest.mark.parametrize("env_name", ["prod", "prod-gcp", "prod-azure"])
def test_the_bundled_estate_passes_its_own_gate(env_name: str) -> None:
    result = runner.invoke(app, ["preview", env_name, "--as-of", "2026-11-29"])
    assert result.exit_code == 0, result.output
    assert "KM-MON-001" not in result.output
    assert "CKV2_AWS_10" not in result.output


# --- the destination must be a declared one (monitoring.notify) ---------------------------------


def test_alerts_to_a_destination_the_environment_does_not_declare_do_not_count() -> None:
    """KM-MON-001 says "to a declared destination": with `monitoring.notify` in the context,
    an alert routed elsewhere covers nothing; routed to a declared one (any case), it does."""
    from tests.policy.stacks import ACCOUNT, aws_context, aws_stack, messages

    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:security-alerts"
    assert (
        messages(aws_stack(), aws_context(alert_destinations=frozenset({topic.upper()}))) == set()
    )
    other = aws_context(
        alert_destinations=frozenset({f"arn:aws:sns:eu-west-1:{ACCOUNT}:someone-else"})
    )
    found = [m for m in messages(aws_stack(), other) if m.startswith("KM-MON-001")]
    assert len(found) == 1
    assert found[0].startswith(
        "KM-MON-001 prod: no aws alert notifying a declared destination covers"
    )


def test_the_declared_destinations_reach_the_pack_and_checkov_as_settings() -> None:
    from datetime import date

    from keyplane.rules.context import Context, context_from_settings, settings_from_context

    declared = frozenset({"arn:aws:sns:eu-west-1:111111111111:security-alerts"})
    context = Context(environment="prod", as_of=date(2026, 11, 23), alert_destinations=declared)
    settings = settings_from_context(context)
    assert settings["alertDestinations"] == sorted(declared)
    again = context_from_settings(
        settings, default_environment="prod", base_dir=Path("."), today=date(2026, 11, 23)
    )
    assert again.alert_destinations == declared
