"""A whole keyplane environment on Azure (`keyplane:azure:Environment`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

import pulumi
from pulumi_azure_native import resources

from keyplane.components.azure._common import ComponentInputError, after, invalid, tags, vault_name
from keyplane.components.azure.audit import AzureAuditLogSink, AzureAuditLogSinkArgs
from keyplane.components.azure.certificates import AzureCertificates, AzureCertificatesArgs
from keyplane.components.azure.monitoring import MisuseAlerts, MisuseAlertsArgs
from keyplane.components.azure.vault import AzureKeyVault, AzureKeyVaultArgs, secrets_of
from keyplane.config.model import Environment
from keyplane.standard import Cloud, KeyPurpose


class AzureEnvironment(pulumi.ComponentResource):
    """Resource group, Key Vaults, keys, secrets, role assignments and audit logs on Azure.

    - Resource group `azure.resource_group` (created, unless `create_resource_group=False`).
    - Premium vault `<env>-<hash>`: every key but backup keys, and the secrets; administered by
      `access.key_admins`.
    - Premium vault `<env>-backup-<hash>`: backup-encryption keys, administered by
      `access.backup_key_admins` when declared (KM-BAK-001).
    - Audit log sink `<name>-audit`: diagnostic settings on every vault.
    - With `monitoring`: misuse alerts `<name>-alerts` (KM-MON-001) to the declared action groups.

    Secret values come from `secret_values`, else from the stack's secret config
    `keyplane:secret-<secret name>` (`pulumi config set --secret keyplane:secret-<name> ...`).

    Outputs (also `stack_outputs`, what the stack program exports):
        resource_group_name, vault_ids (vault name -> ID), key_ids, secret_ids,
        audit_storage_account_id, audit_workspace_id, immutability_state, lock_command,
        alert_rule_ids (misuse alert label -> ARM ID; with `monitoring`).
        certificate_order_ids, certificate_domain_verification_tokens: declared certificate
            name -> App Service certificate order ID / its domain verification token
            (`AzureCertificates`; with certificates).
    """

    resource_group_name: pulumi.Output[str]
    vault_ids: dict[str, pulumi.Output[str]]
    key_ids: dict[str, pulumi.Output[str]]
    secret_ids: dict[str, pulumi.Output[str]]
    audit_storage_account_id: pulumi.Output[str]
    audit_workspace_id: pulumi.Output[str]
    immutability_state: pulumi.Output[str]
    lock_command: pulumi.Output[str]
    alert_rule_ids: dict[str, pulumi.Output[str]] | None
    stack_outputs: dict[str, Any]

    def __init__(
        self,
        name: str,
        env: Environment,
        opts: pulumi.ResourceOptions | None = None,
        *,
        create_resource_group: bool = True,
        secret_values: Mapping[str, pulumi.Input[str]] | None = None,
        secrets_start_on: date | None = None,
        principal_types: Mapping[str, str] | None = None,
    ) -> None:
        """`secret_values`, `secrets_start_on`, `principal_types`: see `AzureKeyVaultArgs`.

        `create_resource_group=False` uses the existing group `azure.resource_group` instead.
        """
        if env.cloud is not Cloud.AZURE or env.azure is None:
            raise invalid(
                "env",
                f"environment {env.name!r} is on {env.cloud.value}, not azure; provision it with "
                "the component of its cloud",
            )
        azure = env.azure
        _check_provider_config(env, azure.subscription_id, azure.tenant_id)
        values = dict(secret_values) if secret_values is not None else _configured_secrets(env)
        super().__init__("keyplane:azure:Environment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        group_name: pulumi.Input[str] = azure.resource_group
        if create_resource_group:
            group = resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=azure.resource_group,
                location=azure.location,
                tags=tags(env.name),
                # Deleting the group deletes every vault and log in it.
                opts=pulumi.ResourceOptions(parent=self, protect=env.protected or None),
            )
            group_name = after(group, azure.resource_group)
        self.resource_group_name = pulumi.Output.from_input(group_name)

        resolved = env.resolved_keys()
        backup = tuple(k for k in resolved if k.purpose is KeyPurpose.BACKUP_ENCRYPTION)
        primary = tuple(k for k in resolved if k.purpose is not KeyPurpose.BACKUP_ENCRYPTION)
        scope = f"{azure.subscription_id}/{azure.resource_group}"

        base = AzureKeyVaultArgs(
            subscription_id=azure.subscription_id,
            tenant_id=azure.tenant_id,
            resource_group_name=group_name,
            location=azure.location,
            environment=env.name,
            auditors=env.access.auditors,
            principal_types=dict(principal_types or {}),
            protect=env.protected,
        )
        vaults = [
            AzureKeyVault(
                f"{name}-vault",
                replace(
                    base,
                    keys=primary,
                    secrets=secrets_of(env),
                    admins=env.access.key_admins,
                    vault_name=vault_name(env.name, scope),
                    secret_values=values,
                    secrets_start_on=secrets_start_on,
                ),
                child,
            )
        ]
        if backup:
            vaults.append(
                AzureKeyVault(
                    f"{name}-backup-vault",
                    replace(
                        base,
                        keys=backup,
                        admins=backup[0].admins,
                        vault_name=vault_name(env.name, scope, "-backup"),
                    ),
                    child,
                )
            )
        self.vault_ids = {v.vault_name: v.vault_id for v in vaults}
        self.key_ids = {k: v for vault in vaults for k, v in vault.key_ids.items()}
        self.secret_ids = dict(vaults[0].secret_ids)

        audit = AzureAuditLogSink(
            f"{name}-audit",
            AzureAuditLogSinkArgs(
                subscription_id=azure.subscription_id,
                resource_group_name=group_name,
                location=azure.location,
                environment=env.name,
                retention_days=env.logging.retention_days,
                monitored={
                    label: vault.vault_id
                    for label, vault in zip(("vault", "backup-vault"), vaults, strict=False)
                },
                auditors=env.access.auditors,
                principal_types=dict(principal_types or {}),
                protect=env.protected,
            ),
            child,
        )
        self.audit_storage_account_id = audit.storage_account_id
        self.audit_workspace_id = audit.workspace_id
        self.immutability_state = audit.immutability_state
        self.lock_command = audit.lock_command
        self.alert_rule_ids = (
            MisuseAlerts(
                f"{name}-alerts",
                MisuseAlertsArgs(
                    subscription_id=azure.subscription_id,
                    resource_group_name=group_name,
                    environment=env.name,
                    action_groups=env.monitoring.notify,
                    workspace_id=audit.workspace_id,
                    location=azure.location,
                ),
                child,
            ).alert_rule_ids
            if env.monitoring is not None
            else None
        )

        certificates = (
            AzureCertificates(
                f"{name}-certificates",
                AzureCertificatesArgs(
                    environment=env.name,
                    resource_group_name=group_name,
                    vault_id=vaults[0].vault_id,
                    certificates=env.certificates,
                ),
                child,
            )
            if env.certificates
            else None
        )

        self.stack_outputs = {
            "resource_group_name": self.resource_group_name,
            "vault_ids": self.vault_ids,
            "key_ids": self.key_ids,
            "secret_ids": self.secret_ids,
            "audit_storage_account_id": self.audit_storage_account_id,
            "audit_workspace_id": self.audit_workspace_id,
            "immutability_state": self.immutability_state,
            "lock_command": self.lock_command,
            **({"alert_rule_ids": self.alert_rule_ids} if self.alert_rule_ids else {}),
        }
        if certificates is not None:
            self.stack_outputs["certificate_order_ids"] = certificates.certificate_order_ids
            self.stack_outputs["certificate_domain_verification_tokens"] = (
                certificates.domain_verification_tokens
            )
        self.register_outputs(self.stack_outputs)


def _configured_secrets(env: Environment) -> dict[str, pulumi.Input[str]]:
    """Values set with `pulumi config set --secret keyplane:secret-<name>`, kept secret."""
    config = pulumi.Config("keyplane")
    found: dict[str, pulumi.Input[str]] = {}
    for secret in env.secrets:
        value = config.get_secret(f"secret-{secret.name}")
        if value is not None:
            found[secret.name] = value
    return found


def _check_provider_config(env: Environment, subscription_id: str, tenant_id: str) -> None:
    """The stack's azure-native provider targets the environment's subscription and tenant."""
    config = pulumi.Config("azure-native")
    for key, expected, what in (
        ("subscriptionId", subscription_id, "subscription"),
        ("tenantId", tenant_id, "tenant"),
    ):
        configured = config.get(key)
        if configured is not None and configured.lower() != expected.lower():
            raise ComponentInputError(
                f"stack config azure-native:{key}: {configured!r}, but environment {env.name} "
                f"is in {what} {expected}; set azure-native:{key} to {expected}"
            )
