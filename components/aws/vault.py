"""Secrets Manager secrets encrypted with the environment's own keys (`keyplane:aws:SecretVault`).

The vault never holds a secret value: it creates the secrets, their keys, policies and rotation
schedules; values arrive through the rotation Lambda or `aws secretsmanager put-secret-value`
(KM-STO-001: no secret value in resource inputs, outputs or configuration).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.adapters.boto3 import aws_secret_name
from keyplane.components.aws._common import (
    PolicyDocument,
    Statement,
    document,
    invalid,
    partition,
    principal_block,
    sid,
    tags,
    to_json,
)
from keyplane.components.aws.key_policy import key_policy
from keyplane.components.shard import renders, stand_in
from keyplane.config.model import Environment
from keyplane.standard import (
    AWS_DELETION_WINDOW_DAYS,
    AWS_DELETION_WINDOW_RANGE,
    AWS_SECRET_ROTATION_RANGE,
    PURPOSES,
    KeyPurpose,
)

TYPE = "keyplane:aws:SecretVault"
KEY_TYPE = "aws:kms/key:Key"
SECRET_TYPE = "aws:secretsmanager/secret:Secret"

#: Purpose tag of the keys that encrypt secrets: keys a cloud service (Secrets Manager) uses on
#: the environment's behalf (Policy §2, "cloud provider-managed keys"), as on GCP.
VAULT_KEY_PURPOSE = KeyPurpose.CLOUD_PROVIDER
#: Secrets Manager keeps a deleted secret recoverable 7 to 30 days; keyplane wants the longest.
RECOVERY_WINDOW_RANGE = (7, 30)
DEFAULT_RECOVERY_WINDOW_DAYS = 30
#: What the readers of a secret may do with its key, through Secrets Manager only: decrypt to
#: read, generate data keys to write a new version (the rotation Lambda's role).
SECRET_KEY_USE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
#: What a secret's readers may do on the secret itself.
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")

_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class VaultSecret:
    """One secret.

    Attributes:
        name: the declared name: the Pulumi name; in AWS, `<environment>/<name>`.
        purpose: tagged as `keyplane-purpose` (KM-PUR-001).
        rotation_days: days between automatic rotations (1 to 1000); applies with a Lambda.
        tenant: tagged as `keyplane-tenant`; the secret is encrypted with its tenant's key.
        rotation_lambda_arn: the function Secrets Manager invokes to rotate the secret; None:
            no rotation (KM-ROT-003 reports it where the purpose needs one).
        readers: principals that may read the secret (key users naming it); the rotation
            Lambda's role belongs here too, since it reads and writes versions.
    """

    name: str
    purpose: KeyPurpose
    rotation_days: int
    tenant: str | None = None
    rotation_lambda_arn: str | None = None
    readers: tuple[str, ...] = ()


def secrets_of(env: Environment) -> tuple[VaultSecret, ...]:
    """The declared secrets of `env`, with their rotation periods and readers resolved."""
    return tuple(
        VaultSecret(
            name=secret.name,
            purpose=secret.purpose,
            rotation_days=env.secret_rotation_days(secret),
            tenant=secret.tenant,
            rotation_lambda_arn=secret.aws.rotation_lambda_arn if secret.aws else None,
            readers=env.users_of(secret.name),
        )
        for secret in env.secrets
    )


@dataclass(frozen=True)
class SecretVaultArgs:
    """What a SecretVault provisions.

    Attributes:
        environment: the environment's name (tags, secret name prefix, key aliases).
        account_id: the environment's AWS account: every other account is denied.
        region: the secrets' region (key policy conditions, ARNs).
        secrets: the secrets (`secrets_of(env)`).
        admins: administrators of the vault keys (management actions only).
        auditors: principals that may read the vault keys' metadata.
        protect: Pulumi's `protect` on the keys and secrets (staging and production).
        recovery_window_days: how long a deleted secret stays recoverable (7 to 30, default 30).
        deletion_window_days: waiting period before a vault key is deleted (7 to 30, default 30).
        principal_resources: resources the key policies' principals come from; the keys wait
            for them (KMS refuses a policy naming a principal that does not exist yet).
    """

    environment: str
    account_id: str
    region: str
    secrets: tuple[VaultSecret, ...]
    admins: tuple[str, ...]
    auditors: tuple[str, ...] = ()
    protect: bool = False
    recovery_window_days: int = DEFAULT_RECOVERY_WINDOW_DAYS
    deletion_window_days: int = AWS_DELETION_WINDOW_DAYS
    principal_resources: tuple[pulumi.Resource, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.environment):
            raise invalid("environment", f"{self.environment!r} is not an environment name")
        if not _ACCOUNT.fullmatch(self.account_id):
            raise invalid(
                "account_id", f"expected a 12-digit AWS account ID (got {self.account_id!r})"
            )
        if not _REGION.fullmatch(self.region):
            raise invalid("region", f"expected an AWS region like eu-west-1 (got {self.region!r})")
        low, high = RECOVERY_WINDOW_RANGE
        if not low <= self.recovery_window_days <= high:
            raise invalid(
                "recovery_window_days",
                f"Secrets Manager keeps deleted secrets {low} to {high} days, not "
                f"{self.recovery_window_days}",
            )
        low, high = AWS_DELETION_WINDOW_RANGE
        if not low <= self.deletion_window_days <= high:
            raise invalid(
                "deletion_window_days",
                f"KMS waits {low} to {high} days before deleting a key, not "
                f"{self.deletion_window_days}",
            )
        seen: set[str] = set()
        low, high = AWS_SECRET_ROTATION_RANGE
        for secret in self.secrets:
            if not _NAME.fullmatch(secret.name):
                raise invalid(
                    "secrets", f"{secret.name!r} is not a secret name (acme-payments-api)"
                )
            if secret.name in seen:
                raise invalid("secrets", f"secret {secret.name!r} is declared twice")
            seen.add(secret.name)
            if secret.tenant is not None and not _NAME.fullmatch(secret.tenant):
                raise invalid(
                    "secrets", f"secret {secret.name!r}: {secret.tenant!r} is not a tenant name"
                )
            if not low <= secret.rotation_days <= high:
                raise invalid(
                    "secrets",
                    f"secret {secret.name!r}: Secrets Manager rotates every {low} to {high} days, "
                    f"not every {secret.rotation_days}",
                )
        # Principals are checked before anything registers.
        for secrets in self.scopes().values():
            vault_key_policy(self, secrets)
            for secret in secrets:
                secret_policy(self, secret)

    @classmethod
    def from_environment(
        cls,
        env: Environment,
        *,
        admins: Sequence[str] | None = None,
        auditors: Sequence[str] | None = None,
    ) -> SecretVaultArgs:
        """The declared secrets of `env`, administered by its key administrators."""
        if env.aws is None:
            raise invalid("env", f"environment {env.name!r} has no aws block")
        return cls(
            environment=env.name,
            account_id=env.aws.account_id,
            region=env.aws.region,
            secrets=secrets_of(env),
            admins=tuple(admins if admins is not None else env.access.key_admins),
            auditors=tuple(auditors if auditors is not None else env.access.auditors),
            protect=env.protected,
        )

    def secret_name(self, secret: VaultSecret) -> str:
        """The secret's name in Secrets Manager."""
        return aws_secret_name(self.environment, secret.name)

    def secret_arn_pattern(self, secret: VaultSecret) -> str:
        """The secret's ARN: Secrets Manager appends a dash and six random characters."""
        return (
            f"arn:{partition(self.region)}:secretsmanager:{self.region}:{self.account_id}:"
            f"secret:{self.secret_name(secret)}-??????"
        )

    def scopes(self) -> dict[str | None, tuple[VaultSecret, ...]]:
        """Secrets by tenant (None: the platform's): one key per scope (Policy §8)."""
        result: dict[str | None, tuple[VaultSecret, ...]] = {}
        for secret in self.secrets:
            result[secret.tenant] = (*result.get(secret.tenant, ()), secret)
        return result


