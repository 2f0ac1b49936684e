"""Hostile input: every refusal is one stderr line naming the file, exit 2, bounded and fast.

Each case is a kind of fault seen in practice (issue: hostile input, faults and signals): YAML
values the scalar constructors reject, nesting that crashed LibYAML's composer, JSON that
Python's decoder turns into tracebacks, and paths that name something other than a file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BUNDLED_ESTATE

BAD_YAML_VALUES = {
    "impossible-date": "2027-02-30",
    "offset-out-of-range": "2027-01-01T10:00:00+99:00",
    "int-tag-word": "!!int 'ninety'",
    "bool-tag-word": "!!bool maybe",
    "int-too-long": "9" * 5000,
    "binary-prefix-only": "0b_",
    "python-object-tag": "!!python/object/apply:os.system ['true']",
}


def _run(*args: str, timeout: float = 60) -> tuple[int, str, str, float]:
    """Run keyplane in a child process, as a user would (a crash cannot take the test with it)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def _assert_refused(code: int, err: str, names: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert names in lines[0], err


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    copy = tmp_path / "estate"
    shutil.copytree(BUNDLED_ESTATE, copy)
    return copy


@pytest.mark.parametrize("value", list(BAD_YAML_VALUES.values()), ids=list(BAD_YAML_VALUES))
def test_a_value_the_yaml_constructors_reject_names_file_line_and_field(
    estate: Path, value: str
) -> None:
    path = estate / "dev.yaml"
    text = path.read_text()
    path.write_text(text.replace("tier: development", f"tier: development\nnote: {value}", 1))
    code, _, err, _ = _run("validate", "--estate", str(estate))
    _assert_refused(code, err, f"{path}:")
    assert ": note: " in err


@pytest.mark.parametrize(
    "text",
    ["a:\n" + "- " * 50_000 + "x\n", "[" * 50_000 + "]" * 50_000 + "\n", "{a: " * 20_000 + "1"],
    ids=["block-sequences", "flow-sequences", "flow-mappings"],
)
def test_deep_yaml_is_refused_before_the_composer_recurses(estate: Path, text: str) -> None:
    (estate / "dev.yaml").write_text(text)
    code, _, err, seconds = _run("validate", "--estate", str(estate))
    _assert_refused(code, err, str(estate / "dev.yaml"))
    assert "nested more than" in err or "invalid YAML" in err
    assert seconds < 30


def _special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()


SPECIAL = ["fifo", "dev-zero", "directory"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_an_environment_file_that_is_not_a_regular_file_is_refused(estate: Path, kind: str) -> None:
    path = estate / "dev.yaml"
    path.unlink()
    _special(kind, path)
    code, _, err, seconds = _run("validate", "--estate", str(estate), timeout=30)
    _assert_refused(code, err, str(path))
    assert "not a regular file" in err
    assert seconds < 20


BAD_JSON = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "long-number": '{"deployment": {"resources": [{"urn": "u", "n": ' + "9" * 5000 + "}]}}",
    "nan": '{"deployment": {"resources": [{"urn": "u", "n": NaN}]}}',
    "huge-exponent": '{"deployment": {"resources": [{"urn": "u", "n": 1e999999}]}}',
    "truncated": '{"deployment": {"resources": [',
}


@pytest.mark.parametrize("command", ["scan", "diff"])
@pytest.mark.parametrize("content", list(BAD_JSON.values()), ids=list(BAD_JSON))
def test_json_python_cannot_judge_is_refused_with_one_line(
    tmp_path: Path, command: str, content: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    args = [command, str(path)] + (["--env", "prod", "--no-checkov"] if command == "scan" else [])
    if command == "diff":
        args.append(str(path))
    code, _, err, _ = _run(*args)
    _assert_refused(code, err, str(path))


@pytest.mark.parametrize("command", ["scan", "diff"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_a_scan_or_diff_input_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, command: str, kind: str
) -> None:
    path = tmp_path / "state.json"
    _special(kind, path)
    args = [command, str(path)] + (["--env", "prod", "--no-checkov"] if command == "scan" else [])
    if command == "diff":
        args.append(str(path))
    code, _, err, seconds = _run(*args, timeout=30)
    _assert_refused(code, err, str(path))
    assert "not a regular file" in err
    assert seconds < 20
