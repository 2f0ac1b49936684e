"""Facts from a stack's own values: its outputs and its plain configuration (KM-STO-001).

Policy §6 (KM-STO-001: "no secret value appears in plain text in resource inputs, stack outputs
or configuration"). Resource inputs have fields whose meaning is known (`secretString`,
`privateKey`); stack outputs and configuration keys are named by the program's author, so a
value is taken for a secret when it **looks like one**:

- its key (the last name of its path: `dbPassword`, `paymentsApi.secretString`, `app:apiToken`)
  contains one of `SECRET_WORDS` (password, passwd, passphrase, secret, token, private key,
  access key, api key, credential, connection string), unless the key's last word names an
  identifier rather than a value (`secretId`, `tokenArn`, `passwordLength`: `IDENTIFIER_WORDS`);
- or its value has the shape of key material whatever its key: a PEM private key block, or an
  AWS secret access key (40 characters of `A-Za-z0-9/+` mixing upper case, lower case and
  digits; a hex digest has no upper case and is not taken).

A value Pulumi marks secret (a secure configuration value, an output wrapped with
`pulumi.Output.secret`, `[secret]` in a preview, ciphertext in an export) is never a finding;
nor are empty strings, booleans and values unknown until deployment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from keyplane.facts.model import SecretValue
from keyplane.facts.values import Ref
from keyplane.standard import Cloud
from keyplane.wire import SECRET_SIG, SIG_KEY
from keyplane.wire import UNKNOWN as UNKNOWN_SENTINEL

#: Words of a key that names a secret value.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "privatekey",
        "accesskey",
        "secretkey",
        "apikey",
        "credential",
        "credentials",
        "connectionstring",
    }
)
#: Last words of a key that names something about a secret, not the secret itself.
IDENTIFIER_WORDS = frozenset(
    {
        "id",
        "ids",
        "arn",
        "arns",
        "name",
        "names",
        "url",
        "uri",
        "version",
        "path",
        "type",
        "length",
        "ttl",
        "enabled",
        "policy",
        "count",
        "expiry",
        "expires",
        "rotation",
        "region",
    }
)
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_AWS_SECRET_KEY = re.compile(r"[A-Za-z0-9/+]{40}")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SECRET_TEXT = "[secret]"


def _words(key: str) -> list[str]:
    """`dbPassword` → [db, password]; `private_key` → [private, key]; `app:apiToken` → [api,
    token] (the configuration namespace is left out)."""
    name = key.rsplit(":", 1)[-1]
    return [w.lower() for w in _WORD.findall(name)]


def key_names_secret(key: str) -> bool:
    """Whether a configuration or output key names a secret value (see the module's notes)."""
    words = _words(key)
    if not words or words[-1] in IDENTIFIER_WORDS:
        return False
    joined = {a + b for a, b in pairwise(words)}
    return bool((set(words) | joined) & SECRET_WORDS)


def value_looks_like_key_material(value: str) -> bool:
    """A PEM private key block, or the shape of an AWS secret access key."""
    if _PEM_PRIVATE_KEY.search(value):
        return True
    return bool(
        _AWS_SECRET_KEY.fullmatch(value)
        and re.search(r"[A-Z]", value)
        and re.search(r"[a-z]", value)
        and re.search(r"\d", value)
    )


def _is_secret(value: Any) -> bool:
    return (isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG) or (
        value == _SECRET_TEXT
    )


def plaintext_secrets(values: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every plain value in `values` that looks like a secret."""
    yield from _walk(values, "", named_secret=False)


def _walk(value: Any, path: str, *, named_secret: bool) -> Iterator[tuple[str, Any]]:
    if _is_secret(value):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield from _walk(item, child, named_secret=named_secret or key_names_secret(str(key)))
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", named_secret=named_secret)
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        if not value or value == UNKNOWN_SENTINEL:
            return
        if named_secret or value_looks_like_key_material(value):
            yield path, value
    elif named_secret and isinstance(value, int | float):
        yield path, value


def stack_value_facts(
    values: Mapping[str, Any],
    *,
    subject_urn: str,
    subject_name: str,
    subject_type: str,
    location: str,
) -> tuple[SecretValue, ...]:
    """A plain-text `SecretValue` naming every value that looks like a secret (one per subject,
    so that a report keeps them together); `location` is what the message names (`stack
    outputs`, `stack configuration`)."""
    paths = [path for path, _ in plaintext_secrets(values)]
    if not paths:
        return ()
    return (
        SecretValue(
            urn=subject_urn,
            name=subject_name,
            type=subject_type,
            cloud=Cloud.AWS,  # not read by KM-STO-001; a stack has no single cloud
            secret=Ref(None, (subject_urn,) if subject_urn else ()),
            field=", ".join(paths),
            plaintext=True,
            location=location,
        ),
    )
