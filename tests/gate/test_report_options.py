"""One gate run, every report, and the options that tune it (issue 18, parts 1 and 2).

The baseline is the bundled dev estate with one change, `rotation_days: 400` on acme-orders-db
(KM-ROT-002, mandatory, high): the mutation every option below is asked about.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema.validators import validator_for
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.conftest import BUNDLED_ESTATE, REPO
from tests.foundation.test_estate import edit
from tests.reports.test_sarif import official_schema

runner = CliRunner()
TODAY = "2026-11-23"
ROT_002 = "KM-ROT-002 acme-orders-db: rotation period 400 days exceeds 365"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """A git checkout (tmp_path, the working directory) holding the mutated dev estate in
    `environments/`; returns it and the line of `rotation_days: 400`."""
    shutil.copytree(BUNDLED_ESTATE, tmp_path / "environments")
    (tmp_path / ".git").mkdir()
    line = edit(
        tmp_path / "environments" / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: acme\n    rotation_days: 400\n  - name: session-signing",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path, line + 1


def preview(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["preview", "dev", "--no-checkov", "--as-of", TODAY, *args])
    return result.exit_code, result.stdout, result.stderr


def test_one_run_writes_every_report_and_the_console_ends_with_the_summary(
    project: tuple[Path, int],
) -> None:
    root, line = project
    out = root / "out"
    out.mkdir()
    target = out / "comment-target.md"
    (out / "comment.md").symlink_to(target)
    code, stdout, stderr = preview(
        "--json",
        "out/report.json",
        "--sarif",
        "out/report.sarif",
        "--junit",
        "out/report.xml",
        "--markdown",
        "out/comment.md",
        "--html",
        "out/report.html",
    )
    assert code == 1, stderr
    last = stdout.splitlines()[-1]
    assert last.startswith("FAIL: 1 mandatory, 0 advisory on 1 resource (")
    assert last.endswith(
        "(reports: out/report.json, out/report.sarif, out/report.xml, out/comment.md, "
        "out/report.html)"
    )
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and ROT_002 in page
    # The symlink stays a link; its target got the Markdown.
    assert (out / "comment.md").is_symlink()
    assert target.read_text().startswith("## ❌ keyplane preview `dev`: FAIL")
    document = json.loads((out / "report.json").read_text())
    [finding] = document["findings"]
    assert finding["message"].startswith(ROT_002)
    assert finding["location"] == {"file": "environments/dev.yaml", "line": line}
    assert "<failure" in (out / "report.xml").read_text()

    sarif = json.loads((out / "report.sarif").read_text())
    schema = official_schema()
    validator = validator_for(schema)(schema)
    assert not list(validator.iter_errors(sarif))
    run = sarif["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}}
    [result] = run["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "environments/dev.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line},
    }
    [rule] = run["tool"]["driver"]["rules"]
    assert rule["properties"]["security-severity"] == "8.0"
    assert rule["help"]["text"].startswith("Lower rotation_days to the purpose's maximum")
    assert sorted(p.name for p in out.iterdir()) == [
        "comment-target.md",
        "comment.md",
        "report.html",
        "report.json",
        "report.sarif",
        "report.xml",
    ]


def test_quiet_prints_only_the_summary_line(project: tuple[Path, int]) -> None:
    code, stdout, _ = preview("--quiet", "--sarif", "r.sarif")
    assert code == 1
    assert stdout.splitlines() == [stdout.strip()]
    assert stdout.startswith("FAIL: 1 mandatory") and stdout.endswith("(report: r.sarif)\n")


def test_a_machine_format_on_stdout_keeps_the_summary_on_stderr(project: tuple[Path, int]) -> None:
    code, stdout, stderr = preview("--format", "json")
    assert code == 1
    assert json.loads(stdout)["verdict"] == "fail"
    assert stderr.startswith("FAIL: 1 mandatory")


def test_a_missing_directory_is_refused_before_any_work(project: tuple[Path, int]) -> None:
    # An unknown environment would be reported by the work; the destination is refused first.
    result = runner.invoke(app, ["preview", "no-such-env", "--sarif", "missing/r.sarif"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--sarif: missing/r.sarif: cannot write: directory missing")
    assert not Path("missing").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_an_unwritable_directory_is_refused_before_any_work(project: tuple[Path, int]) -> None:
    locked = project[0] / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = runner.invoke(app, ["preview", "no-such-env", "--junit", "locked/r.xml"])
    assert result.exit_code == 2
    assert "--junit: locked/r.xml: cannot write: directory locked is not writable" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_a_device_twin_is_written_in_place(project: tuple[Path, int]) -> None:
    twin = project[0] / "null"
    os.mknod(twin, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a twin of /dev/null, in tmp_path
    code, _, _ = preview("--json", str(twin), "--sarif", "r.sarif")
    assert code == 1
    assert stat.S_ISCHR(twin.stat().st_mode)


def test_two_reports_to_one_file_are_refused(project: tuple[Path, int]) -> None:
    code, _, stderr = preview("--json", "r.out", "--sarif", "r.out")
    assert code == 2
    assert stderr == "--sarif: r.out is also --json's file; give each report its own file\n"


def test_skip_check_shows_the_skipped_mandatory_rule(project: tuple[Path, int]) -> None:
    code, stdout, _ = preview("--skip-check", "KM-ROT-002", "--json", "r.json")
    assert code == 0
    assert "Skipped rules\n  KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)" in stdout
    # The summary (wrapped to the table's width) names the skipped rule too.
    summary = " ".join(stdout.split("\n\n")[-1].split())
    assert summary.startswith("PASS: 0 mandatory")
    assert "skipped: KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)" in summary
    tuning = json.loads(Path("r.json").read_text())["tuning"]
    assert tuning["skipped"] == [
        {
            "rule": "KM-ROT-002",
            "reason": "--skip-check",
            "enforcement": "mandatory",
            "findings_not_reported": 1,
        }
    ]


def test_check_reports_only_the_named_rules(project: tuple[Path, int]) -> None:
    code, stdout, _ = preview("--check", "KM-ROT-002", "--format", "json")
    assert code == 1
    assert [f["rule"] for f in json.loads(stdout)["findings"]] == ["KM-ROT-002"]
    code, stdout, _ = preview("--check", "KM-ALG-001", "--format", "json")
    assert code == 0
    assert json.loads(stdout)["tuning"]["skipped"][0]["rule"] == "KM-ROT-002"
    code, _, stderr = preview("--check", "KM-NOPE-1")
    assert code == 2
    assert stderr.startswith("--check: unknown check 'KM-NOPE-1'")


def test_policy_config_fail_on_and_soft_fail(project: tuple[Path, int]) -> None:
    root = project[0]
    (root / "policy.json").write_text(
        json.dumps({"all": "advisory", "keyplane-settings": {"environment": "dev"}}, indent=2)
    )
    code, stdout, _ = preview("--policy-config", "policy.json", "--format", "json")
    assert code == 0
    [finding] = json.loads(stdout)["findings"]
    assert (finding["rule"], finding["enforcement"], finding["engine"]) == (
        "KM-ROT-002",
        "advisory",
        "crossguard",
    )
    # An advisory high finding fails the run with --fail-on high (not with critical).
    assert preview("--policy-config", "policy.json", "--fail-on", "critical")[0] == 0
    code, stdout, _ = preview("--policy-config", "policy.json", "--fail-on", "high")
    assert code == 1
    assert stdout.splitlines()[-1].startswith("FAIL: 0 mandatory, 1 advisory")
    assert stdout.splitlines()[-1].endswith("fail on: high and above")
    code, stdout, _ = preview("--soft-fail")
    assert code == 0
    assert stdout.splitlines()[-1].startswith("FAIL (soft-fail: exit 0): 1 mandatory")
    # A disabled rule is a skipped one.
    (root / "policy.json").write_text('{\n  "km-rot-002-rotation-period": "disabled"\n}\n')
    code, stdout, _ = preview("--policy-config", "policy.json")
    assert code == 0
    assert "KM-ROT-002 (mandatory, disabled by --policy-config, 1 finding not reported)" in stdout


def test_a_bad_policy_config_names_file_line_and_entry(project: tuple[Path, int]) -> None:
    Path("policy.json").write_text(
        '{\n  "all": "advisory",\n  "km-rot-002-rotaton": "mandatory"\n}\n'
    )
    code, _, stderr = preview("--policy-config", "policy.json")
    assert code == 2
    assert stderr.startswith("policy.json:3: km-rot-002-rotaton: no such keyplane policy; name")
    Path("policy.json").write_text('{"all": "strict"}')
    code, _, stderr = preview("--policy-config", "policy.json")
    assert code == 2
    assert stderr.startswith("policy.json:1: all: not an enforcement level (got 'strict')")


def test_the_project_file_holds_the_defaults(project: tuple[Path, int]) -> None:
    Path(".keyplane.yaml").write_text("skip-check: [KM-ROT-002]\nsoft-fail: false\n")
    code, stdout, _ = preview()
    assert code == 0
    assert "KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)" in stdout
    Path(".keyplane.yaml").write_text("skip-check: [KM-ROT-002]\ncolour: never\n")
    code, _, stderr = preview()
    assert code == 2
    assert stderr == (
        ".keyplane.yaml:2: colour: unknown key; use one of estate, stack-config, policy-config, "
        "skip-check, check, fail-on, soft-fail\n"
    )
    Path(".keyplane.yaml").unlink()
    Path("pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.keyplane]\nfail_on = "high"\n'
    )
    code, _, stderr = preview()
    assert code == 2
    assert stderr.startswith("pyproject.toml:5: fail_on: unknown key; use one of")


def test_stack_config_names_the_file_it_read(project: tuple[Path, int]) -> None:
    stacks = project[0] / "my-stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    code, _, stderr = preview("--stack-config", "my-stacks")
    assert code == 2
    assert stderr.startswith(
        "my-stacks/Pulumi.dev.yaml:2: stack config aws:region: 'us-east-1', but environment dev "
        "is in eu-west-1"
    )
    code, _, stderr = preview("--stack-config", "nowhere")
    assert code == 2
    assert stderr.startswith("--stack-config: nowhere is not a directory")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _on_a_terminal(cwd: Path, env: dict[str, str]) -> str:
    """The preview's output on a pseudo-terminal of 80 columns."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "keyplane.cli", "preview", "dev", "--no-checkov", "--as-of", TODAY],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**env, "COLUMNS": "80", "LINES": "40", "PYTHONPATH": str(REPO)},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")


