"""Reports never copy what they flag: plain-text values KM-STO-001 judged secret, marked.

KM-STO-001 (Policy §6) flags a secret written in plain text in a resource's inputs. The report
lists those inputs (`resources[].inputs`) and `--emit-plan` writes them into the Terraform-plan
form: left as they are, every output of keyplane would carry a second copy of the secret. After
judging, the gate marks each flagged value as a Pulumi secret (the value stays inside the mark,
so that every format masks it as `"[secret]"` and redacts copies of it pasted elsewhere), and the
emitted plan has each flagged value replaced by `"[secret]"`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from keyplane.adapters.pulumi import SECRET_VALUE_TYPES, facts_from_resource
from keyplane.facts.model import SecretValue
from keyplane.wire import SECRET_SIG, SIG_KEY, Registration

SECRET_TEXT = "[secret]"
#: Shorter flagged values are replaced where they are a whole value, never inside other text
#: (replacing "abc" in every string would garble the plan and reveal nothing).
MIN_SUBSTRING_LENGTH = 6


def plaintext_secret_paths(resources: Iterable[Registration]) -> dict[str, tuple[str, ...]]:
    """URN → the dotted input paths (`secretString`, `properties.value`) whose value KM-STO-001
    judges a plain-text secret. Only types with secret-bearing inputs are read."""
    found: dict[str, tuple[str, ...]] = {}
    for resource in resources:
        if resource.type not in SECRET_VALUE_TYPES:
            continue
        paths = tuple(
            f.field
            for f in facts_from_resource(resource)
            if isinstance(f, SecretValue) and f.plaintext is True
        )
        if paths:
            found[resource.urn] = paths
    return found


def _get(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _marked(inputs: Mapping[str, Any], path: Sequence[str]) -> dict[str, Any]:
    head, *rest = path
    result = dict(inputs)
    value = result.get(head)
    if not rest:
        result[head] = {SIG_KEY: SECRET_SIG, "value": value}
    elif isinstance(value, Mapping):
        result[head] = _marked(value, rest)
    return result


def redact_resources(
    resources: Sequence[Registration], flagged: Mapping[str, tuple[str, ...]]
) -> list[Registration]:
    """`resources` with every flagged input marked secret (other resources unchanged)."""
    if not flagged:
        return list(resources)
    result = []
    for resource in resources:
        paths = flagged.get(resource.urn)
        if not paths:
            result.append(resource)
            continue
        inputs: Mapping[str, Any] = resource.inputs
        for path in paths:
            inputs = _marked(inputs, path.split("."))
        result.append(dataclasses.replace(resource, inputs=inputs, wire=None))
    return result


def flagged_values(
    resources: Iterable[Registration], flagged: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Every string of the flagged values, longest first."""
    strings: set[str] = set()
    for resource in resources:
        for path in flagged.get(resource.urn, ()):
            _strings(_get(resource.inputs, path), strings)
    return tuple(sorted(strings, key=lambda s: (-len(s), s)))


def _strings(value: Any, found: set[str]) -> None:
    if isinstance(value, Mapping):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, found)
    elif isinstance(value, str) and value:
        found.add(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found.add(str(value))


def redact_plan(plan: dict[str, Any], values: Sequence[str]) -> dict[str, Any]:
    """The plan with every string that is, or contains, a flagged value replaced."""
    if not values:
        return plan
    result = _redact(plan, values)
    assert isinstance(result, dict)
    return result


def _redact(value: Any, values: Sequence[str]) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, values) for v in value]
    if isinstance(value, str):
        for secret in values:
            if value == secret:
                return SECRET_TEXT
            if len(secret) >= MIN_SUBSTRING_LENGTH and secret in value:
                value = value.replace(secret, SECRET_TEXT)
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in values:
        return SECRET_TEXT
    return value
