"""Certificates made at run time for tests (nothing committed)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

#: When the certificates below start to be valid.
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def self_signed(
    key: CertificateIssuerPrivateKeyTypes,
    common_name: str = "old.acme.example",
    start: dt.datetime = START,
    days: int = 365,
) -> x509.Certificate:
    """A certificate of `key`'s public key signed by `key` itself, valid `days` from `start`."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
