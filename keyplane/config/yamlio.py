"""Reading YAML safely, with line numbers for every field.

Environment files come from pull requests: the reader is bounded against hostile input (size,
alias expansion, nesting, binary garbage) and refuses duplicate mapping keys, which YAML parsers
usually resolve silently by keeping the last one.

LibYAML (bundled in PyYAML's wheels) composes the node graph; plain values follow the YAML 1.2
core schema (`yes`, `on` and `0777` stay a string and a decimal), with dates and `<<` merge keys.
An estate of 550 tenants (300 KB) reads in 0.2 s, where a pure-Python parser took 1.2 s, and the
gate reads it three times (the CLI, the stack program, the policy pack).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from yaml import CSafeLoader
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import MarkedYAMLError, YAMLError
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.files import read_regular_file

#: An environment file's size cap. 8 MiB holds an estate of about 15,000 tenants of two keys, a
#: secret and a key user each (the benchmark's 2,200 tenants, about 20,000 resources, take
#: 1.2 MB); at 1 MiB such estates were refused.
MAX_FILE_BYTES = 8 << 20
#: Collections nested in one another. LibYAML's composer recurses in C without a guard: 50,000
#: levels (a 100 KB file) crash the process, so depth is checked on the parser's events first.
MAX_DEPTH = 100
#: Values a document may gain through aliases, beyond the nodes it holds ("billion laughs"
#: guard). A document without aliases gains none, however large: counting every node against
#: the cap refused estates of about 3,500 tenants as if they were alias bombs.
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
    raw = read_regular_file(
        path, shown, MAX_FILE_BYTES, "pass an environment file", "check the path or --estate"
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

    try:
        # Parse once: compose the node graph (LibYAML), bound its expansion, then build the
        # plain data and the line of every field from the nodes.
        nodes = _check_depth(text, shown)
        loader = _Loader(text)
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = None
        if node is not None:
            if nodes is None:  # aliases: count what they add (none without them)
                _check_expansion(node, shown)
            data = _Builder(loader, lines).build(node, ())
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
    except _BadValue as bad:
        raise ConfigError(
            [
                Problem(
                    shown,
                    bad.line,
                    _field_name(bad.loc),
                    f"not a valid value: {bad.reason}",
                    got=bad.text,
                    fix="write a plain value, or quote it to make it a string",
                )
            ]
        ) from None
    except RecursionError:
        raise ConfigError(
            [
                Problem(
                    shown,
                    None,
                    "",
                    "invalid YAML: nested too deeply",
                    fix="flatten the document",
                )
            ]
        ) from None
    return Document(shown, data, lines)


class _Loader(CSafeLoader):
    """LibYAML's parser and composer; plain values as the YAML 1.2 core schema has them (`yes`,
    `on` and `0777` are a string and a decimal), plus dates and merge keys as YAML 1.1 has them."""

    #: Its own table (empty, filled below), not the YAML 1.1 one it would inherit.
    yaml_implicit_resolvers = {}  # noqa: RUF012

    def construct_yaml_int(self, node: Any) -> int:
        value = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if value.startswith("-") else 1
        digits = value.lstrip("+-")
        base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2])
        return sign * (int(digits[2:], base) if base else int(digits, 10))


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^[-+]?(?:[0-9][0-9_]*|0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (
        "timestamp",
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
        r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
        "0123456789",
    ),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


@dataclass
class _Builder:
    """Plain Python data from the node graph, recording each location's line."""

    #: Constructs the scalars (mappings and sequences are built here).
    scalars: SafeConstructor
    lines: dict[Loc, int]

    def build(self, node: Node, loc: Loc) -> Any:
        if not loc:
            self.lines[()] = node.start_mark.line + 1
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            merged: dict[Any, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    for source in _merge_sources(value_node):
                        for pair in source.value:
                            merged.setdefault(self._key(pair[0], loc), pair)
                    continue
                key = self._key(key_node, loc)
                if key in out:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f'found duplicate key "{key}"',
                        key_node.start_mark,
                    )
                out[key] = self._child(key_node, value_node, loc, key)
            for key, (key_node, value_node) in merged.items():
                if key not in out:
                    out[key] = self._child(key_node, value_node, loc, key)
            return out
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*loc, index)
                self.lines[child] = item.start_mark.line + 1
                items.append(self.build(item, child))
            return items
        if node.tag == MERGE_TAG:  # `<<` as a value rather than a key
            return str(node.value)
        value = _construct_scalar(self.scalars, node, loc)
        if isinstance(value, datetime):
            return datetime(*value.timetuple()[:6])
        return value

    def _child(self, key_node: Node, value_node: Node, loc: Loc, key: Any) -> Any:
        child = (*loc, key if isinstance(key, str | int) else str(key))
        self.lines[child] = key_node.start_mark.line + 1
        return self.build(value_node, child)

    def _key(self, node: Node, loc: Loc = ()) -> Any:
        if not isinstance(node, ScalarNode):
            raise ConstructorError(
                "while constructing a mapping",
                None,
                "a key is a list or a mapping",
                node.start_mark,
            )
        return _construct_scalar(self.scalars, node, loc)


MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


class _BadValue(Exception):
    """A scalar its tag's constructor rejects (`2027-02-30`, `!!int 'ninety'`, `!!bool maybe`)."""

    def __init__(self, loc: Loc, line: int, text: str, reason: str) -> None:
        super().__init__(reason)
        self.loc, self.line, self.text, self.reason = loc, line, text, reason


def _construct_scalar(constructor: SafeConstructor, node: Node, loc: Loc) -> Any:
    """The scalar's value; _BadValue naming its field and line when the constructor refuses it.

    PyYAML's constructors raise plain Python errors for values their pattern admits but Python
    does not (an impossible date, an offset beyond 24 hours, more than 4,300 digits, `0b_`) and
    for explicit tags with values of another type (`!!timestamp 'yesterday'` even raises
    AttributeError).
    """
    if node.tag == STR_TAG and isinstance(node, ScalarNode):
        # What `construct_yaml_str` returns, without the generic path's bookkeeping (most
        # values of an estate are strings).
        return node.value
    try:
        return constructor.construct_object(node)
    except (
        ValueError,
        LookupError,
        TypeError,
        ArithmeticError,
        AttributeError,
        ConstructorError,
    ) as err:
        tag = node.tag.rsplit(":", 1)[-1] if node.tag else "value"
        reason = str(err.problem if isinstance(err, ConstructorError) else err).split(";")[0]
        # KeyError (`!!bool maybe`) and AttributeError (`!!timestamp 'yesterday'`: PyYAML
        # matches the text against its pattern and reads the groups of no match) say nothing
        # a user can act on: name the tag instead.
        if isinstance(err, LookupError | AttributeError):
            reason = f"{node.value!r} is not a {tag}"
        text = str(node.value)
        raise _BadValue(
            loc, node.start_mark.line + 1, text if len(text) <= 40 else text[:37] + "...", reason
        ) from None


def _field_name(loc: Loc) -> str:
    """`keys[2].algorithm` for ("keys", 2, "algorithm")."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _check_depth(text: str, shown: str) -> int | None:
    """Refuse documents nesting collections deeper than MAX_DEPTH, from the parser's events
    (LibYAML's parser keeps an explicit stack; only its composer recurses).

    Returns the number of nodes the document holds when it has no alias (each node then
    appears once: that is its expansion, and `_check_expansion` has nothing to add; its walk
    took 0.13 s of a 1,100-tenant estate's 0.46 s), else None.
    """
    loader = _Loader(text)
    depth = 0
    nodes = 0
    aliased = False
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, ScalarEvent):
                nodes += 1
            elif isinstance(event, AliasEvent):
                aliased = True
            elif isinstance(event, CollectionStartEvent):
                nodes += 1
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(
                        [
                            Problem(
                                shown,
                                event.start_mark.line + 1 if event.start_mark else None,
                                "",
                                f"nested more than {MAX_DEPTH} levels deep",
                                fix="flatten the document",
                            )
                        ]
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()
    return None if aliased else nodes


def _merge_sources(node: Node) -> list[MappingNode]:
    """The mappings a `<<` key merges (one, or a list of them; earlier ones win)."""
    sources = node.value if isinstance(node, SequenceNode) else [node]
    if not all(isinstance(s, MappingNode) for s in sources):
        raise ConstructorError(
            "while constructing a mapping",
            node.start_mark,
            "<< merges mappings only",
            node.start_mark,
        )
    return list(sources)


def _check_expansion(root: Node, shown: str) -> None:
    """Count the values the document expands to, without expanding it (memoised per node), and
    refuse it when aliases add more than MAX_EXPANDED_NODES to the nodes it holds. A subtree's
    expansion less the nodes seen so far never exceeds the whole document's gain, so a bomb is
    refused as soon as one of its levels is counted."""
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
            if size - len(sizes) - 1 > MAX_EXPANDED_NODES:
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
