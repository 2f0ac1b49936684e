"""A whole keyplane environment on GCP (`keyplane:gcp:Environment`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pulumi

from keyplane.components.gcp._common import ComponentInputError, invalid
from keyplane.components.gcp.audit import GcpAuditLogSink, GcpAuditLogSinkArgs
from keyplane.components.gcp.certificates import GcpCertificates, GcpCertificatesArgs
from keyplane.components.gcp.kms import GcpKeyRing, GcpKeyRingArgs
from keyplane.components.gcp.monitoring import MisuseAlerts, MisuseAlertsArgs
from keyplane.components.gcp.secrets import GcpSecretVault, GcpSecretVaultArgs, secrets_of
from keyplane.config.model import Environment, KeySpec, ResolvedKey
from keyplane.standard import Cloud, KeyPurpose

#: Purpose label of the key that encrypts the environment's secrets: a key a cloud service uses
#: on the environment's behalf (Policy §2 "cloud provider-managed keys").
SECRETS_KEY_PURPOSE = KeyPurpose.CLOUD_PROVIDER


class GcpEnvironment(pulumi.ComponentResource):
    """Key rings, keys, IAM, secrets and the audit log sink of one environment on GCP.

    - Key ring `<env>`: every key but backup keys, administered by `access.key_admins`; plus,
      when the environment declares secrets, the key `<env>-secrets` that encrypts them.
    - Key ring `<env>-backup`: backup-encryption keys, administered by
      `access.backup_key_admins` when declared (KM-BAK-001).
    - Secret vault `<name>-secrets` and audit log sink `<name>-audit`.
    - With `monitoring`: misuse alerts `<name>-alerts` (KM-MON-001) on the declared channels.

    Outputs (also `stack_outputs`, what the stack program exports):
        key_ring_ids: GCP key ring name -> key ring ID.
        key_ids: declared key name -> CryptoKey ID.
        secret_ids: declared secret name -> Secret ID.
        secrets_key_id: ID of the key that encrypts the secrets (None without secrets).
        rotation_topic_id: Pub/Sub topic of the secrets' rotation notifications (or None).
        audit_bucket_name, sink_writer_identity: the audit log export.
        alert_policy_names: misuse alert slug -> alert policy name (with `monitoring`).
        certificate_ids, certificate_dns_records: declared certificate name -> Certificate
            Manager certificate ID / the CNAME records that authorise its domains
            (`GcpCertificates`; with certificates).
    """

    key_ring_ids: dict[str, pulumi.Output[str]]
    key_ids: dict[str, pulumi.Output[str]]
    secret_ids: dict[str, pulumi.Output[str]]
    secrets_key_id: pulumi.Output[str] | None
    rotation_topic_id: pulumi.Output[str] | None
    audit_bucket_name: pulumi.Output[str]
    sink_writer_identity: pulumi.Output[str]
    alert_policy_names: dict[str, pulumi.Output[str]] | None
    stack_outputs: dict[str, Any]

    def __init__(
        self,
        name: str,
        env: Environment,
        opts: pulumi.ResourceOptions | None = None,
        *,
        project_number: str | None = None,
        rotation_starts_on: date | None = None,
    ) -> None:
        """`project_number` and `rotation_starts_on`: see `GcpSecretVaultArgs`."""
        if env.cloud is not Cloud.GCP or env.gcp is None:
            raise invalid(
                "env",
                f"environment {env.name!r} is on {env.cloud.value}, not gcp; provision it with "
                "the component of its cloud",
            )
        gcp_settings = env.gcp
        _check_provider_config(env, gcp_settings.project)
        secrets_key = _secrets_key(env) if env.secrets else None
        certificate_args = (
            GcpCertificatesArgs(
                environment=env.name,
                project=gcp_settings.project,
                certificates=env.certificates,
            )
            if env.certificates
            else None
        )
        super().__init__("keyplane:gcp:Environment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        resolved = env.resolved_keys()
        backup = tuple(k for k in resolved if k.purpose is KeyPurpose.BACKUP_ENCRYPTION)
        primary = tuple(k for k in resolved if k.purpose is not KeyPurpose.BACKUP_ENCRYPTION)
        rings = [
            GcpKeyRing(
                f"{name}-ring",
                GcpKeyRingArgs(
                    project=gcp_settings.project,
                    location=gcp_settings.location,
                    environment=env.name,
                    keys=primary + ((secrets_key,) if secrets_key else ()),
                    admins=env.access.key_admins,
                    auditors=env.access.auditors,
                    key_ring_name=env.name,
                    protect=env.protected,
                ),
                child,
            )
        ]
        if backup:
            rings.append(
                GcpKeyRing(
                    f"{name}-backup-ring",
                    GcpKeyRingArgs(
                        project=gcp_settings.project,
                        location=gcp_settings.location,
                        environment=env.name,
                        keys=backup,
                        admins=backup[0].admins,
                        auditors=env.access.auditors,
                        key_ring_name=f"{env.name}-backup",
                        protect=env.protected,
                    ),
                    child,
                )
            )
        self.key_ring_ids = {
            ring_name: ring.key_ring_id
            for ring_name, ring in zip((env.name, f"{env.name}-backup"), rings, strict=False)
        }
        all_key_ids = {k: v for ring in rings for k, v in ring.key_ids.items()}
        # (A sharded render registers only its tenants' keys: `GcpKeyRing`.)
        self.key_ids = {k.name: all_key_ids[k.name] for k in resolved if k.name in all_key_ids}

        self.secret_ids = {}
        self.secrets_key_id = None
        self.rotation_topic_id = None
        if secrets_key is not None:
            self.secrets_key_id = all_key_ids[secrets_key.name]
            vault = GcpSecretVault(
                f"{name}-secrets",
                GcpSecretVaultArgs(
                    project=gcp_settings.project,
                    location=gcp_settings.location,
                    environment=env.name,
                    kms_key_id=self.secrets_key_id,
                    secrets=secrets_of(env),
                    admins=env.access.key_admins,
                    auditors=env.access.auditors,
                    project_number=project_number,
                    rotation_starts_on=rotation_starts_on,
                    protect=env.protected,
                ),
                child,
            )
            self.secret_ids = vault.secret_ids
            self.rotation_topic_id = vault.rotation_topic_id

        audit = GcpAuditLogSink(
            f"{name}-audit",
            GcpAuditLogSinkArgs(
                project=gcp_settings.project,
                location=gcp_settings.location,
                environment=env.name,
                retention_days=env.logging.retention_days,
                auditors=env.access.auditors,
                protect=env.protected,
            ),
            child,
        )
        self.audit_bucket_name = audit.bucket_name
        self.sink_writer_identity = audit.sink_writer_identity
        self.alert_policy_names = (
            MisuseAlerts(
                f"{name}-alerts",
                MisuseAlertsArgs(
                    project=gcp_settings.project,
                    environment=env.name,
                    channels=env.monitoring.notify,
                ),
                child,
            ).alert_policy_names
            if env.monitoring is not None
            else None
        )
        certificates = (
            GcpCertificates(f"{name}-certificates", certificate_args, child)
            if certificate_args
            else None
        )

        outputs: dict[str, Any] = {
            "key_ring_ids": self.key_ring_ids,
            "key_ids": self.key_ids,
            "secret_ids": self.secret_ids,
            "secrets_key_id": self.secrets_key_id,
            "rotation_topic_id": self.rotation_topic_id,
            "audit_bucket_name": self.audit_bucket_name,
            "sink_writer_identity": self.sink_writer_identity,
            "alert_policy_names": self.alert_policy_names,
            "certificate_ids": certificates.certificate_ids if certificates else None,
            "certificate_dns_records": certificates.dns_records if certificates else None,
        }
        self.stack_outputs = {k: v for k, v in outputs.items() if v is not None}
        self.register_outputs(self.stack_outputs)


def _check_provider_config(env: Environment, project: str) -> None:
    """The stack's GCP provider points at the environment's project, when set (KM-ENV-002)."""
    configured = pulumi.Config("gcp").get("project")
    if configured is not None and configured != project:
        raise ComponentInputError(
            f"stack config gcp:project: {configured!r}, but environment {env.name} is in "
            f"project {project}; set gcp:project to {project}"
        )


def _secrets_key(env: Environment) -> ResolvedKey:
    """The symmetric key Secret Manager encrypts the environment's secrets with.

    Hardware-backed when the environment has an HSM (Policy §6); administered like the
    primary keys; no user but the Secret Manager service agent.
    """
    name = f"{env.name}-secrets"
    if env.key(name) is not None:
        raise invalid(
            "env",
            f"key {name!r} of environment {env.name!r} takes the name of the key that encrypts "
            "the environment's secrets; rename the declared key",
        )
    spec = KeySpec(name=name, purpose=SECRETS_KEY_PURPOSE, algorithm="AES-256", hsm=env.hsm.enabled)
    return env.resolve(spec)
