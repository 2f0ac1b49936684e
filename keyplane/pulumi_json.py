"""Reading what the real Pulumi CLI writes: `pulumi preview --json` and `pulumi stack export`.

Both become the same `Registration` records the offline preview renders, so `keyplane scan`
judges them exactly like `keyplane preview`. Secrets are kept marked and never decoded: the
preview digest shows them as "[secret]", a stack export as ciphertext (or plaintext with
--show-secrets, which is still treated as a secret).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.files import read_regular_file
from keyplane.wire import SECRET_SIG, SIG_KEY, STACK_TYPE, Registration

MAX_JSON_BYTES = 512 << 20
SECRET_TEXT = "[secret]"
DELETE_OPS = frozenset(
    {"delete", "discard", "delete-replaced", "discard-replaced", "remove-pending-replace"}
)

Kind = Literal["preview", "export"]
#: Preview steps of a resource the program reads (`Resource.get`) rather than manages.
READ_OPS = frozenset({"read", "read-replacement", "read-discard"})


@dataclass(frozen=True)
class PulumiState:
    kind: Kind
    project: str
    stack: str
    #: Resources as they will be (preview) or are (export), stack resource excluded.
    resources: list[Registration]
    #: For previews: the operation per URN (create, update, replace, delete, same...).
    operations: dict[str, str]
    #: For previews: the state before the change, for resources that existed.
    old_resources: list[Registration]
    #: Physical IDs by URN, where the file has them (a changed ID means a replacement).
    ids: dict[str, str] = field(default_factory=dict)
    #: The stack's own values: its outputs and (previews) its configuration (KM-STO-001).
    stack_values: StackValues | None = None


@dataclass(frozen=True)
class StackValues:
    """The root stack resource's outputs and the stack configuration, secrets still marked."""

    urn: str
    name: str
    outputs: Mapping[str, Any]
    config: Mapping[str, Any]


def _fail(path: Path, line: int | None, problem: str, fix: str) -> ConfigError:
    return ConfigError([Problem(str(path), line, "", problem, fix=fix)])


_FIX = "pass the output of `pulumi preview --json` or `pulumi stack export`"


def load_pulumi_json(path: Path) -> PulumiState:
    """Read a preview digest or a stack export; ConfigError (exit 2) on anything else.

    Only a regular file of at most MAX_JSON_BYTES is read (a FIFO, a device or a directory is
    refused before reading); numbers longer than MAX_NUMBER_DIGITS, NaN and Infinity, and
    nesting deeper than MAX_JSON_DEPTH are refused rather than judged.
    """
    raw = read_regular_file(path, str(path), MAX_JSON_BYTES, _FIX)
    try:
        document = json.loads(
            raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
        )
    except UnicodeDecodeError:
        raise _fail(path, None, "not UTF-8 text (binary data?)", _FIX) from None
    except json.JSONDecodeError as err:
        truncated = " (the file looks truncated)" if err.pos >= len(err.doc) - 1 else ""
        raise _fail(
            path, err.lineno, f"not valid JSON: {err.msg} at column {err.colno}{truncated}", _FIX
        ) from None
    except _BadNumber as err:
        raise _fail(path, None, f"not valid JSON for Pulumi: {err}", _FIX) from None
    except RecursionError:
        raise _fail(path, None, f"nested more than {MAX_JSON_DEPTH} levels deep", _FIX) from None
    if _too_deep(document, MAX_JSON_DEPTH):
        raise _fail(path, None, f"nested more than {MAX_JSON_DEPTH} levels deep", _FIX)
    return parse_pulumi_json(document, path)


#: Pulumi writes no number this long; Python refuses more than 4,300 digits with a ValueError.
MAX_NUMBER_DIGITS = 100
#: Pulumi's own documents nest a few levels (resource, inputs, policy objects); keyplane's
#: readers recurse over values, so deeper documents are refused here, not mid-judgement.
MAX_JSON_DEPTH = 64


