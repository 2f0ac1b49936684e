"""KM-MON-001: key-management events that signal misuse raise an alert to a destination.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

What counts as an alert, per cloud (the signals each matches: `keyplane.facts.signals`):
- AWS: a CloudWatch alarm notifying an SNS topic, on a metric filter of a log group that a
  trail delivers to; or an enabled EventBridge rule on KMS events with an SNS target.
- GCP: an alert policy with a notification channel, on a log-based metric or with a log-match
  condition.
- Azure: an activity-log alert or a scheduled log-query alert with an action group.

Rules: KM-MON-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from keyplane.facts.model import (
    Alert,
    AlertTarget,
    Key,
    LogMetric,
    Secret,
    StackFacts,
    Trail,
    Vault,
)
from keyplane.facts.signals import COMPUTED_DESTINATION, REQUIRED, Signal
from keyplane.facts.values import Ref, Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.registry import Observation, Scope, Transition, check, weakening
from keyplane.rules.verdict import Verdict, not_applicable, stack_fail, stack_unknown
from keyplane.standard import Cloud

RULE = "KM-MON-001"

_FIX = {
    Cloud.AWS: "deliver the trail to CloudWatch Logs with metric filters and alarms (or "
    "EventBridge rules) notifying an SNS topic",
    Cloud.GCP: "add log-based metrics with alert policies on a notification channel",
    Cloud.AZURE: "add activity-log and log-query alert rules on an action group",
}


@dataclass
class _Coverage:
    """What the alerts of one cloud cover, and what may be covered once deployed."""

    covered: set[Signal] = field(default_factory=set)
    #: What is only known after deployment (the alerts' patterns, targets or log groups).
    undecided: list[str] = field(default_factory=list)


def _log_group_names(reference: Ref) -> set[str]:
    """The names a reference to a log group may match: the value, and a group ARN's name
    (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]` names `<name>`)."""
    names = set(reference.urns)
    value = reference.value
    if isinstance(value, str) and value:
        names.add(value)
        if ":log-group:" in value:
            names.add(value.split(":log-group:", 1)[1].removesuffix(":*"))
    return names


def _delivered(stack: StackFacts) -> tuple[set[str], bool]:
    """(the log groups the stack's trails deliver to, whether one is unknown until deployed)."""
    groups: set[str] = set()
    undecided = False
    for trail in stack.of(Trail):
        if trail.log_group is None:
            continue
        if isinstance(trail.log_group.value, Unknown) and not trail.log_group.urns:
            undecided = True
        groups |= _log_group_names(trail.log_group)
    return groups, undecided


def _declared(destination: str, declared: frozenset[str]) -> bool | None:
    """Whether an alert destination is one the environment declares (`monitoring.notify`; any
    destination when it declares none); None for one computed in the stack (known only after
    deployment) when some are declared."""
    if not declared:
        return True
    if destination == COMPUTED_DESTINATION:
        return None
    return destination.lower() in declared


def _routed(stack: StackFacts, alert: Alert, declared: frozenset[str]) -> bool | None:
    """Whether the alert notifies a declared destination (None: only known after deployment)."""
    if isinstance(alert.enabled, Unknown):
        return None
    if alert.enabled is False:
        return False
    found: list[bool | None] = []
    if alert.targets_apart:
        for target in stack.referring_to(alert, AlertTarget, "rule"):
            if isinstance(target.destination, Unknown):
                found.append(None)
            elif target.destination:
                found.append(_declared(target.destination, declared))
    elif isinstance(alert.destinations, Unknown):
        return None
    else:
        found = [_declared(d, declared) for d in alert.destinations]
    if any(f is True for f in found):
        return True
    return None if any(f is None for f in found) else False


def _coverage(stack: StackFacts, cloud: Cloud, declared: frozenset[str]) -> _Coverage:
    coverage = _Coverage()
    groups, group_unknown = _delivered(stack) if cloud is Cloud.AWS else (set(), False)
    metrics: dict[str, list[LogMetric]] = {}
    for metric in stack.of(LogMetric):
        if metric.cloud is not cloud:
            continue
        if isinstance(metric.metric, Unknown):
            coverage.undecided.append(f"the metric {metric.name} counts")
            continue
        if metric.metric:
            metrics.setdefault(metric.metric, []).append(metric)
    for alert in stack.of(Alert):
        if alert.cloud is not cloud:
            continue
        routed = _routed(stack, alert, declared)
        if routed is False:
            continue
        signals: set[Signal] = set()
        undecided = isinstance(alert.signals, Unknown) or isinstance(alert.metrics, Unknown)
        if isinstance(alert.signals, frozenset):
            signals |= alert.signals
        for name in alert.metrics if isinstance(alert.metrics, frozenset) else ():
            for metric in metrics.get(name, ()):
                if isinstance(metric.signals, Unknown):
                    undecided = True
                    continue
                if cloud is Cloud.AWS:
                    fed = metric.log_group is not None and (
                        _log_group_names(metric.log_group) & groups
                    )
                    if not fed:
                        # A filter on a group no trail of the stack delivers to counts nothing.
                        undecided = undecided or group_unknown
                        continue
                signals |= metric.signals
        if routed is None:
            if signals:
                coverage.undecided.append(f"where {alert.name} notifies")
            continue
        coverage.covered |= signals
        if undecided:
            coverage.undecided.append(f"what {alert.name} alerts on")
    return coverage


def _clouds(stack: StackFacts) -> set[Cloud]:
    return {f.cloud for f in stack.resources if isinstance(f, Key | Secret | Vault)}


@check(
    RULE,
    points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT),
    scope=Scope.STACK,
    permissions=(
        "cloudtrail:DescribeTrails",
        "logs:DescribeMetricFilters",
        "cloudwatch:DescribeAlarms",
        "events:ListRules",
        "events:ListTargetsByRule",
    ),
)
def misuse_alerts(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-MON-001 over the stack: in staging and production, each cloud holding keys, secrets or
    vaults has enabled alerts, routed to a destination, on every signal `REQUIRED` names for it
    (Policy §14, Proc 4.3 step 3). A verdict about the stack, not one resource; the live audit
    judges an account's alarms, metric filters and EventBridge rules the same way."""
    clouds = _clouds(stack)
    if not clouds:
        return [not_applicable(RULE, "no keys, secrets or vaults")]
    if not context.protected:
        return [
            not_applicable(
                RULE,
                f"alerts are required in staging and production, not in "
                f"{context.effective_tier.value}",
            )
        ]
    verdicts: list[Verdict] = []
    for cloud in sorted(clouds):
        coverage = _coverage(stack, cloud, frozenset(d.lower() for d in context.alert_destinations))
        missing = [s for s in REQUIRED[cloud] if s not in coverage.covered]
        if not missing:
            continue
        if coverage.undecided:
            verdicts.append(
                stack_unknown(
                    RULE, context.environment, "; ".join(dict.fromkeys(coverage.undecided))
                )
            )
            continue
        verdicts.append(
            stack_fail(
                RULE,
                context.environment,
                f"no {cloud.value} alert notifying a "
                f"{'declared ' if context.alert_destinations else ''}destination covers "
                f"{', '.join(s.value for s in missing)}; declare monitoring.notify in the "
                f"environment file, or {_FIX[cloud]}.",
            )
        )
    return verdicts


@weakening(RULE, kinds=(Alert, LogMetric, AlertTarget))
def misuse_alerts_weakened(change: Transition) -> Iterator[Observation]:
    """KM-MON-001 in a change: an alert, its metric or target deleted, an alert disabled, or its
    signals narrowed."""
    before, after = change.before, change.after
    if before is None:
        return
    name = before.name
    if after is None:
        yield Observation(f"{name}: alert on key misuse deleted.")
        return
    if isinstance(before, Alert) and isinstance(after, Alert):
        if before.enabled is True and after.enabled is False:
            yield Observation(f"{name}: alert on key misuse disabled.")
        if (
            isinstance(before.destinations, tuple)
            and isinstance(after.destinations, tuple)
            and before.destinations
            and not after.destinations
        ):
            yield Observation(f"{name}: alert no longer notifies anyone.")
    if (
        isinstance(before, Alert | LogMetric)
        and isinstance(after, Alert | LogMetric)
        and isinstance(before.signals, frozenset)
        and isinstance(after.signals, frozenset)
        and (gone := before.signals - after.signals)
    ):
        yield Observation(
            f"{name}: no longer alerts on {', '.join(sorted(s.value for s in gone))}."
        )
