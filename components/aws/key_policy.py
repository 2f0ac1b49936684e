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
from keyplane.facts.access import (
    KMS_DATA_KEY_ACTIONS,
    KMS_ENCRYPT_ACTIONS,
    KMS_KEY_ADMINISTRATION,
    KMS_KEY_AUDIT,
    KMS_MAC_ACTIONS,
    KMS_SIGN_ACTIONS,
)
from keyplane.standard import Usage

#: Key administration: everything to manage the key's life, nothing that touches its material,
#: no grant creation (the patterns and why: `keyplane.facts.access.KMS_KEY_ADMINISTRATION`, the
#: vocabulary the rules read policies with).
ADMIN_ACTIONS: tuple[str, ...] = KMS_KEY_ADMINISTRATION
#: Auditors read metadata and policies, never material.
AUDIT_ACTIONS: tuple[str, ...] = KMS_KEY_AUDIT

#: What a key's users may do, by usage; spelled out, no wildcards (KM-ACC-001).
_SYMMETRIC_ENCRYPT = (*KMS_ENCRYPT_ACTIONS, *KMS_DATA_KEY_ACTIONS, "kms:DescribeKey")
# Asymmetric keys cannot generate data keys; their users read the public key instead.
_ASYMMETRIC_ENCRYPT = (*KMS_ENCRYPT_ACTIONS, "kms:GetPublicKey", "kms:DescribeKey")
_SIGN = (*KMS_SIGN_ACTIONS, "kms:GetPublicKey", "kms:DescribeKey")
_MAC = (*KMS_MAC_ACTIONS, "kms:DescribeKey")

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
