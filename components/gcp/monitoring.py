"""Alert policies on key misuse (`keyplane:gcp:MisuseAlerts`, KM-MON-001).

Log-based metrics over the project's Cloud KMS and Secret Manager audit logs, and one Cloud
Monitoring alert policy per metric notifying the environment's channels
(`monitoring.notify`). Method names come from `keyplane.facts.signals`, the table KM-MON-001
reads filters with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from keyplane.components._common import ALERTS_PURPOSE
from keyplane.components.gcp._common import invalid, labels
from keyplane.facts.signals import (
    FAILED_USE_PERIOD_SECONDS,
    FAILED_USE_THRESHOLD,
    GCP_KMS_SERVICE,
    GCP_METHODS,
    GCP_USE_METHODS,
    Signal,
)

TYPE = "keyplane:gcp:MisuseAlerts"
_CHANNEL = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/\d+")


@dataclass(frozen=True)
class AlertSpec:
    """One log-based metric and its alert policy: more than `threshold - 1` matching entries
    within `period_seconds`."""

    slug: str
    description: str
    filter: str
    threshold: int = 1
    period_seconds: int = 300


def _methods(signal: Signal) -> str:
    names = [name for name, s in GCP_METHODS.items() if s is signal]
    return " OR ".join(f'protoPayload.methodName:"{name}"' for name in names)


def alert_specs() -> tuple[AlertSpec, ...]:
    """The metrics and alert policies, as data (Policy §14)."""
    kms = f'protoPayload.serviceName="{GCP_KMS_SERVICE}"'
    use = " OR ".join(f'protoPayload.methodName:"{name}"' for name in GCP_USE_METHODS)
    return (
        AlertSpec(
            "key-version-disabled-or-destroyed",
            "A Cloud KMS key version was disabled or scheduled for destruction",
            f"{kms} AND ({_methods(Signal.DISABLED)})",
        ),
        AlertSpec(
            "key-iam-policy-changed",
            "The IAM policy of a key, key ring or secret was changed",
            f'({kms} OR protoPayload.serviceName="secretmanager.googleapis.com") AND '
            f"({_methods(Signal.POLICY)})",
        ),
        AlertSpec(
            "primary-version-changed",
            "A Cloud KMS key's primary version was changed",
            f"{kms} AND ({_methods(Signal.KEY_CONFIG)})",
        ),
        AlertSpec(
            "failed-key-use",
            f"At least {FAILED_USE_THRESHOLD} failed uses of Cloud KMS keys within "
            f"{FAILED_USE_PERIOD_SECONDS} seconds",
            f"{kms} AND ({use}) AND protoPayload.status.code!=0",
            threshold=FAILED_USE_THRESHOLD,
            period_seconds=FAILED_USE_PERIOD_SECONDS,
        ),
    )


@dataclass(frozen=True)
class MisuseAlertsArgs:
    """What a MisuseAlerts provisions.

    Attributes:
        project: the environment's project (metrics and policies live there).
        environment: the environment's name (labels, metric names `keyplane-<env>-<slug>`).
        channels: notification channel IDs `projects/<p>/notificationChannels/<id>` (at least one).
    """

    project: str
    environment: str
    channels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.channels:
            raise invalid("channels", "alerts that notify no one are not alerts; name a channel")
        for index, channel in enumerate(self.channels):
            if not _CHANNEL.fullmatch(channel):
                raise invalid(
                    f"channels[{index}]",
                    "expected a notification channel ID like "
                    f"projects/acme-prod-kms/notificationChannels/4711 (got {channel!r})",
                )


class MisuseAlerts(pulumi.ComponentResource):
    """Log-based metrics and alert policies on key misuse, notifying channels.

    Children, per `alert_specs()` entry: the metric `<name>-<slug>` (a DELTA INT64 counter named
    `keyplane-<environment>-<slug>`) and the policy `<name>-<slug>-alert` (sum over the spec's
    period above threshold - 1).

    Outputs:
        alert_policy_names: slug -> alert policy resource name.
    """

    alert_policy_names: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: MisuseAlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        policy_labels = labels(args.environment, extra=ALERTS_PURPOSE)
        super().__init__(TYPE, name, None, opts)
        self.alert_policy_names = {}
        for spec in alert_specs():
            metric_name = f"keyplane-{args.environment}-{spec.slug}"
            metric = gcp.logging.Metric(
                f"{name}-{spec.slug}",
                gcp.logging.MetricArgs(
                    project=args.project,
                    name=metric_name,
                    description=spec.description,
                    filter=spec.filter,
                    metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                        metric_kind="DELTA", value_type="INT64"
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            policy = gcp.monitoring.AlertPolicy(
                f"{name}-{spec.slug}-alert",
                gcp.monitoring.AlertPolicyArgs(
                    project=args.project,
                    display_name=f"keyplane {args.environment}: {spec.description}",
                    combiner="OR",
                    enabled=True,
                    conditions=[
                        gcp.monitoring.AlertPolicyConditionArgs(
                            display_name=spec.description,
                            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                                filter=(
                                    f'metric.type="logging.googleapis.com/user/{metric_name}" '
                                    'AND resource.type="global"'
                                ),
                                comparison="COMPARISON_GT",
                                threshold_value=spec.threshold - 1,
                                duration="0s",
                                aggregations=[
                                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                        alignment_period=f"{spec.period_seconds}s",
                                        per_series_aligner="ALIGN_SUM",
                                        cross_series_reducer="REDUCE_SUM",
                                    )
                                ],
                            ),
                        )
                    ],
                    notification_channels=list(args.channels),
                    documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                        content="Review the event (Policy §14: suspicious access patterns "
                        "must trigger review).",
                        mime_type="text/markdown",
                    ),
                    user_labels=policy_labels,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[metric]),
            )
            self.alert_policy_names[spec.slug] = policy.name
        self.register_outputs({"alert_policy_names": self.alert_policy_names})