def test_the_table_fits_80_columns_and_honours_no_color(project: tuple[Path, int]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    coloured = _on_a_terminal(project[0], env)
    assert _ANSI.search(coloured), "colour on a terminal"
    plain = _on_a_terminal(project[0], {**env, "NO_COLOR": "1"})
    assert not _ANSI.search(plain)
    lines = plain.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("KM-ROT-002   mandatory") for line in lines)
    assert lines[-1].startswith("FAIL: 1 mandatory, 0 advisory on 1 resource (")


def test_a_scan_without_an_estate_points_at_the_resource_in_the_scanned_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO / "tests" / "fixtures" / "pulumi" / "preview.json", tmp_path / "preview.json")
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app,
        ["scan", "preview.json", "--estate", "none", "--no-checkov", "--sarif", "r.sarif", "-q"],
    )
    assert result.exit_code == 1, result.stderr
    lines = Path("preview.json").read_text().splitlines()
    ledger = next(
        n
        for n, text in enumerate(lines, 1)
        if '"urn": "urn:pulumi:prod::payments::aws:kms/key:Key::ledger"' in text
    )
    results = json.loads(Path("r.sarif").read_text())["runs"][0]["results"]
    on_ledger = [r for r in results if r["locations"][0]["logicalLocations"][0]["name"] == "ledger"]
    assert on_ledger
    for found in on_ledger:
        assert found["locations"][0]["physicalLocation"] == {
            "artifactLocation": {"uri": "preview.json", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": ledger},
        }
