"""The offline render of a large estate in several processes, one shard of its tenants each.

The Pulumi SDK keeps every resource of a program, with an `Output` and its futures per property,
alive until the program ends: about 75 KB per resource, 1.5 GB at 20,000 resources in one
process, and the render runs on one core. An AWS estate with many tenants is therefore rendered
in shards: each shard is the same stack program, run by a child process (`python -m
keyplane.render_shards`) with a `TenantShard` (`keyplane.components.shard`), so that it
registers the resources of its tenants and every resource no tenant owns, standing in for other
shards' key and secret ARNs where a shared resource names them. The gate receives each shard's
registrations as they are made (the pack analyses them meanwhile) and joins them:

- a resource registered by several shards (one no tenant owns) must be registered identically
  by each (type, parent, options and inputs): otherwise the render is refused as an internal
  error, never judged;
- its dependencies are those of every shard together (each shard records the dependencies on
  the resources it registers), sorted.

What the gate judges is thus the registrations of one whole render (a test compares them,
record by record, on every bundled estate and on the benchmark's). An estate is sharded from
100 tenants on a machine with several processors, or when it has more tenants than a shard
holds (`plan_shards`). Settings (environment variables): `KEYPLANE_RENDER_SHARD_TENANTS` most
tenants per shard (default 400; the memory of one shard's process), `KEYPLANE_RENDER_WORKERS`
shards rendered at once (default: the processors keyplane may run on),
`KEYPLANE_RENDER_TIMEOUT` seconds a shard may go without sending anything (default 600).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import resource
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from keyplane import supervise
from keyplane.config import Environment
from keyplane.standard import Cloud
from keyplane.wire import Registration

SHARD_TENANTS_VAR = "KEYPLANE_RENDER_SHARD_TENANTS"
WORKERS_VAR = "KEYPLANE_RENDER_WORKERS"
TIMEOUT_VAR = "KEYPLANE_RENDER_TIMEOUT"
#: Tenants per shard: one shard's process stays near 300 MB (about 9 resources per tenant).
DEFAULT_SHARD_TENANTS = 400
#: From this many tenants the render is sharded for speed when there are several processors.
#: Measured on the 2-core reference machine, `preview --no-checkov`, quiet, alternated: 1,819
#: resources (200 tenants) 3.12-3.37 s in one process, 2.92-3.23 s in two shards; 9,919
#: resources (1,100 tenants) 15.9-16.7 s in one process, 12.4-13.8 s in four shards (more CPU
#: in all, 24 s against 22 s, but on both processors). A shard's process costs about half a
#: second to start, more than a small estate's render.
SHARD_FROM_TENANTS = 100
#: Seconds a shard may go without sending a registration or its end.
DEFAULT_TIMEOUT = 600.0
#: Registrations sent together: fewer, larger writes to the pipe.
BATCH = 64

_log = logging.getLogger(__name__)


class ShardError(RuntimeError):
    """A shard's program failed with an exception, or two shards registered one resource
    differently: a bug in keyplane (exit 3), never a verdict."""


class ShardFailure(Exception):
    """A shard's process went silent past its deadline or ended without finishing (killed, out
    of memory), or a setting is malformed; the message is the one line to show (exit 2)."""


@dataclass(frozen=True)
class ShardJob:
    """What a shard's process renders (sent pickled on its standard input)."""

    env: Environment
    estate_dir: Path
    today: date | None
    stack_config_dir: Path | None
    tenants: frozenset[str]


@dataclass(frozen=True)
class ShardedRender:
    """How the last sharded render in this process went (`last_render`; for the benchmark)."""

    shards: int
    workers: int
    #: Peak resident memory of each shard's process, MB, in the order they finished.
    peak_mb: tuple[float, ...]


last_render: ShardedRender | None = None


