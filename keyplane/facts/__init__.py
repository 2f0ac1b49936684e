"""Facts: a provider-neutral, typed, immutable view of the resources rules judge.

Adapters build facts (`keyplane.adapters`): from Pulumi resource properties (CrossGuard and the
offline preview), and later from Terraform-plan values (checkov) and boto3 describe calls (the
live audit). Facts never import a cloud SDK or the Pulumi SDK.
"""

from keyplane.facts.access import Access, Condition, Effect, Grant, Target
from keyplane.facts.model import (
    AccessBinding,
    AuditConfig,
    DiagnosticSetting,
    Facts,
    HsmCluster,
    Immutability,
    Key,
    KeyContainer,
    KeyOrigin,
    LogBucket,
    LogSink,
    ObjectLock,
    PolicyAttachment,
    Resource,
    Role,
    RoleDefinition,
    Secret,
    SecretRotation,
    SecretValue,
    StackFacts,
    Trail,
    Unparseable,
    Unread,
    Vault,
    Versioning,
)
from keyplane.facts.values import UNKNOWN, Maybe, Ref, Unknown

__all__ = [
    "UNKNOWN",
    "Access",
    "AccessBinding",
    "AuditConfig",
    "Condition",
    "DiagnosticSetting",
    "Effect",
    "Facts",
    "Grant",
    "HsmCluster",
    "Immutability",
    "Key",
    "KeyContainer",
    "KeyOrigin",
    "LogBucket",
    "LogSink",
    "Maybe",
    "ObjectLock",
    "PolicyAttachment",
    "Ref",
    "Resource",
    "Role",
    "RoleDefinition",
    "Secret",
    "SecretRotation",
    "SecretValue",
    "StackFacts",
    "Target",
    "Trail",
    "Unknown",
    "Unparseable",
    "Unread",
    "Vault",
    "Versioning",
]