class _BadNumber(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _BadNumber(f"a number of {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_DIGITS or value in (math.inf, -math.inf):
        raise _BadNumber(f"the number {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    return value


def _refuse_constant(name: str) -> float:
    raise _BadNumber(f"{name} is not a JSON number")


def _too_deep(document: Any, limit: int) -> bool:
    """Whether `document` nests lists and objects more than `limit` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def parse_pulumi_json(document: Any, path: Path = Path("<input>")) -> PulumiState:
    if isinstance(document, dict) and isinstance(document.get("steps"), list):
        return _from_preview(document, path)
    deployment = document.get("deployment") if isinstance(document, dict) else None
    if isinstance(deployment, dict) and isinstance(deployment.get("resources", []), list):
        return _from_export(deployment, path)
    raise _fail(
        path,
        None,
        "neither a preview (no 'steps' list) nor a stack export (no 'deployment.resources' list)",
        _FIX,
    )


def _from_export(deployment: Mapping[str, Any], path: Path) -> PulumiState:
    states = deployment.get("resources") or []
    resources = [
        _registration(state, path, f"deployment.resources[{i}]") for i, state in enumerate(states)
    ]
    project, stack = _names(resources)
    ids = {
        str(state["urn"]): str(state["id"])
        for state in states
        if isinstance(state, dict) and state.get("id")
    }
    return PulumiState(
        "export",
        project,
        stack,
        [r for r in resources if r.type != STACK_TYPE],
        {},
        [],
        ids,
        _stack_values(states, {}),
    )


def _stack_values(states: Any, config: Any) -> StackValues | None:
    """The stack resource's outputs (an export's `outputs`, a preview step's new state) and the
    preview's `config`, with the CLI's secret forms marked."""
    for state in states:
        if isinstance(state, dict) and state.get("type") == STACK_TYPE:
            urn = str(state.get("urn") or "")
            outputs = state.get("outputs") if isinstance(state.get("outputs"), dict) else {}
            return StackValues(
                urn,
                urn.rsplit("::", 1)[-1],
                mark_secrets(outputs),
                mark_secrets(config if isinstance(config, dict) else {}),
            )
    if isinstance(config, dict) and config:
        return StackValues("", "stack", {}, mark_secrets(config))
    return None


def _from_preview(document: Mapping[str, Any], path: Path) -> PulumiState:
    resources: list[Registration] = []
    old: list[Registration] = []
    operations: dict[str, str] = {}
    for index, step in enumerate(document["steps"]):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            raise _fail(path, None, f"{where}: expected an object", _FIX)
        op = str(step.get("op", ""))
        urn = step.get("urn")
        if isinstance(urn, str):
            operations[urn] = op
        if isinstance(step.get("oldState"), dict):
            old.append(_registration(step["oldState"], path, f"{where}.oldState"))
        if op not in DELETE_OPS and isinstance(step.get("newState"), dict):
            resources.append(
                _registration(step["newState"], path, f"{where}.newState", read=op in READ_OPS)
            )
    project, stack = _names(resources or old)
    new_states = [step.get("newState") for step in document["steps"] if isinstance(step, dict)]
    return PulumiState(
        "preview",
        project,
        stack,
        [r for r in resources if r.type != STACK_TYPE],
        operations,
        [r for r in old if r.type != STACK_TYPE],
        stack_values=_stack_values(new_states, document.get("config")),
    )


def _names(resources: list[Registration]) -> tuple[str, str]:
    for resource in resources:
        parts = resource.urn.split("::")
        if len(parts) >= 4 and parts[0].startswith("urn:pulumi:"):
            return parts[1], parts[0].removeprefix("urn:pulumi:")
    return "", ""


def _registration(
    state: Mapping[str, Any], path: Path, where: str, *, read: bool = False
) -> Registration:
    urn = state.get("urn")
    type_ = state.get("type")
    if not isinstance(urn, str) or not isinstance(type_, str):
        raise _fail(path, None, f"{where}: a resource without 'urn' and 'type'", _FIX)
    inputs = state.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise _fail(path, None, f"{where}.inputs: expected an object", _FIX)
    provider = state.get("provider") or ""
    return Registration(
        urn=urn,
        type=type_,
        name=urn.rsplit("::", 1)[-1],
        custom=bool(state.get("custom", False)),
        parent=str(state.get("parent") or ""),
        dependencies=tuple(str(d) for d in state.get("dependencies") or ()),
        protect=bool(state.get("protect", False)),
        retain_on_delete=bool(state.get("retainOnDelete", False)),
        provider=str(provider),
        inputs=mark_secrets(inputs),
        property_dependencies={
            key: tuple(str(u) for u in urns)
            for key, urns in (state.get("propertyDependencies") or {}).items()
            if isinstance(urns, list)
        },
        read=read or state.get("external") is True,
    )


def mark_secrets(value: Any) -> Any:
    """The CLI's secret forms, as the wire form's secret marker (values are never decoded)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "value": SECRET_TEXT}
        return {k: mark_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_secrets(v) for v in value]
    if value == SECRET_TEXT:
        return {SIG_KEY: SECRET_SIG, "value": SECRET_TEXT}
    return value