def plan_shards(env: Environment) -> list[frozenset[str]]:
    """The tenant shards of `env`'s render, in declaration order; [] to render in one process.

    An AWS estate is sharded when it has more tenants than one shard holds
    (`KEYPLANE_RENDER_SHARD_TENANTS`: memory), or `SHARD_FROM_TENANTS` tenants or more and
    several processors (speed): as many shards as the size needs, at least one per processor,
    rounded up to a multiple of the processors so that no shard renders alone at the end.

    Raises ShardFailure (the one-line message) when a setting is not a positive whole number.
    """
    if env.cloud is not Cloud.AWS or not env.tenants:
        return []
    per_shard = _whole_setting(SHARD_TENANTS_VAR, DEFAULT_SHARD_TENANTS)
    workers = _workers()
    names = [t.name for t in env.tenants]
    count = -(-len(names) // per_shard)
    if len(names) >= SHARD_FROM_TENANTS:
        count = max(count, workers)
    if count < 2:
        return []
    count = -(-count // workers) * workers
    size = -(-len(names) // count)
    return [frozenset(names[i : i + size]) for i in range(0, len(names), size)]


def _workers() -> int:
    return _whole_setting(WORKERS_VAR, supervise.usable_cpus())


def _whole_setting(variable: str, default: int) -> int:
    given = os.environ.get(variable)
    if given is None or not given.strip():
        return default
    try:
        value = int(given)
    except ValueError:
        value = 0
    if value < 1:
        raise ShardFailure(
            f"{variable}: not a positive whole number (got {given!r}); "
            "set it to one such as 400, or unset it for the default"
        )
    return value


@dataclass
class _Joined:
    """The registrations of every shard, joined by URN, in the order they first came."""

    by_urn: dict[str, Registration] = dataclasses.field(default_factory=dict)

    def add(self, registration: Registration) -> bool:
        """Keep `registration`; True when it is new (not registered by another shard yet).

        Raises ShardError when another shard registered the same URN differently.
        """
        kept = self.by_urn.get(registration.urn)
        if kept is None:
            self.by_urn[registration.urn] = registration
            return True
        if _identity(kept) != _identity(registration) or kept.inputs != registration.inputs:
            raise ShardError(
                f"render shards registered {registration.urn} differently; "
                f"render in one process ({SHARD_TENANTS_VAR}=1000000) and report this"
            )
        self.by_urn[registration.urn] = dataclasses.replace(
            kept,
            dependencies=tuple(sorted({*kept.dependencies, *registration.dependencies})),
            property_dependencies={
                key: tuple(
                    sorted(
                        {
                            *kept.property_dependencies.get(key, ()),
                            *registration.property_dependencies.get(key, ()),
                        }
                    )
                )
                for key in {*kept.property_dependencies, *registration.property_dependencies}
            },
        )
        return False


def _identity(r: Registration) -> tuple[Any, ...]:
    return (r.type, r.name, r.custom, r.parent, r.protect, r.retain_on_delete, r.provider, r.read)


def render_sharded(
    job: ShardJob,
    shards: Sequence[frozenset[str]],
    *,
    on_register: Callable[[Registration], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Registration]:
    """Render `job.env` in `shards` (each a child process) and return the joined registrations.

    `on_register` sees each resource once, when its first shard registers it (its dependencies
    are completed later, in the returned list); `on_warning` each distinct warning the program
    logs; `progress` a line as the render starts and as each shard ends. Raises
    `keyplane.gate.RenderError` (the program's own message) when the program stops;
    ShardFailure when a shard's process goes silent for `KEYPLANE_RENDER_TIMEOUT` seconds or
    ends without finishing, or a setting is malformed; ShardError when a shard's program raises
    an exception or two shards disagree. No shard's process outlives the call.
    """
    from keyplane.gate import RenderError  # noqa: PLC0415 - the gate imports this module

    workers = min(_workers(), len(shards))
    try:
        silence = supervise.deadline_setting(TIMEOUT_VAR, DEFAULT_TIMEOUT)
    except ValueError as err:
        raise ShardFailure(str(err)) from None
    events: queue.Queue[tuple[int, str, Any]] = queue.Queue()
    joined = _Joined()
    order: list[list[str]] = [[] for _ in shards]
    warned: set[str] = set()
    peaks: list[float] = []
    if progress is not None:
        progress(
            f"render: {len(shards)} shards of up to {max(len(s) for s in shards)} tenants, "
            f"{workers} at a time"
        )
    # One process more than the shards rendered at once waits with its imports done (about a
    # second), so that a shard ending is followed at once by the next one's render.
    idle: list[_Worker] = []
    running: dict[int, _Worker] = {}
    pending = list(range(len(shards)))
    try:
        while pending or running:
            while pending and len(running) < workers:
                worker = idle.pop(0) if idle else _Worker(events)
                index = pending.pop(0)
                worker.give(index, dataclasses.replace(job, tenants=shards[index]))
                running[index] = worker
            while len(idle) < min(1, len(pending)):
                idle.append(_Worker(events))
            try:
                index, kind, payload = events.get(timeout=silence)
            except queue.Empty:
                raise ShardFailure(
                    f"a render shard sent nothing for {silence:g} s; raise {TIMEOUT_VAR} "
                    "if the estate is that large"
                ) from None
            if kind == "registrations":
                for registration in payload:
                    order[index].append(registration.urn)
                    if joined.add(registration) and on_register is not None:
                        on_register(registration)
            elif kind == "warning":
                if payload not in warned:
                    warned.add(payload)
                    if on_warning is not None:
                        on_warning(payload)
            elif kind == "stopped":
                raise RenderError(payload)
            elif kind == "failed":
                raise ShardError(f"render shard {index + 1} of {len(shards)} failed: {payload}")
            elif kind == "end":
                code = running.pop(index).finish()
                if payload is None or code != 0:
                    raise ShardFailure(
                        f"render shard {index + 1} of {len(shards)} ended without finishing "
                        f"(exit status {code})"
                    )
                peaks.append(payload)
                if progress is not None:
                    progress(
                        f"render: shard {len(peaks)} of {len(shards)} done "
                        f"({len(joined.by_urn)} resources so far)"
                    )
    finally:
        for worker in (*running.values(), *idle):
            worker.stop()
    global last_render  # noqa: PLW0603 - read by the benchmark
    last_render = ShardedRender(len(shards), workers, tuple(peaks))
    seen: set[str] = set()
    result = []
    for urns in order:
        for urn in urns:
            if urn not in seen:
                seen.add(urn)
                result.append(joined.by_urn[urn])
    return result


class _Worker:
    """A shard's process (`python -m keyplane.render_shards`), started before its job is known:
    it imports the SDK and the components, then waits for the job on its standard input. A
    thread relays its messages to `events` as `(shard index, kind, payload)`."""

    def __init__(self, events: queue.Queue[tuple[int, str, Any]]) -> None:
        self._events = events
        self._relay_thread: threading.Thread | None = None
        self._process = supervise.spawn(
            [sys.executable, "-m", "keyplane.render_shards"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def give(self, index: int, job: ShardJob) -> None:
        """Send `job` (shard `index`) and relay what the process sends until its end."""
        self._relay_thread = threading.Thread(
            target=self._relay, args=(index, job), name=f"render-shard-{index}", daemon=True
        )
        self._relay_thread.start()

    def _relay(self, index: int, job: ShardJob) -> None:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        ended: float | None = None  # the shard's peak memory (MB) once it has finished
        try:
            with contextlib.suppress(BrokenPipeError):
                pickle.dump(job, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                process.stdin.close()
            for kind, payload in _messages(process.stdout):
                if kind == "end":
                    ended = float(payload)
                    break
                self._events.put((index, kind, payload))
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            ended = None
        finally:
            process.stdout.close()
            self._events.put((index, "end", ended))

    def finish(self) -> int:
        """Wait for the process to exit (it has sent its end); its exit status."""
        try:
            return self._process.wait(timeout=supervise.STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            supervise.stop(self._process)
            return -1
        finally:
            supervise.release(self._process)
            self._close()

    def stop(self) -> None:
        """End the process (and its group) and close its pipes."""
        supervise.stop(self._process)
        self._close()

    def _close(self) -> None:
        if self._relay_thread is not None:
            self._relay_thread.join(timeout=supervise.KILL_WAIT_SECONDS)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _messages(stream: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """The messages a shard's process sends, until its end or the stream's."""
    while True:
        try:
            message = pickle.load(stream)  # noqa: S301 - our own child, over a private pipe
        except EOFError:
            return
        yield message


# --- the shard's process -----------------------------------------------------------------------


class _Channel:
    """The shard's messages to the gate: pickled tuples on the original standard output."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.RLock()  # the SDK registers from several threads
        self._batch: list[Registration] = []

    def send(self, kind: str, payload: Any = None) -> None:
        with self._lock:
            pickle.dump((kind, payload), self._stream, protocol=pickle.HIGHEST_PROTOCOL)
            self._stream.flush()

    def register(self, registration: Registration) -> None:
        # Without the wire form: the gate makes it again from the inputs where it needs it
        # (one copy in its memory instead of two; half the bytes through the pipe).
        registration = dataclasses.replace(registration, wire=None)
        with self._lock:
            self._batch.append(registration)
            if len(self._batch) >= BATCH:
                self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
            if batch:
                self.send("registrations", batch)


class _Warnings(logging.Handler):
    """The program's warnings (the mock engine logs them on the root logger), sent to the gate."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.WARNING)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        self._channel.send("warning", record.getMessage())


def _serve() -> int:
    """Render the job read from standard input; every message goes to the original standard
    output (anything else the process prints goes to standard error)."""
    channel = _Channel(os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        # Imported while the gate has no job for this process yet.
        import keyplane.components.aws.environment  # noqa: PLC0415 - shards are on AWS
        import keyplane.program  # noqa: F401, PLC0415
        from keyplane.gate import RenderError, render_environment  # noqa: PLC0415

        job: ShardJob = pickle.load(sys.stdin.buffer)  # noqa: S301 - sent by our own gate

        logging.getLogger().addHandler(_Warnings(channel))
        try:
            render_environment(
                job.env,
                job.estate_dir,
                today=job.today,
                on_register=channel.register,
                stack_config_dir=job.stack_config_dir,
                shard=job.tenants,
            )
        except RenderError as err:
            channel.flush()
            channel.send("stopped", str(err))
            return 0
        channel.flush()
        channel.send("end", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    except BrokenPipeError:
        return 1  # the gate is gone
    except BaseException as err:  # reported to the gate, which exits 3
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        with contextlib.suppress(OSError):
            channel.send("failed", last)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
