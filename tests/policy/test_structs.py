"""`keyplane.engines.crossguard.structs` converts exactly as `json_format` does, both ways: the
same bytes for the same properties, the same plain data (values, types, key order) back, the same
errors for what JSON cannot hold."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from keyplane.engines.crossguard.structs import FAST_DEPTH, from_struct, to_struct
from keyplane.pulumi_json import load_pulumi_json
from tests.conftest import BUNDLED_ESTATE

REAL_WORLD = Path(__file__).resolve().parents[3] / "shared" / "cases" / "real-world"


def _jsonable(value: Any) -> Any:
    """What the harness handed `ParseDict` before: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _reference(properties: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(_jsonable(properties), struct)
    return struct


def _same(properties: Any) -> None:
    expected = _reference(properties)
    got = to_struct(properties)
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert got == expected
    for struct in (expected, got):
        back = json_format.MessageToDict(struct)
        mine = from_struct(struct)
        assert mine == back
        # Types and key order too (== on dicts ignores order, and 1 == 1.0 == True).
        assert json.dumps(mine) == json.dumps(back)
        assert repr(mine) == repr(back)


EDGES: list[Any] = [
    {},
    {"empty": {}, "none": [], "null": None},
    {"n": 1, "f": 1.5, "neg": -0.0, "big": 2**53 + 1, "huge": 1e308, "tiny": 5e-324},
    {"t": True, "f": False, "zero": 0, "one": 1},
    {"text": "", "unicode": "clé ✓ 🔑 \u0000 \ud7ff", "long": "x" * 100_000},
    {"nested": {"a": [1, [2, [3, {"b": [None, {"c": "d"}]}]]]}},
    {"list": [None, True, 1, "s", {}, [], {"k": []}]},
    {"z": 1, "a": 2, "m": {"y": 1, "b": 2}},  # key order kept
    {"tuple": (1, 2, ("x", "y"))},  # tuples become lists
    {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s"},
]


@pytest.mark.parametrize("properties", EDGES)
def test_edge_values_convert_as_json_format_does(properties: Any) -> None:
    _same(properties)


def test_other_mappings_and_keys_take_json_formats_way() -> None:
    from types import MappingProxyType

    _same(MappingProxyType({"a": MappingProxyType({"b": 1})}))
    _same({"a": {1: "one", "2": "two"}})  # a non-string key is made a string, as before


def test_nesting_beyond_the_fast_walk_converts_alike() -> None:
    for depth in (FAST_DEPTH - 1, FAST_DEPTH, FAST_DEPTH + 1, 2 * FAST_DEPTH):
        deep: Any = "leaf"
        for _ in range(depth):
            deep = {"d": [deep]}
        _same({"deep": deep})


@pytest.mark.parametrize("bad", [{"when": object()}, {"a": [1, {"b": {1, 2}}]}, {"b": b"x"}])
def test_values_json_cannot_hold_fail_alike(bad: Any) -> None:
    with pytest.raises(json_format.ParseError) as expected:
        _reference(bad)
    with pytest.raises(json_format.ParseError) as got:
        to_struct(bad)
    assert str(got.value) == str(expected.value)


def test_integers_beyond_a_double_fail_alike() -> None:
    with pytest.raises(OverflowError):
        _reference({"n": 10**400})
    with pytest.raises(OverflowError):
        to_struct({"n": 10**400})


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_numbers_json_has_none_fail_alike(number: float) -> None:
    struct = struct_pb2.Struct(fields={"n": struct_pb2.Value(number_value=number)})
    with pytest.raises(ValueError, match="Fail to serialize") as expected:
        json_format.MessageToDict(struct)
    with pytest.raises(ValueError, match="Fail to serialize") as got:
        from_struct(struct)
    assert str(got.value) == str(expected.value)


def test_a_value_without_a_kind_reads_as_null() -> None:
    struct = struct_pb2.Struct()
    struct.fields["unset"].Clear()
    assert from_struct(struct) == json_format.MessageToDict(struct) == {"unset": None}


def _random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["str", "int", "float", "bool", "null"] + (["dict", "list"] if depth < 6 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice("ab✓🔑 \n\"'\\") for _ in range(rng.randrange(6)))
    if kind == "int":
        return rng.choice([0, 1, -1, 2**31, 2**53, -(2**63), rng.randrange(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e-300, 1.7976931348623157e308, rng.uniform(-1e6, 1e6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "dict":
        return {
            rng.choice(["k", "key", "ключ", "", "4dab"]) + str(i): _random_value(rng, depth + 1)
            for i in range(rng.randrange(5))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_random_properties_convert_as_json_format_does() -> None:
    rng = random.Random(20)
    for _ in range(500):
        _same({f"p{i}": _random_value(rng, 0) for i in range(rng.randrange(8))})


def _scan_inputs() -> list[Any]:
    inputs: list[Any] = []
    for case in sorted(REAL_WORLD.glob("*.json")) if REAL_WORLD.is_dir() else []:
        try:
            state = load_pulumi_json(case)
        except Exception:  # not every case is a Pulumi JSON (diffs, estates)
            continue
        inputs += [r.inputs for r in state.resources]
    return inputs


def test_real_inputs_convert_as_json_format_does() -> None:
    inputs = _scan_inputs()
    from keyplane.estate import load_estate
    from keyplane.gate import render_environment

    estate = load_estate(BUNDLED_ESTATE)
    for resource in render_environment(estate.environments["prod"], estate.root):
        inputs.append(resource.inputs)
        assert from_struct(resource.wire) == json_format.MessageToDict(resource.wire)
    assert len(inputs) > 100
    for properties in inputs:
        _same(properties)
