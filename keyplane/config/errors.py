"""Problems in input files, reported as one line each: `path:line: field: problem (got value); fix`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    field: str
    problem: str
    got: object = _MISSING
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = (
            f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"
        )
        if self.got is not _MISSING:
            text += f" (got {_show(self.got)})"
        if self.fix:
            text += f"; {self.fix}"
        return text


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else _plain(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        if (
            value
            and len(value) <= 3
            and all(isinstance(v, str | int | float | bool) for v in value)
        ):
            return "[" + ", ".join(_plain(v) for v in value) + "]"
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class ConfigError(Exception):
    """One or more problems in the estate's files; nothing was rendered or written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
