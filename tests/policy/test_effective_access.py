"""Effective access (issue 13): explicit Deny, NotPrincipal / NotAction, conditions, key-policy
delegation, KMS grants, AWS managed policies by ARN, and KM-ACC-004 (undeclared principals).

Each case is the compliant AWS baseline of `tests.policy.stacks` with one change, judged by the
stack checks the CrossGuard pack runs (in process); the expected set is exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from keyplane.adapters.pulumi import PulumiResource
from keyplane.rules.catalog import Enforcement
from tests.policy.stacks import (
    ACCOUNT,
    ADMIN,
    IDENTITY,
    UNKNOWN_WIRE,
    K,
    aws_context,
    aws_stack,
    edit_policy,
    findings,
    messages,
    res,
    statement,
    urn,
)

Stack = list[PulumiResource]
CONTRACTOR = f"arn:aws:iam::{ACCOUNT}:role/former-contractor"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ADMIN_SIGNS = statement(ADMIN, ["kms:Sign"], Sid="admin-sign")
SEPARATION = (
    "KM-ACC-002 session-signing: arn:aws:iam::111111111111:role/platform-key-admin both "
    "administers the key (kms:PutKeyPolicy, kms:EnableKeyRotation, kms:ScheduleKeyDeletion, "
    "kms:CancelKeyDeletion) and uses it (kms:Sign); split it into an administrator role and a "
    "user role."
)
VIA_RDS: dict[str, Any] = {
    "Sid": "via-rds",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt"],
    "Resource": "*",
    "Condition": {
        "StringEquals": {
            "kms:CallerAccount": ACCOUNT,
            "kms:ViaService": "rds.eu-west-1.amazonaws.com",
        }
    },
}


def undeclared(item: str, *who: str) -> str:
    return (
        f"KM-ACC-004 {item}: granted to principals environment prod does not declare: "
        f"{'; '.join(who)}; remove the grants, or declare the principals in the environment "
        "file's access block."
    )


def deny(principal: Any, actions: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": actions, "Resource": "*", **extra}


def role_policy(role: str, actions: list[str]) -> PulumiResource:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    return res(
        "aws:iam/rolePolicy:RolePolicy",
        f"{role}-kms",
        {"role": role, "policy": json.dumps(document)},
    )


def kms_grant(name: str, key: str, grantee: str) -> PulumiResource:
    return res(
        "aws:kms/grant:Grant",
        name,
        {"keyId": UNKNOWN_WIRE, "granteePrincipal": grantee, "operations": ["Decrypt"]},
        deps={"keyId": [urn(K, key)]},
    )


def delegating(stack: Stack) -> Stack:
    """The stack with session-signing's policy delegating to IAM (the account root may read)."""
    return edit_policy(stack, "session-signing", statement(ROOT, ["kms:DescribeKey"], Sid="root"))


