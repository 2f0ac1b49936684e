"""keyplane's child processes and temporary files, and what happens to them on a signal.

The gate starts the policy pack's server and checkov (through uv), each in a process group of its
own, and writes temporary files (checkov's plan, an output about to replace its target). When
keyplane ends for any reason — normally, on an error, or on SIGINT, SIGTERM or SIGHUP — no child
and no temporary file may be left behind: a pack server outliving its gate was seen alive minutes
later, and a Ctrl-C during the Pulumi SDK's render was swallowed by the SDK.

So a signal does not travel through Python's exception machinery (which the SDK's event loop
and worker threads can swallow or delay): the handler kills every registered process group,
removes every registered temporary path, prints one line and exits at once with 128 + the
signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

#: Seconds a child is given to end after SIGTERM before its group is killed.
STOP_GRACE_SECONDS = 5.0
#: Seconds to wait for a killed process to be reaped.
KILL_WAIT_SECONDS = 10.0

_lock = threading.Lock()
_children: dict[int, subprocess.Popen[Any]] = {}
_temporary: set[Path] = set()
_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def deadline_setting(variable: str, default: float) -> float:
    """Seconds a child is given to answer: the environment variable `variable` when set, else
    `default`. One reading for every child's deadline (the pack's calls, checkov's run).

    Raises ValueError, with the one-line message to show, when the variable is set to anything
    but a positive, finite number of seconds.
    """
    given = os.environ.get(variable)
    if given is None or not given.strip():
        return default
    try:
        seconds = float(given)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(
            f"{variable}: not a positive number of seconds (got {given!r}); "
            "set it to one such as 600, or unset it for the default"
        )
    return seconds


def usable_cpus() -> int:
    """The processors this process may run on (its affinity, where the system tells it): how
    many children may work at once."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def spawn(command: list[str], **popen_args: Any) -> subprocess.Popen[Any]:
    """Start `command` in a new session (its own process group), watched by this module.

    Accepts `subprocess.Popen`'s keyword arguments (not `start_new_session` or
    `process_group`). Raises what Popen raises (OSError when the program is missing).
    """
    process: subprocess.Popen[Any] = subprocess.Popen(command, start_new_session=True, **popen_args)
    with _lock:
        _children[process.pid] = process
    return process


def stop(process: subprocess.Popen[Any], grace: float = STOP_GRACE_SECONDS) -> None:
    """End `process` and everything in its process group: SIGTERM, then SIGKILL after `grace`
    seconds. SIGTERM rather than SIGINT: a background job of a shell script inherits SIGINT as
    ignored, and its children with it (a stop by SIGINT then waited out its whole timeout)."""
    try:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                # SIGKILL cannot be caught: the process is gone as soon as the kernel reaps it.
                process.wait(timeout=KILL_WAIT_SECONDS)
        # Grandchildren (uv's checkov) may outlive a child that exited on its own.
        _signal_group(process, signal.SIGKILL)
    finally:
        release(process)


def release(process: subprocess.Popen[Any]) -> None:
    """Stop watching `process` (it has ended and been waited for)."""
    with _lock:
        _children.pop(process.pid, None)


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


@contextlib.contextmanager
def temporary_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory removed on exit, and by the signal handler if keyplane is killed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    track(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        untrack(path)


def track(path: Path) -> None:
    """Remove `path` (a file or a directory) if keyplane is ended by a signal."""
    with _lock:
        _temporary.add(path)


def untrack(path: Path) -> None:
    with _lock:
        _temporary.discard(path)


def cleanup() -> None:
    """Kill every watched process group and remove every tracked temporary path, now."""
    with _lock:
        children = list(_children.values())
        paths = list(_temporary)
        _children.clear()
        _temporary.clear()
    for process in children:
        _signal_group(process, signal.SIGKILL)
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    cleanup()
    name = signal.Signals(signum).name
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), f"keyplane: stopped by {name}\n".encode())
    os._exit(128 + signum)


def install_signal_handlers() -> None:
    """Make SIGINT, SIGTERM and SIGHUP end keyplane at once with its children and temporary
    files (main thread only; a signal ignored when keyplane started stays ignored, as a shell's
    `nohup` or a background job intends)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _HANDLED:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        signal.signal(signum, _on_signal)
