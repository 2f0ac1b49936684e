"""What the components of every cloud share: the input error, the keyplane tags and the
declared secrets of the secret stores that take them as declared (GCP, Azure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pulumi

from keyplane.config.model import Certificate, Environment, Renewal
from keyplane.standard import (
    TAG_ENVIRONMENT,
    TAG_MANAGED,
    TAG_PURPOSE,
    TAG_RENEW_BY,
    TAG_RENEWAL_OWNER,
    TAG_TENANT,
    KeyPurpose,
)


class ComponentInputError(pulumi.RunError, ValueError):
    """An argument a component cannot provision; raised before anything is registered.

    A `pulumi.RunError`, so that `pulumi up` prints the one-line message without a traceback,
    and a `ValueError`, which is what it is.
    """


def invalid(field: str, detail: str) -> ComponentInputError:
    """`Invalid "field" argument: detail` (the message form of STYLE.md)."""
    return ComponentInputError(f'Invalid "{field}" argument: {detail}')


#: The purpose tag of alerting resources (KM-MON-001): they watch keys, they are none.
ALERTS_PURPOSE: Mapping[str, str] = MappingProxyType({TAG_PURPOSE: "misuse-alerts"})


def tags(
    environment: str,
    *,
    purpose: KeyPurpose | None = None,
    tenant: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The keyplane tags (DESIGN.md "Tags/labels") of a resource of `environment`."""
    result = {TAG_ENVIRONMENT: environment, TAG_MANAGED: "true"}
    if purpose is not None:
        result[TAG_PURPOSE] = purpose.value
    if tenant is not None:
        result[TAG_TENANT] = tenant
    result.update(extra or {})
    return result


@dataclass(frozen=True)
class DeclaredSecret:
    """A declared secret as a GCP or Azure secret store provisions it.

    rotation_days: the secret's rotation period (GCP: Secret Manager's rotation notifications;
        Azure: the secret expires this many days after it is set).
    users: the principals that may read this secret only (GCP: IAM members granted
        `roles/secretmanager.secretAccessor`; Azure: Entra ID object IDs granted Key Vault
        Secrets User).
    """

    name: str
    purpose: KeyPurpose
    rotation_days: int
    tenant: str | None = None
    users: tuple[str, ...] = ()


def declared_secrets(env: Environment) -> tuple[DeclaredSecret, ...]:
    """The environment's secrets with the policy's defaults applied."""
    return tuple(
        DeclaredSecret(
            name=s.name,
            purpose=s.purpose,
            rotation_days=env.secret_rotation_days(s),
            tenant=s.tenant,
            users=env.users_of(s.name),
        )
        for s in env.secrets
    )


def renewal_plan(certificate: Certificate) -> dict[str, str]:
    """The manual renewal plan of a certificate declared `renewal: manual`, as tags
    (`keyplane-renewal-owner`, `keyplane-renew-by`; KM-CRT-001), as far as it is declared; empty
    for a managed one."""
    plan: dict[str, str] = {}
    if certificate.renewal is Renewal.MANUAL:
        if certificate.owner:
            plan[TAG_RENEWAL_OWNER] = certificate.owner
        if certificate.renew_by is not None:
            plan[TAG_RENEW_BY] = certificate.renew_by.isoformat()
    return plan


def refuse_duplicate_certificates(certificates: tuple[Certificate, ...]) -> None:
    """Raise `ComponentInputError` when two declared certificates share a name (each becomes a
    resource named after it)."""
    seen: set[str] = set()
    for certificate in certificates:
        if certificate.name in seen:
            raise invalid(
                "certificates",
                f"certificate {certificate.name!r} is declared twice; name each one once",
            )
        seen.add(certificate.name)
