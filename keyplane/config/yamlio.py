"""Reading YAML safely, with line numbers for every field.

Environment files come from pull requests: the reader is bounded against hostile input (size,
alias expansion, binary garbage) and refuses duplicate mapping keys, which YAML parsers usually
resolve silently by keeping the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from keyplane.config.errors import ConfigError, Problem

MAX_FILE_BYTES = 1 << 20
#: Nodes a document may expand to once aliases are followed ("billion laughs" guard).
MAX_EXPANDED_NODES = 100_000

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    path: str
    data: Any
    #: Line (1-based) of each mapping key and sequence item, by its location.
    lines: dict[Loc, int]

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of `loc`, or of its nearest existing ancestor."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def read_yaml(path: Path, shown_as: str | None = None) -> Document:
    shown = shown_as or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [Problem(shown, None, "", "file not found", fix="check the path or --estate")]
        ) from None
    except OSError as err:
        raise ConfigError(
            [Problem(shown, None, "", f"cannot read the file: {err.strerror}")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            [
                Problem(
                    shown,
                    None,
                    "",
                    f"file is larger than {MAX_FILE_BYTES // 1024} KiB",
                    fix="is this the right file?",
                )
            ]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            [
                Problem(
                    shown,
                    line,
                    "",
                    "not UTF-8 text (binary data?)",
                    fix="save the file as UTF-8 YAML",
                )
            ]
        ) from None

    yaml = YAML(typ="rt", pure=True)
    try:
        # Parse once: compose the node graph, bound its expansion, then construct from it.
        node = yaml.compose(text)
        data = None
        if node is not None:
            _check_expansion(node, shown)
            data = yaml.constructor.construct_document(node)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        error_line: int | None = int(mark.line) + 1 if mark is not None else None
        what = " ".join(str(err.problem or err.context or "invalid YAML").split())
        fix = "remove the duplicate key" if "duplicate key" in what else "fix the YAML syntax"
        raise ConfigError(
            [Problem(shown, error_line, "", f"invalid YAML: {what}", fix=fix)]
        ) from None
    except YAMLError as err:
        what = " ".join(str(err).split())
        raise ConfigError(
            [Problem(shown, None, "", f"invalid YAML: {what}", fix="fix the YAML syntax")]
        ) from None
    lines: dict[Loc, int] = {}
    return Document(shown, _plain(data, (), lines), lines)


def _check_expansion(root: Node, shown: str) -> None:
    """Count the nodes the document expands to, without expanding it (memoised per node)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    # Iterative post-order walk: hostile nesting must not hit Python's recursion limit.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done and any(id(c) in visiting for c in children):
            line = node.start_mark.line + 1 if node.start_mark else None
            raise ConfigError(
                [
                    Problem(
                        shown,
                        line,
                        "",
                        "recursive alias",
                        fix="remove the alias that refers to its own anchor",
                    )
                ]
            )
        if children_done:
            size = 1 + sum(sizes.get(id(c), 0) for c in children)
            if size > MAX_EXPANDED_NODES:
                line = node.start_mark.line + 1 if node.start_mark else None
                raise ConfigError(
                    [
                        Problem(
                            shown,
                            line,
                            "",
                            f"document expands to more than {MAX_EXPANDED_NODES} values through aliases",
                            fix="remove the anchors and aliases",
                        )
                    ]
                )
            sizes[id(node)] = size
            visiting.discard(id(node))
        else:
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _plain(value: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    """ruamel's round-trip types to plain Python, recording each location's line."""
    if isinstance(value, CommentedMap):
        if not loc:
            lines[()] = value.lc.line + 1
        out: dict[Any, Any] = {}
        for key, item in value.items():
            child = (*loc, key if isinstance(key, str | int) else str(key))
            lines[child] = value.lc.key(key)[0] + 1
            out[key] = _plain(item, child, lines)
        return out
    if isinstance(value, CommentedSeq):
        items = []
        for index, item in enumerate(value):
            child = (*loc, index)
            lines[child] = value.lc.item(index)[0] + 1
            items.append(_plain(item, child, lines))
        return items
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        return datetime(*value.timetuple()[:6])
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return str(value)
    return value
