"""`write_report`: a file is either the whole new report or untouched, never half written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import keyplane.reports as reports
from keyplane.output import NEW_FILE_MODE, OutputError
from keyplane.reports import ReportFormat, render_report, write_report
from tests.reports.sample import make_report


def test_without_output_returns_the_text() -> None:
    report = make_report()
    assert write_report(report, "json", None) == render_report(report, ReportFormat.JSON)
    assert "\x1b[" in write_report(report, ReportFormat.TABLE, None, color=True)


@pytest.mark.parametrize("fmt", list(ReportFormat))
def test_writes_the_report(tmp_path: Path, fmt: ReportFormat) -> None:
    output = tmp_path / f"report.{fmt.value}"
    assert write_report(make_report(), fmt, output) is None
    assert output.read_text(encoding="utf-8") == render_report(make_report(), fmt)
    assert os.listdir(tmp_path) == [output.name]
    assert stat.S_IMODE(output.stat().st_mode) == NEW_FILE_MODE


def test_files_never_get_colour(tmp_path: Path) -> None:
    output = tmp_path / "report.txt"
    write_report(make_report(), ReportFormat.TABLE, output, color=True)
    assert "\x1b[" not in output.read_text(encoding="utf-8")


def test_replacing_keeps_the_old_files_mode(tmp_path: Path) -> None:
    output = tmp_path / "report.sarif"
    output.write_text("old", encoding="utf-8")
    output.chmod(0o600)
    write_report(make_report(), "sarif", output)
    assert output.read_text(encoding="utf-8").startswith("{")
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_failure_while_rendering_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(reports, "json_report", broken)
    output = tmp_path / "report.json"
    with pytest.raises(RuntimeError, match="renderer broke"):
        write_report(make_report(), "json", output)
    assert os.listdir(tmp_path) == []


def test_failure_while_writing_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "report.json"
    output.write_text("previous report", encoding="utf-8")

    def full_disk(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_report(make_report(), "json", output)
    assert os.listdir(tmp_path) == ["report.json"]
    assert output.read_text(encoding="utf-8") == "previous report"


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "report.json"
    with pytest.raises(OutputError, match="does not exist") as caught:
        write_report(make_report(), "json", missing)
    assert caught.value.filename == str(missing)
    assert os.listdir(tmp_path) == []


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="'xml' is not a valid ReportFormat"):
        render_report(make_report(), "xml")
