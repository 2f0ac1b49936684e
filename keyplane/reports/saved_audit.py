"""A saved `keyplane audit --format json` document, read back for `keyplane report --audit-json`.

The audit's JSON is the evidence an auditor files; the HTML report renders it as it was filed,
without calling the cloud again. What does not read as such a document is refused (ConfigError,
exit 2, naming the file and the field), never rendered as a clean report: a field of the wrong
type, an unknown enforcement or engine, a document of another command, or a `verdict` that its
own findings contradict (a hand-edited file).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.files import read_regular_file
from keyplane.findings import Engine, Finding
from keyplane.reports.model import verdict
from keyplane.rules.catalog import Enforcement

#: Larger than any audit's JSON (a few MiB for thousands of keys), small enough to refuse junk.
MAX_AUDIT_JSON_BYTES = 64 << 20
E = TypeVar("E", Enforcement, Engine)
_FIX = "pass the file `keyplane audit ENV --format json --output FILE` wrote"


@dataclass(frozen=True)
class SavedRecord:
    """A resource of the saved report (`resources[]`): its inputs as saved (already masked)."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    parent: str = ""
    protect: bool = False


@dataclass(frozen=True)
class SavedAudit:
    """The parts of a saved audit the HTML report needs."""

    environment: str
    findings: tuple[Finding, ...]
    records: tuple[SavedRecord, ...]
    evidence: Mapping[str, Any]
    policy_version: str
    tool_version: str
    started_at: datetime | None
    duration_seconds: float | None


def load_saved_audit(path: Path) -> SavedAudit:
    """Read and check the document at `path`; ConfigError naming the field on anything else."""
    raw = read_regular_file(path, str(path), MAX_AUDIT_JSON_BYTES, _FIX)
    try:
        document = json.loads(raw)
    except UnicodeDecodeError:
        raise _refuse(path, "", "not UTF-8 text (binary data?)") from None
    except json.JSONDecodeError as err:
        raise _refuse(
            path, "", f"not valid JSON: {err.msg} at column {err.colno}", err.lineno
        ) from None
    except RecursionError:
        raise _refuse(path, "", "nested too deeply to be an audit report") from None
    except ValueError as err:  # a number of more digits than Python converts
        raise _refuse(path, "", f"not valid JSON for an audit report: {err}") from None
    return parse_saved_audit(document, path)


def parse_saved_audit(document: Any, path: Path) -> SavedAudit:
    """The checks of `load_saved_audit` on an already parsed document."""
    doc = _object(document, path, "(top level)")
    tool = _object(doc.get("tool"), path, "tool")
    command = tool.get("command")
    if command != "audit":
        raise _refuse(path, "tool.command", f"is {command!r}, not 'audit'")
    environment = _text(doc.get("environment"), path, "environment")
    findings = tuple(
        _finding(item, path, f"findings[{i}]")
        for i, item in enumerate(_list(doc.get("findings"), path, "findings"))
    )
    saved_verdict = doc.get("verdict")
    if saved_verdict != verdict(findings).lower():
        raise _refuse(
            path,
            "verdict",
            f"says {saved_verdict!r} but its findings make it {verdict(findings).lower()!r} "
            "(was the file edited?)",
        )
    records = tuple(
        _record(item, path, f"resources[{i}]")
        for i, item in enumerate(_list(doc.get("resources", []), path, "resources"))
    )
    evidence = _object(doc.get("evidence"), path, "evidence")
    timing = doc.get("timing") or {}
    started = timing.get("started_at") if isinstance(timing, Mapping) else None
    duration = timing.get("duration_seconds") if isinstance(timing, Mapping) else None
    try:
        started_at = datetime.fromisoformat(started) if isinstance(started, str) else None
    except ValueError:
        raise _refuse(path, "timing.started_at", f"not an ISO 8601 time: {started!r}") from None
    return SavedAudit(
        environment=environment,
        findings=findings,
        records=records,
        evidence=evidence,
        policy_version=str(doc.get("policy_version", "")),
        tool_version=str(tool.get("version", "")),
        started_at=started_at,
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
    )


def _finding(item: Any, path: Path, where: str) -> Finding:
    obj = _object(item, path, where)
    enforcement = _choice(obj.get("enforcement"), Enforcement, path, f"{where}.enforcement")
    engine = _choice(obj.get("engine"), Engine, path, f"{where}.engine")
    engines = tuple(
        _choice(e, Engine, path, f"{where}.engines[{i}]")
        for i, e in enumerate(_list(obj.get("engines") or [], path, f"{where}.engines"))
    )
    exception = obj.get("exception")
    if exception is not None and not isinstance(exception, str):
        raise _refuse(path, f"{where}.exception", "must be an exception ID or null")
    line = obj.get("line")
    if line is not None and (not isinstance(line, int) or isinstance(line, bool)):
        raise _refuse(path, f"{where}.line", "must be a line number or absent")
    file = obj.get("file")
    return Finding(
        rule=_text(obj.get("rule"), path, f"{where}.rule"),
        enforcement=enforcement,
        resource=_text(obj.get("resource"), path, f"{where}.resource"),
        type=_text(obj.get("type"), path, f"{where}.type", empty=True),
        message=_text(obj.get("message"), path, f"{where}.message"),
        engine=engine,
        exception=exception,
        file=file if isinstance(file, str) else None,
        line=line,
        engines=engines,
    )


def _record(item: Any, path: Path, where: str) -> SavedRecord:
    obj = _object(item, path, where)
    inputs = obj.get("inputs") or {}
    return SavedRecord(
        urn=_text(obj.get("urn"), path, f"{where}.urn"),
        type=_text(obj.get("type"), path, f"{where}.type", empty=True),
        name=_text(obj.get("name"), path, f"{where}.name", empty=True),
        inputs=_object(inputs, path, f"{where}.inputs"),
        parent=str(obj.get("parent") or ""),
        protect=bool(obj.get("protect")),
    )


def _object(value: Any, path: Path, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _refuse(path, where, f"must be an object, not {_json_kind(value)}")
    return value


def _list(value: Any, path: Path, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _refuse(path, where, f"must be a list, not {_json_kind(value)}")
    return value


def _text(value: Any, path: Path, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise _refuse(path, where, f"must be a non-empty string, not {_json_kind(value)}")
    return value


def _choice(value: Any, kind: type[E], path: Path, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise _refuse(path, where, f"{value!r} is not one of {known}") from None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _refuse(path: Path, where: str, problem: str, line: int | None = None) -> ConfigError:
    return ConfigError([Problem(str(path), line, where, problem, fix=_FIX)])
