"""The whole test suite: lint, type check, tests. Run it as the README says:

    python3 -m pip install --quiet uv && python3 -m uv run --frozen python scripts/check.py

Extra arguments go to pytest (for example `-k preview`).
"""

from __future__ import annotations

import subprocess
import sys
import time

STEPS = [
    ("lint", ["ruff", "check", "."]),
    ("format", ["ruff", "format", "--check", "."]),
    ("types", ["mypy"]),
    ("tests", ["pytest", "-n", "auto", "-q", *sys.argv[1:]]),
]


def main() -> int:
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
