"""Pulumi components that provision a keyplane environment on AWS (type tokens `keyplane:aws:*`)."""

from keyplane.components.aws._common import ComponentInputError
from keyplane.components.aws.access import AccessRoles, AccessRolesArgs
from keyplane.components.aws.audit import AuditLogSink, AuditLogSinkArgs
from keyplane.components.aws.environment import AwsEnvironment, HsmStackConfig
from keyplane.components.aws.hsm import HsmCluster, HsmClusterArgs
from keyplane.components.aws.keyring import KeyRing, KeyRingArgs
from keyplane.components.aws.vault import SecretVault, SecretVaultArgs, VaultSecret, secrets_of

__all__ = [
    "AccessRoles",
    "AccessRolesArgs",
    "AuditLogSink",
    "AuditLogSinkArgs",
    "AwsEnvironment",
    "ComponentInputError",
    "HsmCluster",
    "HsmClusterArgs",
    "HsmStackConfig",
    "KeyRing",
    "KeyRingArgs",
    "SecretVault",
    "SecretVaultArgs",
    "VaultSecret",
    "secrets_of",
]
