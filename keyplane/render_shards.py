"""The offline render of a large estate in several processes, one shard of its tenants each.

The Pulumi SDK keeps every resource of a program, with an `Output` and its futures per property,
alive until the program ends: about 75 KB per resource, 1.5 GB at 20,000 resources in one
process, and the render runs on one core. An estate with many tenants (on any cloud) is
therefore rendered in shards: each shard is the same stack program, run by a child process
(`python -m keyplane.render_shards`) with a `TenantShard` (`keyplane.components.shard`), so that
it registers the resources of its tenants and every resource no tenant owns, standing in for
other shards' key and secret ARNs where a shared resource names them (on AWS the roles'
policies; on GCP and Azure no shared resource names a tenant's key or secret). The gate
receives each shard's registrations as they are made (the pack analyses them meanwhile) and
joins them. One server process imports the SDK and the components once and forks a child per
shard (`_Server`): a new interpreter per shard cost its start-up each time (at 9,919 resources,
4 shards, 23.0-24.9 s of CPU in all against 22.7-23.6 s forked; 26-29 s against 21.5-22.9 s
where compiled modules are not kept, PYTHONDONTWRITEBYTECODE).

The registrations are joined so:

- a resource registered by several shards (one no tenant owns) must be registered identically
  by each (type, parent, options and inputs): otherwise the render is refused as an internal
  error, never judged;
- its dependencies are those of every shard together (each shard records the dependencies on
  the resources it registers), sorted.

What the gate judges is thus the registrations of one whole render (a test compares them,
record by record, on every bundled estate and on the benchmark's, on AWS, GCP and Azure). An
estate is sharded from 100 tenants on a machine with several processors, or when it has more
tenants than a shard holds (`plan_shards`). Settings (environment variables): `KEYPLANE_RENDER_SHARD_TENANTS` most
tenants per shard (default 400; the memory of one shard's process), `KEYPLANE_RENDER_WORKERS`
shards rendered at once (default: the processors keyplane may run on),
`KEYPLANE_RENDER_TIMEOUT` seconds a shard may go without sending anything (default 600).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
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

    An estate (of any cloud) is sharded when it has more tenants than one shard holds
    (`KEYPLANE_RENDER_SHARD_TENANTS`: memory), or `SHARD_FROM_TENANTS` tenants or more and
    several processors (speed): as many shards as the size needs, at least one per processor,
    rounded up to a multiple of the processors so that no shard renders alone at the end.

    Raises ShardFailure (the one-line message) when a setting is not a positive whole number.
    """
    if not env.tenants:
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
    server = _Server(job, shards, workers, events)
    done = 0
    try:
        while done < len(shards):
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
                if payload is None:
                    raise ShardFailure(
                        f"render shard {index + 1} of {len(shards)} ended without finishing "
                        f"(its process was stopped: {server.status()})"
                    )
                done += 1
                peaks.append(payload)
                if progress is not None:
                    progress(
                        f"render: shard {done} of {len(shards)} done "
                        f"({len(joined.by_urn)} resources so far)"
                    )
        server.finish()
    finally:
        server.stop()
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


