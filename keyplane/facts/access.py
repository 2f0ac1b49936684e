"""Who may do what to a key or secret: grants, and what native actions and roles mean.

A grant is written the way each cloud writes it (IAM actions, GCP roles, Azure role definition
IDs); the functions here say what it amounts to (administer, use, read) so that rules judge it
the same way whichever adapter built it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import lru_cache

from keyplane.facts.values import Ref, Unknown


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Access(StrEnum):
    """What a grant lets a principal do with a key or secret (Policy §4, separation of duties)."""

    ADMIN = "admin"  # change policies, rotation, deletion, the key itself
    USE = "use"  # encrypt, decrypt, sign, verify, read a secret's value
    READ = "read"  # describe, list, read public keys and policies


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """One principal's rights: (principal, actions, effect, conditions), and where they apply.

    `principal` is the native form: an ARN, `*`, `service:<name>`, `federated:<provider>`, a GCP
    member (`serviceAccount:...`, `allUsers`) or an Azure object ID. `resources` are the statement's
    resources for identity policies (`*` = every resource); grants written on a key or secret
    itself leave it empty.
    """

    principal: str | Unknown
    actions: tuple[str, ...] | Unknown
    effect: Effect = Effect.ALLOW
    conditions: tuple[Condition, ...] = ()
    resources: tuple[str, ...] | Unknown = ()
    #: For identity policies attached by reference (a role policy naming its role by name).
    principal_ref: Ref | None = None
    #: Where in its document the grant is written, for messages: a statement's `Sid` (or its
    #: position, `#2`), a binding's role; empty when the source holds one grant.
    label: str = field(default="", compare=False)
    #: `NotPrincipal`: the statement applies to everyone but these (`principal` is then `*`).
    except_principals: tuple[str, ...] = ()
    #: `NotAction`: the statement covers every action but these (`actions` is then `*`).
    except_actions: tuple[str, ...] = ()


WILDCARD_PRINCIPALS = frozenset({"*", "allUsers", "allAuthenticatedUsers"})

_ACCOUNT = re.compile(r"\d{12}")
_AWS_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}|\*):")
_GCP_SA_PROJECT = re.compile(
    r"serviceAccount:[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com"
)
_GCP_PROJECT_MEMBER = re.compile(r"project(?:Owner|Editor|Viewer):(.+)")


# The pure questions below are asked for the same few principals and actions on every key and
# secret of a stack (at 9,919 resources, 87,000 and 115,000 times): their answers are kept.
@lru_cache(maxsize=8192)
def is_wildcard_principal(principal: str) -> bool:
    if principal in WILDCARD_PRINCIPALS:
        return True
    match = _AWS_ARN_ACCOUNT.match(principal)
    return bool(match and match.group(1) == "*")


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([^/]+)")
_ASSUMED_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:sts::\d{12}:assumed-role/([^/]+)/[^/]*")


def is_aws_role_arn(principal: str) -> bool:
    """Whether `principal` is an IAM role's ARN (`arn:aws:iam::<account>:role/<path/>name`)."""
    return _ROLE_ARN.fullmatch(principal) is not None


@lru_cache(maxsize=8192)
def principal_key(principal: str) -> str:
    """One name per principal within a stack (an account): an IAM role's ARN and the role
    written by name in the same stack compare equal (`aws-role:<name>`)."""
    match = _ROLE_ARN.fullmatch(principal) or _ASSUMED_ROLE_ARN.fullmatch(principal)
    if match:
        return f"aws-role:{match.group(1)}"
    return principal


# Condition keys that name who may call, each read as the principal it confines a wildcard to.
# https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "kms:calleraccount", "aws:sourceaccount"})
_CONFINING_OPERATORS = frozenset({"StringEquals", "StringLike", "ArnEquals", "ArnLike"})


