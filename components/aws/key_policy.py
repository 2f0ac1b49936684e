"""KMS key policies as data: who may administer, use and read a key (separation of duties).

Pure functions: no Pulumi resources, so tests assert the statements as data.

Every policy keyplane writes names its principals: the account root never appears (a root
statement would hand the key to whoever IAM lets in, the `kms:*` of most templates), and no
statement has a wildcard principal. The administrators' statement always carries
`kms:PutKeyPolicy` (through `kms:Put*`), which KMS's lockout safety check requires
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from keyplane.components.aws._common import (
    PolicyDocument,
    Statement,
    document,
    invalid,
    principal_block,
)
from keyplane.config.model import ResolvedKey
from keyplane.standard import Usage

#: Key administration: everything to manage the key's life, nothing that touches its material.
#: AWS's "key administrators" statement without `kms:Create*`: on a key that means CreateAlias
#: and CreateGrant, and a grant would let an administrator give itself Decrypt.
ADMIN_ACTIONS: tuple[str, ...] = (
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
#: Auditors read metadata and policies, never material.
AUDIT_ACTIONS: tuple[str, ...] = ("kms:Describe*", "kms:List*", "kms:Get*")

#: What a key's users may do, by usage; spelled out, no wildcards (KM-ACC-001).
_SYMMETRIC_ENCRYPT = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)
# Asymmetric keys cannot generate data keys; their users read the public key instead.
_ASYMMETRIC_ENCRYPT = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GetPublicKey",
    "kms:DescribeKey",
)
_SIGN = ("kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey")
_MAC = ("kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey")

#: The KMS `KeyUsage` of each keyplane usage.
KEY_USAGE: Mapping[Usage, str] = {
    Usage.ENCRYPT: "ENCRYPT_DECRYPT",
    Usage.SIGN: "SIGN_VERIFY",
    Usage.MAC: "GENERATE_VERIFY_MAC",
}


def use_actions(usage: Usage, *, symmetric: bool) -> tuple[str, ...]:
    """The actions a user of a key with this usage needs."""
    if usage is Usage.SIGN:
        return _SIGN
    if usage is Usage.MAC:
        return _MAC
    return _SYMMETRIC_ENCRYPT if symmetric else _ASYMMETRIC_ENCRYPT


def admin_statement(admins: Sequence[str], *, where: str = "") -> Statement:
    return {
        "Sid": "KeyAdministration",
        "Effect": "Allow",
        "Principal": principal_block(admins, field=f"{where}admins"),
        "Action": list(ADMIN_ACTIONS),
        "Resource": "*",
    }


def audit_statement(auditors: Sequence[str], *, where: str = "") -> Statement:
    return {
        "Sid": "KeyAudit",
        "Effect": "Allow",
        "Principal": principal_block(auditors, field=f"{where}auditors"),
        "Action": list(AUDIT_ACTIONS),
        "Resource": "*",
    }


def key_policy(
    *,
    admins: Sequence[str],
    auditors: Sequence[str] = (),
    uses: Sequence[Statement] = (),
    where: str = "",
) -> PolicyDocument:
    """A key policy: the administrators, then the `uses` statements, then the auditors.

    In a key policy `"Resource": "*"` means the key itself. `where` prefixes the field names of
    error messages (`keys[acme-orders-db].`).
    """
    if not admins:
        raise invalid(
            f"{where}admins",
            "a key without administrators cannot be managed, and KMS refuses such a policy; "
            "name at least one administrator",
        )
    statements = [admin_statement(admins, where=where), *uses]
    if auditors:
        statements.append(audit_statement(auditors, where=where))
    return document(statements)


def declared_key_policy(key: ResolvedKey) -> PolicyDocument:
    """The policy of a declared key: its administrators, users and auditors, as resolved."""
    where = f"keys[{key.name}]."
    uses: list[Statement] = []
    if key.users:
        uses.append(
            {
                "Sid": "KeyUse",
                "Effect": "Allow",
                "Principal": principal_block(key.users, field=f"{where}users"),
                "Action": list(use_actions(key.usage, symmetric=key.algorithm.symmetric)),
                "Resource": "*",
            }
        )
    return key_policy(admins=key.admins, auditors=key.auditors, uses=uses, where=where)