class _Server:
    """The shards' process (`python -m keyplane.render_shards`): it imports the SDK and the
    components once, reads the job, then forks one child per shard, `workers` at a time, each
    writing its messages to a pipe of its own that the gate made for it (so a shard starts in
    milliseconds instead of the half second of a new interpreter). The server and its children
    are one process group under `supervise`. A thread per pipe relays its messages to `events`
    as `(shard index, kind, payload)`, and `(index, "end", peak MB or None)` at its end."""

    def __init__(
        self,
        job: ShardJob,
        shards: Sequence[frozenset[str]],
        workers: int,
        events: queue.Queue[tuple[int, str, Any]],
    ) -> None:
        pipes = [os.pipe() for _ in shards]
        writers = [w for _, w in pipes]
        try:
            self._process = supervise.spawn(
                [sys.executable, "-m", "keyplane.render_shards"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=writers,
            )
        finally:
            for w in writers:
                os.close(w)  # the server's children hold them now
        self._relays = [
            threading.Thread(
                target=_relay, args=(index, r, events), name=f"render-shard-{index}", daemon=True
            )
            for index, (r, _) in enumerate(pipes)
        ]
        for relay in self._relays:
            relay.start()
        assert self._process.stdin is not None
        try:
            pickle.dump(
                _ServerJob(job, tuple(zip(shards, writers, strict=True)), workers),
                self._process.stdin,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # the server is gone: every pipe ends without its end, reported as such

    def status(self) -> str:
        code = self._process.poll()
        return "the shards' server is running" if code is None else f"exit status {code}"

    def finish(self) -> None:
        """Wait for the server to exit once every shard has ended."""
        with contextlib.suppress(subprocess.TimeoutExpired):  # then stopped by `stop`
            self._process.wait(timeout=supervise.STOP_GRACE_SECONDS)

    def stop(self) -> None:
        """End the server and its children (their process group) and the relays."""
        supervise.stop(self._process)
        for relay in self._relays:
            relay.join(timeout=supervise.KILL_WAIT_SECONDS)


@dataclass(frozen=True)
class _ServerJob:
    """What the server renders: the job, and each shard's tenants with the pipe (a file
    descriptor the server inherited) its child writes to."""

    job: ShardJob
    shards: tuple[tuple[frozenset[str], int], ...]
    workers: int


def _relay(index: int, reader: int, events: queue.Queue[tuple[int, str, Any]]) -> None:
    """Relay shard `index`'s messages from the pipe `reader` until its end."""
    ended: float | None = None  # the shard's peak memory (MB) once it has finished
    try:
        with os.fdopen(reader, "rb") as stream:
            for kind, payload in _messages(stream):
                if kind == "end":
                    ended = float(payload)
                    break
                events.put((index, kind, payload))
    except (OSError, ValueError, pickle.UnpicklingError, EOFError):
        ended = None
    finally:
        events.put((index, "end", ended))


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
    """The shards' server: import, read the job from standard input, fork a child per shard
    (`_ServerJob.workers` at a time) and wait for them; exit 0 when every child did."""
    # Imported once, before any fork: every shard's child starts with them.
    import keyplane.program  # noqa: F401, PLC0415
    from keyplane import collector  # noqa: PLC0415
    from keyplane.components.environment import ENVIRONMENT_COMPONENTS  # noqa: PLC0415
    from keyplane.gate import render_environment  # noqa: F401, PLC0415

    work: _ServerJob = pickle.load(sys.stdin.buffer)  # noqa: S301 - sent by our own gate
    importlib.import_module(ENVIRONMENT_COMPONENTS[work.job.env.cloud][0])  # its cloud's SDK
    collector.tune()  # what is imported is never garbage, nor copied by a child's collections
    children: dict[int, int] = {}
    failed = False
    for index, (tenants, writer) in enumerate(work.shards):
        while len(children) >= work.workers:
            failed |= _reap(children)
        pid = os.fork()
        if pid == 0:  # the shard's child
            # The pipes of the shards still to come (the server closed those of the earlier
            # ones): each pipe's end must come when its own child exits.
            for _, other in work.shards[index + 1 :]:
                os.close(other)
            code = _render_shard(dataclasses.replace(work.job, tenants=tenants), writer)
            os._exit(code)
        children[pid] = index
        os.close(writer)
    while children:
        failed |= _reap(children)
    return 1 if failed else 0


def _reap(children: dict[int, int]) -> bool:
    """Wait for one child; True when it failed."""
    pid, status = os.wait()
    children.pop(pid, None)
    return os.waitstatus_to_exitcode(status) != 0


def _render_shard(job: ShardJob, writer: int) -> int:
    """Render `job` (a shard's child); every message goes to the pipe `writer`."""
    from keyplane.gate import RenderError, render_environment  # noqa: PLC0415

    channel = _Channel(os.fdopen(writer, "wb"))
    try:
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
