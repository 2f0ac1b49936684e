"""The declared TLS certificates of an environment on AWS (`keyplane:aws:Certificates`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keyplane.adapters.tls import ACM_KEY_ALGORITHM
from keyplane.components._common import refuse_duplicate_certificates, renewal_plan
from keyplane.components.aws._common import invalid, tags
from keyplane.config.model import Certificate, Environment, Renewal
from keyplane.standard import KeyPurpose

TYPE = "keyplane:aws:Certificates"


@dataclass(frozen=True)
class CertificatesArgs:
    """What a Certificates component provisions.

    Attributes:
        environment: the environment's name (the `keyplane-environment` tag).
        certificates: the declared certificates (`Environment.certificates`): name, domains
            (the first is the certificate's subject, the others its alternative names), key
            algorithm (one of `CERTIFICATE_ALGORITHMS`), tenant, and renewal: `managed` (ACM
            validates by DNS and renews by itself) or `manual` (validated by e-mail: someone
            answers ACM's renewal mail, by `renew_by`; the plan goes to tags).
    """

    environment: str
    certificates: tuple[Certificate, ...]

    def __post_init__(self) -> None:
        refuse_duplicate_certificates(self.certificates)
        for certificate in self.certificates:
            if certificate.algorithm not in ACM_KEY_ALGORITHM:
                raise invalid(
                    "certificates",
                    f"certificate {certificate.name!r}: ACM does not issue "
                    f"{certificate.algorithm!r} certificates; use one of "
                    f"{', '.join(ACM_KEY_ALGORITHM)}",
                )

    @classmethod
    def from_environment(cls, env: Environment) -> CertificatesArgs:
        return cls(environment=env.name, certificates=env.certificates)


class Certificates(pulumi.ComponentResource):
    """One ACM certificate per declared certificate, Pulumi name = the declared name.

    Managed certificates are validated by DNS (`validationMethod: DNS`), so ACM renews them by
    itself while the validation CNAME records stay in place; manual ones are validated by e-mail
    and carry their renewal plan in the tags `keyplane-renewal-owner` and `keyplane-renew-by`.
    The DNS records are not created here (the zone may live anywhere): create the records of
    `validation_records` once, and keep them (README, TLS certificates).

    Outputs:
        certificate_arns: declared certificate name -> ACM certificate ARN.
        validation_records: declared certificate name -> the DNS records ACM validates with
            (`domainName`, `resourceRecordName`, `resourceRecordType`, `resourceRecordValue`).
    """

    certificates: dict[str, aws.acm.Certificate]
    certificate_arns: dict[str, pulumi.Output[str]]
    validation_records: dict[str, pulumi.Output[list[dict[str, str]]]]

    def __init__(
        self, name: str, args: CertificatesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        all_tags = {
            c.name: tags(
                args.environment,
                purpose=KeyPurpose.TLS_CERTIFICATE,
                tenant=c.tenant,
                extra=renewal_plan(c),
            )
            for c in args.certificates
        }
        super().__init__(TYPE, name, None, opts)
        self.certificates = {}
        for certificate in args.certificates:
            domain, *alternatives = certificate.domains
            self.certificates[certificate.name] = aws.acm.Certificate(
                certificate.name,
                aws.acm.CertificateArgs(
                    domain_name=domain,
                    subject_alternative_names=alternatives or None,
                    validation_method="DNS" if certificate.renewal is Renewal.MANAGED else "EMAIL",
                    key_algorithm=ACM_KEY_ALGORITHM[certificate.algorithm],
                    options=aws.acm.CertificateOptionsArgs(
                        certificate_transparency_logging_preference="ENABLED"
                    ),
                    tags=all_tags[certificate.name],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.certificate_arns = {k: v.arn for k, v in self.certificates.items()}
        self.validation_records = {
            k: v.domain_validation_options.apply(_records) for k, v in self.certificates.items()
        }
        self.register_outputs(
            {
                "certificate_arns": self.certificate_arns,
                "validation_records": self.validation_records,
            }
        )


def _records(
    options: Sequence[aws.acm.outputs.CertificateDomainValidationOption],
) -> list[dict[str, str]]:
    return [
        {
            "domainName": o.domain_name or "",
            "resourceRecordName": o.resource_record_name or "",
            "resourceRecordType": o.resource_record_type or "",
            "resourceRecordValue": o.resource_record_value or "",
        }
        for o in options or []
    ]