Case = tuple[str, Callable[[], Stack], set[str]]
CASES: list[Case] = [
    ("baseline", aws_stack, set()),
    ("admin-signs", lambda: edit_policy(aws_stack(), "session-signing", ADMIN_SIGNS), {SEPARATION}),
    (
        "deny-takes-the-admins-use-away",
        lambda: edit_policy(
            aws_stack(), "session-signing", ADMIN_SIGNS, deny({"AWS": ADMIN}, ["kms:Sign"])
        ),
        set(),
    ),
    (
        "conditional-deny-takes-nothing-away",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            ADMIN_SIGNS,
            deny(
                {"AWS": ADMIN}, ["kms:Sign"], Condition={"Bool": {"aws:SecureTransport": "false"}}
            ),
        ),
        {SEPARATION},
    ),
    (
        "deny-notprincipal-spares-the-listed",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            ADMIN_SIGNS,
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": IDENTITY},
                "Action": "kms:Sign",
                "Resource": "*",
            },
        ),
        set(),
    ),
    (
        "deny-notaction-takes-the-rest",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            ADMIN_SIGNS,
            {
                "Effect": "Deny",
                "Principal": {"AWS": ADMIN},
                "NotAction": [
                    "kms:Describe*",
                    "kms:PutKeyPolicy",
                    "kms:EnableKeyRotation",
                    "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion",
                ],
                "Resource": "*",
            },
        ),
        set(),
    ),
    (
        "wildcard-confined-to-the-account",
        lambda: edit_policy(aws_stack(), "session-signing", VIA_RDS),
        set(),
    ),
    (
        "wildcard-not-confined",
        lambda: edit_policy(
            aws_stack(), "session-signing", {k: v for k, v in VIA_RDS.items() if k != "Condition"}
        ),
        {
            "KM-ACC-001 session-signing: grants kms:Decrypt to the wildcard principal *; name the "
            "principals and grant only the actions they need."
        },
    ),
    (
        "wildcard-confined-to-another-account-keeps-its-other-condition",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            {
                **VIA_RDS,
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": "999999999999"},
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                },
            },
        ),
        {
            undeclared(
                "session-signing",
                "arn:aws:iam::999999999999:root (kms:Decrypt through statement 'via-rds' of the "
                "key's own policy, when IpAddress aws:SourceIp=10.0.0.0/8)",
            )
        },
    ),
    (
        "allow-notprincipal-is-a-wildcard",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            {
                "Effect": "Allow",
                "NotPrincipal": {"AWS": ADMIN},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ),
        {
            "KM-ACC-001 session-signing: grants kms:Decrypt to the wildcard principal *; name the "
            "principals and grant only the actions they need."
        },
    ),
    (
        "iam-policy-on-a-key-that-does-not-delegate",
        lambda: [*aws_stack(), role_policy("platform-key-admin", ["kms:Sign"])],
        set(),
    ),
    (
        "iam-policy-on-a-key-that-delegates",
        lambda: [*delegating(aws_stack()), role_policy("platform-key-admin", ["kms:Sign"])],
        {SEPARATION.replace("/platform-key-admin", "/platform-key-admin")},
    ),
    (
        "undeclared-role-in-the-key-policy",
        lambda: edit_policy(
            aws_stack(), "session-signing", statement(CONTRACTOR, ["kms:Sign"], Sid="legacy")
        ),
        {
            undeclared(
                "session-signing",
                f"{CONTRACTOR} (kms:Sign through statement 'legacy' of the key's own policy)",
            )
        },
    ),
    (
        "undeclared-service-principal",
        lambda: edit_policy(
            aws_stack(),
            "session-signing",
            {
                "Sid": "ai",
                "Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"},
                "Action": ["kms:Sign"],
                "Resource": "*",
            },
        ),
        {
            undeclared(
                "session-signing",
                "service:bedrock.amazonaws.com (kms:Sign through statement 'ai' of the key's own "
                "policy)",
            )
        },
    ),
    (
        "kms-grant-to-an-undeclared-principal",
        lambda: [*aws_stack(), kms_grant("contractor", "platform-backup", CONTRACTOR)],
        {
            undeclared(
                "platform-backup",
                f"{CONTRACTOR} (kms:Decrypt through aws:kms/grant:Grant contractor)",
            )
        },
    ),
    (
        "administrator-access-attached-by-arn",
        lambda: [
            *delegating(aws_stack()),
            res(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "ci-admin",
                {"role": "ci-deployer", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            ),
        ],
        {
            "KM-ACC-001 ci-admin: grants * to aws-role:ci-deployer; name the principals and grant "
            "only the actions they need.",
            "KM-ACC-002 session-signing: aws-role:ci-deployer both administers the key (*) and "
            "uses it (*); split it into an administrator role and a user role.",
            *(
                undeclared(
                    item,
                    "aws-role:ci-deployer (* through statement AdministratorAccess of "
                    "aws:iam/rolePolicyAttachment:RolePolicyAttachment ci-admin)",
                )
                for item in ("session-signing", "acme-payments-api")
            ),
        },
    ),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_effective_access(case: str, build: Callable[[], Stack], expected: set[str]) -> None:
    result = findings(build(), aws_context())
    assert {f.message for f in result} == expected
    assert {f.enforcement for f in result} <= {Enforcement.MANDATORY}


def test_a_kms_grant_to_a_declared_key_user_passes() -> None:
    grantee = f"arn:aws:iam::{ACCOUNT}:role/backup-agent"
    assert (
        messages([*aws_stack(), kms_grant("agent", "platform-backup", grantee)], aws_context())
        == set()
    )


def test_without_declared_principals_undeclared_access_cannot_be_judged() -> None:
    bare = aws_context(
        key_admins=frozenset(), backup_key_admins=frozenset(), auditors=frozenset(), key_users={}
    )
    acc4 = [f for f in findings(aws_stack(), bare) if f.rule == "KM-ACC-004"]
    assert acc4 and {f.enforcement for f in acc4} == {Enforcement.ADVISORY}
    assert all("cannot judge: no estate declares the principals" in f.message for f in acc4)
