"""Pulumi components that provision a keyplane environment on AWS (type tokens `keyplane:aws:*`)."""

from components.aws._common import ComponentInputError
from components.aws.access import AccessRoles, AccessRolesArgs
from components.aws.audit import AuditLogSink, AuditLogSinkArgs
from components.aws.environment import AwsEnvironment, HsmStackConfig
from components.aws.hsm import HsmCluster, HsmClusterArgs
from components.aws.keyring import KeyRing, KeyRingArgs
from components.aws.vault import SecretVault, SecretVaultArgs, VaultSecret, secrets_of

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
