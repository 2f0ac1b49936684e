"""A signal ends the gate at once, with every child it started and every temporary file.

The gate is started as a user's shell would (its own session here, so the test can signal it
alone); its descendants are collected from /proc while it runs, then the signal is sent and each
of them must be gone, and the temporary directory must be empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BUNDLED_ESTATE

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_text = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (after the command in parentheses) is the parent's PID.
        parent = int(stat_text.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.add(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    seen: set[int] = set()
    frontier = {pid}
    while frontier:
        children = set().union(*(_children_of(p) for p in frontier)) - seen
        seen |= children
        frontier = children
    return seen


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _survivors(pids: set[int], seconds: float = 5.0) -> list[int]:
    """Those of `pids` still alive after `seconds` (a killed process takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_a_signal_stops_the_gate_its_children_and_removes_its_temporary_files(
    tmp_path: Path, signum: int, code: int
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    gate = subprocess.Popen(
        [sys.executable, "-m", "keyplane.cli", "preview", "prod", "--estate", str(BUNDLED_ESTATE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        # Wait until the gate has started its children (the pack server, checkov through uv).
        while time.monotonic() < deadline and gate.poll() is None:
            seen |= _descendants(gate.pid)
            if len(seen) >= 2:
                break
            time.sleep(0.05)
        assert gate.poll() is None, "the gate ended before it could be signalled"
        assert seen, "the gate started no child"
        time.sleep(0.3)
        seen |= _descendants(gate.pid)
        gate.send_signal(signum)
        _, err = gate.communicate(timeout=15)
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
            gate.wait()
    assert gate.returncode == code, err
    assert err.strip().splitlines()[-1] == f"keyplane: stopped by {signal.Signals(signum).name}"
    assert not _survivors(seen), "a child of the gate outlived it"
    assert list(temporary.iterdir()) == []


def _cmdlines_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return [p for p in found if _alive(p)]


def test_a_checkov_that_never_answers_is_stopped_at_its_deadline(tmp_path: Path) -> None:
    """A hung checkov was waited on for 15 minutes: the deadline is configurable, the refusal
    one line, and the hung process is gone with its group."""
    marker = f"keyplane-hung-checkov-{os.getpid()}"
    env = {
        **os.environ,
        "KEYPLANE_CHECKOV": f"bash -c 'sleep 600; : {marker}'",
        "KEYPLANE_CHECKOV_TIMEOUT": "3",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "preview", "dev", "--estate", str(BUNDLED_ESTATE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "checkov did not finish within 3 s; set KEYPLANE_CHECKOV_TIMEOUT" in lines[0]
    assert time.monotonic() - started < 90
    assert _cmdlines_with(marker) == []


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_checkov_deadline_that_is_not_a_positive_number_is_refused(value: str) -> None:
    env = {**os.environ, "KEYPLANE_CHECKOV_TIMEOUT": value}
    done = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "preview", "dev", "--estate", str(BUNDLED_ESTATE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"KEYPLANE_CHECKOV_TIMEOUT: not a positive number of seconds (got {value!r}); set it "
        "to one such as 600, or unset it for the default"
    ]


_STARTS_A_PACK = """
import sys, time
from keyplane.engines.crossguard.harness import CrossGuardPack
pack = CrossGuardPack(stack="dev", stack_config={"keyplane:environment": "dev"})
pack.start()
print(pack._process.pid, flush=True)
time.sleep(600)
"""


def test_the_pack_ends_when_the_process_that_started_it_is_killed() -> None:
    """SIGKILL (or the out-of-memory killer) leaves no handler to stop the children: the pack
    server watches its parent and ends with it."""
    with subprocess.Popen(
        [sys.executable, "-c", _STARTS_A_PACK], stdout=subprocess.PIPE, text=True
    ) as starter:
        try:
            assert starter.stdout is not None
            pack = int(starter.stdout.readline())
            assert _alive(pack)
            starter.kill()
            starter.wait()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and _alive(pack):
                time.sleep(0.1)
            assert not _alive(pack), "the pack server outlived the process that started it"
        finally:
            if starter.poll() is None:
                starter.kill()
                starter.wait()


def test_grpc_logging_asked_for_globally_stays_off_the_users_stderr() -> None:
    env = {**os.environ, "GRPC_VERBOSITY": "DEBUG", "GRPC_TRACE": "all"}
    done = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "preview", "dev", "--estate", str(BUNDLED_ESTATE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""


def test_a_signal_stops_a_scan_with_two_packs(tmp_path: Path) -> None:
    """A large scan runs two packs (`harness.PackPool`): a signal ends the scan and both."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi" / "stack-export.json"
    script = (
        "import sys, time\n"
        "from keyplane import gate\n"
        "from keyplane.engines.crossguard import harness\n"
        "harness.RESOURCES_FOR_TWO_PACKS = 1\n"
        "harness.usable_cpus = lambda: 2\n"
        "def waiting(self, resources):\n"
        "    time.sleep(120)  # both packs up: the scan is signalled here\n"
        "gate.CrossGuardStage.finish = waiting\n"
        f"sys.argv = ['keyplane', 'scan', {str(fixture)!r}, '--no-checkov', "
        f"'--estate', {str(tmp_path / 'none')!r}]\n"
        "from keyplane.cli import main\n"
        "main()\n"
    )
    scan = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    def packs() -> set[int]:
        found = set()
        for pid in _descendants(scan.pid):
            try:
                if b"pulumi.policy" in (Path("/proc") / str(pid) / "cmdline").read_bytes():
                    found.add(pid)
            except OSError:
                continue
        return found

    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and scan.poll() is None and len(seen) < 2:
            seen |= packs()
            time.sleep(0.05)
        assert scan.poll() is None, "the scan ended before it could be signalled"
        assert len(seen) == 2, "the scan did not start two packs"
        scan.send_signal(signal.SIGTERM)
        _, err = scan.communicate(timeout=15)
    finally:
        if scan.poll() is None:
            os.killpg(scan.pid, signal.SIGKILL)
            scan.wait()
    assert scan.returncode == 143, err
    assert not _survivors(seen), "a pack outlived the scan"