def confined_principals(grant: Grant) -> tuple[tuple[str, ...], tuple[Condition, ...]] | None:
    """Who a wildcard-principal Allow reaches when its conditions name the callers.

    `aws:PrincipalAccount`, `kms:CallerAccount`, `aws:SourceAccount` = an account (its root,
    `arn:aws:iam::<id>:root`); `aws:PrincipalArn` = those principals; `aws:PrincipalOrgID` =
    `aws-org:<id>`; `kms:ViaService` alone = `service:<name>` (calls made through that
    service). The narrowest present wins (principal ARN, then account, then organisation, then
    service). Returns (principals, the conditions left unread) or None when no condition
    confines the grant (it then reaches everyone). Set operators (`ForAnyValue:`) and negations
    (`StringNotEquals`) do not confine.
    """
    found: dict[str, tuple[str, ...]] = {}
    rest: list[Condition] = []
    for condition in grant.conditions:
        key = condition.key.lower()
        if condition.operator not in _CONFINING_OPERATORS or not condition.values:
            rest.append(condition)
        elif key == "aws:principalarn":
            found["arn"] = condition.values
        elif key in _ACCOUNT_KEYS:
            found["account"] = tuple(normalize_aws_principal(v) for v in condition.values)
        elif key == "aws:principalorgid":
            found["org"] = tuple(f"aws-org:{v}" for v in condition.values)
        elif key == "kms:viaservice":
            found["service"] = tuple(f"service:{v}" for v in condition.values)
        else:
            rest.append(condition)
    for kind in ("arn", "account", "org", "service"):
        if kind in found:
            return found[kind], tuple(rest)
    return None


def condition_text(conditions: Iterable[Condition]) -> str:
    """Conditions as messages show them: `StringEquals aws:SourceVpc=vpc-1`."""
    return ", ".join(f"{c.operator} {c.key}={'|'.join(c.values)}" for c in conditions)


