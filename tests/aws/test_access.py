"""AccessRoles: an MFA-only key-administrator role and a read-only auditor role."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from keyplane.components.aws import AccessRoles, AccessRolesArgs, ComponentInputError
from keyplane.render import RenderResult
from tests.aws.support import (
    CRYPTO_ACTIONS,
    allows,
    as_list,
    names,
    one,
    policy,
    principals,
    run,
    statements,
)

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ACCOUNT = "111111111111"
KEY_ARNS = (
    f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1111aaaa-0000-0000-0000-000000000001",
    f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1111aaaa-0000-0000-0000-000000000002",
)
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-key-admin"
AUDITOR = f"arn:aws:iam::{ACCOUNT}:role/security-audit"


def roles_args(**changes: object) -> AccessRolesArgs:
    args = AccessRolesArgs(
        environment="prod",
        account_id=ACCOUNT,
        region="eu-west-1",
        key_admins=(ADMIN,),
        auditors=(AUDITOR,),
        administered_key_arns=KEY_ARNS[:1],
        audited_key_arns=KEY_ARNS,
    )
    return dataclasses.replace(args, **changes)  # type: ignore[arg-type]


def render_roles(args: AccessRolesArgs | None = None) -> RenderResult:
    return run(lambda: AccessRoles("prod-access", args or roles_args()), stack="prod")


def test_two_tagged_roles_under_the_keyplane_path_with_known_arns() -> None:
    result = render_roles()

    assert names(result, ROLE) == {"prod-access-key-admin", "prod-access-key-auditor"}
    admin = one(result, ROLE, "prod-access-key-admin").inputs
    assert admin["name"] == "prod-key-admin"
    assert admin["path"] == "/keyplane/"
    assert admin["maxSessionDuration"] == 3600
    assert admin["tags"] == {"keyplane-environment": "prod", "keyplane-managed": "true"}
    assert one(result, ROLE, "prod-access-key-auditor").inputs["tags"] == admin["tags"]
    args = roles_args()
    assert args.key_admin_role_arn == f"arn:aws:iam::{ACCOUNT}:role/keyplane/prod-key-admin"
    assert args.auditor_role_arn == f"arn:aws:iam::{ACCOUNT}:role/keyplane/prod-key-auditor"


def test_only_the_key_administrators_assume_the_admin_role_and_only_with_mfa() -> None:
    trust = policy(one(render_roles(), ROLE, "prod-access-key-admin"), "assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Sid": "KeyAdministratorsWithMfa",
            "Effect": "Allow",
            "Principal": {"AWS": [ADMIN]},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    ]


def test_the_admin_role_manages_the_listed_keys_and_never_uses_them() -> None:
    permissions = statements(
        policy(one(render_roles(), ROLE_POLICY, "prod-access-key-admin-permissions"))
    )

    assert list(permissions) == [
        "ManageEnvironmentKeys",
        "ManageEnvironmentAliases",
        "ListKeysAndAliases",
    ]
    keys = permissions["ManageEnvironmentKeys"]
    assert keys["Resource"] == list(KEY_ARNS[:1])
    assert allows(keys["Action"], "kms:PutKeyPolicy")
    assert allows(keys["Action"], "kms:ScheduleKeyDeletion")
    for statement in permissions.values():
        assert [a for a in CRYPTO_ACTIONS if allows(statement["Action"], a)] == []
    assert permissions["ManageEnvironmentAliases"]["Resource"] == (
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/prod/*"
    )


def test_kms_actions_that_accept_a_resource_are_never_granted_on_every_resource() -> None:
    result = render_roles()
    for name in ("prod-access-key-admin-permissions", "prod-access-key-auditor-permissions"):
        for statement in policy(one(result, ROLE_POLICY, name))["Statement"]:
            if statement["Resource"] == "*":
                kms = [a for a in as_list(statement["Action"]) if a.startswith("kms:")]
                assert kms == ["kms:ListKeys", "kms:ListAliases"], name


def test_the_auditor_role_reads_metadata_and_never_a_key_or_secret_value() -> None:
    result = render_roles()
    trust = policy(one(result, ROLE, "prod-access-key-auditor"), "assumeRolePolicy")
    assert [principals(s) for s in trust["Statement"]] == [[AUDITOR]]
    assert "Condition" not in trust["Statement"][0]

    permissions = statements(
        policy(one(result, ROLE_POLICY, "prod-access-key-auditor-permissions"))
    )
    assert permissions["ReadKeyMetadata"] == {
        "Sid": "ReadKeyMetadata",
        "Effect": "Allow",
        "Action": ["kms:Describe*", "kms:List*", "kms:Get*"],
        "Resource": list(KEY_ARNS),
    }
    assert permissions["ReadSecretMetadata"]["Action"] == ["secretsmanager:DescribeSecret"]
    assert permissions["ReadSecretMetadata"]["Resource"] == (
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/*"
    )
    granted = [a for s in permissions.values() for a in as_list(s["Action"])]
    forbidden = [*CRYPTO_ACTIONS, "secretsmanager:GetSecretValue", "kms:PutKeyPolicy"]
    assert [a for a in forbidden if allows(granted, a)] == []
    assert allows(granted, "cloudtrail:LookupEvents")
    assert allows(granted, "secretsmanager:ListSecrets")


def test_no_auditors_no_auditor_role() -> None:
    result = render_roles(roles_args(auditors=()))
    assert names(result, ROLE) == {"prod-access-key-admin"}
    assert roles_args(auditors=()).auditor_role_arn is None


def test_role_policies_wait_for_key_arns_known_only_later() -> None:
    import pulumi
    import pulumi_aws as aws

    def program() -> None:
        arns: pulumi.Output[list[str]]
        resolve: Callable[[pulumi.Output[list[str]]], None]
        arns, resolve = pulumi.deferred_output()
        AccessRoles("prod-access", roles_args(administered_key_arns=arns))
        key = aws.kms.Key("later")
        resolve(pulumi.Output.all(key.arn))

    result = run(program, stack="prod")
    permissions = one(result, ROLE_POLICY, "prod-access-key-admin-permissions")
    assert statements(policy(permissions))["ManageEnvironmentKeys"]["Resource"] == [
        "arn:aws:kms:us-east-1:000000000000:key/later"
    ]
    assert one(result, "aws:kms/key:Key", "later").urn in permissions.dependencies


# --- impossible inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"key_admins": ()},
            'Invalid "key_admins" argument: name at least one principal that administers the keys',
        ),
        (
            {"key_admins": ("*",)},
            "Invalid \"key_admins\" argument: KM-ACC-001: the wildcard principal '*' would grant "
            "every AWS account; name specific roles or users",
        ),
        (
            {"auditors": ("arn:aws:iam::*:root",)},
            'Invalid "auditors" argument: KM-ACC-001: the wildcard principal '
            "'arn:aws:iam::*:root' would grant every AWS account; name specific roles or users",
        ),
        (
            {"environment": "a-very-long-environment-name-that-is-longer-than-iam-allows-x"},
            'Invalid "environment" argument: \'a-very-long-environment-name-that-is-longer-than-'
            "iam-allows-x' makes the role name 'a-very-long-environment-name-that-is-longer-than-"
            "iam-allows-x-key-admin', longer than IAM's 64 characters or with characters IAM "
            "refuses",
        ),
        (
            {"max_session_seconds": 60},
            'Invalid "max_session_seconds" argument: IAM allows 3600 to 43200 seconds, not 60',
        ),
    ],
)
def test_impossible_roles_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ComponentInputError) as raised:
        roles_args(**changes)
    assert str(raised.value) == message
