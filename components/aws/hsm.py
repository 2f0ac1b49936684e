"""A dedicated CloudHSM cluster and its KMS custom key store (`keyplane:aws:HsmCluster`).

Initialising and activating the cluster, creating the `kmsuser` crypto user and connecting the
key store are manual steps AWS offers no API-only path for (README, "AWS components"); the
component exposes what they need: the cluster ID, its CSR, its security group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.components.aws._common import invalid, tags

TYPE = "keyplane:aws:HsmCluster"

#: hsm2m.medium is the current HSM type (hsm1.medium is being retired); FIPS mode keeps the
#: cluster to FIPS-approved mechanisms (Policy §5).
DEFAULT_HSM_TYPE = "hsm2m.medium"
DEFAULT_MODE = "FIPS"
HSM_TYPES = frozenset({"hsm1.medium", "hsm2m.medium"})
MODES = frozenset({"FIPS", "NON_FIPS"})
#: KMS connects a key store only to a cluster with active HSMs in two availability zones.
KEY_STORE_MIN_HSMS = 2

_SUBNET = re.compile(r"subnet-[0-9a-f]{8,17}")
_KEY_STORE_NAME = re.compile(r"[A-Za-z0-9:/_-]{1,256}")


def key_store_name(environment: str) -> str:
    """The KMS custom key store name keyplane gives an environment (unique per account)."""
    return f"keyplane-{environment}"


@dataclass(frozen=True)
class HsmClusterArgs:
    """What an HsmCluster provisions.

    Attributes:
        environment: the environment's name (tags, key store name `keyplane-<environment>`).
        subnet_ids: one HSM per subnet; one subnet per availability zone, at least two for the
            key store.
        trust_anchor_certificate: PEM of the CA certificate that signed the cluster certificate
            (`customerCA.crt`, made when initialising the cluster). None: the cluster is not
            initialised yet, so no key store is created.
        kmsuser_password: password of the cluster's `kmsuser` crypto user (7 to 32 characters),
            which KMS logs in as; always handled as a Pulumi secret. Required with
            `trust_anchor_certificate`.
        hsm_type: `hsm2m.medium` (default) or `hsm1.medium`.
        mode: `FIPS` (default) or `NON_FIPS` (hsm2m.medium only).
        protect: Pulumi's `protect` on the cluster, its HSMs and the key store (KM-DEL-001).
    """

    environment: str
    subnet_ids: tuple[str, ...]
    trust_anchor_certificate: pulumi.Input[str] | None = None
    kmsuser_password: pulumi.Input[str] | None = None
    hsm_type: str = DEFAULT_HSM_TYPE
    mode: str = DEFAULT_MODE
    protect: bool = False

    def __post_init__(self) -> None:
        if not self.subnet_ids:
            raise invalid("subnet_ids", "a CloudHSM cluster needs at least one subnet")
        for subnet in self.subnet_ids:
            if not _SUBNET.fullmatch(subnet):
                raise invalid("subnet_ids", f"{subnet!r} is not a subnet ID (subnet-0a1b2c3d)")
        if len(set(self.subnet_ids)) != len(self.subnet_ids):
            raise invalid("subnet_ids", "a subnet is listed twice; list each subnet once")
        if self.hsm_type not in HSM_TYPES:
            raise invalid("hsm_type", f"{self.hsm_type!r} (known: {', '.join(sorted(HSM_TYPES))})")
        if self.mode not in MODES:
            raise invalid("mode", f"{self.mode!r} (known: {', '.join(sorted(MODES))})")
        if self.hsm_type == "hsm1.medium" and self.mode != "FIPS":
            raise invalid("mode", "hsm1.medium clusters run in FIPS mode only")
        if not _KEY_STORE_NAME.fullmatch(key_store_name(self.environment)):
            raise invalid("environment", f"{self.environment!r} cannot name a key store")
        if self.trust_anchor_certificate is not None:
            if self.kmsuser_password is None:
                raise invalid(
                    "kmsuser_password",
                    "the key store needs the password of the cluster's kmsuser crypto user",
                )
            if len(self.subnet_ids) < KEY_STORE_MIN_HSMS:
                raise invalid(
                    "subnet_ids",
                    f"a KMS custom key store needs HSMs in at least {KEY_STORE_MIN_HSMS} "
                    f"availability zones (got {len(self.subnet_ids)} subnet); add a subnet in "
                    "another zone",
                )
            if isinstance(self.trust_anchor_certificate, str) and not (
                self.trust_anchor_certificate.lstrip().startswith("-----BEGIN CERTIFICATE-----")
            ):
                raise invalid(
                    "trust_anchor_certificate",
                    "expected the PEM of customerCA.crt (-----BEGIN CERTIFICATE----- ...)",
                )


class HsmCluster(pulumi.ComponentResource):
    """A CloudHSM v2 cluster, one HSM per subnet and, once initialised, a KMS custom key store.

    Children: `<name>-cluster`, `<name>-<subnet id>` per HSM, `<name>-key-store`.

    Outputs:
        cluster_id: the cluster ID (for `aws cloudhsmv2 initialize-cluster`).
        cluster_state: UNINITIALIZED, INITIALIZED, ACTIVE, ...
        cluster_csr: the cluster's certificate signing request, to sign with your CA.
        security_group_id: the cluster's security group (open it to the client instance that
            activates the cluster).
        hsm_ids: subnet ID -> HSM ID.
        hsm_ip_addresses: subnet ID -> the HSM's IP address.
        custom_key_store_id: the KMS key store ID, or None before the cluster is initialised.
    """

    cluster: aws.cloudhsmv2.Cluster
    hsms: dict[str, aws.cloudhsmv2.Hsm]
    key_store: aws.kms.CustomKeyStore | None
    cluster_id: pulumi.Output[str]
    cluster_state: pulumi.Output[str]
    cluster_csr: pulumi.Output[str | None]
    security_group_id: pulumi.Output[str]
    hsm_ids: dict[str, pulumi.Output[str]]
    hsm_ip_addresses: dict[str, pulumi.Output[str]]
    custom_key_store_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: HsmClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)

        self.cluster = aws.cloudhsmv2.Cluster(
            f"{name}-cluster",
            aws.cloudhsmv2.ClusterArgs(
                hsm_type=args.hsm_type,
                mode=args.mode,
                subnet_ids=list(args.subnet_ids),
                tags=tags(args.environment),
            ),
            opts=protected,
        )
        self.hsms = {
            subnet: aws.cloudhsmv2.Hsm(
                f"{name}-{subnet}",
                aws.cloudhsmv2.HsmArgs(cluster_id=self.cluster.cluster_id, subnet_id=subnet),
                opts=protected,
            )
            for subnet in args.subnet_ids
        }

        self.key_store = None
        self.custom_key_store_id = None
        if args.trust_anchor_certificate is not None and args.kmsuser_password is not None:
            self.key_store = aws.kms.CustomKeyStore(
                f"{name}-key-store",
                aws.kms.CustomKeyStoreArgs(
                    custom_key_store_name=key_store_name(args.environment),
                    custom_key_store_type="AWS_CLOUDHSM",
                    cloud_hsm_cluster_id=self.cluster.cluster_id,
                    trust_anchor_certificate=args.trust_anchor_certificate,
                    # Whatever the caller passed, the password travels and is stored encrypted.
                    key_store_password=pulumi.Output.secret(args.kmsuser_password),
                ),
                opts=pulumi.ResourceOptions(
                    parent=self, protect=args.protect, depends_on=list(self.hsms.values())
                ),
            )
            self.custom_key_store_id = self.key_store.id

        self.cluster_id = self.cluster.cluster_id
        self.cluster_state = self.cluster.cluster_state
        self.cluster_csr = self.cluster.cluster_certificates.apply(_csr)
        self.security_group_id = self.cluster.security_group_id
        self.hsm_ids = {subnet: hsm.hsm_id for subnet, hsm in self.hsms.items()}
        self.hsm_ip_addresses = {subnet: hsm.ip_address for subnet, hsm in self.hsms.items()}
        self.register_outputs(
            {
                "cluster_id": self.cluster_id,
                "cluster_state": self.cluster_state,
                "cluster_csr": self.cluster_csr,
                "security_group_id": self.security_group_id,
                "hsm_ids": self.hsm_ids,
                "hsm_ip_addresses": self.hsm_ip_addresses,
                "custom_key_store_id": self.custom_key_store_id,
            }
        )


def _csr(
    certificates: Sequence[aws.cloudhsmv2.outputs.ClusterClusterCertificate] | None,
) -> str | None:
    return certificates[0].cluster_csr if certificates else None
