"""Pulumi components that provision a keyplane environment on Azure (`keyplane:azure:*`)."""

from keyplane.components.azure._common import ComponentInputError
from keyplane.components.azure.audit import AzureAuditLogSink, AzureAuditLogSinkArgs
from keyplane.components.azure.environment import AzureEnvironment
from keyplane.components.azure.vault import (
    AzureKeyVault,
    AzureKeyVaultArgs,
    AzureSecret,
    secrets_of,
)

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
