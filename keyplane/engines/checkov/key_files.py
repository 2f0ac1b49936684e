"""Key material checkov's secrets scan misses, for the secrets scan (KM-STO-001, Policy §6: "no
key material is in the repository").

checkov's scan (detect-secrets) reads text only: a binary file is skipped and counted clean, so a
committed DER-encoded private key, a PKCS#12 (`.p12`, `.pfx`) or a Java key store passed
silently; `key_material` says whether a file's bytes are one of these. Its private-key detector
also reads no file larger than 8 KiB, knows no `ENCRYPTED PRIVATE KEY` block and no PuTTY key
file of version 3: `private_keys` finds the private keys of a text. Both judge by structure
(parsed with the `cryptography` library where it can, by the format's magic number or header
otherwise), never by a file's name, and never decrypt anything.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import NamedTuple

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


class KeyBlock(NamedTuple):
    """A private key in a text: its first and last line (from 1) and what it is."""

    first: int
    last: int
    kind: str


#: A PEM private key block (RFC 7468 labels, OpenSSH's and PGP's), at the start of a line.
_PEM_KEY = re.compile(
    r"^[ \t]*-----BEGIN (?P<label>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----[ \t]*\r?\n"
    r"(?P<body>(?:[^\n]*\r?\n){1,400}?)"
    r"[ \t]*-----END (?P=label)-----",
    re.MULTILINE,
)
#: A PuTTY private key file (`.ppk`, versions 2 and 3): its header, then its private lines.
_PUTTY_KEY = re.compile(
    r"^PuTTY-User-Key-File-(?P<version>\d+): [^\n]*\n(?:[^\n]*\n){0,60}?Private-Lines: \d+",
    re.MULTILINE,
)


def private_keys(text: str) -> list[KeyBlock]:
    """The private keys in `text`: PEM blocks that `cryptography` loads as a private key (or
    says are encrypted), OpenSSH and PGP private key blocks with a body, and PuTTY key files.
    A block that does not parse (an example, a placeholder, a truncated key) is left to
    checkov's detectors, as is every other kind of secret."""
    found: list[KeyBlock] = []
    for match in _PEM_KEY.finditer(text):
        kind = _pem_private_key(match.group("label"), match.group(0).strip())
        if kind is not None:
            first = text.count("\n", 0, match.start()) + 1
            found.append(KeyBlock(first, text.count("\n", 0, match.end()) + 1, kind))
    for match in _PUTTY_KEY.finditer(text):
        first = text.count("\n", 0, match.start()) + 1
        found.append(
            KeyBlock(
                first,
                text.count("\n", 0, match.end()) + 1,
                f"a PuTTY private key (version {match.group('version')})",
            )
        )
    return found


#: A JSON string (as written in the file, quotes included).
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def json_private_keys(text: str) -> list[KeyBlock]:
    """The private keys inside the strings of a JSON text (a key file's `private_key`, a value
    in a stack document), where a PEM's lines are `\\n` escapes: each at the line of its
    string (`private_keys` of the string's value)."""
    if "-----BEGIN" not in text:
        return []
    found: list[KeyBlock] = []
    for match in _JSON_STRING.finditer(text):
        token = match.group(0)
        if "-----BEGIN" not in token or "PRIVATE KEY" not in token:
            continue
        try:
            value = json.loads(token)
        except ValueError:
            continue
        line = text.count("\n", 0, match.start()) + 1
        found.extend(KeyBlock(line, line, block.kind) for block in private_keys(value))
    return found


def _pem_private_key(label: str, block: str) -> str | None:
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        load_pem_private_key,
        load_ssh_private_key,
    )

    # Each line as PEM has it: a block indented in a YAML value or a comment copy loads too.
    data = "\n".join(line.strip() for line in block.splitlines()).encode("ascii", "replace")
    if label == "PGP PRIVATE KEY BLOCK":
        return "a PGP private key" if len(block) > 200 else None
    loader = load_ssh_private_key if label == "OPENSSH PRIVATE KEY" else load_pem_private_key
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loader(data, password=None)
    except TypeError:
        return f"an encrypted private key ({label})"
    except Exception:
        return None
    return f"a private key ({label})"
