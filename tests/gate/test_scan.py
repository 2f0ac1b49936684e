"""`keyplane scan` over what the real CLI writes, for resources written without the components."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from keyplane.cli.app import app

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi"


def scan(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(
        app, ["scan", *args, "--no-checkov", "--format", "json", "--as-of", "2026-11-23"]
    )
    return (
        result.exit_code,
        json.loads(result.stdout) if result.stdout.strip() else {},
        result.stderr,
    )


def test_preview_digest_with_a_weakened_key(tmp_path: Path) -> None:
    code, report, _ = scan(str(FIXTURES / "preview.json"), "--estate", str(tmp_path / "none"))
    assert code == 1
    ledger = {
        f["rule"]
        for f in report["findings"]
        if f["resource"].endswith("::ledger") and f["enforcement"] == "mandatory"
    }
    # rotation switched off, deletion window shortened, protect removed, no purpose/environment tags
    assert {"KM-ROT-001", "KM-DEL-001", "KM-PUR-001", "KM-ENV-001"} <= ledger
    assert "[secret]" in json.dumps(report["resources"])


def test_stack_export_of_a_raw_program(tmp_path: Path) -> None:
    code, report, _ = scan(str(FIXTURES / "stack-export.json"), "--estate", str(tmp_path / "none"))
    rules = {
        (f["rule"], f["resource"].rsplit("::", 1)[-1])
        for f in report["findings"]
        if f["enforcement"] == "mandatory"
    }
    assert ("KM-LOG-001", "payments-prod") in {(r, n) for r, n in rules} or any(
        r == "KM-LOG-001" for r, _ in rules
    )
    assert code == 1
    assert "ZmFrZWNpcGhlcnRleHQ" not in json.dumps(report)


def test_truncated_file_is_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "preview.json"
    broken.write_text((FIXTURES / "preview.json").read_text()[:200])
    result = runner.invoke(app, ["scan", str(broken), "--no-checkov"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{broken}:")
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_pack_started_before_the_estate_is_read_is_stopped_when_the_scan_is_refused(
    tmp_path: Path,
) -> None:
    """`scan` starts the pack before reading the estate; refused there (exit 2), it leaves no
    pack behind, whatever point of its start-up the pack had reached."""
    import os
    import subprocess
    import sys
    import uuid

    from tests.conftest import BUNDLED_ESTATE

    marker = f"KEYPLANE_TEST_MARKER={uuid.uuid4()}"

    def marked() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    export = FIXTURES / "stack-export.json"
    command = [sys.executable, "-m", "keyplane.cli", "scan", str(export)]
    command += ["--env", "no-such-env", "--estate", str(BUNDLED_ESTATE), "--no-checkov"]
    for _ in range(2):
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, marker.split("=", maxsplit=1)[0]: marker.split("=")[1]},
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("--env: no environment 'no-such-env'")
        # At once: a pack left behind would end by itself within half a second (it watches its
        # parent), which must not be what stops it.
        assert marked() == []


def test_without_an_environment_file_findings_point_at_their_resource_in_the_file(
    tmp_path: Path,
) -> None:
    export = FIXTURES / "preview.json"
    _, report, _ = scan(str(export), "--estate", str(tmp_path / "none"))
    lines = export.read_text().splitlines()
    located = [f for f in report["findings"] if f.get("location")]
    assert located
    for finding in located:
        assert finding["location"]["file"] == str(export)
        line = finding["location"]["line"]
        # The first line that names the resource's URN.
        first = next(i for i, text in enumerate(lines, 1) if f'"{finding["resource"]}"' in text)
        assert line == first, finding


def test_urn_lines_are_worked_out_only_when_asked_for() -> None:
    from keyplane.pulumi_json import UrnLines, urn_lines

    raw = (FIXTURES / "preview.json").read_bytes()
    lazy = UrnLines(raw)
    assert lazy._lines == {}  # nothing worked out yet
    assert dict(lazy) == urn_lines(raw.decode("utf-8"))
    assert len(lazy) > 0


def test_a_scan_without_an_html_report_loads_no_template_engine(tmp_path: Path) -> None:
    """jinja2 and markdown-it serve the HTML report only (56 ms of every start-up)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from keyplane.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['scan', {str(FIXTURES / 'preview.json')!r}, '--estate', "
        f"{str(tmp_path / 'none')!r}, '--no-checkov', '--format', 'json'])\n"
        "assert r.exit_code == 1, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'markdown_it')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
