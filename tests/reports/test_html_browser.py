"""The HTML report in a real browser: headless Chromium (Debian's `chromium` package) loads the
page from a file:// URL, dumps the DOM it built and takes a screenshot; the findings must be in
the rendered DOM, the planted script must not have run, and the screenshot must show the page.

Chromium is not optional: `scripts/check.py` installs it when it can (root with apt) and stops
with a one-line message otherwise. The test is skipped only when KEYPLANE_SKIP_BROWSER_TESTS=1
says so explicitly; a missing browser otherwise fails it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image

from keyplane.findings import Engine, Finding
from keyplane.reports.html import html_report
from keyplane.rules.catalog import Enforcement
from tests.reports.sample import FINDINGS, ROT_002, ROT_004_CONFIG, SECRET_VALUE, make_report

OPT_OUT = "KEYPLANE_SKIP_BROWSER_TESTS"
#: Generous: two cores shared by several test runs; a browser start takes 1-3 s unloaded.
BROWSER_TIMEOUT_SECONDS = 120
#: The verdict badge's colour (`--fail` in the template's CSS).
FAIL_RED = (0xB3, 0x26, 0x1E)
PLANTED = "<script>document.body.innerHTML='pwned'</script>"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"{OPT_OUT}=1: browser test skipped on request")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed: install Debian's package (apt-get install -y "
            f"--no-install-recommends chromium) or set {OPT_OUT}=1 to skip this test"
        )
    return path


def run_browser(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Chromium in a new process group with a fresh profile; the whole group is killed when
    it is done or out of time (Chromium leaves helper processes behind otherwise)."""
    with tempfile.TemporaryDirectory(prefix="keyplane-chromium-") as profile:
        process = subprocess.Popen(
            [browser, *FLAGS, f"--user-data-dir={profile}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=BROWSER_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            pytest.fail(f"Chromium did not finish within {BROWSER_TIMEOUT_SECONDS} s")
        finally:
            _kill_group(process)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    hostile = Finding(
        rule="KM-ACC-001",
        enforcement=Enforcement.MANDATORY,
        resource=PLANTED,
        type="aws:kms/key:Key",
        message=f"KM-ACC-001 {PLANTED}: grants kms:* to *",
        engine=Engine.CROSSGUARD,
    )
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(html_report(make_report(findings=(*FINDINGS, hostile))), encoding="utf-8")
    return path.as_uri()


def test_the_findings_are_in_the_rendered_dom_and_the_planted_script_did_not_run(
    page_url: str,
) -> None:
    result = run_browser(chromium(), "--dump-dom", page_url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert 'id="verdict">FAIL</span>' in dom
    assert "KM-ROT-002 acme-orders-db: rotation period 400 days exceeds 365" in dom
    assert ROT_002.rule in dom and ROT_004_CONFIG.rule in dom and "CKV_AWS_7" in dom
    assert "environments/prod.yaml:14" in dom
    # The script is text in the DOM, never an element, and the body was not replaced.
    assert "&lt;script&gt;document.body.innerHTML='pwned'&lt;/script&gt;" in dom
    assert "<script" not in dom
    assert "pwned</body>" not in dom
    assert SECRET_VALUE not in dom


def test_the_screenshot_shows_the_page(page_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = run_browser(chromium(), f"--screenshot={shot}", "--window-size=1280,1600", page_url)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1280, 1600)
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
    not_white = sum(count for count, colour in colours if colour != (255, 255, 255))
    # Text, tables and the verdict badge: a blank or failed page is (almost) one colour.
    assert not_white > 0.03 * 1280 * 1600
    assert len(colours) > 50
    badge = sum(count for count, colour in colours if colour == FAIL_RED)
    assert badge > 500, "the FAIL verdict badge is not visible"
