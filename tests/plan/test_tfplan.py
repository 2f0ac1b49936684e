"""Pulumi registrations as a Terraform plan that checkov reads."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest

from keyplane.render import render
from keyplane.terraform.to_plan import SECRET_PLACEHOLDER, snake, terraform_type, to_terraform_plan


@pytest.mark.parametrize(
    ("token", "tf_type"),
    [
        ("aws:kms/key:Key", "aws_kms_key"),
        ("aws:kms/alias:Alias", "aws_kms_alias"),
        ("aws:cloudtrail/trail:Trail", "aws_cloudtrail"),
        (
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "aws_s3_bucket_object_lock_configuration",
        ),
        ("aws:secretsmanager/secretRotation:SecretRotation", "aws_secretsmanager_secret_rotation"),
        ("aws:cloudhsmv2/cluster:Cluster", "aws_cloudhsm_v2_cluster"),
        ("aws:iam/rolePolicy:RolePolicy", "aws_iam_role_policy"),
        ("aws:ec2/securityGroup:SecurityGroup", "aws_security_group"),
        ("gcp:kms/cryptoKey:CryptoKey", "google_kms_crypto_key"),
        ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "google_kms_crypto_key_iam_member"),
        ("gcp:projects/iAMAuditConfig:IAMAuditConfig", "google_project_iam_audit_config"),
        ("gcp:secretmanager/secret:Secret", "google_secret_manager_secret"),
        ("gcp:logging/projectSink:ProjectSink", "google_logging_project_sink"),
        ("azure-native:keyvault:Vault", "azurerm_key_vault"),
        ("azure-native:monitor:DiagnosticSetting", "azurerm_monitor_diagnostic_setting"),
        ("azure-native:insights:DiagnosticSetting", "azurerm_monitor_diagnostic_setting"),
        ("azure-native:network:VirtualNetwork", None),
        ("keyplane:aws:KeyRing", None),
    ],
)
def test_type_mapping(token: str, tf_type: str | None) -> None:
    assert terraform_type(token) == tf_type


def test_snake_case_keeps_acronyms() -> None:
    assert snake("rotationPeriodInDays") == "rotation_period_in_days"
    assert snake("IAMAuditConfig") == "iam_audit_config"
    assert snake("enableKeyRotation") == "enable_key_rotation"


def _program() -> None:
    key = aws.kms.Key(
        "orders-db",
        enable_key_rotation=True,
        rotation_period_in_days=365,
        tags={"keyplane-purpose": "database-encryption", "CostCentre": "42"},
    )
    aws.kms.Alias("orders-db-alias", name="alias/prod/orders-db", target_key_id=key.key_id)
    aws.secretsmanager.SecretVersion(
        "api-v1", secret_id="api", secret_string=pulumi.Output.secret("hunter2")
    )
    gcp.kms.CryptoKey(
        "release-signing",
        key_ring="projects/p/locations/l/keyRings/r",
        purpose="ASYMMETRIC_SIGN",
        version_template={"algorithm": "EC_SIGN_P256_SHA256", "protection_level": "HSM"},
        labels={"keyplane-purpose": "token-signing"},
    )


def test_plan_has_what_checkov_needs() -> None:
    result = render(_program, project="keyplane", stack="prod")
    converted = to_terraform_plan(result.resources)
    plan = converted.plan
    assert plan["terraform_version"]
    resources = {r["address"]: r for r in plan["planned_values"]["root_module"]["resources"]}
    assert set(resources) == {
        "aws_kms_key.orders_db",
        "aws_kms_alias.orders_db_alias",
        "aws_secretsmanager_secret_version.api_v1",
        "google_kms_crypto_key.release_signing",
    }
    key = resources["aws_kms_key.orders_db"]
    assert key["mode"] == "managed"
    assert key["values"] == {
        "enable_key_rotation": True,
        "rotation_period_in_days": 365,
        "tags": {"keyplane-purpose": "database-encryption", "CostCentre": "42"},
    }
    # nested blocks become lists of one object, as in Terraform
    assert resources["google_kms_crypto_key.release_signing"]["values"]["version_template"] == [
        {"algorithm": "EC_SIGN_P256_SHA256", "protection_level": "HSM"}
    ]
    assert (
        converted.urn_by_address["aws_kms_key.orders_db"]
        == "urn:pulumi:prod::keyplane::aws:kms/key:Key::orders-db"
    )


def test_secrets_are_masked_and_unknowns_left_out() -> None:
    converted = to_terraform_plan(render(_program, project="keyplane", stack="prod").resources)
    text = json.dumps(converted.plan)
    assert "hunter2" not in text
    version = next(
        r
        for r in converted.plan["planned_values"]["root_module"]["resources"]
        if r["name"] == "api_v1"
    )
    assert version["values"]["secret_string"] == SECRET_PLACEHOLDER
    assert version["sensitive_values"] == {"secret_string": True}
    alias_change = next(
        c for c in converted.plan["resource_changes"] if c["name"] == "orders_db_alias"
    )
    assert "target_key_id" not in alias_change["change"]["after"]
    assert alias_change["change"]["after_unknown"] == {"target_key_id": True}


def test_dependencies_become_configuration_references() -> None:
    converted = to_terraform_plan(render(_program, project="keyplane", stack="prod").resources)
    config = {r["address"]: r for r in converted.plan["configuration"]["root_module"]["resources"]}
    assert config["aws_kms_alias.orders_db_alias"]["expressions"] == {
        "target_key_id": {"references": ["aws_kms_key.orders_db"]}
    }


def test_azure_native_is_mapped_to_azurerm_deliberately() -> None:
    from keyplane.wire import Registration

    vault = Registration(
        urn="urn:pulumi:prod-azure::keyplane::azure-native:keyvault:Vault::kv",
        type="azure-native:keyvault:Vault",
        name="kv",
        custom=True,
        parent="",
        dependencies=(),
        protect=True,
        retain_on_delete=False,
        provider="",
        inputs={
            "vaultName": "kv-prod",
            "resourceGroupName": "kms-prod",
            "properties": {
                "tenantId": "t",
                "sku": {"family": "A", "name": "premium"},
                "enableRbacAuthorization": True,
                "enablePurgeProtection": True,
                "softDeleteRetentionInDays": 90.0,
                "publicNetworkAccess": "Disabled",
                "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            },
        },
    )
    [resource] = to_terraform_plan([vault]).plan["planned_values"]["root_module"]["resources"]
    assert resource["type"] == "azurerm_key_vault"
    values = resource["values"]
    assert values["purge_protection_enabled"] is True
    assert values["soft_delete_retention_days"] == 90
    assert values["public_network_access_enabled"] is False
    assert values["sku_name"] == "premium"
    assert values["network_acls"] == [
        {
            "default_action": "Deny",
            "bypass": "AzureServices",
            "ip_rules": [],
            "virtual_network_subnet_ids": [],
        }
    ]


def _encrypted_bucket() -> None:
    bucket = aws.s3.Bucket("audit")
    aws.s3.BucketServerSideEncryptionConfiguration(
        "audit-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}],
    )


def test_repeated_blocks_take_their_terraform_names() -> None:
    plan = to_terraform_plan(
        render(_encrypted_bucket, project="keyplane", stack="prod").resources
    ).plan
    sse = next(
        r
        for r in plan["planned_values"]["root_module"]["resources"]
        if r["name"] == "audit_encryption"
    )
    assert sse["values"]["rule"] == [
        {"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}
    ]
    assert "rules" not in sse["values"]
