"""Rendering AWS components under the mock engine, and reading what they registered."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from keyplane.config import Environment
from keyplane.config.model import ResolvedKey
from keyplane.estate import load_estate
from keyplane.render import RenderResult, render, unwrap_secrets
from keyplane.wire import Registration

REPO = Path(__file__).resolve().parents[2]
ESTATE = REPO / "environments"

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUexample\n-----END CERTIFICATE-----\n"
#: Stack config that takes an HSM environment all the way: key store created and connected.
HSM_READY = {
    "keyplane:cloudhsmKmsuserPassword": "kmsuser-test-password",
    "keyplane:cloudhsmTrustAnchorCertificate": PEM,
    "keyplane:cloudhsmKeyStoreConnected": "true",
}

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"

#: Every KMS action that touches key material (administrators must match none of them).
CRYPTO_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:DeriveSharedSecret",
    "kms:CreateGrant",
)


@cache
def bundled() -> Mapping[str, Environment]:
    return load_estate(ESTATE).environments


def run(
    program: Callable[[], object], *, stack: str = "dev", config: Mapping[str, str] | None = None
) -> RenderResult:
    """Run `program` (which may return its component) under the mock engine."""

    def wrapped() -> None:
        program()

    return render(wrapped, project="keyplane", stack=stack, config=config)


def one(result: RenderResult, type_: str, name: str) -> Registration:
    found = [r for r in result.resources if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)} registrations"
    return found[0]


def of_type(result: RenderResult, type_: str) -> list[Registration]:
    return [r for r in result.resources if r.type == type_]


def names(result: RenderResult, type_: str) -> set[str]:
    return {r.name for r in of_type(result, type_)}


def policy(registration: Registration, field: str = "policy") -> dict[str, Any]:
    value = unwrap_secrets(registration.inputs[field])
    parsed: dict[str, Any] = json.loads(value)
    return parsed


def statements(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Statements by Sid (every keyplane statement has one, each once)."""
    result = {s["Sid"]: s for s in document["Statement"]}
    assert len(result) == len(document["Statement"])
    return result


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def principals(statement: Mapping[str, Any], kind: str = "AWS") -> list[str]:
    principal = statement["Principal"]
    if principal == "*":
        return ["*"]
    return as_list(principal.get(kind, []))


def allows(actions: str | list[str], action: str) -> bool:
    """Whether an IAM action list (with wildcards) covers `action`."""
    return any(fnmatchcase(action.lower(), a.lower()) for a in as_list(actions))


def allow_statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    return (s for s in document["Statement"] if s["Effect"] == "Allow")


def environment(**changes: Any) -> Environment:
    """The bundled dev environment (development tier, no HSM) with top-level fields changed."""
    data = bundled()["dev"].model_dump(mode="json", exclude_none=True)
    data.update(copy.deepcopy(changes))
    return Environment.model_validate(data)


def resolved(env: Environment, name: str) -> ResolvedKey:
    key = env.key(name)
    assert key is not None
    return env.resolve(key)
