"""Secret Manager secrets under the environment's key (`keyplane:gcp:SecretVault`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pulumi
import pulumi_gcp as gcp

from keyplane.components._common import DeclaredSecret, declared_secrets
from keyplane.components.gcp import roles
from keyplane.components.gcp._common import (
    after,
    binding_name,
    check_members,
    invalid,
    labels,
    seconds,
)
from keyplane.components.shard import renders
from keyplane.standard import GCP_MIN_DESTROY_SCHEDULED_DAYS

SECRET_MANAGER_SERVICE = "secretmanager.googleapis.com"
#: A Cloud region (Secret Manager replicates user-managed secrets to regions only).
_REGION = re.compile(r"[a-z]+-[a-z]+\d+")


#: A declared secret as the vault provisions it (`components._common.DeclaredSecret`).
GcpSecret = DeclaredSecret
secrets_of = declared_secrets


@dataclass(frozen=True)
class GcpSecretVaultArgs:
    """Inputs of `GcpSecretVault`.

    project: GCP project ID of the secrets.
    location: where the secrets are replicated: a region (`europe-west1`, one user-managed
        replica) or `global` (automatic replication). The key must live in the same location.
    environment: keyplane environment name, the `keyplane-environment` label.
    kms_key_id: the Cloud KMS key (`projects/.../cryptoKeys/...`) that encrypts every secret
        (customer-managed encryption, KM-STO-002).
    secrets: the secrets; each becomes a `gcp.secretmanager.Secret` named as declared.
    admins: IAM members granted `roles/secretmanager.secretVersionManager` on every secret: they
        add, disable and destroy versions and never read values.
    auditors: IAM members granted `roles/secretmanager.viewer` on every secret.
    project_number: the project's number, to name the Secret Manager service agent
        (`service-<number>@gcp-sa-secretmanager.iam.gserviceaccount.com`) at preview. Default:
        a `gcp.projects.ServiceIdentity` resource finds it at deploy time.
    rotation_starts_on: day from which rotation periods count (the first notification is
        `rotation_days` later, at 00:00 UTC); default: today (UTC). Secret Manager advances it
        after every notification, so later changes are ignored.
    version_destroy_days: days a destroyed secret version stays recoverable (disabled) before
        it is destroyed; default 30, as for keys.
    protect: Pulumi `protect` on the secrets; default True.
    """

    project: str
    location: str
    environment: str
    kms_key_id: pulumi.Input[str]
    secrets: tuple[GcpSecret, ...]
    admins: tuple[str, ...] = ()
    auditors: tuple[str, ...] = ()
    project_number: str | None = None
    rotation_starts_on: date | None = None
    version_destroy_days: int = GCP_MIN_DESTROY_SCHEDULED_DAYS
    protect: bool = True


class GcpSecretVault(pulumi.ComponentResource):
    """Secret Manager secrets encrypted by a customer-managed key, with rotation notifications.

    In a sharded render (`keyplane.components.shard`) the secrets of other shards' tenants, with
    their IAM members, are not registered; the topic, the service agent's grants and the key
    they share name no secret.

    Outputs:
        rotation_topic_id: the Pub/Sub topic (`projects/<project>/topics/<name>`) that receives
            every secret's rotation notifications; subscribe the function that rotates them.
        service_agent: the Secret Manager service agent (IAM member form).
        secret_ids: declared name -> `projects/<project>/secrets/<name>` (of the secrets
            registered).
        secrets: declared name -> the `gcp.secretmanager.Secret` resource.
    """

    rotation_topic_id: pulumi.Output[str]
    service_agent: pulumi.Output[str]
    secret_ids: dict[str, pulumi.Output[str]]
    secrets: dict[str, gcp.secretmanager.Secret]

    def __init__(
        self, name: str, args: GcpSecretVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check(name, args)
        super().__init__("keyplane:gcp:SecretVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        topic_name = f"{args.environment}-secret-rotation"
        topic = gcp.pubsub.Topic(
            f"{name}-rotation",
            name=topic_name,
            project=args.project,
            labels=labels(args.environment),
            opts=child,
        )
        self.rotation_topic_id = after(topic, f"projects/{args.project}/topics/{topic_name}")

        if args.project_number is not None:
            self.service_agent = pulumi.Output.from_input(
                f"serviceAccount:service-{args.project_number}"
                "@gcp-sa-secretmanager.iam.gserviceaccount.com"
            )
        else:
            agent = gcp.projects.ServiceIdentity(
                f"{name}-agent", service=SECRET_MANAGER_SERVICE, project=args.project, opts=child
            )
            self.service_agent = agent.member
        # Secret Manager encrypts with the key and publishes to the topic as its service agent:
        # both grants must exist before the first secret is created.
        grants = [
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-agent-encrypterdecrypter",
                crypto_key_id=args.kms_key_id,
                role=roles.KMS_ENCRYPTER_DECRYPTER,
                member=self.service_agent,
                opts=child,
            ),
            gcp.pubsub.TopicIAMMember(
                f"{name}-agent-publisher",
                project=args.project,
                topic=self.rotation_topic_id,
                role=roles.PUBSUB_PUBLISHER,
                member=self.service_agent,
                opts=child,
            ),
        ]

        starts_on = args.rotation_starts_on or datetime.now(UTC).date()
        self.secrets = {}
        self.secret_ids = {}
        for secret in args.secrets:
            if not renders(secret.tenant):
                continue
            first_rotation = starts_on + timedelta(days=secret.rotation_days)
            resource = gcp.secretmanager.Secret(
                secret.name,
                secret_id=secret.name,
                project=args.project,
                labels=labels(args.environment, purpose=secret.purpose, tenant=secret.tenant),
                replication=_replication(args.location, args.kms_key_id),
                topics=[gcp.secretmanager.SecretTopicArgs(name=self.rotation_topic_id)],
                rotation=gcp.secretmanager.SecretRotationArgs(
                    rotation_period=seconds(secret.rotation_days),
                    next_rotation_time=f"{first_rotation.isoformat()}T00:00:00Z",
                ),
                version_destroy_ttl=seconds(args.version_destroy_days),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=grants,
                    protect=args.protect or None,
                    ignore_changes=["rotation.nextRotationTime"],
                ),
            )
            secret_id = after(resource, f"projects/{args.project}/secrets/{secret.name}")
            self.secrets[secret.name] = resource
            self.secret_ids[secret.name] = secret_id
            for role, members in (
                (roles.SECRET_ACCESSOR, secret.users),
                (roles.SECRET_VERSION_MANAGER, args.admins),
                (roles.SECRET_VIEWER, args.auditors),
            ):
                for member in members:
                    gcp.secretmanager.SecretIamMember(
                        binding_name(secret.name, role, member),
                        project=args.project,
                        secret_id=secret_id,
                        role=role,
                        member=member,
                        opts=child,
                    )

        self.register_outputs(
            {
                "rotation_topic_id": self.rotation_topic_id,
                "service_agent": self.service_agent,
                "secret_ids": self.secret_ids,
            }
        )


def _replication(
    location: str, kms_key_id: pulumi.Input[str]
) -> gcp.secretmanager.SecretReplicationArgs:
    if location == "global":
        return gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs(
                customer_managed_encryption=gcp.secretmanager.SecretReplicationAutoCustomerManagedEncryptionArgs(
                    kms_key_name=kms_key_id
                )
            )
        )
    return gcp.secretmanager.SecretReplicationArgs(
        user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
            replicas=[
                gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                    location=location,
                    customer_managed_encryption=gcp.secretmanager.SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(
                        kms_key_name=kms_key_id
                    ),
                )
            ]
        )
    )


def _check(name: str, args: GcpSecretVaultArgs) -> None:
    if args.secrets and args.location != "global" and not _REGION.fullmatch(args.location):
        raise invalid(
            "location",
            f"{args.location!r} is a multi-region; Secret Manager encrypts a secret with a key "
            "in its replica's region: use a region (like europe-west1) or global",
        )
    if args.version_destroy_days < 1:
        raise invalid("version_destroy_days", f"{args.version_destroy_days}; at least 1 day")
    seen: set[str] = set()
    for secret in args.secrets:
        if secret.name in seen:
            raise invalid("secrets", f"secret {secret.name!r} is listed twice")
        seen.add(secret.name)
        if secret.rotation_days < 1:
            raise invalid(
                "secrets",
                f"secret {secret.name!r}: rotation_days {secret.rotation_days}; at least 1 day",
            )
        check_members(secret.name, "users", secret.users)
    check_members(name, "admins", args.admins)
    check_members(name, "auditors", args.auditors)