def is_account_wide(principal: str) -> bool:
    """An AWS account root principal: anyone in the account whom IAM lets in."""
    return bool(re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:root", principal))


_MFA_KEYS = frozenset({"aws:multifactorauthpresent"})


def requires_mfa(grant: Grant) -> bool:
    """Whether a grant holds only for sessions signed in with MFA."""
    return any(
        c.key.lower() in _MFA_KEYS and c.operator.startswith("Bool") and "true" in c.values
        for c in grant.conditions
    )


def normalize_aws_principal(value: str) -> str:
    """A bare account ID means the account's root, as IAM reads it."""
    return f"arn:aws:iam::{value}:root" if _ACCOUNT.fullmatch(value) else value


def principal_scope(principal: str) -> str | None:
    """The account, project or subscription a principal lives in, when its name says so."""
    match = _AWS_ARN_ACCOUNT.match(principal)
    if match and match.group(1) != "*":
        return match.group(1)
    match = _GCP_SA_PROJECT.fullmatch(principal)
    if match:
        return match.group(1)
    match = _GCP_PROJECT_MEMBER.fullmatch(principal)
    if match:
        return match.group(1)
    return None


# --- AWS IAM actions ----------------------------------------------------------------------------

# The KMS vocabulary, said once: the rules read policies with it (`AWS_ACTIONS`), and the AWS
# components write key policies and role policies from it (`components/aws/key_policy.py`).
# https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html

#: Use: encrypt and decrypt with the key (symmetric or asymmetric encryption keys).
KMS_ENCRYPT_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo")
#: Use: data keys under a symmetric key (envelope encryption); asymmetric keys cannot.
KMS_DATA_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext")
#: Use: data key pairs under a symmetric key.
KMS_DATA_KEY_PAIR_ACTIONS = (
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
)
#: Use: sign and verify with an asymmetric signing key.
KMS_SIGN_ACTIONS = ("kms:Sign", "kms:Verify")
#: Use: message authentication codes with an HMAC key.
KMS_MAC_ACTIONS = ("kms:GenerateMac", "kms:VerifyMac")
#: Use: key agreement with an ECC key.
KMS_AGREEMENT_ACTIONS = ("kms:DeriveSharedSecret",)
#: Every use of key material (Access.USE).
KMS_USE_ACTIONS = (
    *KMS_ENCRYPT_ACTIONS,
    *KMS_DATA_KEY_ACTIONS,
    *KMS_DATA_KEY_PAIR_ACTIONS,
    *KMS_SIGN_ACTIONS,
    *KMS_MAC_ACTIONS,
    *KMS_AGREEMENT_ACTIONS,
)
#: Grant management (Access.ADMIN): a grant hands the key's use to a grantee, so whoever may
#: create one may give itself Decrypt (the administrators' statement leaves CreateGrant out).
KMS_GRANT_ACTIONS = ("kms:CreateGrant", "kms:RevokeGrant", "kms:RetireGrant")
#: Administration (Access.ADMIN): the key's life, its policy, aliases and grants; no material.
KMS_ADMIN_ACTIONS = (
    "kms:CreateKey",
    "kms:CreateAlias",
    "kms:CreateCustomKeyStore",
    "kms:PutKeyPolicy",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:UpdateCustomKeyStore",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:DeleteAlias",
    "kms:DeleteCustomKeyStore",
    "kms:DeleteImportedKeyMaterial",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:RotateKeyOnDemand",
    "kms:ImportKeyMaterial",
    "kms:ReplicateKey",
    "kms:ConnectCustomKeyStore",
    "kms:DisconnectCustomKeyStore",
    *KMS_GRANT_ACTIONS,
)
#: Reading metadata, policies and public keys (Access.READ); never material.
KMS_READ_ACTIONS = (
    "kms:DescribeKey",
    "kms:DescribeCustomKeyStores",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetPublicKey",
    "kms:GetParametersForImport",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListKeys",
    "kms:ListResourceTags",
    "kms:ListRetirableGrants",
)
#: What keyplane's key-administrators statement grants, as IAM patterns: AWS's "key
#: administrators" statement without `kms:Create*` but CreateAlias (on a key, Create* means
#: CreateAlias and CreateGrant, and a grant would let an administrator give itself Decrypt).
#: Matches administration and reading only (tests hold it to that).
KMS_KEY_ADMINISTRATION = (
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
#: What keyplane's auditors statement grants, as IAM patterns: reading only.
KMS_KEY_AUDIT = ("kms:Describe*", "kms:List*", "kms:Get*")

_SM_USE = ["GetSecretValue", "BatchGetSecretValue"]
_SM_ADMIN = [
    "CreateSecret",
    "PutSecretValue",
    "UpdateSecret",
    "DeleteSecret",
    "RestoreSecret",
    "RotateSecret",
    "CancelRotateSecret",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
    "TagResource",
    "UntagResource",
    "UpdateSecretVersionStage",
    "ReplicateSecretToRegions",
    "RemoveRegionsFromReplication",
    "StopReplicationToReplica",
]
_SM_READ = ["DescribeSecret", "ListSecrets", "ListSecretVersionIds", "GetResourcePolicy"]

AWS_ACTIONS: dict[str, Access] = {
    **dict.fromkeys(KMS_USE_ACTIONS, Access.USE),
    **dict.fromkeys(KMS_ADMIN_ACTIONS, Access.ADMIN),
    **dict.fromkeys(KMS_READ_ACTIONS, Access.READ),
    **{f"secretsmanager:{a}": Access.USE for a in _SM_USE},
    **{f"secretsmanager:{a}": Access.ADMIN for a in _SM_ADMIN},
    **{f"secretsmanager:{a}": Access.READ for a in _SM_READ},
}
_AWS_ACTIONS_LOWER = {name.lower(): access for name, access in AWS_ACTIONS.items()}

#: Actions that are wildcards over every key operation (KM-ACC-001).
AWS_WILDCARD_ACTIONS = frozenset({"*", "kms:*", "secretsmanager:*"})
#: The same on Azure Key Vault (a role definition's or a legacy access policy's `all`).
AZURE_WILDCARD_OPERATIONS = frozenset(
    {
        "microsoft.keyvault/*",
        "microsoft.keyvault/vaults/*",
        "microsoft.keyvault/vaults/keys/*",
        "microsoft.keyvault/vaults/secrets/*",
    }
)


class Target(StrEnum):
    """What a grant is judged on: the same role means different things for keys and secrets."""

    KEY = "key"
    SECRET = "secret"


_AWS_SERVICE = {Target.KEY: "kms:", Target.SECRET: "secretsmanager:"}


def aws_action_access(action: str, target: Target | None = None) -> frozenset[Access]:
    """What an IAM action (possibly with `*` or `?`) allows on keys or secrets."""
    pattern = action.lower()
    names = list(_AWS_ACTIONS_LOWER.items())
    if target is not None:
        names = [(n, a) for n, a in names if n.startswith(_AWS_SERVICE[target])]
    if "*" not in pattern and "?" not in pattern:
        return frozenset(a for n, a in names if n == pattern)
    return frozenset(a for n, a in names if fnmatchcase(n, pattern))


# --- AWS managed policies -------------------------------------------------------------------
# What AWS's own managed policies allow on keys and secrets, when a stack attaches one by ARN:
# (actions, resources) of their Allow statements, as AWS publishes them.
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html

_KMS_POWER_USER = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
AWS_MANAGED_POLICIES: dict[str, tuple[str, ...]] = {
    "AdministratorAccess": ("*",),
    # PowerUserAccess is NotAction iam:*, organizations:*, account:*: every KMS action.
    "PowerUserAccess": ("*",),
    "AWSKeyManagementServicePowerUser": _KMS_POWER_USER,
    "SecretsManagerReadWrite": ("secretsmanager:*",),
    "ReadOnlyAccess": (
        "kms:Describe*",
        "kms:Get*",
        "kms:List*",
        "secretsmanager:Describe*",
        "secretsmanager:List*",
        "secretsmanager:GetResourcePolicy",
    ),
}
_AWS_MANAGED_ARN = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?:[^/]+/)*([^/]+)")


def aws_managed_policy_actions(arn: str) -> tuple[str, ...] | None:
    """The actions (on every resource) of an AWS managed policy keyplane knows, by its ARN;
    None for any other ARN (a customer policy, or one keyplane does not know)."""
    match = _AWS_MANAGED_ARN.fullmatch(arn)
    return AWS_MANAGED_POLICIES.get(match.group(1)) if match else None


# --- GCP roles --------------------------------------------------------------------------------

_BOTH = frozenset({Target.KEY, Target.SECRET})
_KEYS = frozenset({Target.KEY})
_SECRETS = frozenset({Target.SECRET})
_ALL = frozenset({Access.ADMIN, Access.USE, Access.READ})

GCP_ROLES: dict[str, tuple[frozenset[Target], frozenset[Access]]] = {
    "roles/owner": (_BOTH, _ALL),
    "roles/editor": (_BOTH, _ALL),
    "roles/viewer": (_BOTH, frozenset({Access.READ})),
    "roles/cloudkms.admin": (_KEYS, frozenset({Access.ADMIN, Access.READ})),
    "roles/cloudkms.cryptoKeyEncrypterDecrypter": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.cryptoKeyEncrypter": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.cryptoKeyDecrypter": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.cryptoKeyEncrypterDecrypterViaDelegation": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.cryptoOperator": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.signer": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.signerVerifier": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.verifier": (_KEYS, frozenset({Access.USE})),
    "roles/cloudkms.publicKeyViewer": (_KEYS, frozenset({Access.READ})),
    "roles/cloudkms.viewer": (_KEYS, frozenset({Access.READ})),
    "roles/cloudkms.importer": (_KEYS, frozenset({Access.ADMIN})),
    "roles/secretmanager.admin": (_SECRETS, _ALL),
    "roles/secretmanager.secretAccessor": (_SECRETS, frozenset({Access.USE})),
    "roles/secretmanager.secretVersionManager": (_SECRETS, frozenset({Access.ADMIN})),
    "roles/secretmanager.secretVersionAdder": (_SECRETS, frozenset({Access.ADMIN})),
    "roles/secretmanager.viewer": (_SECRETS, frozenset({Access.READ})),
}
#: Roles that are wildcards over keys: granted only to declared administrators (KM-ACC-001).
GCP_BROAD_ROLES = frozenset(
    {"roles/owner", "roles/editor", "roles/cloudkms.admin", "roles/secretmanager.admin"}
)
#: Predefined roles of these services that keyplane does not know are never read as "no
#: access": a grant naming one cannot be judged (KM-COV-001's spirit, at the grant).
_GCP_KEY_SERVICES = ("roles/cloudkms.", "roles/secretmanager.")
#: A custom role: `projects/<project>/roles/<id>` or `organizations/<org>/roles/<id>`.
_GCP_CUSTOM_ROLE = re.compile(r"(?:projects|organizations)/[^/]+/roles/[^/]+")

#: What the IAM permissions a GCP custom role lists allow, per target: the data permissions
#: are use, the reads are read, everything else on keys and secrets changes them (admin).
#: https://cloud.google.com/kms/docs/reference/permissions-and-roles
_GCP_USE_PERMISSIONS = {
    Target.KEY: frozenset(
        {
            "cloudkms.cryptokeyversions.usetoencrypt",
            "cloudkms.cryptokeyversions.usetodecrypt",
            "cloudkms.cryptokeyversions.usetosign",
            "cloudkms.cryptokeyversions.usetoverify",
            "cloudkms.cryptokeyversions.usetoencryptviadelegation",
            "cloudkms.cryptokeyversions.usetodecryptviadelegation",
            "cloudkms.cryptokeyversions.usetogeneraterandombytes",
            "cloudkms.cryptokeyversions.usetomacsign",
            "cloudkms.cryptokeyversions.usetomacverify",
            "cloudkms.cryptokeyversions.usetodecapsulate",
        }
    ),
    Target.SECRET: frozenset({"secretmanager.versions.access"}),
}
_GCP_PERMISSION_SERVICE = {Target.KEY: "cloudkms.", Target.SECRET: "secretmanager."}


def is_gcp_custom_role(action: str) -> bool:
    """Whether `action` names a GCP custom role (its permissions are the stack's to say)."""
    return bool(_GCP_CUSTOM_ROLE.fullmatch(action))


def gcp_permissions_access(permissions: Iterable[str], target: Target) -> frozenset[Access]:
    """What a GCP custom role's permissions (`cloudkms.cryptoKeyVersions.useToDecrypt`, ...)
    allow on keys or secrets; a wildcard permission (`cloudkms.*`) allows everything."""
    service = _GCP_PERMISSION_SERVICE[target]
    granted: set[Access] = set()
    for permission in permissions:
        name = permission.lower()
        if name in ("*", f"{service}*"):
            return _ALL
        if not name.startswith(service):
            continue
        if name in _GCP_USE_PERMISSIONS[target]:
            granted.add(Access.USE)
        elif name.endswith((".get", ".list", ".getiampolicy", ".viewpublickey")):
            granted.add(Access.READ)
        else:
            granted.add(Access.ADMIN)
    return frozenset(granted)


# --- Azure role definitions -------------------------------------------------------------------
# Built-in roles by GUID (the last segment of roleDefinitionId), per target.
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security

_MANAGE = frozenset({Access.ADMIN, Access.READ})
AZURE_ROLES: dict[str, tuple[str, dict[Target, frozenset[Access]]]] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": (
        "Owner",
        {Target.KEY: _MANAGE, Target.SECRET: _MANAGE},
    ),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": (
        "Contributor",
        {Target.KEY: _MANAGE, Target.SECRET: _MANAGE},
    ),
    "f25e0fa2-a7c8-4377-a976-54943a77a395": (
        "Key Vault Contributor",
        {Target.KEY: _MANAGE, Target.SECRET: _MANAGE},
    ),
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": (
        "Key Vault Administrator",
        {Target.KEY: _ALL, Target.SECRET: _ALL},
    ),
    # Crypto Officer's data actions are `keys/*`: they include encrypt, decrypt and sign.
    "14b46e9e-c2b7-41b4-b07b-48a6ebf60603": ("Key Vault Crypto Officer", {Target.KEY: _ALL}),
    "12338af0-0e69-4776-bea7-57ae8d297424": (
        "Key Vault Crypto User",
        {Target.KEY: frozenset({Access.USE, Access.READ})},
    ),
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": (
        "Key Vault Crypto Service Encryption User",
        {Target.KEY: frozenset({Access.USE, Access.READ})},
    ),
    "08bbd89e-9f13-488c-ac41-acfcb10c90ab": (
        "Key Vault Crypto Service Release User",
        {Target.KEY: frozenset({Access.USE})},
    ),
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": ("Key Vault Secrets Officer", {Target.SECRET: _ALL}),
    "4633458b-17de-408a-b874-0445c86b69e6": (
        "Key Vault Secrets User",
        {Target.SECRET: frozenset({Access.USE, Access.READ})},
    ),
    "21090545-7ca7-4776-b22c-e363652d74d2": (
        "Key Vault Reader",
        {Target.KEY: frozenset({Access.READ}), Target.SECRET: frozenset({Access.READ})},
    ),
}
#: Roles that are wildcards over a vault's keys: granted only to declared administrators.
AZURE_BROAD_ROLES = frozenset(
    {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    }
)

