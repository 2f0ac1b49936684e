"""The YAML reader: plain values, lines and its guards (the estate tests cover the messages)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from keyplane.config.errors import ConfigError
from keyplane.config.yamlio import read_yaml


def read(tmp_path: Path, text: str) -> tuple[object, dict[tuple[str | int, ...], int]]:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    doc = read_yaml(path)
    return doc.data, doc.lines


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),  # YAML 1.2: not a boolean
        ("on", "on"),
        ("True", True),
        ("false", False),
        ("~", None),
        ("", None),
        ("0777", 777),  # YAML 1.2: not octal
        ("0o17", 15),
        ("0x1F", 31),
        ("1_000", 1000),
        ("-12", -12),
        ("1.5", 1.5),
        ("1:20", "1:20"),  # YAML 1.2: not sexagesimal
        ("'123'", "123"),
        ("2026-11-23", date(2026, 11, 23)),
        ("2026-1-2", "2026-1-2"),
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, 0, 0)),
        ("!!str 12", "12"),
        ("<<", "<<"),
    ],
)
def test_plain_values_follow_yaml_1_2(tmp_path: Path, text: str, value: object) -> None:
    data, _ = read(tmp_path, f"k: {text}\n")
    assert data == {"k": value}
    assert type(data["k"]) is type(value)


def test_every_field_and_item_has_its_line(tmp_path: Path) -> None:
    data, lines = read(
        tmp_path, "# head\nname: dev\nkeys:\n  - name: a\n    purpose: x\n  - name: b\n"
    )
    assert data == {"name": "dev", "keys": [{"name": "a", "purpose": "x"}, {"name": "b"}]}
    assert lines[("name",)] == 2
    assert lines[("keys",)] == 3
    assert lines[("keys", 0)] == 4
    assert lines[("keys", 0, "purpose")] == 5
    assert lines[("keys", 1, "name")] == 6


def test_merge_keys_fill_in_without_overriding(tmp_path: Path) -> None:
    data, _ = read(tmp_path, "base: &b {x: 1, y: 2}\nk:\n  <<: *b\n  y: 3\n")
    assert data == {"base": {"x": 1, "y": 2}, "k": {"x": 1, "y": 3}}


def test_duplicate_keys_name_the_second_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read(tmp_path, "a: 1\nb: 2\na: 3\n")
    assert str(err.value.problems[0]).startswith(f"{tmp_path}/f.yaml:3: invalid YAML: ")
    assert 'found duplicate key "a"' in str(err.value.problems[0])


def test_a_list_as_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read(tmp_path, "? [a, b]\n: 1\n")
    assert "a key is a list or a mapping" in str(err.value.problems[0])


def test_deep_nesting_is_refused_without_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        read(tmp_path, "[" * 20_000 + "]" * 20_000 + "\n")
    assert "nested more than 100 levels deep" in str(err.value.problems[0])


def test_a_document_without_aliases_is_not_counted_against_the_alias_bound(
    tmp_path: Path,
) -> None:
    """Without an alias a document expands to its own nodes, bounded by the file size cap: it is
    read however many values it holds (the alias guard once refused large estates as bombs),
    while aliases adding more than the bound are refused."""
    from keyplane.config import yamlio

    path = tmp_path / "f.yaml"
    items = yamlio.MAX_EXPANDED_NODES + 10
    path.write_text("".join(f"- {i}\n" for i in range(items)))
    assert read_yaml(path).data == list(range(items))
    path.write_text(
        "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    )
    with pytest.raises(ConfigError) as refusal:
        read_yaml(path)
    assert [str(p) for p in refusal.value.problems] == [
        f"{path}:2: document expands to more than {yamlio.MAX_EXPANDED_NODES} values "
        "through aliases; remove the anchors and aliases"
    ]
