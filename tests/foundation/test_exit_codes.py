"""Exit codes of every command: 3 for a crash (with its traceback in a file), 2 for usage."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
_CRASH_LINE = re.compile(
    r"^keyplane (?P<command>\w+): internal error, not a verdict: (?P<what>.+); traceback in "
    r"(?P<path>\S+keyplane-crash-\d{8}T\d{6}Z-\d+-\w+\.txt); please report it$"
)


def _boom(*_: object, **__: object) -> None:
    raise RuntimeError("boom\nsecond line")


@pytest.fixture(autouse=True)
def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Crash files go to a directory of the test's own ($TMPDIR as tempfile reads it)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("keyplane.cli.rules.rules_table", ["rules"]),
        ("keyplane.cli.validate.config_findings", ["validate", "--estate", "environments"]),
        (
            "keyplane.gate.preview",
            ["preview", "prod", "--no-checkov", "--estate", "environments"],
        ),
        ("keyplane.cli.audit.run_audit", ["audit", "prod", "--estate", "environments"]),
        (
            "keyplane.cli.diff.diff_resources",
            ["diff", *(f"tests/fixtures/diff/{n}.json" for n in ("before", "after"))],
        ),
        ("keyplane.cli.docs.artefacts", ["docs", "dev", "--estate", "environments"]),
    ],
)
def test_a_crash_exits_3_with_one_line_naming_the_traceback_file(
    target: str,
    args: list[str],
    crash_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(target, _boom)
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = _CRASH_LINE.match(lines[0])
    assert match, lines[0]
    assert match["command"] == args[0]
    assert match["what"] == "RuntimeError: boom second line"
    path = Path(match["path"])
    assert path.parent == crash_dir
    assert path.stat().st_mode & 0o077 == 0  # the traceback may hold paths and values: owner only
    text = path.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom" in text
    assert f"command: keyplane {args[0]}" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["rules", "--bogus"], "keyplane rules: No such option: --bogus"),
        (["rules", "--format", "yaml"], "keyplane rules: Invalid value for '--format'"),
        (["preview"], "keyplane preview: Missing argument 'environment'"),
        (["no-such-command"], "keyplane: No such command 'no-such-command'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(says), lines[0]
    assert lines[0].endswith("--help'"), lines[0]


def test_help_states_the_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert (
        "Exit codes: 0 clean; 1 mandatory violations; 2 bad input or usage; 3 internal error"
        in text
    )
    assert "The live audit runs under one deadline (`audit --timeout`, default 300 s)" in text