_KV = "microsoft.keyvault/vaults/"
#: Key Vault operations a custom role can name (data and management actions), per target.
AZURE_OPERATIONS: dict[Target, dict[str, Access]] = {
    Target.KEY: {
        **{
            f"{_KV}keys/{op}/action": Access.USE
            for op in ["encrypt", "decrypt", "wrap", "unwrap", "sign", "verify", "release"]
        },
        **{
            f"{_KV}keys/{op}": Access.ADMIN
            for op in [
                "create/action",
                "update/action",
                "import/action",
                "delete",
                "backup/action",
                "restore/action",
                "recover/action",
                "purge/action",
                "rotate/action",
                "write",
            ]
        },
        f"{_KV}keys/read": Access.READ,
        f"{_KV}keys/versions/read": Access.READ,
        f"{_KV}keyrotationpolicies/read": Access.READ,
        f"{_KV}keyrotationpolicies/write": Access.ADMIN,
        f"{_KV}write": Access.ADMIN,
        f"{_KV}delete": Access.ADMIN,
        f"{_KV}read": Access.READ,
        f"{_KV}accesspolicies/write": Access.ADMIN,
        "microsoft.authorization/roleassignments/write": Access.ADMIN,
    },
    Target.SECRET: {
        f"{_KV}secrets/getsecret/action": Access.USE,
        f"{_KV}secrets/readmetadata/action": Access.READ,
        **{
            f"{_KV}secrets/{op}": Access.ADMIN
            for op in [
                "setsecret/action",
                "update/action",
                "delete",
                "backup/action",
                "restore/action",
                "recover/action",
                "purge/action",
                "write",
            ]
        },
        f"{_KV}secrets/read": Access.READ,
        f"{_KV}write": Access.ADMIN,
        f"{_KV}delete": Access.ADMIN,
        f"{_KV}read": Access.READ,
        f"{_KV}accesspolicies/write": Access.ADMIN,
        "microsoft.authorization/roleassignments/write": Access.ADMIN,
    },
}


