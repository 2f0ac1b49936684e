"""Pulumi components that provision a keyplane environment on GCP (type tokens `keyplane:gcp:*`)."""

from components.gcp._common import ComponentInputError
from components.gcp.audit import GcpAuditLogSink, GcpAuditLogSinkArgs
from components.gcp.environment import GcpEnvironment
from components.gcp.kms import GcpKeyRing, GcpKeyRingArgs
from components.gcp.secrets import GcpSecret, GcpSecretVault, GcpSecretVaultArgs, secrets_of

__all__ = [
    "ComponentInputError",
    "GcpAuditLogSink",
    "GcpAuditLogSinkArgs",
    "GcpEnvironment",
    "GcpKeyRing",
    "GcpKeyRingArgs",
    "GcpSecret",
    "GcpSecretVault",
    "GcpSecretVaultArgs",
    "secrets_of",
]
