"""A Cloud KMS key ring, its keys and who may do what with them (`keyplane:gcp:KeyRing`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from keyplane.components.gcp import roles
from keyplane.components.gcp._common import (
    after,
    binding_name,
    check_members,
    invalid,
    labels,
    rotation_plan_labels,
    seconds,
)
from keyplane.components.shard import renders
from keyplane.config.model import ResolvedKey
from keyplane.standard import GCP_DESTROY_SCHEDULED_RANGE


@dataclass(frozen=True)
class GcpKeyRingArgs:
    """Inputs of `GcpKeyRing`.

    project: GCP project ID that holds the key ring.
    location: Cloud KMS location (`europe-west1`, a multi-region such as `europe`, or `global`).
    environment: keyplane environment name, the `keyplane-environment` label.
    keys: the keys, with the policy's defaults applied (`Environment.resolve`); each becomes a
        `gcp.kms.CryptoKey` whose Pulumi and GCP name is the declared name.
    admins: IAM members granted `roles/cloudkms.admin` on the key ring (at least one). They
        manage keys and cannot use them.
    auditors: IAM members granted `roles/cloudkms.viewer` on the key ring.
    key_ring_name: GCP name of the key ring; default: the component's name. GCP never deletes a
        key ring or a key, so a name cannot be reused.
    protect: Pulumi `protect` on the keys (KM-DEL-001); default True.
    """

    project: str
    location: str
    environment: str
    keys: tuple[ResolvedKey, ...]
    admins: tuple[str, ...]
    auditors: tuple[str, ...] = ()
    key_ring_name: str | None = None
    protect: bool = True


class GcpKeyRing(pulumi.ComponentResource):
    """One `gcp.kms.KeyRing`, a `gcp.kms.CryptoKey` per key and non-authoritative IAM members.

    In a sharded render (`keyplane.components.shard`) the keys of other shards' tenants, with
    their IAM members, are not registered; nothing the key ring shares names them.

    Outputs:
        key_ring_id: `projects/<project>/locations/<location>/keyRings/<name>`.
        key_ids: declared key name -> `.../cryptoKeys/<name>` (known at preview; of the keys
            registered).
        keys: declared key name -> the `gcp.kms.CryptoKey` resource.
    """

    key_ring_id: pulumi.Output[str]
    key_ids: dict[str, pulumi.Output[str]]
    keys: dict[str, gcp.kms.CryptoKey]

    def __init__(
        self, name: str, args: GcpKeyRingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check(name, args)
        super().__init__("keyplane:gcp:KeyRing", name, None, opts)
        ring_name = args.key_ring_name or name
        ring = gcp.kms.KeyRing(
            name,
            name=ring_name,
            project=args.project,
            location=args.location,
            # Key rings carry no labels in Cloud KMS; their keys do.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect or None),
        )
        ring_path = f"projects/{args.project}/locations/{args.location}/keyRings/{ring_name}"
        self.key_ring_id = after(ring, ring_path)

        for role, members in ((roles.KMS_ADMIN, args.admins), (roles.KMS_VIEWER, args.auditors)):
            for member in members:
                gcp.kms.KeyRingIAMMember(
                    binding_name(name, role, member),
                    key_ring_id=self.key_ring_id,
                    role=role,
                    member=member,
                    opts=pulumi.ResourceOptions(parent=self),
                )

        self.keys = {}
        self.key_ids = {}
        for key in args.keys:
            if not renders(key.tenant):
                continue
            crypto_key = self._key(key, args)
            key_id = after(crypto_key, f"{ring_path}/cryptoKeys/{key.name}")
            self.keys[key.name] = crypto_key
            self.key_ids[key.name] = key_id
            purpose = roles.kms_purpose(key.usage, key.algorithm.symmetric)
            for role in roles.KMS_USER_ROLES[purpose]:
                for member in key.users:
                    gcp.kms.CryptoKeyIAMMember(
                        binding_name(key.name, role, member),
                        crypto_key_id=key_id,
                        role=role,
                        member=member,
                        opts=pulumi.ResourceOptions(parent=self),
                    )

        self.register_outputs({"key_ring_id": self.key_ring_id, "key_ids": self.key_ids})

    def _key(self, key: ResolvedKey, args: GcpKeyRingArgs) -> gcp.kms.CryptoKey:
        plan = key.spec.rotation if key.rotation_days is None else None
        key_labels = labels(
            args.environment,
            purpose=key.purpose,
            tenant=key.tenant,
            # A key GCP cannot rotate carries its manual plan (KM-ROT-004).
            extra=rotation_plan_labels(plan.owner, plan.rotate_by.isoformat()) if plan else None,
        )
        return gcp.kms.CryptoKey(
            key.name,
            name=key.name,
            key_ring=self.key_ring_id,
            purpose=roles.kms_purpose(key.usage, key.algorithm.symmetric),
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm=key.algorithm.gcp[key.usage],
                protection_level="HSM" if key.hsm else "SOFTWARE",
            ),
            rotation_period=seconds(key.rotation_days) if key.rotation_days else None,
            destroy_scheduled_duration=seconds(key.deletion_window_days),
            labels=key_labels,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect or None),
        )


def _check(name: str, args: GcpKeyRingArgs) -> None:
    """Raise for what GCP cannot provision (what it can but the policy forbids, rules report)."""
    if not args.admins:
        raise invalid("admins", f"key ring {name!r} needs at least one administrator")
    check_members(name, "admins", args.admins)
    check_members(name, "auditors", args.auditors)
    seen: set[str] = set()
    low, high = GCP_DESTROY_SCHEDULED_RANGE
    for key in args.keys:
        if key.name in seen:
            raise invalid("keys", f"key {key.name!r} is listed twice")
        seen.add(key.name)
        if key.usage not in key.algorithm.gcp:
            offered = ", ".join(sorted(u.value for u in key.algorithm.gcp)) or "nothing"
            raise invalid(
                "keys",
                f"key {key.name!r}: GCP does not offer {key.algorithm.name} to "
                f"{key.usage.value} (it offers it to: {offered})",
            )
        if not low <= key.deletion_window_days <= high:
            raise invalid(
                "keys",
                f"key {key.name!r}: deletion_window_days {key.deletion_window_days} is outside "
                f"what GCP accepts ({low} to {high} days)",
            )
        check_members(key.name, "users", key.users)
