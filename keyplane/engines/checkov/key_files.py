"""Key material in binary files, for the secrets scan (KM-STO-001, Policy §6: "no key material
is in the repository").

checkov's secrets scan (detect-secrets) reads text only: a binary file is skipped and counted
clean, so a committed DER-encoded private key, a PKCS#12 (`.p12`, `.pfx`) or a Java key store
passed silently. `key_material` says whether a file's bytes are one of these, from their
structure (parsed with the `cryptography` library where it can, by the format's magic number
otherwise), never from the file's name, and never by decrypting anything.
"""

from __future__ import annotations

import warnings

#: PKCS#12's `PFX` starts with `version INTEGER 3` and its `authSafe` is PKCS#7 `data` (RFC 7292
#: §4): the DER of both, found at the start of the structure.
_PFX_VERSION = bytes.fromhex("020103")
_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")
#: Java key stores: JKS and JCEKS magic numbers (the first four bytes).
_JAVA_KEY_STORES = {
    bytes.fromhex("feedfeed"): "a Java key store (JKS)",
    bytes.fromhex("cececece"): "a Java key store (JCEKS)",
}


def key_material(data: bytes) -> str | None:
    """What key material the binary content `data` is ("a DER-encoded private key", "an
    encrypted DER-encoded private key", "a PKCS#12 key store", "a Java key store (JKS)"...), or
    None when it is none of these. Text is not judged here (checkov's scan reads it)."""
    if len(data) < 4:
        return None
    java = _JAVA_KEY_STORES.get(data[:4])
    if java is not None:
        return java
    if data[0] != 0x30:  # every DER structure below is a SEQUENCE
        return None
    if _PFX_VERSION in data[:8] and _PKCS7_DATA in data[:32]:
        return "a PKCS#12 key store"
    return _der_private_key(data)


def _der_private_key(data: bytes) -> str | None:
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        load_der_private_key,
    )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated key types still load, with a warning
            load_der_private_key(data, password=None)
    except TypeError:
        # "Password was not given but private key is encrypted": PKCS#8 EncryptedPrivateKeyInfo.
        return "an encrypted DER-encoded private key"
    except (ValueError, Exception):
        return None
    return "a DER-encoded private key"
