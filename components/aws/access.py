"""The key-administrator and auditor IAM roles of an environment (`keyplane:aws:AccessRoles`).

The roles' ARNs are known before they exist (`arn:<partition>:iam::<account>:role/keyplane/
<environment>-key-admin`), so key policies can name them and stay judgeable at preview; KMS only
grants an IAM role what the key policy names, so the keys list these roles among their
administrators and auditors, and the roles' own policies name the keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from keyplane.components.aws._common import (
    PolicyDocument,
    Statement,
    document,
    invalid,
    partition,
    principal_block,
    tags,
    to_json,
)
from keyplane.components.aws.key_policy import ADMIN_ACTIONS, AUDIT_ACTIONS

TYPE = "keyplane:aws:AccessRoles"

ROLE_PATH = "/keyplane/"
#: An hour: long enough for a key ceremony, short enough to expire soon after.
DEFAULT_MAX_SESSION_SECONDS = 3600
MAX_SESSION_RANGE = (3600, 43200)
#: KMS actions that act on no key, so they cannot be scoped to key ARNs.
KMS_LIST_ACTIONS = ("kms:ListKeys", "kms:ListAliases")
#: Alias management; aliases live under `alias/<environment>/`.
ALIAS_ACTIONS = ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias")
#: The auditor reads the trail and its events, and secrets' metadata, never a secret value.
TRAIL_READ_ACTIONS = (
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrail",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:GetInsightSelectors",
    "cloudtrail:ListTrails",
    "cloudtrail:LookupEvents",
)
SECRET_METADATA_ACTIONS = ("secretsmanager:DescribeSecret",)
SECRET_LIST_ACTIONS = ("secretsmanager:ListSecrets",)

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")


@dataclass(frozen=True)
class AccessRolesArgs:
    """What AccessRoles provisions.

    Attributes:
        environment: the environment's name (role names `<environment>-key-admin` and
            `<environment>-key-auditor`, tags).
        account_id: the environment's AWS account.
        region: the environment's region (ARNs of aliases and secrets).
        key_admins: principals that may assume the key-administrator role, with MFA.
        auditors: principals that may assume the auditor role; none: no auditor role.
        administered_key_arns: ARNs of the keys the administrator role manages.
        audited_key_arns: ARNs of the keys the auditor role reads.
        max_session_seconds: longest session of either role (3600 to 43200, default 3600).
    """

    environment: str
    account_id: str
    region: str
    key_admins: tuple[str, ...]
    auditors: tuple[str, ...] = ()
    administered_key_arns: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    audited_key_arns: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    max_session_seconds: int = DEFAULT_MAX_SESSION_SECONDS

    def __post_init__(self) -> None:
        if not _ACCOUNT.fullmatch(self.account_id):
            raise invalid(
                "account_id", f"expected a 12-digit AWS account ID (got {self.account_id!r})"
            )
        if not _REGION.fullmatch(self.region):
            raise invalid("region", f"expected an AWS region like eu-west-1 (got {self.region!r})")
        for role in (self.key_admin_role_name, self.auditor_role_name):
            if not _ROLE_NAME.fullmatch(role):
                raise invalid(
                    "environment",
                    f"{self.environment!r} makes the role name {role!r}, longer than IAM's 64 "
                    "characters or with characters IAM refuses",
                )
        if not self.key_admins:
            raise invalid("key_admins", "name at least one principal that administers the keys")
        low, high = MAX_SESSION_RANGE
        if not low <= self.max_session_seconds <= high:
            raise invalid(
                "max_session_seconds",
                f"IAM allows {low} to {high} seconds, not {self.max_session_seconds}",
            )
        # The trust policies refuse wildcard principals (KM-ACC-003) before anything registers.
        key_admin_trust_policy(self)
        if self.auditors:
            auditor_trust_policy(self)

    @property
    def key_admin_role_name(self) -> str:
        return f"{self.environment}-key-admin"

    @property
    def auditor_role_name(self) -> str:
        return f"{self.environment}-key-auditor"

    def role_arn(self, role_name: str) -> str:
        return f"arn:{partition(self.region)}:iam::{self.account_id}:role{ROLE_PATH}{role_name}"

    @property
    def key_admin_role_arn(self) -> str:
        """The administrator role's ARN, known before the role exists."""
        return self.role_arn(self.key_admin_role_name)

    @property
    def auditor_role_arn(self) -> str | None:
        """The auditor role's ARN (None without auditors), known before the role exists."""
        return self.role_arn(self.auditor_role_name) if self.auditors else None

    @property
    def alias_arn_pattern(self) -> str:
        return f"arn:{partition(self.region)}:kms:{self.region}:{self.account_id}:alias/{self.environment}/*"

    @property
    def secret_arn_pattern(self) -> str:
        return (
            f"arn:{partition(self.region)}:secretsmanager:{self.region}:{self.account_id}:"
            f"secret:{self.environment}/*"
        )


