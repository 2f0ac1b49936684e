"""Alarms on key misuse (`keyplane:aws:MisuseAlarms`, KM-MON-001).

CloudWatch Logs metric filters on the group the environment's trail delivers to, and one
CloudWatch alarm per filter notifying the environment's SNS topics (`monitoring.notify`). The
event names come from `keyplane.facts.signals`, the table KM-MON-001 reads filters with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.components._common import ALERTS_PURPOSE
from keyplane.components.aws._common import invalid, tags
from keyplane.facts.signals import (
    AWS_FAILURE_CODES,
    AWS_KMS_EVENTS,
    AWS_KMS_SOURCE,
    AWS_SECRET_EVENTS,
    AWS_SECRETS_SOURCE,
    FAILED_USE_PERIOD_SECONDS,
    FAILED_USE_THRESHOLD,
    Signal,
)

TYPE = "keyplane:aws:MisuseAlarms"
#: The CloudWatch namespace of the filters' metrics.
NAMESPACE = "keyplane/KeyMisuse"
_TOPIC = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class AlarmSpec:
    """One metric filter and its alarm: `threshold` matching events within `period_seconds`."""

    slug: str
    description: str
    pattern: str
    threshold: int = 1
    period_seconds: int = 300


def _any(field: str, values: tuple[str, ...] | list[str]) -> str:
    return " || ".join(f'($.{field} = "{v}")' for v in values)


def _events(source: str, signals: tuple[Signal, ...], table: dict[str, Signal]) -> str:
    names = [name for name, signal in table.items() if signal in signals]
    return f'{{ ($.eventSource = "{source}") && ({_any("eventName", names)}) }}'


def alarm_specs() -> tuple[AlarmSpec, ...]:
    """The filters and alarms, as data (Policy §14: suspicious access patterns trigger review)."""
    kms, secrets = dict(AWS_KMS_EVENTS), dict(AWS_SECRET_EVENTS)
    return (
        AlarmSpec(
            "key-disabled-or-deleted",
            "A KMS key was disabled or scheduled for deletion",
            _events(AWS_KMS_SOURCE, (Signal.DISABLED,), kms),
        ),
        AlarmSpec(
            "key-policy-changed",
            "A KMS key policy was changed",
            _events(AWS_KMS_SOURCE, (Signal.POLICY,), kms),
        ),
        AlarmSpec(
            "grant-created",
            "A KMS grant was created",
            _events(AWS_KMS_SOURCE, (Signal.GRANT,), kms),
        ),
        AlarmSpec(
            "alias-or-key-store-changed",
            "A KMS alias or custom key store was changed",
            _events(AWS_KMS_SOURCE, (Signal.KEY_CONFIG,), kms),
        ),
        AlarmSpec(
            "failed-key-use",
            f"At least {FAILED_USE_THRESHOLD} failed uses of KMS keys within "
            f"{FAILED_USE_PERIOD_SECONDS} seconds",
            f'{{ ($.eventSource = "{AWS_KMS_SOURCE}") && '
            f"({_any('errorCode', list(AWS_FAILURE_CODES))}) }}",
            threshold=FAILED_USE_THRESHOLD,
            period_seconds=FAILED_USE_PERIOD_SECONDS,
        ),
        AlarmSpec(
            "secret-policy-changed-or-deleted",
            "A Secrets Manager secret was deleted or its resource policy changed",
            _events(AWS_SECRETS_SOURCE, (Signal.SECRET,), secrets),
        ),
    )


@dataclass(frozen=True)
class MisuseAlarmsArgs:
    """What a MisuseAlarms provisions.

    Attributes:
        environment: the environment's name (tags, alarm names `keyplane-<environment>-<slug>`).
        log_group_name: the CloudWatch Logs group the environment's trail delivers to.
        topic_arns: SNS topic ARNs the alarms notify (`monitoring.notify`; at least one).
    """

    environment: str
    log_group_name: pulumi.Input[str]
    topic_arns: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.topic_arns:
            raise invalid("topic_arns", "alarms that notify no one are not alerts; name a topic")
        for index, topic in enumerate(self.topic_arns):
            if not _TOPIC.fullmatch(topic):
                raise invalid(
                    f"topic_arns[{index}]",
                    f"expected an SNS topic ARN like arn:aws:sns:eu-west-1:111111111111:alerts "
                    f"(got {topic!r})",
                )


class MisuseAlarms(pulumi.ComponentResource):
    """Metric filters and alarms on key misuse, notifying SNS topics.

    Children, per `alarm_specs()` entry: the filter `<name>-<slug>` (metric `<slug>` in
    `NAMESPACE`, value 1 per matching event) and the alarm `<name>-<slug>-alarm` (Sum over the
    spec's period >= its threshold; missing data is not breaching).

    Outputs:
        alarm_arns: slug -> alarm ARN.
    """

    alarm_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: MisuseAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        alarm_tags = tags(args.environment, extra=ALERTS_PURPOSE)
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.alarm_arns = {}
        for spec in alarm_specs():
            metric = aws.cloudwatch.LogMetricFilter(
                f"{name}-{spec.slug}",
                aws.cloudwatch.LogMetricFilterArgs(
                    name=f"keyplane-{args.environment}-{spec.slug}",
                    log_group_name=args.log_group_name,
                    pattern=spec.pattern,
                    metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                        name=spec.slug, namespace=NAMESPACE, value="1", default_value="0"
                    ),
                ),
                opts=child,
            )
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.slug}-alarm",
                aws.cloudwatch.MetricAlarmArgs(
                    name=f"keyplane-{args.environment}-{spec.slug}",
                    alarm_description=f"keyplane {args.environment}: {spec.description} "
                    "(KM-MON-001); review it (Policy §14).",
                    namespace=NAMESPACE,
                    metric_name=spec.slug,
                    statistic="Sum",
                    period=spec.period_seconds,
                    evaluation_periods=1,
                    threshold=spec.threshold,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    treat_missing_data="notBreaching",
                    actions_enabled=True,
                    alarm_actions=list(args.topic_arns),
                    tags=alarm_tags,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[metric]),
            )
            self.alarm_arns[spec.slug] = alarm.arn
        self.register_outputs({"alarm_arns": self.alarm_arns})
