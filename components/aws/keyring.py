"""The declared KMS keys of an environment (`keyplane:aws:KeyRing`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.adapters.boto3 import aws_key_alias
from keyplane.components.aws._common import invalid, tags, to_json
from keyplane.components.aws.key_policy import KEY_USAGE, declared_key_policy
from keyplane.components.shard import renders, stand_in
from keyplane.config.model import Environment, ResolvedKey
from keyplane.standard import (
    AWS_DELETION_WINDOW_RANGE,
    AWS_ROTATION_RANGE,
    TAG_ROTATE_BY,
    TAG_ROTATION_OWNER,
    Family,
)

TYPE = "keyplane:aws:KeyRing"
KEY_TYPE = "aws:kms/key:Key"

# KMS alias names: `alias/` then letters, digits, `/`, `_` and `-`; keyplane keeps `/` for its own
# prefixes (`alias/<environment>/<key>`), so names themselves may not contain it.
_ALIAS_PART = re.compile(r"[A-Za-z0-9_-]{1,100}")


def alias_name(environment: str, key: str) -> str:
    """`alias/<environment>/<key>`: the alias keyplane gives a declared key."""
    return aws_key_alias(environment, key)


@dataclass(frozen=True)
class KeyRingArgs:
    """What a KeyRing provisions.

    Attributes:
        environment: the environment's name: tags and alias prefix (`alias/<environment>/<key>`).
        keys: the declared keys with the policy's defaults applied
            (`Environment.resolved_keys()`): algorithm (key spec), usage, `hsm`, rotation period
            in days (None: the key cannot rotate automatically; its manual plan goes to tags),
            deletion window in days (7 to 30), administrators, users and auditors.
        protect: Pulumi's `protect` on every key (staging and production, KM-DEL-001).
        custom_key_store_id: the CloudHSM key store of the environment
            (`HsmCluster.custom_key_store_id`); required when a key has `hsm`.
        principal_resources: resources the key policies' principals come from (the roles of
            AccessRoles): the keys wait for them, because KMS refuses a key policy that names a
            principal that does not exist yet.
    """

    environment: str
    keys: tuple[ResolvedKey, ...]
    protect: bool = False
    custom_key_store_id: pulumi.Input[str] | None = None
    principal_resources: tuple[pulumi.Resource, ...] = ()

    def __post_init__(self) -> None:
        if not _ALIAS_PART.fullmatch(self.environment):
            raise invalid(
                "environment",
                f"{self.environment!r} cannot prefix KMS aliases (letters, digits, _ and -)",
            )
        seen: set[str] = set()
        for key in self.keys:
            if key.name in seen:
                raise invalid("keys", f"key {key.name!r} is declared twice; name each key once")
            seen.add(key.name)
            _check_key(key, has_key_store=self.custom_key_store_id is not None)

    @classmethod
    def from_environment(
        cls, env: Environment, *, custom_key_store_id: pulumi.Input[str] | None = None
    ) -> KeyRingArgs:
        """Every declared key of `env`, protected in staging and production."""
        return cls(
            environment=env.name,
            keys=env.resolved_keys(),
            protect=env.protected,
            custom_key_store_id=custom_key_store_id,
        )


def _check_key(key: ResolvedKey, *, has_key_store: bool) -> None:
    name, algorithm = key.name, key.algorithm
    if not _ALIAS_PART.fullmatch(name):
        raise invalid("keys", f"key name {name!r} cannot be a KMS alias (letters, digits, _ and -)")
    if algorithm.aws_key_spec is None:
        raise invalid(
            "keys",
            f"key {name!r}: AWS KMS does not offer {algorithm.name}; choose another algorithm",
        )
    if key.usage not in algorithm.usages:
        raise invalid(
            "keys",
            f"key {name!r}: {algorithm.name} keys cannot {key.usage.value}; "
            "resolve keys with Environment.resolve",
        )
    if key.hsm:
        if algorithm.family is not Family.AES:
            raise invalid(
                "keys",
                f"key {name!r}: a CloudHSM key store holds symmetric AES-256 keys only, not "
                f"{algorithm.name}; remove hsm or use AES-256",
            )
        if not has_key_store:
            raise invalid(
                "custom_key_store_id",
                f"key {name!r} has hsm: true and needs the environment's CloudHSM key store; "
                "pass HsmCluster.custom_key_store_id",
            )
    if key.rotation_days is not None:
        if key.hsm or algorithm.family is not Family.AES:
            raise invalid(
                "keys",
                f"key {name!r}: KMS rotates only symmetric keys it generated itself, not "
                f"{'keys in a CloudHSM key store' if key.hsm else f'{algorithm.name} keys'}; "
                "set rotation_days None and plan a manual rotation",
            )
        low, high = AWS_ROTATION_RANGE
        if not low <= key.rotation_days <= high:
            raise invalid(
                "keys",
                f"key {name!r}: KMS rotates every {low} to {high} days, not every "
                f"{key.rotation_days}; choose a period in that range",
            )
    low, high = AWS_DELETION_WINDOW_RANGE
    if not low <= key.deletion_window_days <= high:
        raise invalid(
            "keys",
            f"key {name!r}: KMS waits {low} to {high} days before deleting a key, not "
            f"{key.deletion_window_days}; choose a window in that range",
        )


def key_tags(environment: str, key: ResolvedKey) -> dict[str, str]:
    """The keyplane tags, plus the manual rotation plan of a key KMS cannot rotate (KM-ROT-004)."""
    plan = key.spec.rotation
    extra = (
        {TAG_ROTATION_OWNER: plan.owner, TAG_ROTATE_BY: plan.rotate_by.isoformat()}
        if key.rotation_days is None and plan is not None
        else {}
    )
    return tags(environment, purpose=key.purpose, tenant=key.tenant, extra=extra)


class KeyRing(pulumi.ComponentResource):
    """One KMS key and one alias per declared key, each with its own explicit key policy.

    Each key's Pulumi name is the declared key name (exceptions name resources so); its alias is
    `<key>-alias`. Keys that KMS rotates (symmetric, KMS-generated) rotate every `rotation_days`;
    the others carry their manual plan in the tags `keyplane-rotation-owner` and
    `keyplane-rotate-by`. Keys with `hsm` are created in the CloudHSM key store.

    In a sharded render (`keyplane.components.shard`) the keys of other shards' tenants are not
    registered; their ARNs are stand-ins.

    Outputs:
        key_arns: declared key name -> key ARN.
        key_ids: declared key name -> key ID (of the keys registered).
        alias_names: declared key name -> alias name (`alias/<environment>/<key>`).
    """

    keys: dict[str, aws.kms.Key]
    aliases: dict[str, aws.kms.Alias]
    key_arns: dict[str, pulumi.Input[str]]
    key_ids: dict[str, pulumi.Output[str]]
    alias_names: dict[str, str]

    def __init__(
        self, name: str, args: KeyRingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Everything that can fail is computed before the component registers.
        # (Serialized only for the keys registered: a shard's render skips the rest.)
        policies = {key.name: declared_key_policy(key) for key in args.keys}
        all_tags = {key.name: key_tags(args.environment, key) for key in args.keys}
        super().__init__(TYPE, name, None, opts)

        self.keys, self.aliases, self.alias_names = {}, {}, {}
        self.key_arns = {}
        for key in args.keys:
            self.alias_names[key.name] = alias_name(args.environment, key.name)
            if not renders(key.tenant):
                self.key_arns[key.name] = stand_in(KEY_TYPE, key.name, "arn")
                continue
            resource = aws.kms.Key(
                key.name,
                aws.kms.KeyArgs(
                    description=f"keyplane {args.environment}: {key.purpose.value} key {key.name}",
                    customer_master_key_spec=key.algorithm.aws_key_spec,
                    key_usage=KEY_USAGE[key.usage],
                    custom_key_store_id=args.custom_key_store_id if key.hsm else None,
                    enable_key_rotation=True if key.rotation_days is not None else None,
                    rotation_period_in_days=key.rotation_days,
                    deletion_window_in_days=key.deletion_window_days,
                    policy=to_json(policies[key.name]),
                    bypass_policy_lockout_safety_check=False,
                    multi_region=False,
                    is_enabled=True,
                    tags=all_tags[key.name],
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=args.protect,
                    depends_on=list(args.principal_resources),
                ),
            )
            self.keys[key.name] = resource
            self.key_arns[key.name] = resource.arn
            self.aliases[key.name] = aws.kms.Alias(
                f"{key.name}-alias",
                aws.kms.AliasArgs(name=self.alias_names[key.name], target_key_id=resource.key_id),
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.key_ids = {k: v.key_id for k, v in self.keys.items()}
        self.register_outputs(
            {"key_arns": self.key_arns, "key_ids": self.key_ids, "alias_names": self.alias_names}
        )