def key_admin_trust_policy(args: AccessRolesArgs) -> PolicyDocument:
    """Only the listed key administrators, and only with MFA (KM-ACC-003)."""
    return document(
        [
            {
                "Sid": "KeyAdministratorsWithMfa",
                "Effect": "Allow",
                "Principal": principal_block(args.key_admins, field="key_admins"),
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ]
    )


def auditor_trust_policy(args: AccessRolesArgs) -> PolicyDocument:
    """Only the listed auditors."""
    return document(
        [
            {
                "Sid": "Auditors",
                "Effect": "Allow",
                "Principal": principal_block(args.auditors, field="auditors"),
                "Action": "sts:AssumeRole",
            }
        ]
    )


def key_admin_permissions(args: AccessRolesArgs, key_arns: Sequence[str]) -> PolicyDocument:
    """Management of the environment's keys and aliases; no cryptographic action."""
    statements: list[Statement] = []
    if key_arns:
        statements.append(
            {
                "Sid": "ManageEnvironmentKeys",
                "Effect": "Allow",
                "Action": list(ADMIN_ACTIONS),
                "Resource": list(key_arns),
            }
        )
    statements += [
        {
            "Sid": "ManageEnvironmentAliases",
            "Effect": "Allow",
            "Action": list(ALIAS_ACTIONS),
            "Resource": args.alias_arn_pattern,
        },
        {
            "Sid": "ListKeysAndAliases",
            "Effect": "Allow",
            "Action": list(KMS_LIST_ACTIONS),
            "Resource": "*",
        },
    ]
    return document(statements)


def auditor_permissions(args: AccessRolesArgs, key_arns: Sequence[str]) -> PolicyDocument:
    """Read-only: key metadata, the trail, secrets' metadata; no decrypt, no secret value."""
    statements: list[Statement] = []
    if key_arns:
        statements.append(
            {
                "Sid": "ReadKeyMetadata",
                "Effect": "Allow",
                "Action": list(AUDIT_ACTIONS),
                "Resource": list(key_arns),
            }
        )
    statements += [
        {
            "Sid": "ReadSecretMetadata",
            "Effect": "Allow",
            "Action": list(SECRET_METADATA_ACTIONS),
            "Resource": args.secret_arn_pattern,
        },
        {
            # These actions act on no single resource: IAM accepts only "*" for them.
            "Sid": "ListAndReadTrail",
            "Effect": "Allow",
            "Action": [*KMS_LIST_ACTIONS, *SECRET_LIST_ACTIONS, *TRAIL_READ_ACTIONS],
            "Resource": "*",
        },
    ]
    return document(statements)


class AccessRoles(pulumi.ComponentResource):
    """The key-administrator role (MFA required) and the auditor role of an environment.

    Children: `<name>-key-admin` and its policy `<name>-key-admin-permissions`; with auditors,
    `<name>-key-auditor` and `<name>-key-auditor-permissions`. Roles live under the IAM path
    `/keyplane/`.

    Outputs:
        key_admin_role_arn, key_admin_role_name: the administrator role.
        auditor_role_arn, auditor_role_name: the auditor role (None without auditors).
    """

    key_admin_role: aws.iam.Role
    auditor_role: aws.iam.Role | None
    key_admin_role_arn: pulumi.Output[str]
    key_admin_role_name: pulumi.Output[str]
    auditor_role_arn: pulumi.Output[str] | None
    auditor_role_name: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: AccessRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)

        self.key_admin_role = self._role(
            f"{name}-key-admin",
            args,
            role_name=args.key_admin_role_name,
            description=f"keyplane {args.environment}: manages the environment's KMS keys "
            "(no cryptographic use); MFA required",
            trust=key_admin_trust_policy(args),
            policy_name="keyplane-key-administration",
            key_arns=args.administered_key_arns,
            permissions=key_admin_permissions,
        )
        self.key_admin_role_arn = self.key_admin_role.arn
        self.key_admin_role_name = self.key_admin_role.name

        self.auditor_role = None
        self.auditor_role_arn = None
        self.auditor_role_name = None
        if args.auditors:
            self.auditor_role = self._role(
                f"{name}-key-auditor",
                args,
                role_name=args.auditor_role_name,
                description=f"keyplane {args.environment}: reads key metadata, the audit "
                "trail and secrets' metadata (no decrypt, no secret value)",
                trust=auditor_trust_policy(args),
                policy_name="keyplane-key-audit",
                key_arns=args.audited_key_arns,
                permissions=auditor_permissions,
            )
            self.auditor_role_arn = self.auditor_role.arn
            self.auditor_role_name = self.auditor_role.name

        self.register_outputs(
            {
                "key_admin_role_arn": self.key_admin_role_arn,
                "key_admin_role_name": self.key_admin_role_name,
                "auditor_role_arn": self.auditor_role_arn,
                "auditor_role_name": self.auditor_role_name,
            }
        )

    def _role(
        self,
        name: str,
        args: AccessRolesArgs,
        *,
        role_name: str,
        description: str,
        trust: PolicyDocument,
        policy_name: str,
        key_arns: pulumi.Input[Sequence[pulumi.Input[str]]],
        permissions: Callable[[AccessRolesArgs, Sequence[str]], PolicyDocument],
    ) -> aws.iam.Role:
        """A role under `ROLE_PATH` and its inline policy (`<name>-permissions`) over `key_arns`."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            name,
            aws.iam.RoleArgs(
                name=role_name,
                path=ROLE_PATH,
                description=description,
                assume_role_policy=to_json(trust),
                max_session_duration=args.max_session_seconds,
                tags=tags(args.environment),
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-permissions",
            aws.iam.RolePolicyArgs(
                role=role.id,
                name=policy_name,
                policy=pulumi.Output.from_input(key_arns).apply(
                    lambda arns: to_json(permissions(args, cast(Sequence[str], arns)))
                ),
            ),
            opts=child,
        )
        return role
