"""A whole keyplane environment on AWS (`keyplane:aws:Environment`).

Stack configuration it reads (namespace `keyplane`), only when the environment has
`hsm.enabled`:

- `cloudhsmKmsuserPassword` (secret, required): password of the cluster's `kmsuser` crypto user.
- `cloudhsmTrustAnchorCertificate`: PEM of `customerCA.crt`, set once the cluster is
  initialised; until then no key store is created.
- `cloudhsmKeyStoreConnected`: `true` once the key store is connected; until then the keys with
  `hsm: true` wait (KMS cannot create keys in a disconnected key store).

It also checks that `aws:region` and `aws:allowedAccountIds`, when set, agree with the
environment file, so that a stack never deploys an environment into another account or region.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from keyplane.components.aws._common import ComponentInputError, invalid
from keyplane.components.aws.access import AccessRoles, AccessRolesArgs
from keyplane.components.aws.audit import AuditLogSink, AuditLogSinkArgs
from keyplane.components.aws.certificates import Certificates, CertificatesArgs
from keyplane.components.aws.hsm import HsmCluster, HsmClusterArgs
from keyplane.components.aws.keyring import KeyRing, KeyRingArgs
from keyplane.components.aws.monitoring import MisuseAlarms, MisuseAlarmsArgs
from keyplane.components.aws.vault import SecretVault, SecretVaultArgs
from keyplane.config.model import AwsSettings, Environment, ResolvedKey
from keyplane.config.stack import (
    CONFIG_NAMESPACE,
    KEY_STORE_CONNECTED,
    KMSUSER_PASSWORD,
    TRUST_ANCHOR_CERTIFICATE,
)
from keyplane.standard import Cloud

TYPE = "keyplane:aws:Environment"


@dataclass(frozen=True)
class HsmStackConfig:
    """The CloudHSM settings of a stack (see the module docstring)."""

    kmsuser_password: pulumi.Output[str]
    trust_anchor_certificate: str | None
    key_store_connected: bool

    @classmethod
    def read(cls, env: Environment) -> HsmStackConfig:
        config = pulumi.Config(CONFIG_NAMESPACE)
        password = config.get_secret(KMSUSER_PASSWORD)
        if password is None:
            raise ComponentInputError(
                f"stack config {CONFIG_NAMESPACE}:{KMSUSER_PASSWORD}: missing secret "
                f"(environment {env.name} has hsm.enabled: true); set it with: pulumi config set "
                f"--secret {CONFIG_NAMESPACE}:{KMSUSER_PASSWORD} <password of the kmsuser crypto user>"
            )
        trust_anchor = config.get(TRUST_ANCHOR_CERTIFICATE) or None
        connected_text = (config.get(KEY_STORE_CONNECTED) or "false").strip().lower()
        if connected_text not in ("true", "false"):
            raise ComponentInputError(
                f"stack config {CONFIG_NAMESPACE}:{KEY_STORE_CONNECTED}: expected true or false "
                f"(got {connected_text!r})"
            )
        connected = connected_text == "true"
        if connected and trust_anchor is None:
            raise ComponentInputError(
                f"stack config {CONFIG_NAMESPACE}:{KEY_STORE_CONNECTED}: true, but "
                f"{CONFIG_NAMESPACE}:{TRUST_ANCHOR_CERTIFICATE} is not set, so there is no key "
                "store to be connected; set the certificate or remove the flag"
            )
        return cls(password, trust_anchor, connected)


def check_provider_config(env: Environment, settings: AwsSettings) -> None:
    """The stack's AWS provider points at the environment's region and account, when set."""
    config = pulumi.Config("aws")
    region = config.get("region")
    if region is not None and region != settings.region:
        raise ComponentInputError(
            f"stack config aws:region: {region!r}, but environment {env.name} is in "
            f"{settings.region}; set aws:region to {settings.region}"
        )
    raw = config.get("allowedAccountIds")
    if raw is None:
        return
    try:
        allowed = json.loads(raw)
    except json.JSONDecodeError:
        allowed = raw
    accounts = [str(a) for a in allowed] if isinstance(allowed, list) else [str(allowed)]
    if settings.account_id not in accounts:
        raise ComponentInputError(
            f"stack config aws:allowedAccountIds: {', '.join(accounts)}, but environment "
            f"{env.name} is in account {settings.account_id}; allow that account only"
        )


def with_roles(
    key: ResolvedKey,
    primary_admins: Sequence[str],
    key_admin_role: str,
    auditor_role: str | None,
) -> ResolvedKey:
    """`key` with the AccessRoles roles among its administrators and auditors.

    KMS grants an IAM role only what a key policy names. The administrator role joins the keys
    that `access.key_admins` administer, not the backup keys of `backup_key_admins` (KM-BAK-001).
    """
    admins = (
        (*key.admins, key_admin_role) if tuple(key.admins) == tuple(primary_admins) else key.admins
    )
    auditors = (*key.auditors, auditor_role) if auditor_role else key.auditors
    return dataclasses.replace(key, admins=tuple(admins), auditors=tuple(auditors))


def all_in_order(items: Sequence[pulumi.Input[str]]) -> pulumi.Output[Sequence[str]]:
    """`Output.all(*items)`, for lists where most items may be plain values (a sharded render's
    stand-ins for other shards' keys, `keyplane.components.shard`): one `Output` over the
    outputs among them, the plain values put back in their places (the SDK makes an `Output`
    of every item it is given, about 0.15 ms each)."""
    if all(isinstance(item, pulumi.Output) for item in items):
        return pulumi.Output.all(*items)
    positions = [i for i, item in enumerate(items) if not isinstance(item, str)]

    def placed(resolved: Sequence[str]) -> list[str]:
        values = [item if isinstance(item, str) else "" for item in items]
        for position, value in zip(positions, resolved, strict=True):
            values[position] = value
        return values

    return pulumi.Output.all(*(items[i] for i in positions)).apply(placed)


class DeferredArns:
    """A list of ARNs known only later, always resolved in the end.

    An unresolved deferred output keeps the engine waiting forever, so a component that fails
    half-way resolves it to an empty list (`abandon`) before its error propagates.
    """

    def __init__(self) -> None:
        self.output: pulumi.Output[Sequence[str]]
        self._resolve: Callable[[pulumi.Output[Sequence[str]]], None]
        self.output, self._resolve = pulumi.deferred_output()
        self._resolved = False

    def resolve(self, arns: pulumi.Output[Sequence[str]]) -> None:
        self._resolved = True
        self._resolve(arns)

    def abandon(self) -> None:
        if not self._resolved:
            self.resolve(pulumi.Output.from_input([]))


class AwsEnvironment(pulumi.ComponentResource):
    """Keys, CloudHSM, secrets, roles and the audit trail of one environment on AWS.

    Children: AccessRoles `<name>-access`, HsmCluster `<name>-hsm` (with `hsm.enabled`), KeyRing
    `<name>-keys`, SecretVault `<name>-secrets` (with secrets), AuditLogSink `<name>-audit`,
    MisuseAlarms `<name>-alarms` (with `monitoring`; the trail then delivers to CloudWatch Logs).
    Certificates `<name>-certificates` (with certificates).
    Protected (Pulumi `protect`) in staging and production.

    Outputs (`stack_outputs`, exported by the stack program):
        key_arns, key_alias_names: declared key name -> key ARN / alias.
        secret_arns: declared secret name -> secret ARN.
        key_admin_role_arn, auditor_role_arn: the AccessRoles roles.
        trail_arn, audit_bucket_name, log_key_arn: the audit trail.
        alarm_arns: misuse alarm slug -> alarm ARN (with `monitoring`).
        hsm_cluster_id, hsm_cluster_csr, hsm_security_group_id, custom_key_store_id: CloudHSM.
        certificate_arns, certificate_validation_records: declared certificate name -> ACM
            certificate ARN / the DNS records ACM validates it with (`Certificates`).
    """

    access: AccessRoles
    hsm: HsmCluster | None
    key_ring: KeyRing
    vault: SecretVault | None
    audit: AuditLogSink
    alarms: MisuseAlarms | None
    certificates: Certificates | None
    stack_outputs: dict[str, Any]

    def __init__(
        self, name: str, env: Environment, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if env.cloud is not Cloud.AWS or env.aws is None:
            raise invalid(
                "env",
                f"environment {env.name!r} is on {env.cloud.value}, not aws; "
                "use keyplane.components.environment.deploy_environment",
            )
        settings = env.aws
        check_provider_config(env, settings)
        hsm_config = HsmStackConfig.read(env) if env.hsm.enabled else None
        store_ready = hsm_config is not None and hsm_config.key_store_connected

        # Every argument is built, and so checked, before anything registers.
        access_args = AccessRolesArgs(
            environment=env.name,
            account_id=settings.account_id,
            region=settings.region,
            key_admins=env.access.key_admins,
            auditors=env.access.auditors,
        )
        admin_role = access_args.key_admin_role_arn
        auditor_role = access_args.auditor_role_arn
        primary_admins = (*env.access.key_admins, admin_role)
        auditors = (*env.access.auditors, auditor_role) if auditor_role else env.access.auditors

        resolved = env.resolved_keys()
        keys = tuple(
            with_roles(k, env.access.key_admins, admin_role, auditor_role)
            for k in resolved
            if store_ready or not k.hsm
        )
        waiting = [k.name for k in resolved if k.hsm and not store_ready]
        hsm_args = (
            HsmClusterArgs(
                environment=env.name,
                subnet_ids=env.hsm.subnet_ids,
                trust_anchor_certificate=hsm_config.trust_anchor_certificate,
                kmsuser_password=hsm_config.kmsuser_password,
                protect=env.protected,
            )
            if hsm_config is not None
            else None
        )
        vault_args = (
            SecretVaultArgs.from_environment(env, admins=primary_admins, auditors=auditors)
            if env.secrets
            else None
        )
        audit_args = AuditLogSinkArgs.from_environment(
            env, admins=primary_admins, auditors=auditors
        )
        certificate_args = CertificatesArgs.from_environment(env) if env.certificates else None

        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.hsm = HsmCluster(f"{name}-hsm", hsm_args, child) if hsm_args else None
        key_args = KeyRingArgs(
            environment=env.name,
            keys=keys,
            protect=env.protected,
            custom_key_store_id=self.hsm.custom_key_store_id if self.hsm else None,
        )
        if waiting:
            step = (
                KEY_STORE_CONNECTED
                if hsm_config is not None and hsm_config.trust_anchor_certificate
                else TRUST_ANCHOR_CERTIFICATE
            )
            pulumi.log.warn(
                f"{env.name}: keys {', '.join(waiting)} wait for the CloudHSM key store; "
                f"set stack config {CONFIG_NAMESPACE}:{step} when the cluster is ready "
                "(README, AWS components, CloudHSM)",
                resource=self,
            )

        # The roles come first (key policies name them); their policies name the keys, whose
        # ARNs exist only once the keys do: deferred outputs close the loop.
        administered, audited = DeferredArns(), DeferredArns()
        try:
            self.access = AccessRoles(
                f"{name}-access",
                dataclasses.replace(
                    access_args,
                    administered_key_arns=administered.output,
                    audited_key_arns=audited.output,
                ),
                child,
            )
            roles = tuple(r for r in (self.access.key_admin_role, self.access.auditor_role) if r)
            self.key_ring = KeyRing(
                f"{name}-keys", dataclasses.replace(key_args, principal_resources=roles), child
            )
            self.vault = (
                SecretVault(
                    f"{name}-secrets",
                    dataclasses.replace(vault_args, principal_resources=roles),
                    child,
                )
                if vault_args
                else None
            )
            self.audit = AuditLogSink(
                f"{name}-audit", dataclasses.replace(audit_args, principal_resources=roles), child
            )
            self.alarms = (
                MisuseAlarms(
                    f"{name}-alarms",
                    MisuseAlarmsArgs(
                        environment=env.name,
                        log_group_name=self.audit.log_group_name,
                        topic_arns=env.monitoring.notify,
                    ),
                    child,
                )
                if env.monitoring is not None and self.audit.log_group_name is not None
                else None
            )
            vault_keys = list(self.vault.key_arns.values()) if self.vault else []
            managed = [self.key_ring.key_arns[k.name] for k in keys if admin_role in k.admins]
            administered.resolve(all_in_order([*managed, *vault_keys, self.audit.log_key_arn]))
            audited.resolve(
                all_in_order(
                    [*self.key_ring.key_arns.values(), *vault_keys, self.audit.log_key_arn]
                )
            )
        finally:
            administered.abandon()
            audited.abandon()

        self.certificates = (
            Certificates(f"{name}-certificates", certificate_args, child)
            if certificate_args
            else None
        )

        self.stack_outputs = _present(
            {
                "key_arns": self.key_ring.key_arns,
                "key_alias_names": self.key_ring.alias_names,
                "secret_arns": self.vault.secret_arns if self.vault else None,
                "key_admin_role_arn": self.access.key_admin_role_arn,
                "auditor_role_arn": self.access.auditor_role_arn,
                "trail_arn": self.audit.trail_arn,
                "audit_bucket_name": self.audit.bucket_name,
                "log_key_arn": self.audit.log_key_arn,
                "alarm_arns": self.alarms.alarm_arns if self.alarms else None,
                "hsm_cluster_id": self.hsm.cluster_id if self.hsm else None,
                "hsm_cluster_csr": self.hsm.cluster_csr if self.hsm else None,
                "hsm_security_group_id": self.hsm.security_group_id if self.hsm else None,
                "custom_key_store_id": self.hsm.custom_key_store_id if self.hsm else None,
                "certificate_arns": self.certificates.certificate_arns
                if self.certificates
                else None,
                "certificate_validation_records": self.certificates.validation_records
                if self.certificates
                else None,
            }
        )
        self.register_outputs(self.stack_outputs)


def _present(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outputs.items() if v is not None}
