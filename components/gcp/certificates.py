"""The declared TLS certificates of an environment on GCP (`keyplane:gcp:Certificates`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from keyplane.components._common import invalid, refuse_duplicate_certificates
from keyplane.components.gcp._common import labels
from keyplane.components.shard import renders
from keyplane.config.model import Certificate, Renewal
from keyplane.standard import KeyPurpose

TYPE = "keyplane:gcp:Certificates"


@dataclass(frozen=True)
class GcpCertificatesArgs:
    """What a GcpCertificates component provisions.

    Attributes:
        environment: the environment's name (the `keyplane-environment` label).
        project: the environment's project.
        certificates: the declared certificates: name, domains, tenant. Google picks the key
            of a managed certificate (RSA-2048 or ECDSA-P256, both approved) and renews it;
            `renewal: manual` cannot be provisioned here (the loader refuses it on GCP).
    """

    environment: str
    project: str
    certificates: tuple[Certificate, ...]

    def __post_init__(self) -> None:
        refuse_duplicate_certificates(self.certificates)
        for certificate in self.certificates:
            if certificate.renewal is not Renewal.MANAGED:
                raise invalid(
                    "certificates",
                    f"certificate {certificate.name!r}: Certificate Manager renews the "
                    "certificates it manages; remove renewal: manual",
                )


class GcpCertificates(pulumi.ComponentResource):
    """One Certificate Manager managed certificate per declared certificate (Pulumi name = the
    declared name), authorised by a DNS authorization per domain (`<name>-<n>-dns`), so that
    Google renews it while the authorization's CNAME record stays in place.

    Outputs:
        certificate_ids: declared certificate name -> certificate ID.
        dns_records: declared certificate name -> the CNAME records to create once (`name`,
            `type`, `data`), one per domain.
    """

    certificates: dict[str, gcp.certificatemanager.Certificate]
    certificate_ids: dict[str, pulumi.Output[str]]
    dns_records: dict[str, list[pulumi.Output[list[dict[str, str]]]]]

    def __init__(
        self, name: str, args: GcpCertificatesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.certificates, self.dns_records = {}, {}
        for certificate in args.certificates:
            if not renders(certificate.tenant):
                continue  # another shard's tenant's (`keyplane.components.shard`)
            cert_labels = labels(
                args.environment, purpose=KeyPurpose.TLS_CERTIFICATE, tenant=certificate.tenant
            )
            authorizations = [
                gcp.certificatemanager.DnsAuthorization(
                    f"{certificate.name}-{index}-dns",
                    project=args.project,
                    domain=domain.removeprefix("*."),
                    labels=cert_labels,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for index, domain in enumerate(certificate.domains)
            ]
            self.certificates[certificate.name] = gcp.certificatemanager.Certificate(
                certificate.name,
                project=args.project,
                scope="DEFAULT",
                managed=gcp.certificatemanager.CertificateManagedArgs(
                    domains=list(certificate.domains),
                    dns_authorizations=[a.id for a in authorizations],
                ),
                labels=cert_labels,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.dns_records[certificate.name] = [
                a.dns_resource_records.apply(_records) for a in authorizations
            ]
        self.certificate_ids = {k: v.id for k, v in self.certificates.items()}
        self.register_outputs(
            {"certificate_ids": self.certificate_ids, "dns_records": self.dns_records}
        )


def _records(
    records: Sequence[gcp.certificatemanager.outputs.DnsAuthorizationDnsResourceRecord],
) -> list[dict[str, str]]:
    return [
        {"name": r.name or "", "type": r.type or "", "data": r.data or ""} for r in records or []
    ]