def vault_key_policy(args: SecretVaultArgs, secrets: Sequence[VaultSecret]) -> PolicyDocument:
    """The policy of the key of `secrets`: each secret's readers use it through Secrets Manager,
    for that secret only (its ARN is the encryption context Secrets Manager sends)."""
    uses: list[Statement] = [
        {
            "Sid": sid("use", secret.name),
            "Effect": "Allow",
            "Principal": principal_block(secret.readers, field=f"secrets[{secret.name}].readers"),
            "Action": list(SECRET_KEY_USE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{args.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:SecretARN": args.secret_arn_pattern(secret)},
            },
        }
        for secret in secrets
        if secret.readers
    ]
    return key_policy(admins=args.admins, auditors=args.auditors, uses=uses)


def secret_policy(args: SecretVaultArgs, secret: VaultSecret) -> PolicyDocument:
    """A secret's resource policy: its readers may read it; no other account may do anything.

    In a resource policy `"Resource": "*"` means the secret itself. The deny names every
    principal, as denies must; it grants nothing.
    """
    statements: list[Statement] = []
    if secret.readers:
        statements.append(
            {
                "Sid": "ReadersReadTheSecret",
                "Effect": "Allow",
                "Principal": principal_block(
                    secret.readers, field=f"secrets[{secret.name}].readers"
                ),
                "Action": list(SECRET_READ_ACTIONS),
                "Resource": "*",
            }
        )
    statements.append(
        {
            "Sid": "DenyOtherAccounts",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "secretsmanager:*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": args.account_id}},
        }
    )
    return document(statements)


