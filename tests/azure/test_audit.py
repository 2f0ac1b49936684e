"""AzureAuditLogSink: hardened storage, the immutable container, Log Analytics, diagnostics."""

from __future__ import annotations

from typing import Any

import pytest

from keyplane.components.azure import AzureAuditLogSink, AzureAuditLogSinkArgs, ComponentInputError
from keyplane.components.azure.audit import diagnostic_setting_class
from keyplane.render import RenderResult, render
from tests.azure.helpers import RG_ID, SUBSCRIPTION, inputs, of_type, run

ACCOUNT = "azure-native:storage:StorageAccount"
POLICY = "azure-native:storage:BlobContainerImmutabilityPolicy"
WORKSPACE = "azure-native:operationalinsights:Workspace"
VAULT_ID = f"{RG_ID}/providers/Microsoft.KeyVault/vaults/kv-test"
HSM_ID = f"{RG_ID}/providers/Microsoft.KeyVault/managedHSMs/hsm-test"


def sink(**fields: Any) -> AzureAuditLogSinkArgs:
    return AzureAuditLogSinkArgs(
        **{
            "subscription_id": SUBSCRIPTION,
            "resource_group_name": "kms-prod",
            "location": "westeurope",
            "environment": "prod-azure",
            "retention_days": 400,
            "monitored": {"vault": VAULT_ID, "hsm": HSM_ID},
            **fields,
        }
    )


def render_sink(args: AzureAuditLogSinkArgs) -> RenderResult:
    return run(lambda: AzureAuditLogSink("audit", args))


@pytest.fixture(scope="module")
def audit() -> RenderResult:
    return render_sink(sink())


def test_the_storage_account_is_hardened(audit: RenderResult) -> None:
    account = of_type(audit, ACCOUNT)["audit-storage"]
    assert account.protect
    assert dict(account.inputs) == {
        "accountName": "prodazurelogsbd47f32d",
        "resourceGroupName": "kms-prod",
        "location": "westeurope",
        "kind": "StorageV2",
        "sku": {"name": "Standard_GRS"},
        "enableHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": False,
        "defaultToOAuthAuthentication": True,
        "allowCrossTenantReplication": False,
        "encryption": {"keySource": "Microsoft.Storage", "requireInfrastructureEncryption": True},
        "publicNetworkAccess": "Enabled",
        "networkRuleSet": {"defaultAction": "Deny", "bypass": "AzureServices"},
        "tags": {"keyplane-environment": "prod-azure", "keyplane-managed": "true"},
    }


def test_the_audit_container_is_immutable_for_the_retention_period(audit: RenderResult) -> None:
    container = inputs(audit, "azure-native:storage:BlobContainer", "audit-container")
    assert container["containerName"] == "insights-logs-auditevent"
    assert container["publicAccess"] == "None"
    assert inputs(audit, POLICY, "audit-immutability") == {
        "accountName": "prodazurelogsbd47f32d",
        "containerName": "insights-logs-auditevent",
        "resourceGroupName": "kms-prod",
        "immutabilityPeriodSinceCreationInDays": 400,
        "allowProtectedAppendWrites": True,
    }


def test_every_monitored_resource_sends_its_audit_logs_once_the_policy_exists(
    audit: RenderResult,
) -> None:
    settings = of_type(audit, "azure-native:monitor:DiagnosticSetting")
    assert {s.inputs["resourceUri"] for s in settings.values()} == {VAULT_ID, HSM_ID}
    policy_urn = of_type(audit, POLICY)["audit-immutability"].urn
    for setting in settings.values():
        assert setting.inputs["logs"] == [{"categoryGroup": "audit", "enabled": True}]
        assert setting.inputs["storageAccountId"].endswith("/storageAccounts/prodazurelogsbd47f32d")
        assert "/workspaces/prod-azure-kms-audit-" in setting.inputs["workspaceId"]
        assert policy_urn in setting.dependencies


def test_the_workspace_keeps_what_log_analytics_can(audit: RenderResult) -> None:
    workspace = inputs(audit, WORKSPACE, "audit-workspace")
    assert workspace["retentionInDays"] == 400
    assert workspace["features"] == {"disableLocalAuth": True}
    long = render_sink(sink(retention_days=3650))
    assert inputs(long, WORKSPACE, "audit-workspace")["retentionInDays"] == 730
    short = render_sink(sink(retention_days=7))
    assert inputs(short, WORKSPACE, "audit-workspace")["retentionInDays"] == 30


def test_the_lock_command_names_the_container_and_its_etag() -> None:
    def program() -> None:
        component = AzureAuditLogSink("audit", sink())
        import pulumi

        pulumi.export("lock", component.lock_command)

    result = render(program, project="keyplane", stack="prod-azure", preview=False)
    assert result.outputs["lock"].startswith(
        "az storage container immutability-policy lock --resource-group kms-prod "
        "--account-name prodazurelogsbd47f32d --container-name insights-logs-auditevent --if-match "
    )


def test_the_diagnostic_setting_class_of_the_installed_sdk() -> None:
    from pulumi_azure_native import monitor

    assert diagnostic_setting_class() is monitor.DiagnosticSetting


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"retention_days": 0},
            'Invalid "retention_days" argument: 0; container immutability accepts 1 to 146000 days',
        ),
        (
            {"workspace_retention_days": 731},
            'Invalid "workspace_retention_days" argument: 731; Log Analytics keeps 30 to 730 days',
        ),
        (
            {"auditors": ("*",)},
            "Invalid \"auditors\" argument: '*' (on 'audit') is everyone; keyplane never grants "
            "keys or secrets to everyone (KM-ACC-001): remove it",
        ),
    ],
)
def test_impossible_sink_arguments_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ComponentInputError) as caught:
        render_sink(sink(**fields))
    assert str(caught.value) == message
