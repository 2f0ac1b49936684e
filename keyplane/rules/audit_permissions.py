"""The live audit's permission map: which rules a read feeds, so which a refused read blocks.

A collector (`keyplane.engines.audit.aws`; GCP and Azure collectors later) names the cloud
permission behind each read and nothing else; the judge (`keyplane.engines.audit.judge`) asks
this module which rules that permission serves. Two relations:

- `UNVERIFIABLE_WITHOUT`: permission -> the rules reported "unverifiable" (one advisory finding
  per rule and resource, naming the permission) when the auditor may not make that read.
- `NOT_JUDGED_WITHOUT`: permission of an account-wide list call -> the rules not judged at all
  when the list is refused (without the list there is nothing to judge them on, and a pass would
  be a silent one); also any read feeding a verdict over the whole account (KM-MON-001).

Rule IDs live here, beside the rules, so that the registry's `permissions` field can absorb this
table in one move. An unknown permission raises `KeyError` (a collector reading something no
rule accounts for is a bug, not an unverifiable finding).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_KEY_METADATA = (
    "KM-ALG-001",
    "KM-ROT-001",
    "KM-ROT-002",
    "KM-PUR-001",
    "KM-ENV-001",
    "KM-ACC-001",
    "KM-BAK-002",
)
_KEY_POLICY = ("KM-ACC-001", "KM-ACC-002", "KM-ACC-004", "KM-ENV-002")
#: KM-BAK-002: the purpose tag says which undeclared keys are backup keys.
_KEY_TAGS = ("KM-PUR-001", "KM-ENV-001", "KM-ROT-002", "KM-HSM-001", "KM-BAK-002")
_SECRET_POLICY = ("KM-ACC-001", "KM-ACC-004", "KM-ENV-002")
#: KM-MON-001 is one verdict over every alert of the account: without one of these reads, a
#: missing signal may be covered by what was not read (a false fail) and a covered one cannot be
#: told apart from a partial answer, so the rule is not judged at all.
_ALERTS = ("KM-MON-001",)
#: A Key Vault's or Managed HSM's own settings: purge protection and soft delete, its SKU (HSM
#: keys), RBAC or legacy access policies, public network access.
_AZURE_VAULT = ("KM-DEL-001", "KM-STO-002", "KM-HSM-001", "KM-ACC-001", "KM-ACC-002")

#: Permission -> the rules a refused read leaves unverifiable (Policy §5: evidence of each rule).
UNVERIFIABLE_WITHOUT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # AWS
        "kms:ListKeys": _KEY_METADATA,
        # Names findings use, and how the audit finds the declared keys: without them, whether
        # a declared key is missing (destroyed) cannot be told, nor which key is a declared
        # backup key with its restore test (KM-BAK-002).
        "kms:ListAliases": ("KM-DEL-001", "KM-BAK-002"),
        "kms:DescribeKey": _KEY_METADATA,
        "kms:GetKeyRotationStatus": ("KM-ROT-001", "KM-ROT-002"),
        "kms:ListKeyRotations": ("KM-ROT-002",),
        "kms:GetKeyPolicy": _KEY_POLICY,
        # KMS grants give access beside the key policy.
        "kms:ListGrants": ("KM-ACC-002", "KM-ACC-004", "KM-ENV-002"),
        "kms:ListResourceTags": _KEY_TAGS,
        "cloudtrail:DescribeTrails": ("KM-LOG-001", "KM-LOG-002", *_ALERTS),
        "cloudtrail:GetTrailStatus": ("KM-LOG-001",),
        "cloudtrail:GetEventSelectors": ("KM-LOG-001",),
        "cloudtrail:ListTags": ("KM-ENV-001",),
        # The key lifecycle events are evidence (Proc 4.4 step 4, 4.5 step 3), no rule's input:
        # a refused read is said in the evidence's lifecycle block, as unverifiable.
        "cloudtrail:LookupEvents": (),
        "s3:GetBucketObjectLockConfiguration": ("KM-LOG-002",),
        "s3:GetBucketVersioning": ("KM-LOG-002",),
        "s3:GetBucketTagging": ("KM-ENV-001",),
        "cloudhsm:DescribeClusters": ("KM-DEL-001",),
        "secretsmanager:ListSecrets": ("KM-ROT-003", "KM-STO-002"),
        # ListSecrets returned the same metadata: the secret is judged from it when refused.
        "secretsmanager:DescribeSecret": (),
        "secretsmanager:GetResourcePolicy": _SECRET_POLICY,
        "acm:ListCertificates": ("KM-CRT-001",),
        "acm:DescribeCertificate": ("KM-CRT-001",),
        "acm:ListTagsForCertificate": ("KM-CRT-001",),
        # Alerts on key misuse: trails deliver to log groups, whose metric filters feed alarms.
        "logs:DescribeMetricFilters": _ALERTS,
        "cloudwatch:DescribeAlarms": _ALERTS,
        "events:ListRules": _ALERTS,
        "events:ListTargetsByRule": _ALERTS,
        # GCP (keyplane.engines.audit.gcp)
        # The project's bindings reach every key and secret; its audit configuration is
        # KM-LOG-001's input.
        "resourcemanager.projects.getIamPolicy": (*_KEY_POLICY, "KM-TEN-001", "KM-LOG-001"),
        # Bindings on the project's folders and organisation reach every key and secret too;
        # the ancestry (getAncestry) says which folders and organisation are above it.
        "resourcemanager.projects.get": (*_KEY_POLICY, "KM-TEN-001"),
        "resourcemanager.folders.getIamPolicy": (*_KEY_POLICY, "KM-TEN-001"),
        "resourcemanager.organizations.getIamPolicy": (*_KEY_POLICY, "KM-TEN-001"),
        "cloudkms.keyRings.list": _KEY_METADATA,
        "cloudkms.keyRings.getIamPolicy": (*_KEY_POLICY, "KM-TEN-001"),
        "cloudkms.cryptoKeys.list": _KEY_METADATA,
        "cloudkms.cryptoKeys.getIamPolicy": (*_KEY_POLICY, "KM-TEN-001"),
        # Versions say whether a key is in use, when its material last changed and what is
        # scheduled for destruction.
        "cloudkms.cryptoKeyVersions.list": ("KM-ROT-002", "KM-DEL-001"),
        "secretmanager.secrets.list": ("KM-ROT-003", "KM-STO-002"),
        "secretmanager.secrets.getIamPolicy": (*_SECRET_POLICY, "KM-TEN-001"),
        "logging.sinks.list": ("KM-LOG-001", "KM-LOG-002"),
        "storage.buckets.get": ("KM-LOG-002",),
        "logging.logMetrics.list": _ALERTS,
        "monitoring.alertPolicies.list": _ALERTS,
        "certificatemanager.certs.list": ("KM-CRT-001",),
        # Lifecycle events are evidence, no rule's input (as cloudtrail:LookupEvents).
        "logging.logEntries.list": (),
        # Azure (built-in roles Reader, Key Vault Reader, Monitoring Reader; README)
        "Microsoft.Resources/subscriptions/read": (),
        "Microsoft.KeyVault/vaults/read": _AZURE_VAULT,
        "Microsoft.KeyVault/managedHSMs/read": _AZURE_VAULT,
        "Microsoft.KeyVault/vaults/keys/read": (*_KEY_METADATA, "KM-HSM-001", "KM-DEL-001"),
        "Microsoft.KeyVault/vaults/secrets/read": ("KM-ROT-003", "KM-STO-002", "KM-PUR-001"),
        "Microsoft.Authorization/roleAssignments/read": _KEY_POLICY,
        "Microsoft.Authorization/roleDefinitions/read": _KEY_POLICY,
        "Microsoft.Insights/diagnosticSettings/read": ("KM-LOG-001", "KM-LOG-002"),
        "Microsoft.Storage/storageAccounts/read": ("KM-LOG-002",),
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/read": (
            "KM-LOG-002",
        ),
        "Microsoft.Insights/activityLogAlerts/read": _ALERTS,
        "Microsoft.Insights/scheduledQueryRules/read": _ALERTS,
        "Microsoft.KeyVault/vaults/certificates/read": ("KM-CRT-001",),
    }
)

#: Permission of an account-wide list -> the rules not judged at all when it is refused.
NOT_JUDGED_WITHOUT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "kms:ListKeys": (
            "KM-ALG-001",
            "KM-ROT-001",
            "KM-ROT-002",
            "KM-HSM-001",
            "KM-ACC-002",
            "KM-DEL-001",
            "KM-BAK-002",
        ),
        # Without the aliases, no live key can be told to be a declared backup key: judging
        # them by their tags alone would call each of them undeclared.
        "kms:ListAliases": ("KM-BAK-002",),
        "cloudtrail:DescribeTrails": ("KM-LOG-001", "KM-LOG-002", *_ALERTS),
        "secretsmanager:ListSecrets": ("KM-ROT-003", "KM-STO-002"),
        "acm:ListCertificates": ("KM-CRT-001",),
        # One rule's targets are read on their own, but the verdict is over all alerts alike.
        "logs:DescribeMetricFilters": _ALERTS,
        "cloudwatch:DescribeAlarms": _ALERTS,
        "events:ListRules": _ALERTS,
        "events:ListTargetsByRule": _ALERTS,
        # GCP
        "resourcemanager.projects.getIamPolicy": ("KM-LOG-001",),
        "cloudkms.keyRings.list": (
            "KM-ALG-001",
            "KM-ROT-001",
            "KM-ROT-002",
            "KM-HSM-001",
            "KM-ACC-002",
            "KM-DEL-001",
        ),
        "cloudkms.cryptoKeys.list": (
            "KM-ALG-001",
            "KM-ROT-001",
            "KM-ROT-002",
            "KM-HSM-001",
            "KM-ACC-002",
            "KM-DEL-001",
        ),
        "secretmanager.secrets.list": ("KM-ROT-003", "KM-STO-002"),
        "logging.sinks.list": ("KM-LOG-001", "KM-LOG-002"),
        "logging.logMetrics.list": _ALERTS,
        "monitoring.alertPolicies.list": _ALERTS,
        "certificatemanager.certs.list": ("KM-CRT-001",),
        # Azure: rules judged over the whole environment, whose input is read per vault or
        # per subscription. (Reads of vaults, keys and secrets are not here: Azure names the
        # list and the read of one item alike, and one unreadable key must not block the rules
        # on every other; an item not read is reported unverifiable and never judged.)
        "Microsoft.Authorization/roleAssignments/read": _KEY_POLICY,
        "Microsoft.Authorization/roleDefinitions/read": _KEY_POLICY,
        "Microsoft.Insights/diagnosticSettings/read": ("KM-LOG-001", "KM-LOG-002"),
        "Microsoft.Storage/storageAccounts/read": ("KM-LOG-002",),
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies/read": (
            "KM-LOG-002",
        ),
        "Microsoft.Insights/activityLogAlerts/read": _ALERTS,
        "Microsoft.Insights/scheduledQueryRules/read": _ALERTS,
        "Microsoft.KeyVault/vaults/certificates/read": ("KM-CRT-001",),
    }
)


def unverifiable_without(permission: str) -> tuple[str, ...]:
    """The rule IDs a refused `permission` leaves unverifiable; KeyError for an unknown one."""
    return UNVERIFIABLE_WITHOUT[permission]


def not_judged_without(permission: str) -> tuple[str, ...]:
    """The rule IDs not judged at all when `permission` is refused (empty for most reads)."""
    return NOT_JUDGED_WITHOUT.get(permission, ())
