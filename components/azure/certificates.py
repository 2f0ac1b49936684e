"""The declared TLS certificates of an environment on Azure (`keyplane:azure:Certificates`).

Key Vault certificates (with their lifetime actions) are data-plane objects: neither ARM nor
pulumi-azure-native can declare them. The managed form ARM offers is an App Service certificate
order: a CA-issued certificate that Azure renews by itself (`autoRenew`), whose key pair is
stored as a secret in the environment's Key Vault (`AppServiceCertificateOrderCertificate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import certificateregistration as registration

from keyplane.components._common import invalid, refuse_duplicate_certificates, renewal_plan, tags
from keyplane.components.shard import renders
from keyplane.config.model import Certificate, Renewal
from keyplane.standard import KeyPurpose

TYPE = "keyplane:azure:Certificates"

#: RSA modulus sizes an App Service certificate order takes (it issues RSA keys only).
_KEY_SIZES = {"RSA-2048": 2048, "RSA-3072": 3072, "RSA-4096": 4096}


@dataclass(frozen=True)
class AzureCertificatesArgs:
    """What an AzureCertificates component provisions.

    Attributes:
        environment: the environment's name (the `keyplane-environment` tag).
        resource_group_name: the environment's resource group.
        vault_id: ARM ID of the Key Vault that stores each certificate's key pair as a secret.
        certificates: the declared certificates: name, domains (the first is the subject; a
            `*.` domain orders a wildcard certificate, the others are not covered: declare one
            certificate per name), key algorithm (RSA-2048/3072/4096), tenant, renewal
            (`managed`: `autoRenew: true`; `manual`: `autoRenew: false`, plan in tags).
    """

    environment: str
    resource_group_name: pulumi.Input[str]
    vault_id: pulumi.Input[str]
    certificates: tuple[Certificate, ...]

    def __post_init__(self) -> None:
        refuse_duplicate_certificates(self.certificates)
        for certificate in self.certificates:
            if certificate.algorithm not in _KEY_SIZES:
                raise invalid(
                    "certificates",
                    f"certificate {certificate.name!r}: App Service certificates are RSA only, "
                    f"not {certificate.algorithm!r}; use one of {', '.join(_KEY_SIZES)}",
                )


class AzureCertificates(pulumi.ComponentResource):
    """Per declared certificate: an App Service certificate order `<name>` (global, one year,
    `autoRenew` for managed renewal) and its Key Vault binding `<name>-vault` (the key pair kept
    as the vault secret `<name>`).

    Domain verification (a TXT record) and the vault access of the Microsoft.Azure.
    CertificateRegistration service are manual steps (README, TLS certificates).

    Outputs:
        certificate_order_ids: declared certificate name -> certificate order ARM ID.
        domain_verification_tokens: declared certificate name -> the token of the TXT record
            that proves domain ownership.
    """

    orders: dict[str, registration.AppServiceCertificateOrder]
    certificate_order_ids: dict[str, pulumi.Output[str]]
    domain_verification_tokens: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: AzureCertificatesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.orders = {}
        for certificate in args.certificates:
            if not renders(certificate.tenant):
                continue  # another shard's tenant's (`keyplane.components.shard`)
            subject = certificate.domains[0]
            order_tags = tags(
                args.environment,
                purpose=KeyPurpose.TLS_CERTIFICATE,
                tenant=certificate.tenant,
                extra=renewal_plan(certificate),
            )
            order = registration.AppServiceCertificateOrder(
                certificate.name,
                certificate_order_name=certificate.name,
                resource_group_name=args.resource_group_name,
                location="global",
                product_type=registration.CertificateProductType.STANDARD_DOMAIN_VALIDATED_WILD_CARD_SSL
                if subject.startswith("*.")
                else registration.CertificateProductType.STANDARD_DOMAIN_VALIDATED_SSL,
                distinguished_name=f"CN={subject}",
                key_size=_KEY_SIZES[certificate.algorithm],
                validity_in_years=1,
                auto_renew=certificate.renewal is Renewal.MANAGED,
                tags=order_tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            registration.AppServiceCertificateOrderCertificate(
                f"{certificate.name}-vault",
                certificate_order_name=order.name,
                resource_group_name=args.resource_group_name,
                location="global",
                key_vault_id=args.vault_id,
                key_vault_secret_name=certificate.name,
                tags=order_tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.orders[certificate.name] = order
        self.certificate_order_ids = {k: v.id for k, v in self.orders.items()}
        self.domain_verification_tokens = {
            k: v.domain_verification_token for k, v in self.orders.items()
        }
        self.register_outputs(
            {
                "certificate_order_ids": self.certificate_order_ids,
                "domain_verification_tokens": self.domain_verification_tokens,
            }
        )
