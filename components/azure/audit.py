"""Vault audit logs to immutable storage and Log Analytics (`keyplane:azure:AuditLogSink`)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
from pulumi_azure_native import operationalinsights, storage

from keyplane.adapters.azure_api import AUDIT_LOG_CONTAINER
from keyplane.components.azure import roles
from keyplane.components.azure._common import (
    after,
    check_principal_types,
    check_principals,
    digest,
    invalid,
    resource_group_id,
    role_assignment,
    role_slug,
    storage_account_name,
    tags,
)

#: Diagnostic settings category group: Key Vault's and Managed HSM's `AuditEvent` logs.
AUDIT_CATEGORY_GROUP = "audit"
#: The container Azure Monitor writes the `AuditEvent` logs to: keyplane creates it first so
#: that the immutability policy holds from the first log line.
AUDIT_CONTAINER = AUDIT_LOG_CONTAINER
#: Log Analytics keeps data interactive for 30 to 730 days.
WORKSPACE_RETENTION_RANGE = (30, 730)
#: Container immutability policies accept 1 to 146,000 days.
_IMMUTABILITY_RANGE = (1, 146_000)


def diagnostic_setting_class() -> Any:
    """`DiagnosticSetting` of the installed azure-native: `monitor` (3.x) or `insights` (older)."""
    for module in ("monitor", "insights"):
        try:
            found = importlib.import_module(f"pulumi_azure_native.{module}")
        except ModuleNotFoundError:
            continue
        if hasattr(found, "DiagnosticSetting"):
            return found.DiagnosticSetting
    raise ImportError("pulumi-azure-native has no DiagnosticSetting in monitor or insights")


@dataclass(frozen=True)
class AzureAuditLogSinkArgs:
    """Inputs of `AzureAuditLogSink`.

    subscription_id: subscription of the storage account and workspace.
    resource_group_name: their resource group (it must exist first).
    location: Azure region.
    environment: keyplane environment name, the `keyplane-environment` tag.
    retention_days: days each audit log blob stays immutable (container time-based retention,
        `immutability_period_since_creation_in_days`), 1 to 146,000.
    monitored: label -> ARM ID of each vault or Managed HSM whose `audit` logs are sent.
    auditors: object IDs granted Storage Blob Data Reader on the log container and Log
        Analytics Reader on the workspace.
    storage_account_name: default: derived from the environment and subscription.
    workspace_retention_days: interactive retention in Log Analytics; default
        `retention_days` clamped to 30-730.
    principal_types: object ID -> principal type, where known (see `AzureKeyVaultArgs`).
    protect: Pulumi `protect` on the storage account and workspace; default True.
    """

    subscription_id: str
    resource_group_name: pulumi.Input[str]
    location: str
    environment: str
    retention_days: int
    monitored: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    auditors: tuple[str, ...] = ()
    storage_account_name: str | None = None
    workspace_retention_days: int | None = None
    principal_types: Mapping[str, str] = field(default_factory=dict)
    protect: bool = True


class AzureAuditLogSink(pulumi.ComponentResource):
    """Diagnostic settings on each vault, to an immutable container and a Log Analytics workspace.

    The container's time-based immutability policy is created *unlocked*: Azure locks a policy
    only through a POST action that pulumi-azure-native 3.x does not offer. Lock it once after
    the first deployment with `lock_command` (irreversible); until then `immutability_state`
    reads `Unlocked`, which KM-LOG-002 reports.

    Outputs:
        storage_account_id, container_name, workspace_id: the two destinations.
        immutability_state: `Unlocked` until locked, then `Locked`.
        lock_command: the Azure CLI command that locks the policy.
        diagnostic_setting_ids: label -> diagnostic setting ID.
    """

    storage_account_id: pulumi.Output[str]
    container_name: str
    workspace_id: pulumi.Output[str]
    immutability_state: pulumi.Output[str]
    lock_command: pulumi.Output[str]
    diagnostic_setting_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: AzureAuditLogSinkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check(name, args)
        super().__init__("keyplane:azure:AuditLogSink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        protect = args.protect or None
        rg_id = resource_group_id(args.subscription_id, args.resource_group_name)
        account_name = args.storage_account_name or storage_account_name(
            args.environment, args.subscription_id
        )

        account = storage.StorageAccount(
            f"{name}-storage",
            account_name=account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=storage.SkuName.STANDARD_GRS),
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            encryption=storage.EncryptionArgs(
                key_source=storage.KeySource.MICROSOFT_STORAGE,
                require_infrastructure_encryption=True,
            ),
            # Azure Monitor reaches the account as a trusted Microsoft service: public access
            # stays enabled for that bypass only, everything else is denied.
            public_network_access=storage.PublicNetworkAccess.ENABLED,
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY, bypass=storage.Bypass.AZURE_SERVICES
            ),
            tags=tags(args.environment),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.storage_account_id = after(
            account,
            pulumi.Output.concat(
                rg_id, "/providers/Microsoft.Storage/storageAccounts/", account_name
            ),
        )
        account_ref = after(account, account_name)

        container = storage.BlobContainer(
            f"{name}-container",
            account_name=account_ref,
            resource_group_name=args.resource_group_name,
            container_name=AUDIT_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )
        self.container_name = AUDIT_CONTAINER
        container_id = after(
            container,
            pulumi.Output.concat(
                self.storage_account_id, "/blobServices/default/containers/", AUDIT_CONTAINER
            ),
        )
        policy = storage.BlobContainerImmutabilityPolicy(
            f"{name}-immutability",
            account_name=account_ref,
            container_name=after(container, AUDIT_CONTAINER),
            resource_group_name=args.resource_group_name,
            immutability_period_since_creation_in_days=args.retention_days,
            # Azure Monitor appends to hourly append blobs: allow appends, never rewrites.
            allow_protected_append_writes=True,
            opts=child,
        )
        self.immutability_state = policy.state
        self.lock_command = pulumi.Output.concat(
            "az storage container immutability-policy lock --resource-group ",
            args.resource_group_name,
            " --account-name ",
            account_name,
            " --container-name ",
            AUDIT_CONTAINER,
            " --if-match ",
            # Known once the policy exists (`az storage container immutability-policy show`).
            policy.etag.apply(lambda etag: etag or "<etag>"),
        )

        low, high = WORKSPACE_RETENTION_RANGE
        workspace_name = f"{args.environment}-kms-audit-{digest(args.subscription_id, 6)}"
        workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            workspace_name=workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(
                name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018
            ),
            retention_in_days=args.workspace_retention_days
            or min(max(args.retention_days, low), high),
            features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
            tags=tags(args.environment),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.workspace_id = after(
            workspace,
            pulumi.Output.concat(
                rg_id, "/providers/Microsoft.OperationalInsights/workspaces/", workspace_name
            ),
        )

        diagnostic_setting = diagnostic_setting_class()
        self.diagnostic_setting_ids = {}
        for label, resource_id in args.monitored.items():
            setting = cast(
                pulumi.CustomResource,
                diagnostic_setting(
                    f"{name}-{label}-diagnostics",
                    name=f"keyplane-{args.environment}-audit",
                    resource_uri=resource_id,
                    logs=[{"category_group": AUDIT_CATEGORY_GROUP, "enabled": True}],
                    storage_account_id=self.storage_account_id,
                    workspace_id=self.workspace_id,
                    # Logs land only once the container is immutable.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
                ),
            )
            self.diagnostic_setting_ids[label] = setting.id

        for principal in args.auditors:
            for role, scope in (
                (roles.STORAGE_BLOB_DATA_READER, container_id),
                (roles.LOG_ANALYTICS_READER, self.workspace_id),
            ):
                role_assignment(
                    f"{name}-{role_slug(role.name)}-{digest(principal)}",
                    principal=principal,
                    role_definition_id=role.definition_id(args.subscription_id),
                    scope=scope,
                    principal_types=args.principal_types,
                    opts=child,
                )

        self.register_outputs(
            {
                "storage_account_id": self.storage_account_id,
                "container_name": self.container_name,
                "workspace_id": self.workspace_id,
                "immutability_state": self.immutability_state,
                "lock_command": self.lock_command,
                "diagnostic_setting_ids": self.diagnostic_setting_ids,
            }
        )


def _check(name: str, args: AzureAuditLogSinkArgs) -> None:
    low, high = _IMMUTABILITY_RANGE
    if not low <= args.retention_days <= high:
        raise invalid(
            "retention_days",
            f"{args.retention_days}; container immutability accepts {low} to {high} days",
        )
    if args.workspace_retention_days is not None:
        w_low, w_high = WORKSPACE_RETENTION_RANGE
        if not w_low <= args.workspace_retention_days <= w_high:
            raise invalid(
                "workspace_retention_days",
                f"{args.workspace_retention_days}; Log Analytics keeps {w_low} to {w_high} days",
            )
    check_principals(name, "auditors", args.auditors)
    check_principal_types(name, args.principal_types)
