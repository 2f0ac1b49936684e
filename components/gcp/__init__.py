"""Pulumi components that provision a keyplane environment on GCP (type tokens `keyplane:gcp:*`)."""

from keyplane.components.gcp._common import ComponentInputError
from keyplane.components.gcp.audit import GcpAuditLogSink, GcpAuditLogSinkArgs
from keyplane.components.gcp.environment import GcpEnvironment
from keyplane.components.gcp.kms import GcpKeyRing, GcpKeyRingArgs
from keyplane.components.gcp.secrets import (
    GcpSecret,
    GcpSecretVault,
    GcpSecretVaultArgs,
    secrets_of,
)

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
