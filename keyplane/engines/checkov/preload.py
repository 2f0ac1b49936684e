"""The preloaded checkov: run in checkov's own environment (`python -c` with this file's text,
by `keyplane.engines.checkov.runner`), never imported by keyplane.

It imports checkov once (most of its start-up: seconds), then serves runs. Each line on its
standard input is one run, a JSON object: `name`, `argv` (the arguments of the `checkov`
command), `stdout` and `stderr` (files the run writes). Each run is a fork of this process taken
after the import, so every run starts from the freshly imported checkov, as its own command would:
no registry, runner, filter or `bc_integration` state of another run carries over, and two runs
go side by side. When a run ends, one line `{"name": ..., "exit": ...}` is written on standard
output (the exit status as `subprocess` gives it: negative for a signal). At the end of its
input, it waits for the runs still going and exits.

Its forks stay in its process group, so that stopping the group (`keyplane.supervise`) stops
every run with it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import signal
import sys
import traceback
import warnings
from typing import Any


def main() -> None:
    from checkov.main import Checkov  # noqa: PLC0415 - only in checkov's environment

    # The collector tuned as in keyplane's own processes (keyplane/collector.py: it took about
    # 43 % of checkov's time on thousands of resources); inline, as keyplane is not importable
    # here. Frozen, the imported heap is also left alone by any collection, so the pages the
    # forks share with this process stay shared (the forks do not collect: `_serve`).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    _quiet_debug_log()
    # A run's end wakes the loop below through this pipe (SIGCHLD), as the arrival of a request
    # does through standard input.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: dict[int, str] = {}
    pending = b""
    reading = True
    while reading or running:
        watched = [0, wake_read] if reading else [wake_read]
        ready, _, _ = select.select(watched, [], [])
        if wake_read in ready:
            os.read(wake_read, 4096)
        if 0 in ready:
            data = os.read(0, 65536)
            reading = bool(data)
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        os.close(wake_read)
                        os.close(wake_write)
                        _serve(Checkov, request)  # never returns
                    running[pid] = str(request["name"])
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            name = running.pop(pid, None)
            if name is not None:
                ended = {"name": name, "exit": os.waitstatus_to_exitcode(status)}
                print(json.dumps(ended), flush=True)


def _quiet_debug_log() -> None:
    """No debug records: checkov keeps every one of them in memory (`checkov.logging_init`'s
    `log_stream`, a handler at DEBUG on the root logger), only to upload them with `--support`,
    which keyplane never passes. That is several records per check and resource, formatted and
    kept: measured at 1,819 resources with keyplane's checks, 6.6 -> 4.9 s of CPU. What checkov
    prints on standard error (its handler at `LOG_LEVEL`, WARNING by default) is unchanged."""
    from checkov import logging_init  # noqa: PLC0415 - only in checkov's environment

    root = logging.getLogger()
    root.removeHandler(logging_init.stream_handler)
    # The lowest level a remaining handler emits (Python's last resort, without any, WARNING).
    level = min((handler.level for handler in root.handlers), default=logging.WARNING)
    if level > logging.NOTSET:
        root.setLevel(level)


def _serve(checkov: Any, request: dict[str, Any]) -> None:
    """In the fork: run checkov once with the request's arguments, its output in the request's
    files, and exit with the status its command would have."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # No cyclic collections in a run (as keyplane's render, `keyplane/collector.py`): what
    # checkov builds lives until the run ends, which ends the process. Measured on the plan of
    # 9,919 resources with keyplane's checks, two alternating pairs: 14.8 and 17.7 s of CPU
    # tuned, 13.1 and 13.7 s without, the same peak memory (626 MB).
    gc.disable()
    status = 3
    try:
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=SyntaxWarning)
                code = checkov(argv=list(request["argv"])).run()
        except SystemExit as exit_:
            code = exit_.code
        # What `sys.exit(code)` does with it, as the `checkov` command ends so.
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            print(code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 3
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        # Not the interpreter's exit: this process's atexit handlers and finalisers belong to
        # the process it was forked from.
        os._exit(status)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # Every run has ended and been reported: nothing is left to tear down that the system does
    # not free itself, and tearing down checkov's heap takes a third of a second.
    os._exit(0)