#: A legacy Key Vault access policy's permission names (`permissions.keys` / `.secrets`, a
#: closed set in the API) as the operations `AZURE_OPERATIONS` judges; `all` is every one.
#: https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/create-or-update#keypermissions
AZURE_ACCESS_POLICY_OPERATIONS: dict[Target, dict[str, str]] = {
    Target.KEY: {
        "all": f"{_KV}keys/*",
        **{
            name: f"{_KV}keys/{op}/action"
            for name, op in {
                "encrypt": "encrypt",
                "decrypt": "decrypt",
                "wrapkey": "wrap",
                "unwrapkey": "unwrap",
                "sign": "sign",
                "verify": "verify",
                "release": "release",
                "create": "create",
                "update": "update",
                "import": "import",
                "backup": "backup",
                "restore": "restore",
                "recover": "recover",
                "purge": "purge",
                "rotate": "rotate",
            }.items()
        },
        "delete": f"{_KV}keys/delete",
        "get": f"{_KV}keys/read",
        "list": f"{_KV}keys/read",
        "getrotationpolicy": f"{_KV}keyrotationpolicies/read",
        "setrotationpolicy": f"{_KV}keyrotationpolicies/write",
    },
    Target.SECRET: {
        "all": f"{_KV}secrets/*",
        "get": f"{_KV}secrets/getsecret/action",
        "list": f"{_KV}secrets/readmetadata/action",
        "set": f"{_KV}secrets/setsecret/action",
        "delete": f"{_KV}secrets/delete",
        **{
            name: f"{_KV}secrets/{name}/action"
            for name in ("backup", "restore", "recover", "purge")
        },
    },
}


