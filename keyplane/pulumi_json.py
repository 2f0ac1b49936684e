"""Reading what the real Pulumi CLI writes: `pulumi preview --json` and `pulumi stack export`.

Both become the same `Registration` records the offline preview renders, so `keyplane scan`
judges them exactly like `keyplane preview`. Secrets are kept marked and never decoded: the
preview digest shows them as "[secret]", a stack export as ciphertext (or plaintext with
--show-secrets, which is still treated as a secret).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    #: The line where each URN first appears in the file (findings of a scan without an estate
    #: point there: the location the engine's own output gives).
    urn_lines: Mapping[str, int] = field(default_factory=dict)


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


def read_pulumi_json(path: Path) -> bytes:
    """The bytes of a file `load_pulumi_json` reads: only a regular file of at most
    MAX_JSON_BYTES (a FIFO, a device or a directory is refused before reading; ConfigError)."""
    return read_regular_file(path, str(path), MAX_JSON_BYTES, _FIX)


def load_pulumi_json(path: Path, raw: bytes | None = None) -> PulumiState:
    """Read a preview digest or a stack export (`raw`: its bytes, when `read_pulumi_json`
    read them already); ConfigError (exit 2) on anything else.

    Only a regular file of at most MAX_JSON_BYTES is read (a FIFO, a device or a directory is
    refused before reading); numbers longer than MAX_NUMBER_DIGITS, NaN and Infinity, and
    nesting deeper than MAX_JSON_DEPTH are refused rather than judged.
    """
    raw = read_pulumi_json(path) if raw is None else raw
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
    except RecursionError:
        raise _fail(path, None, f"nested more than {MAX_JSON_DEPTH} levels deep", _FIX) from None
    too_deep, bad_number = _walk(document, MAX_JSON_DEPTH)
    if too_deep:
        raise _fail(path, None, f"nested more than {MAX_JSON_DEPTH} levels deep", _FIX)
    if bad_number:
        where, number = _find_bad_number(document)
        raise ConfigError(
            [Problem(str(path), None, where, f"not valid JSON for Pulumi: {number}", fix=_FIX)]
        )
    state = parse_pulumi_json(document, path)
    return replace(state, urn_lines=UrnLines(raw))


_FIRST_URN = re.compile(rb'"urn"\s*:\s*"urn:pulumi:([^":\\]+)::([^":\\]+)::')


def peek_names(raw: bytes) -> tuple[str, str] | None:
    """The (project, stack) the first `"urn"` member of a file's bytes names, found without
    parsing the file (`scan` starts the pack with them while it parses); None when no member
    has that form. A guess only: the parsed file's `PulumiState` is what counts."""
    match = _FIRST_URN.search(raw)
    if match is None:
        return None
    try:
        return match.group(2).decode("utf-8"), match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


class UrnLines(Mapping[str, int]):
    """`urn_lines` of a file's bytes (UTF-8), worked out on first use: only a scan without an
    environment file points its findings at lines of the file (about 0.1 s at 9,919
    resources, otherwise spent on every scan)."""

    def __init__(self, raw: bytes) -> None:
        self._raw: bytes | None = raw
        self._lines: dict[str, int] = {}

    def _worked_out(self) -> dict[str, int]:
        if self._raw is not None:
            self._lines, self._raw = urn_lines(self._raw.decode("utf-8")), None
        return self._lines

    def __getitem__(self, urn: str) -> int:
        return self._worked_out()[urn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._worked_out())

    def __len__(self) -> int:
        return len(self._worked_out())


_URN_MEMBER = re.compile(r'"urn"\s*:\s*"((?:[^"\\]|\\.)*)"')


def urn_lines(text: str) -> dict[str, int]:
    """The 1-based line of each `"urn": "..."` member's first appearance in a JSON text."""
    lines: dict[str, int] = {}
    line, position = 1, 0
    for match in _URN_MEMBER.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        try:
            urn = json.loads(f'"{match.group(1)}"')
        except json.JSONDecodeError:
            continue
        lines.setdefault(urn, line)
    return lines


#: Pulumi writes no number this long; Python refuses more than 4,300 digits with a ValueError.
MAX_NUMBER_DIGITS = 100
#: Pulumi's own documents nest a few levels (resource, inputs, policy objects); keyplane's
#: readers recurse over values, so deeper documents are refused here, not mid-judgement.
MAX_JSON_DEPTH = 64


