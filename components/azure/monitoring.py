"""Alert rules on key misuse (`keyplane:azure:MisuseAlerts`, KM-MON-001).

Activity-log alerts on the vaults' administrative operations and on role assignment writes,
and a scheduled log-query alert on the audit workspace for failed key operations, to the
environment's action groups (`monitoring.notify`). Operation names come from
`keyplane.facts.signals`, the table KM-MON-001 reads alert rules with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor

from keyplane.components._common import ALERTS_PURPOSE
from keyplane.components.azure._common import invalid, resource_group_id, tags
from keyplane.facts.signals import (
    AZURE_OPERATIONS,
    FAILED_USE_PERIOD_SECONDS,
    FAILED_USE_THRESHOLD,
    Signal,
)

TYPE = "keyplane:azure:MisuseAlerts"
_ACTION_GROUP = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
    r"microsoft\.insights/actionGroups/[^/]+",
    re.IGNORECASE,
)

#: Failed key operations in the vaults' AuditEvent logs (resource-specific or Azure
#: Diagnostics tables alike: the diagnostic settings send the `audit` group to the workspace).
FAILED_KEY_USE_QUERY = (
    "AzureDiagnostics\n"
    '| where ResourceProvider == "MICROSOFT.KEYVAULT" and Category == "AuditEvent"\n'
    '| where OperationName startswith "Key"\n'
    '| where ResultType != "Success" or toint(httpStatusCode_d) >= 400\n'
    "| summarize failures = count() by Resource, CallerIPAddress, bin(TimeGenerated, 5m)"
)


def operations(*signals: Signal) -> tuple[str, ...]:
    """The activity-log operation names of `signals`."""
    return tuple(name for name, s in AZURE_OPERATIONS.items() if s in signals)


@dataclass(frozen=True)
class MisuseAlertsArgs:
    """What a MisuseAlerts provisions.

    Attributes:
        subscription_id: the environment's subscription (alert rules are scoped to it).
        resource_group_name: where the alert rules live.
        environment: the environment's name (tags, rule names).
        action_groups: action group resource IDs to notify (at least one).
        workspace_id: the audit Log Analytics workspace the vaults' logs go to.
        location: the region of the workspace (the query rule's).
    """

    subscription_id: str
    resource_group_name: pulumi.Input[str]
    environment: str
    action_groups: tuple[str, ...]
    workspace_id: pulumi.Input[str]
    location: str

    def __post_init__(self) -> None:
        if not self.action_groups:
            raise invalid(
                "action_groups", "alerts that notify no one are not alerts; name an action group"
            )
        for index, group in enumerate(self.action_groups):
            if not _ACTION_GROUP.fullmatch(group):
                raise invalid(
                    f"action_groups[{index}]",
                    "expected an action group ID like /subscriptions/<id>/resourceGroups/<rg>/"
                    f"providers/microsoft.insights/actionGroups/<name> (got {group!r})",
                )


class MisuseAlerts(pulumi.ComponentResource):
    """Activity-log and log-query alerts on key misuse, to action groups.

    Children: one activity-log alert `<name>-<operation>` per administrative operation of
    `AZURE_OPERATIONS` (vault and key writes and deletes, access policy and role assignment
    writes and deletes), scoped to the environment's resource group; `<name>-failed-key-use` (a scheduled query on the
    workspace: at least `FAILED_USE_THRESHOLD` failed key operations in 5 minutes).

    Outputs:
        alert_rule_ids: rule label -> ARM ID.
    """

    alert_rule_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: MisuseAlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        rule_tags = tags(args.environment, extra=ALERTS_PURPOSE)
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scope = resource_group_id(args.subscription_id, args.resource_group_name)
        actions = monitor.ActionListArgs(
            action_groups=[monitor.ActionGroupArgs(action_group_id=g) for g in args.action_groups]
        )
        self.alert_rule_ids = {}
        # One rule per operation: what Azure's API and azurerm's `criteria` both express.
        watched = (
            *operations(Signal.DISABLED),
            *operations(Signal.POLICY),
        )
        for operation in watched:
            label = operation.removeprefix("Microsoft.").replace("/", "-").lower()
            alert = monitor.ActivityLogAlert(
                f"{name}-{label}",
                monitor.ActivityLogAlertArgs(
                    resource_group_name=args.resource_group_name,
                    location="Global",
                    description=f"keyplane {args.environment}: {operation} (Policy §14).",
                    enabled=True,
                    scopes=[scope],
                    condition=monitor.AlertRuleAllOfConditionArgs(
                        all_of=[
                            monitor.AlertRuleAnyOfOrLeafConditionArgs(
                                field="category", equals="Administrative"
                            ),
                            monitor.AlertRuleAnyOfOrLeafConditionArgs(
                                field="operationName", equals=operation
                            ),
                        ]
                    ),
                    actions=actions,
                    tags=rule_tags,
                ),
                opts=child,
            )
            self.alert_rule_ids[label] = alert.id
        query = monitor.ScheduledQueryRule(
            f"{name}-failed-key-use",
            monitor.ScheduledQueryRuleArgs(
                resource_group_name=args.resource_group_name,
                location=args.location,
                description=f"keyplane {args.environment}: at least {FAILED_USE_THRESHOLD} "
                f"failed key operations within {FAILED_USE_PERIOD_SECONDS} seconds (Policy §14).",
                enabled=True,
                kind="LogAlert",
                severity=1,
                scopes=[args.workspace_id],
                evaluation_frequency="PT5M",
                window_size="PT5M",
                criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                    all_of=[
                        monitor.ConditionArgs(
                            query=FAILED_KEY_USE_QUERY,
                            time_aggregation="Total",
                            metric_measure_column="failures",
                            operator="GreaterThanOrEqual",
                            threshold=FAILED_USE_THRESHOLD,
                            failing_periods=monitor.ConditionFailingPeriodsArgs(
                                number_of_evaluation_periods=1, min_failing_periods_to_alert=1
                            ),
                        )
                    ]
                ),
                actions=monitor.ActionsArgs(action_groups=list(args.action_groups)),
                tags=rule_tags,
            ),
            opts=child,
        )
        self.alert_rule_ids["failed-key-use"] = query.id
        self.register_outputs({"alert_rule_ids": self.alert_rule_ids})
