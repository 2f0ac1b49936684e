"""A premium Key Vault, its keys and secrets, and who may do what (`keyplane:azure:KeyVault`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pulumi
from pulumi_azure_native import authorization, keyvault

from keyplane.components._common import DeclaredSecret, declared_secrets
from keyplane.components.azure import roles
from keyplane.components.azure._common import (
    after,
    check_principal_types,
    check_principals,
    digest,
    guid,
    invalid,
    resource_group_id,
    role_assignment,
    role_slug,
    tags,
    vault_name,
)
from keyplane.components.shard import renders
from keyplane.config.model import ResolvedKey
from keyplane.standard import (
    AZURE_MIN_SOFT_DELETE_RETENTION_DAYS,
    AZURE_SOFT_DELETE_RANGE,
    Usage,
)

#: JSON Web Key operations a key may perform, by usage (KM-PUR-001: used only for its purpose).
KEY_OPS: Mapping[Usage, tuple[keyvault.JsonWebKeyOperation, ...]] = {
    Usage.ENCRYPT: (
        keyvault.JsonWebKeyOperation.ENCRYPT,
        keyvault.JsonWebKeyOperation.DECRYPT,
        keyvault.JsonWebKeyOperation.WRAP_KEY,
        keyvault.JsonWebKeyOperation.UNWRAP_KEY,
    ),
    Usage.SIGN: (keyvault.JsonWebKeyOperation.SIGN, keyvault.JsonWebKeyOperation.VERIFY),
}
#: Days before a key version expires that Key Vault notifies (Event Grid `KeyNearExpiry`).
DEFAULT_ROTATION_NOTICE_DAYS = 30
#: Key Vault refuses a rotation policy whose versions expire in under 28 days.
_MIN_EXPIRY_DAYS = 28


#: A declared secret as the vault provisions it (`components._common.DeclaredSecret`).
AzureSecret = DeclaredSecret
secrets_of = declared_secrets


@dataclass(frozen=True)
class AzureKeyVaultArgs:
    """Inputs of `AzureKeyVault`.

    subscription_id, tenant_id: the vault's subscription and Entra ID tenant.
    resource_group_name: resource group of the vault (it must exist before the vault).
    location: Azure region (`westeurope`).
    environment: keyplane environment name, the `keyplane-environment` tag.
    keys: keys with the policy's defaults applied; each becomes a `keyvault.Key` whose Pulumi
        and Azure name is the declared name. `hsm` keys get `-HSM` key types (the vault is
        premium). AES-256 (`oct-HSM`) exists only in a Managed HSM, which keyplane does not
        provision: such keys are refused.
    secrets: secrets stored in this vault.
    admins: object IDs that manage keys (keyplane Key Administrator, a custom role without
        any cryptographic use) and secrets (Key Vault Secrets Officer), at vault scope.
    auditors: object IDs granted Key Vault Reader at vault scope (metadata only).
    vault_name: default: derived from the component's name and the subscription (3-24 chars).
    secret_values: secret name -> value (a Pulumi secret, e.g. from `pulumi config set
        --secret`). Azure Resource Manager cannot create a secret without a value, so a secret
        without one is left out (with a warning) until a value is given.
    soft_delete_retention_days: 7-90 days a deleted key or secret stays recoverable; purge
        protection forbids purging it earlier. Default: the longest deletion window of the keys,
        90 without keys. Key Vault sets it once, at creation.
    rotation_notice_days: days before a key version expires that Key Vault notifies; versions
        expire `rotation_days + rotation_notice_days` after creation. Default 30.
    secrets_start_on: day secret expiries count from (default today, UTC); set at creation only.
    principal_types: object ID -> `User`, `Group` or `ServicePrincipal`, sent with the role
        assignments where known (ARM looks up the others).
    protect: Pulumi `protect` on the vault and its keys (KM-DEL-001); default True.
    """

    subscription_id: str
    tenant_id: str
    resource_group_name: pulumi.Input[str]
    location: str
    environment: str
    keys: tuple[ResolvedKey, ...] = ()
    secrets: tuple[AzureSecret, ...] = ()
    admins: tuple[str, ...] = ()
    auditors: tuple[str, ...] = ()
    vault_name: str | None = None
    secret_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    soft_delete_retention_days: int | None = None
    rotation_notice_days: int = DEFAULT_ROTATION_NOTICE_DAYS
    secrets_start_on: date | None = None
    principal_types: Mapping[str, str] = field(default_factory=dict)
    protect: bool = True


class AzureKeyVault(pulumi.ComponentResource):
    """A hardened premium Key Vault with RBAC, its keys, secrets and role assignments.

    In a sharded render (`keyplane.components.shard`) the keys and secrets of other shards'
    tenants, with their role assignments, are not registered; what the vault shares (the vault,
    its administrator role and the assignments at vault scope) names none of them.

    Outputs:
        vault_id: ARM ID of the vault (known at preview).
        vault_name: the vault's name.
        key_ids: declared key name -> ARM ID of the key (of the keys registered).
        secret_ids: declared secret name -> ARM ID of the secret (secrets with a value only; of
            the secrets registered).
        key_administrator_role_id: ARM ID of the vault's custom key administrator role.
        keys: declared key name -> the `keyvault.Key` resource.
    """

    vault_id: pulumi.Output[str]
    vault_name: str
    key_ids: dict[str, pulumi.Output[str]]
    secret_ids: dict[str, pulumi.Output[str]]
    key_administrator_role_id: pulumi.Output[str]
    keys: dict[str, keyvault.Key]

    def __init__(
        self, name: str, args: AzureKeyVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check(name, args)
        super().__init__("keyplane:azure:KeyVault", name, None, opts)
        self.vault_name = args.vault_name or vault_name(name, args.subscription_id)
        self._args = args
        rg_id = resource_group_id(args.subscription_id, args.resource_group_name)
        protect = args.protect or None

        vault = keyvault.Vault(
            name,
            vault_name=self.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.PREMIUM),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                enable_purge_protection=True,
                soft_delete_retention_in_days=_retention_days(args),
                public_network_access="Disabled",
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action=keyvault.NetworkRuleAction.DENY,
                    bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
                ),
                enabled_for_deployment=False,
                enabled_for_disk_encryption=False,
                enabled_for_template_deployment=False,
            ),
            tags=tags(args.environment),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        self.vault_id = after(
            vault,
            pulumi.Output.concat(rg_id, "/providers/Microsoft.KeyVault/vaults/", self.vault_name),
        )
        vault_ref = after(vault, self.vault_name)

        admin_role = roles.AzureRole(
            f"keyplane Key Administrator ({self.vault_name})",
            guid("keyplane-key-administrator", args.subscription_id, self.vault_name),
        )
        role_definition = authorization.RoleDefinition(
            f"{name}-key-administrator",
            role_definition_id=admin_role.guid,
            role_name=admin_role.name,
            description=(
                f"keyplane: manages the keys of Key Vault {self.vault_name} (create, rotate, "
                "rotation policy, backup, restore, recover, delete) and cannot use them."
            ),
            role_type="CustomRole",
            scope=rg_id,
            # Custom roles are assignable to resource groups at the finest; assigned at vault scope.
            assignable_scopes=[rg_id],
            permissions=[
                authorization.PermissionArgs(
                    actions=list(roles.KEY_ADMINISTRATOR_ACTIONS),
                    data_actions=list(roles.KEY_ADMINISTRATOR_DATA_ACTIONS),
                    not_data_actions=sorted(roles.FORBIDDEN_ADMINISTRATOR_DATA_ACTIONS),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_administrator_role_id = after(
            role_definition, admin_role.definition_id(args.subscription_id)
        )

        for principal in args.admins:
            self._assign(
                name, "key-administrator", self.key_administrator_role_id, principal, self.vault_id
            )
        for principal in args.auditors:
            self._assign_role(name, roles.KEY_VAULT_READER, principal, self.vault_id)

        self.keys = {}
        self.key_ids = {}
        for key in args.keys:
            if not renders(key.tenant):
                continue
            resource = self._key(key, vault_ref, protect)
            key_id = after(resource, pulumi.Output.concat(self.vault_id, "/keys/", key.name))
            self.keys[key.name] = resource
            self.key_ids[key.name] = key_id
            for principal in key.users:
                self._assign_role(key.name, roles.KEY_USER_ROLES[key.usage], principal, key_id)

        self.secret_ids = {}
        if args.secrets:
            for principal in args.admins:
                self._assign_role(name, roles.KEY_VAULT_SECRETS_OFFICER, principal, self.vault_id)
        starts_on = args.secrets_start_on or datetime.now(UTC).date()
        for secret in args.secrets:
            if not renders(secret.tenant):
                continue  # (and its warning, given once by the shard of its tenant)
            value = args.secret_values.get(secret.name)
            if value is None:
                pulumi.log.warn(
                    f"keyplane: secret {secret.name!r} is not created yet: Azure Key Vault "
                    "cannot hold a secret without a value; set one with `pulumi config set "
                    f"--secret keyplane:secret-{secret.name} VALUE` (or pass secret_values).",
                    resource=self,
                )
                continue
            expires = datetime.combine(
                starts_on + timedelta(days=secret.rotation_days), time(), tzinfo=UTC
            )
            secret_resource = keyvault.Secret(
                secret.name,
                secret_name=secret.name,
                vault_name=vault_ref,
                resource_group_name=args.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(
                    # Always a Pulumi secret: encrypted in state, masked in every output.
                    value=pulumi.Output.secret(value),
                    attributes=keyvault.SecretAttributesArgs(
                        enabled=True, expires=int(expires.timestamp())
                    ),
                ),
                tags=tags(args.environment, purpose=secret.purpose, tenant=secret.tenant),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=protect,
                    # Whoever rotates the secret sets its next expiry with the new version.
                    ignore_changes=["properties.attributes.expires"],
                ),
            )
            secret_id = after(
                secret_resource, pulumi.Output.concat(self.vault_id, "/secrets/", secret.name)
            )
            self.secret_ids[secret.name] = secret_id
            for principal in secret.users:
                self._assign_role(secret.name, roles.KEY_VAULT_SECRETS_USER, principal, secret_id)

        self.register_outputs(
            {
                "vault_id": self.vault_id,
                "vault_name": self.vault_name,
                "key_ids": self.key_ids,
                "secret_ids": self.secret_ids,
                "key_administrator_role_id": self.key_administrator_role_id,
            }
        )

    def _key(
        self, key: ResolvedKey, vault_ref: pulumi.Output[str], protect: bool | None
    ) -> keyvault.Key:
        azure = key.algorithm.azure
        assert azure is not None  # _check
        args = self._args
        rotation_policy = None
        if key.rotation_days is not None:
            rotation_policy = keyvault.RotationPolicyArgs(
                attributes=keyvault.KeyRotationPolicyAttributesArgs(
                    expiry_time=f"P{key.rotation_days + args.rotation_notice_days}D"
                ),
                lifetime_actions=[
                    keyvault.LifetimeActionArgs(
                        action=keyvault.ActionArgs(
                            type=keyvault.KeyRotationPolicyActionType.ROTATE
                        ),
                        trigger=keyvault.TriggerArgs(time_after_create=f"P{key.rotation_days}D"),
                    ),
                    keyvault.LifetimeActionArgs(
                        action=keyvault.ActionArgs(
                            type=keyvault.KeyRotationPolicyActionType.NOTIFY
                        ),
                        trigger=keyvault.TriggerArgs(
                            time_before_expiry=f"P{args.rotation_notice_days}D"
                        ),
                    ),
                ],
            )
        return keyvault.Key(
            key.name,
            key_name=key.name,
            vault_name=vault_ref,
            resource_group_name=args.resource_group_name,
            properties=keyvault.KeyPropertiesArgs(
                kty=azure.kty_for(key.hsm),
                key_size=azure.key_size,
                curve_name=azure.curve,
                key_ops=list(KEY_OPS[key.usage]),
                attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
                rotation_policy=rotation_policy,
            ),
            tags=tags(args.environment, purpose=key.purpose, tenant=key.tenant),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )

    def _assign_role(
        self, label: str, role: roles.AzureRole, principal: str, scope: pulumi.Output[str]
    ) -> None:
        self._assign(
            label,
            role_slug(role.name),
            role.definition_id(self._args.subscription_id),
            principal,
            scope,
        )

    def _assign(
        self,
        label: str,
        slug: str,
        role_definition_id: pulumi.Input[str],
        principal: str,
        scope: pulumi.Output[str],
    ) -> None:
        role_assignment(
            f"{label}-{slug}-{digest(principal)}",
            principal=principal,
            role_definition_id=role_definition_id,
            scope=scope,
            principal_types=self._args.principal_types,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _retention_days(args: AzureKeyVaultArgs) -> int:
    if args.soft_delete_retention_days is not None:
        return args.soft_delete_retention_days
    return max(
        (k.deletion_window_days for k in args.keys), default=AZURE_MIN_SOFT_DELETE_RETENTION_DAYS
    )


def _check(name: str, args: AzureKeyVaultArgs) -> None:
    """Raise for what Azure cannot provision (what it can but the policy forbids, rules report)."""
    check_principals(name, "admins", args.admins)
    check_principals(name, "auditors", args.auditors)
    check_principal_types(name, args.principal_types)
    if (args.keys or args.secrets) and not args.admins:
        raise invalid("admins", f"key vault {name!r} needs at least one administrator")
    low, high = AZURE_SOFT_DELETE_RANGE
    retention = _retention_days(args)
    if not low <= retention <= high:
        raise invalid(
            "soft_delete_retention_days",
            f"{retention}; Key Vault keeps deleted keys and secrets {low} to {high} days",
        )
    if args.rotation_notice_days < 7:
        raise invalid(
            "rotation_notice_days",
            f"{args.rotation_notice_days}; Key Vault notifies at least 7 days before expiry",
        )
    names = [k.name for k in args.keys] + [s.name for s in args.secrets]
    for item in names:
        if names.count(item) > 1:
            raise invalid(
                "keys", f"{item!r} is listed twice among the keys and secrets of {name!r}"
            )
    for key in args.keys:
        azure = key.algorithm.azure
        if azure is None or key.usage not in KEY_OPS:
            raise invalid(
                "keys",
                f"key {key.name!r}: Azure Key Vault does not offer {key.algorithm.name} to "
                f"{key.usage.value}",
            )
        if azure.hsm_only:
            raise invalid(
                "keys",
                f"key {key.name!r}: Azure offers {key.algorithm.name} only as "
                f"{azure.kty_for(True)} in a Managed HSM, which keyplane does not provision "
                "(premium vaults hold RSA-HSM and EC-HSM keys); use RSA-2048 or larger",
            )
        if key.rotation_days is not None and (
            key.rotation_days + args.rotation_notice_days < _MIN_EXPIRY_DAYS
        ):
            raise invalid(
                "keys",
                f"key {key.name!r}: rotation_days {key.rotation_days} plus rotation_notice_days "
                f"{args.rotation_notice_days} is under the {_MIN_EXPIRY_DAYS}-day minimum expiry "
                "of a Key Vault rotation policy",
            )
        check_principals(key.name, "users", key.users)
    for secret in args.secrets:
        check_principals(secret.name, "users", secret.users)
    unknown = sorted(set(args.secret_values) - {s.name for s in args.secrets})
    if unknown:
        raise invalid(
            "secret_values",
            f"no secret of {name!r} is named {', '.join(repr(u) for u in unknown)}",
        )
