"""KM-CRT-001 in the live audit (issue 16): the account's ACM certificates read from a moto
server over HTTP, as `keyplane audit --endpoint-url` reads a real account, and judged as the pack
judges a certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.audit.support import ENV, build_account, client, write_estate
from tests.audit.test_cli import endpoint, run  # noqa: F401 - the moto server fixture
from tests.certs import self_signed

RULE = "KM-CRT-001"


def _self_signed(bits: int) -> tuple[bytes, bytes]:
    """A certificate and its private key, made at run time (nothing committed)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    certificate = self_signed(key)
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )


def _audit(endpoint_url: str, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(
        ENV,
        "--estate",
        str(write_estate(tmp_path)),
        "--endpoint-url",
        endpoint_url,
        "-f",
        "json",
        "--as-of",
        "2026-11-29",
    )
    return code, json.loads(out) if out else {}, err


def _certificates(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["rule"] == RULE]


def test_an_imported_rsa_1024_certificate_fails_over_http(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    build_account(endpoint)
    body, key = _self_signed(1024)
    arn = client("acm", endpoint).import_certificate(Certificate=body, PrivateKey=key)[
        "CertificateArn"
    ]
    code, document, err = _audit(endpoint, tmp_path)
    assert code == 1, err
    [finding] = _certificates(document)
    assert finding["enforcement"] == "mandatory"
    assert finding["resource"] == arn
    assert "key algorithm RSA-1024" in finding["message"]
    assert "Type IMPORTED (ACM does not renew imported certificates)" in finding["message"]
    assert key.decode().splitlines()[1] not in json.dumps(document)


def test_an_account_without_certificates_has_no_certificate_finding(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    build_account(endpoint)
    code, document, err = _audit(endpoint, tmp_path)
    assert code == 0, err
    assert _certificates(document) == []