class _BadNumber:
    """Stands in, while parsing, for a number Pulumi never writes (NaN, Infinity, out of range,
    too long): the decoder's hooks do not know where they are, so the refusal is raised after
    parsing, naming the record and field where the number stands."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


def _parse_int(text: str) -> int | _BadNumber:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        return _BadNumber(f"a number of {len(text)} digits")
    return int(text)


def _parse_float(text: str) -> float | _BadNumber:
    value = float(text)
    if len(text) > MAX_NUMBER_DIGITS or value in (math.inf, -math.inf):
        return _BadNumber(
            f"the number {text[:20]}{'...' if len(text) > 20 else ''} is out of range"
        )
    return value


def _refuse_constant(name: str) -> _BadNumber:
    return _BadNumber(f"{name} is not a JSON number")


def _walk(document: Any, limit: int) -> tuple[bool, bool]:
    """Whether `document` nests lists and objects more than `limit` levels, and whether it
    holds a refused number (one iterative pass)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    bad_number = isinstance(document, _BadNumber)
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True, bad_number
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, _BadNumber):
                bad_number = True
    return False, bad_number


def _find_bad_number(document: Any) -> tuple[str, _BadNumber]:
    """The location (`deployment.resources[3] (URN).inputs.rotationPeriodInDays`) and value of
    the first refused number, depth first in document order (only called when there is one)."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, _BadNumber):
            return where, value
        if isinstance(value, dict):
            if isinstance(value.get("urn"), str) and isinstance(value.get("type"), str):
                where = f"{where} ({value['urn']})"
            items = [
                (child, f"{where}.{key}" if where else str(key)) for key, child in value.items()
            ]
        elif isinstance(value, list):
            items = [(child, f"{where}[{index}]") for index, child in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))
    raise AssertionError("no refused number in the document")  # pragma: no cover


#: Stack export format versions keyplane reads: `pulumi stack export` writes 3, and 4 when the
#: state uses a feature that needs it (listed in a top-level `features`); both hold the same
#: resource records (Pulumi's `apitype.DeploymentV3`). Any other version is refused, not misread.
EXPORT_VERSIONS = (3, 4)


def parse_pulumi_json(document: Any, path: Path = Path("<input>")) -> PulumiState:
    """A parsed preview digest or stack export as a `PulumiState`.

    Raises ConfigError (one problem naming `path`, the record and the field) for a document of
    another shape, an export format version not in EXPORT_VERSIONS, or a record whose fields
    have the wrong types (a resource that is not an object, `dependencies: 5`, ...).
    """
    if isinstance(document, dict) and isinstance(document.get("steps"), list):
        return _from_preview(document, path)
    deployment = document.get("deployment") if isinstance(document, dict) else None
    if isinstance(deployment, dict) and isinstance(deployment.get("resources", []), list):
        _check_version(document, path)
        return _from_export(deployment, path)
    raise _fail(
        path,
        None,
        "neither a preview (no 'steps' list) nor a stack export (no 'deployment.resources' list)",
        _FIX,
    )


def _check_version(document: Mapping[str, Any], path: Path) -> None:
    version = document.get("version")
    understood = ", ".join(str(v) for v in EXPORT_VERSIONS)
    if "version" not in document:
        problem = f"no format version (keyplane reads stack export versions {understood})"
    elif type(version) is not int or version not in EXPORT_VERSIONS:
        problem = (
            f"stack export format version {version!r} is not one keyplane reads "
            f"(it reads {understood})"
        )
    else:
        return
    raise ConfigError(
        [
            Problem(
                str(path),
                None,
                "version",
                problem,
                fix="export the stack with Pulumi CLI v3 (`pulumi stack export`)",
            )
        ]
    )


def _from_export(deployment: Mapping[str, Any], path: Path) -> PulumiState:
    states = deployment.get("resources") or []
    resources = [
        _registration(state, path, f"deployment.resources[{i}]") for i, state in enumerate(states)
    ]
    _check_unique_urns(states, resources, path)
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
            raise _shape(path, where, "", "expected a step object", step)
        if not isinstance(step.get("op"), str):
            raise _shape(path, where, "op", "missing or not a string", step.get("op"))
        for state in ("oldState", "newState"):
            if step.get(state) is not None and not isinstance(step.get(state), dict):
                raise _shape(path, where, state, "expected a resource object", step.get(state))
        op = step["op"]
        urn = step.get("urn")
        if isinstance(urn, str):
            operations[urn] = op
        if isinstance(step.get("oldState"), dict):
            old.append(_registration(step["oldState"], path, f"{where}.oldState"))
        if op not in DELETE_OPS and isinstance(step.get("newState"), dict):
            resources.append(
                _registration(step["newState"], path, f"{where}.newState", read=op in READ_OPS)
            )
    config = document.get("config")
    if config is not None and not isinstance(config, dict):
        raise _shape(path, "config", "", "expected an object of stack configuration", config)
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


def _registration(state: Any, path: Path, where: str, *, read: bool = False) -> Registration:
    """One resource record as a Registration, its shape checked before use (ConfigError naming
    the record by index and URN, and the field)."""
    if not isinstance(state, dict):
        raise _shape(path, where, "", "expected a resource object", state)
    urn = state.get("urn")
    if not isinstance(urn, str) or not urn:
        raise _shape(path, where, "urn", "missing or not a string", urn)
    type_ = state.get("type")
    if not isinstance(type_, str) or not type_:
        raise _shape(path, f"{where} ({urn})", "type", "missing or not a string", type_)
    here = f"{where} ({urn})"
    inputs = state.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise _shape(path, here, "inputs", "expected an object", inputs)
    for name in ("outputs",):
        if state.get(name) is not None and not isinstance(state.get(name), dict):
            raise _shape(path, here, name, "expected an object", state.get(name))
    for name in ("parent", "provider", "id"):
        if state.get(name) is not None and not isinstance(state.get(name), str):
            raise _shape(path, here, name, "expected a string", state.get(name))
    for name in ("custom", "protect", "retainOnDelete", "external"):
        if state.get(name) is not None and not isinstance(state.get(name), bool):
            raise _shape(path, here, name, "expected true or false", state.get(name))
    dependencies = state.get("dependencies") or []
    if not _urn_list(dependencies):
        raise _shape(path, here, "dependencies", "expected a list of URNs", dependencies)
    property_dependencies = state.get("propertyDependencies") or {}
    if not isinstance(property_dependencies, dict):
        raise _shape(
            path,
            here,
            "propertyDependencies",
            "expected an object of property -> list of URNs",
            property_dependencies,
        )
    for key, urns in property_dependencies.items():
        if urns is not None and not _urn_list(urns):
            raise _shape(path, here, f"propertyDependencies.{key}", "expected a list of URNs", urns)
    return Registration(
        urn=urn,
        type=type_,
        name=urn.rsplit("::", 1)[-1],
        custom=bool(state.get("custom", False)),
        parent=str(state.get("parent") or ""),
        dependencies=tuple(dependencies),
        protect=bool(state.get("protect", False)),
        retain_on_delete=bool(state.get("retainOnDelete", False)),
        provider=str(state.get("provider") or ""),
        inputs=mark_secrets(inputs),
        property_dependencies={
            key: tuple(urns or ()) for key, urns in property_dependencies.items()
        },
        read=read or state.get("external") is True,
    )


def _check_unique_urns(
    states: Sequence[Any], resources: Sequence[Registration], path: Path
) -> None:
    """An export's live resources have one URN each, as the engine's integrity check requires:
    only a resource pending deletion (`delete: true`, left by a create-before-delete
    replacement) may share its URN with the live one. Two live records of one URN are a corrupt
    or hand-edited export, and judging either would be judging a guess: ConfigError naming both."""
    first: dict[str, int] = {}
    for index, (state, resource) in enumerate(zip(states, resources, strict=True)):
        if state.get("delete") is True:
            continue
        earlier = first.setdefault(resource.urn, index)
        if earlier != index:
            raise ConfigError(
                [
                    Problem(
                        str(path),
                        None,
                        f"deployment.resources[{index}].urn",
                        f"the URN of deployment.resources[{earlier}] again, and neither is "
                        "pending deletion (`delete: true`)",
                        got=resource.urn,
                        fix="export the stack again with `pulumi stack export`; "
                        "a hand-edited export must keep each URN once",
                    )
                ]
            )


def _urn_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(u, str) for u in value)


def _shape(path: Path, where: str, field: str, problem: str, got: Any) -> ConfigError:
    """A record of the wrong shape: `path: deployment.resources[3] (urn).field: problem (got
    ...); fix`."""
    name = f"{where}.{field}" if field else where
    return ConfigError([Problem(str(path), None, name, problem, got=got, fix=_FIX)])


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
