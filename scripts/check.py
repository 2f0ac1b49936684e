"""The whole test suite: lint, type check, tests. Run it as the README says:

    python3 -m pip install --quiet uv && python3 -m uv run --frozen python scripts/check.py

Extra arguments go to pytest (for example `-k preview`).

The HTML report's browser test needs Chromium (Debian's `chromium` package): when it is missing,
it is installed here if this runs as root with apt (a fresh CI machine); otherwise the check stops
with one line saying what to install. KEYPLANE_SKIP_BROWSER_TESTS=1 skips that test instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

BROWSER_OPT_OUT = "KEYPLANE_SKIP_BROWSER_TESTS"
APT_INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]

STEPS = [
    ("lint", ["ruff", "check", "."]),
    ("format", ["ruff", "format", "--check", "."]),
    ("types", ["mypy"]),
    ("tests", ["pytest", "-n", "auto", "-q", *sys.argv[1:]]),
]


def ensure_chromium() -> int:
    """0 when Chromium is there (or installed now, or its test opted out), else 2."""
    if os.environ.get(BROWSER_OPT_OUT) == "1" or shutil.which("chromium"):
        return 0
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"== browser: {' '.join(APT_INSTALL)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        code = subprocess.call(["apt-get", "update", "-qq"], env=env)
        if code == 0:
            code = subprocess.call([*APT_INSTALL, "-qq"], env=env)
        if code == 0 and shutil.which("chromium"):
            return 0
    print(
        "scripts/check.py: Chromium is missing: install it (Debian/Ubuntu: sudo apt-get install "
        f"-y --no-install-recommends chromium), or set {BROWSER_OPT_OUT}=1 to skip the HTML "
        "report's browser test",
        file=sys.stderr,
    )
    return 2


def main() -> int:
    code = ensure_chromium()
    if code != 0:
        return code
    for name, command in STEPS:
        started = time.monotonic()
        print(f"== {name}: {' '.join(command)}", flush=True)
        code = subprocess.call(command)
        print(
            f"== {name}: {'ok' if code == 0 else f'failed (exit {code})'} in {time.monotonic() - started:.1f}s",
            flush=True,
        )
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