def vault_key_name(vault: str, tenant: str | None) -> str:
    """Pulumi name of the key of a scope: `<vault>-key`, `<vault>-<tenant>-key`."""
    return f"{vault}-{tenant}-key" if tenant else f"{vault}-key"


def vault_alias_name(environment: str, tenant: str | None) -> str:
    """`alias/<environment>/keyplane/secrets[-<tenant>]`: apart from declared keys' aliases."""
    return f"alias/{environment}/keyplane/secrets" + (f"-{tenant}" if tenant else "")


class SecretVault(pulumi.ComponentResource):
    """A Secrets Manager secret per declared secret, encrypted with a customer-managed key.

    Secrets of a tenant share their tenant's key; the platform's secrets share the platform key
    (`<name>-key`, `<name>-<tenant>-key`, aliases `alias/<env>/keyplane/secrets[-<tenant>]`). A
    key's policy lets each secret's readers decrypt through Secrets Manager, for that secret only.
    Each secret (`<secret>`) has a resource policy (`<secret>-policy`) that denies every other
    account, and, with a rotation Lambda, a rotation schedule (`<secret>-rotation`).
    In a sharded render (`keyplane.components.shard`) the keys and secrets of other shards'
    tenants are not registered; their ARNs are stand-ins.

    Outputs:
        secret_arns: declared secret name -> secret ARN.
        secret_names: declared secret name -> name in Secrets Manager (`<environment>/<name>`).
        key_arns: vault key Pulumi name -> key ARN.
    """

    keys: dict[str, aws.kms.Key]
    secrets: dict[str, aws.secretsmanager.Secret]
    policies: dict[str, aws.secretsmanager.SecretPolicy]
    rotations: dict[str, aws.secretsmanager.SecretRotation]
    secret_arns: dict[str, pulumi.Input[str]]
    secret_names: dict[str, str]
    key_arns: dict[str, pulumi.Input[str]]

    def __init__(
        self, name: str, args: SecretVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        scopes = args.scopes()
        # (Serialized only for what is registered: a shard's render skips the rest.)
        key_policies = {
            tenant: vault_key_policy(args, secrets) for tenant, secrets in scopes.items()
        }
        secret_policies = {s.name: secret_policy(args, s) for s in args.secrets}
        key_tags = {
            tenant: tags(args.environment, purpose=VAULT_KEY_PURPOSE, tenant=tenant)
            for tenant in scopes
        }
        super().__init__(TYPE, name, None, opts)

        self.keys, self.secrets, self.policies, self.rotations = {}, {}, {}, {}
        self.secret_names, self.secret_arns, self.key_arns = {}, {}, {}
        for tenant, secrets in scopes.items():
            key_name = vault_key_name(name, tenant)
            if not renders(tenant):
                self.key_arns[key_name] = stand_in(KEY_TYPE, key_name, "arn")
                for secret in secrets:
                    self.secret_names[secret.name] = args.secret_name(secret)
                    self.secret_arns[secret.name] = stand_in(SECRET_TYPE, secret.name, "arn")
                continue
            key = aws.kms.Key(
                key_name,
                aws.kms.KeyArgs(
                    description=f"keyplane {args.environment}: encrypts the secrets of "
                    + (f"tenant {tenant}" if tenant else "the platform"),
                    customer_master_key_spec="SYMMETRIC_DEFAULT",
                    key_usage="ENCRYPT_DECRYPT",
                    enable_key_rotation=True,
                    rotation_period_in_days=PURPOSES[VAULT_KEY_PURPOSE].max_rotation_days,
                    deletion_window_in_days=args.deletion_window_days,
                    policy=to_json(key_policies[tenant]),
                    bypass_policy_lockout_safety_check=False,
                    multi_region=False,
                    tags=key_tags[tenant],
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, protect=args.protect, depends_on=list(args.principal_resources)
                ),
            )
            self.keys[key_name] = key
            self.key_arns[key_name] = key.arn
            aws.kms.Alias(
                f"{key_name}-alias",
                aws.kms.AliasArgs(
                    name=vault_alias_name(args.environment, tenant), target_key_id=key.key_id
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for secret in secrets:
                self._add_secret(args, secret, key, to_json(secret_policies[secret.name]))

        self.register_outputs(
            {
                "secret_arns": self.secret_arns,
                "secret_names": self.secret_names,
                "key_arns": self.key_arns,
            }
        )

    def _add_secret(
        self, args: SecretVaultArgs, secret: VaultSecret, key: aws.kms.Key, policy: str
    ) -> None:
        self.secret_names[secret.name] = args.secret_name(secret)
        resource = aws.secretsmanager.Secret(
            secret.name,
            aws.secretsmanager.SecretArgs(
                name=args.secret_name(secret),
                description=f"keyplane {args.environment}: {secret.purpose.value} secret",
                kms_key_id=key.arn,
                recovery_window_in_days=args.recovery_window_days,
                tags=tags(args.environment, purpose=secret.purpose, tenant=secret.tenant),
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.secrets[secret.name] = resource
        self.secret_arns[secret.name] = resource.arn
        self.policies[secret.name] = aws.secretsmanager.SecretPolicy(
            f"{secret.name}-policy",
            aws.secretsmanager.SecretPolicyArgs(
                secret_arn=resource.arn, policy=policy, block_public_policy=True
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if secret.rotation_lambda_arn is not None:
            self.rotations[secret.name] = aws.secretsmanager.SecretRotation(
                f"{secret.name}-rotation",
                aws.secretsmanager.SecretRotationArgs(
                    secret_id=resource.id,
                    rotation_lambda_arn=secret.rotation_lambda_arn,
                    rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                        automatically_after_days=secret.rotation_days
                    ),
                    # A new secret has no value yet: its first rotation waits for the schedule
                    # (or `aws secretsmanager rotate-secret`) once a value has been put.
                    rotate_immediately=False,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
