"""Pulumi components that provision a keyplane environment on Azure (`keyplane:azure:*`)."""

from components.azure._common import ComponentInputError
from components.azure.audit import AzureAuditLogSink, AzureAuditLogSinkArgs
from components.azure.environment import AzureEnvironment
from components.azure.vault import AzureKeyVault, AzureKeyVaultArgs, AzureSecret, secrets_of

__all__ = [
    "AzureAuditLogSink",
    "AzureAuditLogSinkArgs",
    "AzureEnvironment",
    "AzureKeyVault",
    "AzureKeyVaultArgs",
    "AzureSecret",
    "ComponentInputError",
    "secrets_of",
]
