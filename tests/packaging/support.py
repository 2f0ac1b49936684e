"""Building things once per test session, shared by pytest-xdist's workers.

Each xdist worker runs its own session; a folder under the run's common temporary root and a
file lock make the first worker build (a wheel, a virtualenv) and the others reuse it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def uv() -> str:
    """The uv binary keyplane depends on (its cache is shared with the checkout's)."""
    from uv import find_uv_bin

    return find_uv_bin()


def shared_build(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """`build(folder)` once per test run, whichever worker gets there first; the folder."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this run
    folder = root / f"shared-{name}"
    with (root / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".done").write_text("")
    return folder


def run(command: Iterable[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, failing the test with its output when it fails."""
    argv = [str(c) for c in command]
    result: subprocess.CompletedProcess[str] = subprocess.run(
        argv, capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)}: exit {result.returncode}\n{result.stderr}")
    return result


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"


def git_selected_files(folder: Path) -> list[Path]:
    """The files of `folder` that a tool honouring every `.gitignore` (as `pulumi policy
    publish` does) would pack: git's own selection, in a throwaway repository."""
    run(["git", "init", "-q", str(folder)])
    listed = run(
        ["git", "-C", str(folder), "ls-files", "--others", "--exclude-standard", "-z"]
    ).stdout
    shutil.rmtree(folder / ".git")
    return sorted(Path(p) for p in listed.split("\0") if p)