def azure_access_policy_actions(keys: Iterable[str], secrets: Iterable[str]) -> tuple[str, ...]:
    """The operations a legacy access policy's key and secret permissions allow (unknown names
    kept as written: they allow nothing keyplane knows, and are shown)."""
    actions: list[str] = []
    for target, names in ((Target.KEY, keys), (Target.SECRET, secrets)):
        table = AZURE_ACCESS_POLICY_OPERATIONS[target]
        actions.extend(table.get(name.lower(), name) for name in names)
    return tuple(dict.fromkeys(actions))


def azure_operations_access(
    allowed: Iterable[str], denied: Iterable[str], target: Target
) -> frozenset[Access]:
    """What a custom role's (data) actions minus its not-actions allow on keys or secrets."""
    operations = AZURE_OPERATIONS[target]
    granted = {op for pattern in allowed for op in operations if fnmatchcase(op, pattern.lower())}
    granted -= {op for pattern in denied for op in granted if fnmatchcase(op, pattern.lower())}
    return frozenset(operations[op] for op in granted)


def azure_role_id(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


_AZURE_ROLE_IDS = {name.lower(): role_id for role_id, (name, _) in AZURE_ROLES.items()}


def azure_role_by_name(name: str) -> str | None:
    """The GUID of a built-in role keyplane knows, by its name (`Key Vault Crypto Officer`,
    compared case-insensitively, as pulumi-azure's `roleDefinitionName` takes it); None for
    another role."""
    return _AZURE_ROLE_IDS.get(name.strip().lower())


def azure_role_name(role_definition_id: str) -> str:
    known = AZURE_ROLES.get(azure_role_id(role_definition_id))
    return known[0] if known else role_definition_id


@lru_cache(maxsize=4096)
def _is_azure_role(action: str) -> bool:
    return "/roleDefinitions/" in action or bool(re.fullmatch(r"[0-9a-fA-F-]{36}", action))


# Pure, and asked for the same few actions on every key and secret of a stack.
@lru_cache(maxsize=4096)
def action_access(action: str, target: Target | None = None) -> frozenset[Access]:
    """What one action or role means on keys or secrets (both when `target` is None)."""
    targets = (target,) if target is not None else tuple(Target)
    if action.startswith("roles/"):
        kinds, access = GCP_ROLES.get(action, (frozenset(), frozenset()))
        return access if any(t in kinds for t in targets) else frozenset()
    if _is_azure_role(action):
        known = AZURE_ROLES.get(azure_role_id(action))
        if known is None:
            return frozenset()
        return frozenset(a for t in targets for a in known[1].get(t, frozenset()))
    if action.lower().startswith("microsoft."):
        return frozenset(a for t in targets for a in azure_operations_access([action], [], t))
    return aws_action_access(action, target)


@lru_cache(maxsize=4096)
def is_known_action(action: str) -> bool:
    """Whether keyplane knows what the action or role means (custom roles it does not, nor a
    predefined Cloud KMS or Secret Manager role missing from `GCP_ROLES`)."""
    if _is_azure_role(action):
        return azure_role_id(action) in AZURE_ROLES
    if is_gcp_custom_role(action):
        return False
    if action.startswith(_GCP_KEY_SERVICES):
        return action in GCP_ROLES
    return True


def must_be_known(action: str) -> bool:
    """Whether a grant naming `action` cannot be judged unless its meaning is found: a GCP
    custom role with no definition in the stack, or an unknown Cloud KMS / Secret Manager
    role. (An unknown Azure role ID is read as no Key Vault access: Azure's built-in roles
    outside Key Vault are many, and the ones that reach vaults are in `AZURE_ROLES`.)"""
    return is_gcp_custom_role(action) or (
        action.startswith(_GCP_KEY_SERVICES) and action not in GCP_ROLES
    )


def actions_access(actions: Iterable[str], target: Target | None = None) -> frozenset[Access]:
    if isinstance(actions, tuple):  # a grant's actions (170,000 calls at 9,919 resources)
        return _actions_access(actions, target)
    return _union_of_access(actions, target)


@lru_cache(maxsize=4096)
def _actions_access(actions: tuple[str, ...], target: Target | None) -> frozenset[Access]:
    return _union_of_access(actions, target)


def _union_of_access(actions: Iterable[str], target: Target | None) -> frozenset[Access]:
    result: frozenset[Access] = frozenset()
    for action in actions:
        result |= action_access(action, target)
    return result


@lru_cache(maxsize=4096)
def is_wildcard_action(action: str) -> bool:
    """`*`, `kms:*`, `Microsoft.KeyVault/vaults/keys/*`: every operation on keys (or secrets),
    administration and use together."""
    lowered = action.lower()
    return lowered in AWS_WILDCARD_ACTIONS or lowered in AZURE_WILDCARD_OPERATIONS


@lru_cache(maxsize=4096)
def is_broad_role(action: str) -> bool:
    """Owner-like roles: acceptable only for declared key administrators."""
    if action in GCP_BROAD_ROLES:
        return True
    return _is_azure_role(action) and azure_role_id(action) in AZURE_BROAD_ROLES


@lru_cache(maxsize=4096)
def action_label(action: str) -> str:
    """How a message names an action or role."""
    if _is_azure_role(action):
        return azure_role_name(action)
    return action
