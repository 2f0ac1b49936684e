"""Hostile input: every refusal is one stderr line naming the file, exit 2, bounded and fast.

Each case is a kind of fault seen in practice (issue: hostile input, faults and signals): YAML
values the scalar constructors reject, nesting that crashed LibYAML's composer, JSON that
Python's decoder turns into tracebacks, and paths that name something other than a file.
"""

from __future__ import annotations

import json
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
    "timestamp-tag-word": "!!timestamp 'yesterday'",
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


@pytest.mark.parametrize("name", ["exceptions.yaml", "shared-services.yaml"])
def test_a_register_whose_symlink_dangles_is_refused_not_read_as_absent(
    estate: Path, name: str
) -> None:
    """An optional register that is a symlink to nothing was read as no register (exit 0)."""
    path = estate / name
    path.unlink()
    path.symlink_to(estate / "moved.yaml")
    code, _, err, _ = _run("validate", "--estate", str(estate))
    _assert_refused(
        code, err, f"{path}: is a symlink to {estate / 'moved.yaml'}, which does not exist"
    )


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


# --- record shapes and format versions (scan, diff) -----------------------------------------

STACK_URN = "urn:pulumi:prod::keyplane::pulumi:pulumi:Stack::keyplane-prod"
KEY_URN = "urn:pulumi:prod::keyplane::aws:kms/key:Key::orders-db"


def _export(*resources: object, version: object = 3) -> str:
    document: dict[str, object] = {"deployment": {"resources": list(resources)}}
    if version is not None:
        document["version"] = version
    return json.dumps(document)


def _key(**changes: object) -> dict[str, object]:
    return {"urn": KEY_URN, "type": "aws:kms/key:Key", "custom": True, "inputs": {}} | changes


BAD_RECORDS = {
    "resource-not-an-object": (
        _export(5),
        "deployment.resources[0]: expected a resource object (got 5)",
    ),
    "dependencies-a-number": (
        _export(_key(dependencies=5)),
        f"deployment.resources[0] ({KEY_URN}).dependencies: expected a list of URNs (got 5)",
    ),
    "property-dependencies-a-list": (
        _export(_key(propertyDependencies=["x"])),
        f"deployment.resources[0] ({KEY_URN}).propertyDependencies: expected an object",
    ),
    "urn-missing": (
        _export({"type": "aws:kms/key:Key"}),
        "deployment.resources[0].urn: missing or not a string (got nothing)",
    ),
    "type-not-a-string": (
        _export(_key(type=7)),
        f"deployment.resources[0] ({KEY_URN}).type: missing or not a string (got 7)",
    ),
    "urn-twice": (
        _export(_key(), _key(protect=True)),
        f"deployment.resources[1].urn: the URN of deployment.resources[0] again, and neither is "
        f"pending deletion (`delete: true`) (got '{KEY_URN}'); export the stack again",
    ),
    "version-999": (
        _export(_key(), version=999),
        "version: stack export format version 999 is not one keyplane reads (it reads 3, 4)",
    ),
    "version-missing": (
        _export(_key(), version=None),
        "version: no format version (keyplane reads stack export versions 3, 4)",
    ),
    "preview-step-without-op": (
        '{"steps": [{"urn": "u"}]}',
        "steps[0].op: missing or not a string (got nothing)",
    ),
    "preview-new-state-a-list": (
        '{"steps": [{"op": "create", "newState": [1]}]}',
        "steps[0].newState: expected a resource object",
    ),
}


@pytest.mark.parametrize("command", ["scan", "diff"])
@pytest.mark.parametrize(("content", "message"), list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_a_record_of_the_wrong_shape_or_version_is_refused_naming_it(
    tmp_path: Path, command: str, content: str, message: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    args = [command, str(path)] + (["--env", "prod", "--no-checkov"] if command == "scan" else [])
    if command == "diff" and "steps" not in content:
        args.append(str(path))
    code, out, err, _ = _run(*args)
    _assert_refused(code, err, f"{path}: {message}")
    assert out == ""


NON_NUMBERS = {
    "nan": ("NaN", "NaN is not a JSON number"),
    "minus-infinity": ("-Infinity", "-Infinity is not a JSON number"),
    "out-of-range": ("1e999", "the number 1e999 is out of range"),
    "too-long": ("9" * 5000, "a number of 5000 digits"),
}


@pytest.mark.parametrize("command", ["scan", "diff"])
@pytest.mark.parametrize(("text", "message"), list(NON_NUMBERS.values()), ids=list(NON_NUMBERS))
def test_a_number_pulumi_never_writes_is_refused_naming_resource_and_field(
    tmp_path: Path, command: str, text: str, message: str
) -> None:
    """NaN and friends gave an exit-2 line naming no resource or field."""
    path = tmp_path / "state.json"
    path.write_text(
        _export(_key(inputs={"rotationPeriodInDays": 0})).replace(
            '"rotationPeriodInDays": 0', f'"rotationPeriodInDays": {text}'
        )
    )
    args = [command, str(path)] + (["--env", "prod", "--no-checkov"] if command == "scan" else [])
    if command == "diff":
        args.append(str(path))
    code, out, err, _ = _run(*args)
    _assert_refused(
        code,
        err,
        f"{path}: deployment.resources[0] ({KEY_URN}).inputs.rotationPeriodInDays: "
        f"not valid JSON for Pulumi: {message}",
    )
    assert out == ""


def test_a_urn_repeated_by_a_resource_pending_deletion_is_read(tmp_path: Path) -> None:
    """A create-before-delete replacement leaves the old resource, `delete: true`, beside the new
    one under the same URN: a valid export."""
    path = tmp_path / "state.json"
    path.write_text(_export(_key(), _key(delete=True)))
    code, _, err, _ = _run("diff", str(path), str(path))
    assert code == 0, err


def test_version_4_exports_are_read(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(_export({"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}, version=4))
    code, _, err, _ = _run("diff", str(path), str(path))
    assert code == 0, err


# --- refusals -------------------------------------------------------------------------------


def test_scan_of_an_environment_the_estate_lacks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(_export({"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}))
    code, out, err, _ = _run(
        "scan", str(path), "--env", "no-such-env", "--estate", str(BUNDLED_ESTATE), "--no-checkov"
    )
    _assert_refused(code, err, f"--env: no environment 'no-such-env' in {BUNDLED_ESTATE}")
    assert out == ""


def test_diff_of_two_stacks_is_refused_unless_allowed(tmp_path: Path) -> None:
    old, new = tmp_path / "prod.json", tmp_path / "staging.json"
    old.write_text(_export({"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}))
    new.write_text(
        _export({"urn": STACK_URN.replace("prod::", "staging::"), "type": "pulumi:pulumi:Stack"})
    )
    code, out, err, _ = _run("diff", str(old), str(new))
    _assert_refused(
        code,
        err,
        f"{new}: stack keyplane/staging is not {old}'s stack keyplane/prod; compare two "
        "exports of one stack, or pass --allow-different-stacks",
    )
    assert out == ""
    code, out, err, _ = _run("diff", str(old), str(new), "--allow-different-stacks")
    assert code == 0, err


def test_docs_with_a_missing_tests_directory_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    code, out, err, _ = _run(
        "docs", "prod", "--estate", str(BUNDLED_ESTATE), "--tests-dir", str(missing)
    )
    _assert_refused(code, err, f"--tests-dir: {missing} is not a directory")
    assert out == ""


@pytest.mark.parametrize("format", ["json", "markdown", "table"])
def test_a_reader_that_goes_away_is_not_a_verdict(format: str) -> None:
    """`keyplane rules | head -c 1`: never exit 1 (violations) or a traceback."""
    with subprocess.Popen(
        [sys.executable, "-m", "keyplane.cli", "rules", "--format", format],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ | {"COLUMNS": "400"},
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.read(1)
        child.stdout.close()  # the reader is gone before keyplane has written everything
        err = child.stderr.read().decode()
        code = child.wait(timeout=60)
    assert code in (0, 141), err
    assert err == ""
