"""Running a CrossGuard policy pack without the Pulumi CLI: this module plays the engine.

It starts the pack the way the engine does (`<python> -u -m pulumi.policy <engine-address> .` in
the pack's folder, with PULUMI_CONFIG, PULUMI_PROJECT, PULUMI_STACK and PULUMI_DRY_RUN set),
serves a minimal Engine service on 127.0.0.1 for the pack's log calls, reads the port the pack
prints, and speaks the analyzer protocol over one gRPC channel: GetAnalyzerInfo, ConfigureStack,
Configure (every policy's enforcement level set explicitly: a level left out arrives as 0, which
is ADVISORY), Analyze per resource and AnalyzeStack once. Diagnostics come back as keyplane
findings (engine "crossguard").

Resources are `keyplane.render.Registration`s or any record with the same fields (type, name,
urn, inputs in wire form, parent, dependencies, property_dependencies, protect, provider).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

# gRPC core logs transport events ("Got goaway ... UNAVAILABLE" when the pack ends) to stderr,
# where CI logs show them as failures; keyplane reports what goes wrong itself. Read once, at
# gRPC's first use, so it is set before the import. Set, not defaulted: a runner's global
# GRPC_VERBOSITY/GRPC_TRACE (meant for another tool) put 19,000 lines of gRPC's own log on a
# bundled preview's stderr.
os.environ["GRPC_VERBOSITY"] = "NONE"
os.environ.pop("GRPC_TRACE", None)

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from keyplane import supervise
from keyplane.adapters.pulumi import PulumiResource, ResourceLike
from keyplane.engines.crossguard.structs import to_struct
from keyplane.findings import Engine, Finding
from keyplane.locations import policy_pack_dir
from keyplane.rules.catalog import Enforcement
from keyplane.wire import STACK_TYPE

#: keyplane's own pack: the checkout's `policy-packs/keyplane`, or the copy inside the wheel.
DEFAULT_PACK_DIR = policy_pack_dir()
_MAX_MESSAGE = 400 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
]
_RULE_POLICY = re.compile(r"(km-[a-z]{3}-\d{3})-")
_CANT_RUN = re.compile(r"can't run policy '[^']*' from policy pack '[^']*' during preview: ", re.S)
_EXCEPTED = re.compile(r"\[excepted by (\S+) until \d{4}-\d{2}-\d{2}\]")
_LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_ENFORCEMENT = {
    analyzer_pb2.ADVISORY: Enforcement.ADVISORY,
    analyzer_pb2.MANDATORY: Enforcement.MANDATORY,
    analyzer_pb2.REMEDIATE: Enforcement.MANDATORY,
    analyzer_pb2.DISABLED: Enforcement.DISABLED,
}


#: Seconds the pack is given to answer one call (overrides the defaults below): a pack that
#: hangs (a policy in an endless loop, a wedged server) must not hold a CI job forever.
PACK_TIMEOUT_ENV = "KEYPLANE_PACK_TIMEOUT"
#: The default for each call. One resource's Analyze takes well under a millisecond of the pack's
#: time and queues behind at most `CrossGuardPack.IN_FLIGHT` others; AnalyzeStack gets
#: PACK_STACK_SECONDS_PER_RESOURCE more per resource (it took about 0.2 ms per resource on the
#: 2-core reference machine: 50 times that).
PACK_CALL_SECONDS = 300.0
PACK_STACK_SECONDS_PER_RESOURCE = 0.01


#: From this many resources a scan's Analyze calls are shared by two packs (`pack_processes`).
#: Measured on the 2-core reference machine (loaded by other work; alternating runs): at 9,919
#: resources two packs took 7.0-8.4 s against 8.9-9.2 s for one, for the same CPU (10.1 s);
#: at 1,819 the second pack's start-up added 0.35 s of CPU to 2.35 s, for a gain in wall time
#: lost in the noise. Below this, one pack.
RESOURCES_FOR_TWO_PACKS = 4_000


@dataclass(frozen=True)
class _Answer:
    """A finished call's response, read as the call is (`result()`)."""

    response: Any

    def result(self) -> Any:
        return self.response


class PackError(RuntimeError):
    """The policy pack could not be started or answered with an error."""


class Prepared(NamedTuple):
    """A resource's Analyze request, made ahead of sending (`CrossGuardPack.prepare`)."""

    record: PulumiResource
    request: Any


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement: str
    stack: bool


@dataclass
class _LogSink(engine_pb2_grpc.EngineServicer):
    """The engine's Log service: keeps what the pack logs (warnings, errors)."""

    messages: list[str] = field(default_factory=list)

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.messages.append(str(request.message))
        return empty_pb2.Empty()


def _properties(resource: ResourceLike, record: PulumiResource) -> struct_pb2.Struct:
    """The inputs in wire form: as the program sent them when the resource was rendered here."""
    wire = getattr(resource, "wire", None)
    return wire if isinstance(wire, struct_pb2.Struct) else to_struct(record.inputs)


def reconcile_config(
    policies: Sequence[PolicyInfo], config: Mapping[str, Any] | None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """What the CLI sends to Configure for `--policy-pack-config`: every policy's level (the
    policy's default, then `all`, then its own entry) and properties, plus entries that name no
    policy (passed through, as the CLI does)."""
    result: dict[str, tuple[str, dict[str, Any]]] = {p.name: (p.enforcement, {}) for p in policies}
    given = dict(config or {})

    def split(value: Any, name: str) -> tuple[str | None, dict[str, Any]]:
        if isinstance(value, str):
            return value, {}
        if isinstance(value, Mapping):
            props = {k: v for k, v in value.items() if k != "enforcementLevel"}
            level = value.get("enforcementLevel")
            return (str(level) if level is not None else None), props
        raise PackError(f"Invalid policy config for {name!r}: {value!r} (a level or an object)")

    if "all" in given:
        level, _ = split(given["all"], "all")
        if level:
            result = {name: (level, props) for name, (_, props) in result.items()}
    for name, value in given.items():
        level, props = split(value, name)
        old_level, old_props = result.get(name, ("advisory", {}))
        result[name] = (level or old_level, {**old_props, **props})
    for name, (level, _) in result.items():
        if level not in _LEVELS:
            raise PackError(f"Invalid enforcement level {level!r} for {name!r}")
    return result


class CrossGuardPack:
    """A running policy pack; use as a context manager (it is stopped on exit: `keyplane.supervise.stop`)."""

    #: Analyze calls outstanding at once (`analyze_later`).
    IN_FLIGHT = 64

    def __init__(
        self,
        pack_dir: Path = DEFAULT_PACK_DIR,
        *,
        stack: str,
        project: str = "keyplane",
        stack_config: Mapping[str, str] | None = None,
        policy_config: Mapping[str, Any] | None = None,
        dry_run: bool = True,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
        call_timeout: float | None = None,
    ) -> None:
        self.pack_dir = Path(pack_dir)
        self.stack = stack
        self.project = project
        self.stack_config = dict(stack_config or {})
        self.policy_config = dict(policy_config or {})
        self.dry_run = dry_run
        self.python = python
        self.startup_timeout = startup_timeout
        #: Seconds each call may take (`KEYPLANE_PACK_TIMEOUT`, else PACK_CALL_SECONDS);
        #: AnalyzeStack's default grows with the stack.
        self._timeout_given = call_timeout is not None or bool(
            os.environ.get(PACK_TIMEOUT_ENV, "").strip()
        )
        try:
            self.call_timeout = call_timeout or supervise.deadline_setting(
                PACK_TIMEOUT_ENV, PACK_CALL_SECONDS
            )
        except ValueError as err:
            raise PackError(str(err)) from None
        self.policies: list[PolicyInfo] = []
        self.log = _LogSink()
        self._process: subprocess.Popen[bytes] | None = None
        self._server: grpc.Server | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr: list[bytes] = []
        self._stderr_reader: threading.Thread | None = None
        self._in_flight = threading.BoundedSemaphore(self.IN_FLIGHT)
        #: Analyze calls sent and not yet answered (`PackPool` sends to the least busy pack).
        self.outstanding = 0
        self._outstanding_lock = threading.Lock()
        #: Each resource's part of the AnalyzeStack request (`stack_piece`), made with its
        #: Analyze call, by the resource's identity (two records may share a URN): converting a
        #: scan's inputs to wire form is most of the harness's own work, and bytes take less
        #: memory than the messages until the stack is sent.
        self._sent: dict[int, tuple[ResourceLike, bytes]] = {}
        self._analyze_stack: Any = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> CrossGuardPack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, configure: bool = True) -> None:
        """Start the pack and read its policies; configure it (`configure`) unless told not to
        (the caller then calls `configure` itself, before any analysis)."""
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PackError(f"{self.pack_dir}: not a policy pack (no PulumiPolicy.yaml)")
        try:
            engine_port = self._serve_engine()
            self._spawn(engine_port)
            port = self._read_port()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=self.startup_timeout)
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            # AnalyzeStack is sent as the bytes `stack_request` joins (see there).
            self._analyze_stack = self._channel.unary_unary(
                "/pulumirpc.Analyzer/AnalyzeStack",
                request_serializer=None,
                response_deserializer=analyzer_pb2.AnalyzeResponse.FromString,
            )
            info = self._call(
                lambda stub: stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=self.call_timeout)
            )
            self.policies = policy_infos(info)
            if configure:
                self.configure(self.policy_config)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            supervise.stop(process)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._server is not None:
            self._server.stop(0)
            self._server = None
        self._stub = None

    def _serve_engine(self) -> int:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.log, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return int(port)

    def _spawn(self, engine_port: int) -> None:
        env = dict(os.environ)
        env.update(
            {
                "PULUMI_CONFIG": json.dumps(self.stack_config),
                "PULUMI_PROJECT": self.project,
                "PULUMI_STACK": self.stack,
                "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
            }
        )
        self._process = supervise.spawn(
            [self.python, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", "."],
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._process.stderr is not None
        self._stderr_reader = threading.Thread(
            target=_drain, args=(self._process.stderr, self._stderr), daemon=True
        )
        self._stderr_reader.start()

    def _read_port(self) -> int:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            first = None
        text = first.decode(errors="replace").strip() if first is not None else ""
        if not text.isdigit():
            supervise.stop(process, grace=0)
            if self._stderr_reader is not None:
                self._stderr_reader.join(timeout=10)  # all of stderr, up to the exit
            detail = b"".join(self._stderr).decode(errors="replace").strip()
            reason = (
                f"it exited with code {process.returncode}"
                if first is not None
                else f"it printed no port within {self.startup_timeout:.0f} s"
            )
            tail = "\n".join(detail.splitlines()[-15:])
            raise PackError(
                f"the policy pack in {self.pack_dir} failed to start: {reason}"
                + (f"\n{tail}" if tail else (f" (printed {text!r})" if text else ""))
            )
        return int(text)

    def configure(self, policy_config: Mapping[str, Any] | None = None) -> None:
        """(Re)configure the running pack, as the engine does before analysing a stack:
        ConfigureStack, then Configure with every policy's level explicit."""
        self.policy_config = dict(policy_config or {})
        stack = stack_configure_request(self.stack, self.project, self.dry_run, self.stack_config)
        self._call(lambda stub: stub.ConfigureStack(stack, timeout=self.call_timeout))
        request = configure_request(self.policies, self.policy_config)
        self._call(lambda stub: stub.Configure(request, timeout=self.call_timeout))

    def _require(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self._stub is None:
            raise PackError("the policy pack is not running (use `with CrossGuardPack(...)`)")
        return self._stub

    # --- analysis ----------------------------------------------------------------------------

    def analyze(self, resource: ResourceLike) -> list[Finding]:
        """Analyze one resource (the engine calls this for each resource it registers)."""
        record, request = analyze_request(resource)
        response = self._call(lambda stub: stub.Analyze(request, timeout=self.call_timeout))
        return self._findings(response.diagnostics, {record.urn: record}, default=record)

    def prepare(self, resource: ResourceLike) -> Prepared:
        """The Analyze request for `resource`, made now (it can be made before the pack is up;
        AnalyzeStack sends its properties again)."""
        record, request = analyze_request(resource)
        self._sent[id(resource)] = (resource, stack_piece(record, request.properties))
        return Prepared(record, request)

    def analyze_later(self, resource: ResourceLike | Prepared) -> Callable[[], list[Finding]]:
        """Send the Analyze call now; the returned function waits for its findings.

        At most `IN_FLIGHT` calls are outstanding: past that the caller waits for an answer (the
        pack's server cancels some calls when thousands queue up at once).
        """
        record, request = resource if isinstance(resource, Prepared) else self.prepare(resource)
        if not self._in_flight.acquire(timeout=self.call_timeout):
            raise PackError(self._late(self.call_timeout))
        with self._outstanding_lock:
            self.outstanding += 1
        try:
            call = self._require().Analyze.future(request, timeout=self.call_timeout)
        except BaseException:
            self._answered()
            raise
        del request  # sent
        # The call until it is answered, then only its answer: a finished gRPC call holds a
        # few kilobytes, and a large stack's answers are collected only once all are in.
        held: list[Any] = [call]

        def answered(finished: Any) -> None:
            self._answered()
            # A failed or cancelled call is kept: `collect` reports it as it always did.
            with contextlib.suppress(Exception):
                if finished.exception() is None:
                    held[0] = _Answer(finished.result())

        call.add_done_callback(answered)
        del call

        def collect() -> list[Finding]:
            response = self._call(lambda _: held[0].result())
            return self._findings(response.diagnostics, {record.urn: record}, default=record)

        return collect

    def _answered(self) -> None:
        with self._outstanding_lock:
            self.outstanding -= 1
        self._in_flight.release()

    def analyze_stack(self, resources: Iterable[ResourceLike]) -> list[Finding]:
        """Analyze the whole stack once (the engine does at the end of a preview or update)."""
        return self.analyze_stack_later(resources)()

    def prepare_stack(self, resources: Iterable[ResourceLike]) -> tuple[list[PulumiResource], Any]:
        """The AnalyzeStack request for `resources` and their records (`stack_request`), with
        the properties the Analyze calls sent, made now."""
        prepared = stack_request(resources, self._sent)
        self._sent = {}
        return prepared

    def analyze_stack_later(
        self,
        resources: Iterable[ResourceLike] = (),
        prepared: tuple[list[PulumiResource], Any] | None = None,
    ) -> Callable[[], list[Finding]]:
        """Send the AnalyzeStack call now (for `resources`, or the request `prepare_stack`
        made); the returned function waits for its findings."""
        records, request = prepared if prepared is not None else self.prepare_stack(resources)
        timeout = self.call_timeout
        if not self._timeout_given:
            timeout += PACK_STACK_SECONDS_PER_RESOURCE * len(records)
        self._require()
        call = self._analyze_stack.future(request, timeout=timeout)
        del request  # sent: the pack has its copy

        def collect() -> list[Finding]:
            response = self._call(lambda _: call.result(), timeout)
            return self._findings(response.diagnostics, {r.urn: r for r in records}, default=None)

        return collect

    def run(self, resources: Sequence[ResourceLike]) -> list[Finding]:
        """Analyze every resource, then the stack: what `pulumi preview` would report."""
        findings: list[Finding] = []
        for resource in resources:
            findings.extend(self.analyze(resource))
        findings.extend(self.analyze_stack(resources))
        return findings

    def _call(self, call: Any, seconds: float | None = None) -> Any:
        """Make one call (`call(stub)`, given `seconds`, default `call_timeout`, to answer); a
        gRPC failure becomes a PackError saying what happened."""
        try:
            return call(self._require())
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PackError(self._late(seconds or self.call_timeout)) from None
            detail = err.details() if hasattr(err, "details") else str(err)
            raise PackError(f"the policy pack answered with an error: {detail}") from None

    def _late(self, seconds: float) -> str:
        return (
            f"the policy pack in {self.pack_dir} did not answer within {seconds:g} s; "
            f"set {PACK_TIMEOUT_ENV} to allow longer (seconds per call)"
        )

    def _findings(
        self,
        diagnostics: Iterable[Any],
        resources: Mapping[str, PulumiResource],
        default: PulumiResource | None,
    ) -> list[Finding]:
        by_name: dict[str, list[PulumiResource]] = {}
        for record in resources.values():
            by_name.setdefault(record.name, []).append(record)
        findings = []
        for diag in diagnostics:
            message = str(diag.message)
            if diag.description and message.startswith(diag.description + "\n"):
                message = message[len(diag.description) + 1 :]
            message = _CANT_RUN.sub("", message, count=1)
            rule = _rule_of(str(diag.policyName))
            enforcement = _ENFORCEMENT[diag.enforcementLevel]
            for line in message.splitlines() or [""]:
                target = resources.get(diag.urn) or _by_subject(line, rule, by_name) or default
                excepted = _EXCEPTED.search(line)
                findings.append(
                    Finding(
                        rule=rule,
                        enforcement=enforcement,
                        resource=target.urn if target else (diag.urn or _subject(line, rule)),
                        type=target.type if target else STACK_TYPE,
                        message=line,
                        engine=Engine.CROSSGUARD,
                        exception=excepted.group(1) if excepted else None,
                    )
                )
        return findings


class PackPool:
    """Several running packs of one configuration, used as one `CrossGuardPack`.

    Each is a pack server of its own, started and configured the same way (`CrossGuardPack`:
    its own process group, deadlines and clean-up). Each Analyze call goes to the pack with
    the fewest calls outstanding; AnalyzeStack goes to the first. A pack answers one call at a
    time (its threads share one interpreter lock), so on a large scan, where the pack's work is
    the critical path and the stack's analysis costs about as much as all the Analyze calls,
    a second pack takes the Analyze calls while the first works on the stack
    (`pack_processes` says how many). Use as a context manager, like `CrossGuardPack`.
    """

    def __init__(self, processes: int = 1, **pack_args: Any) -> None:
        """`processes` packs (at least one), each `CrossGuardPack(**pack_args)`."""
        self._pack_args = pack_args
        self.packs = [CrossGuardPack(**pack_args) for _ in range(max(1, processes))]
        #: The packs Analyze calls go to: those started with the pool and those joined since.
        self._serving = list(self.packs)

    def __enter__(self) -> PackPool:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def policy_config(self) -> dict[str, Any]:
        return self.packs[0].policy_config

    @policy_config.setter
    def policy_config(self, config: Mapping[str, Any]) -> None:
        for pack in self.packs:
            pack.policy_config = dict(config)

    @property
    def policies(self) -> list[PolicyInfo]:
        return self.packs[0].policies

    def start(self, *, configure: bool = True) -> None:
        """Start the pool's packs at once (`CrossGuardPack.start`); on any failure every pack
        is stopped and the first failure raised."""
        errors: list[BaseException] = []

        def start(pack: CrossGuardPack) -> None:
            try:
                pack.start(configure=configure)
            except BaseException as err:
                errors.append(err)

        first, *rest = self._serving  # not those `new_pack` added: their callers start them
        others = [threading.Thread(target=start, args=(pack,)) for pack in rest]
        for thread in others:
            thread.start()
        start(first)
        for thread in others:
            thread.join()
        if errors:
            self.stop()
            raise errors[0]

    def stop(self) -> None:
        for pack in self.packs:
            pack.stop()

    def new_pack(self) -> CrossGuardPack:
        """One more pack like the others, not started (it is stopped with the pool): the
        caller starts and configures it, then `join`s it to the pool."""
        pack = CrossGuardPack(**self._pack_args)
        pack.policy_config = dict(self.policy_config)
        self.packs.append(pack)
        return pack

    def join(self, pack: CrossGuardPack) -> None:
        """Send Analyze calls to `pack` (from `new_pack`, started and configured) too."""
        self._serving = [*self._serving, pack]

    def configure(self, policy_config: Mapping[str, Any] | None = None) -> None:
        """Configure every pack in service alike (`CrossGuardPack.configure`)."""
        for pack in self._serving:
            pack.configure(policy_config)

    def prepare(self, resource: ResourceLike) -> Prepared:
        """`CrossGuardPack.prepare`: the request fits any of the packs."""
        return self.packs[0].prepare(resource)

    def prepare_stack(self, resources: Iterable[ResourceLike]) -> tuple[list[PulumiResource], Any]:
        return self.packs[0].prepare_stack(resources)

    def analyze_later(self, resource: ResourceLike | Prepared) -> Callable[[], list[Finding]]:
        """`CrossGuardPack.analyze_later` on the pack with the fewest calls outstanding."""
        prepared = resource if isinstance(resource, Prepared) else self.prepare(resource)
        pack = min(self._serving, key=lambda p: p.outstanding)
        return pack.analyze_later(prepared)

    def analyze_stack_later(
        self,
        resources: Iterable[ResourceLike] = (),
        prepared: tuple[list[PulumiResource], Any] | None = None,
    ) -> Callable[[], list[Finding]]:
        """`CrossGuardPack.analyze_stack_later` on the first pack."""
        if prepared is None:
            prepared = self.prepare_stack(resources)
        return self.packs[0].analyze_stack_later(prepared=prepared)


def pack_processes(resources: int, cpus: int | None = None) -> int:
    """How many packs (`PackPool`) judge `resources` Analyze calls on `cpus` processors
    (default: those this process may run on): a second pack from RESOURCES_FOR_TWO_PACKS
    resources with at least two processors, else one."""
    if cpus is None:
        cpus = usable_cpus()
    return 2 if resources >= RESOURCES_FOR_TWO_PACKS and cpus >= 2 else 1


def usable_cpus() -> int:
    """The processors this process may run on (`supervise.usable_cpus`)."""
    return supervise.usable_cpus()


def policy_infos(info: Any) -> list[PolicyInfo]:
    """The policies a pack's GetAnalyzerInfo answer lists, with their default levels."""
    return [
        PolicyInfo(
            p.name,
            p.description,
            analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel).lower(),
            p.policy_type == analyzer_pb2.POLICY_TYPE_STACK,
        )
        for p in info.policies
    ]


def stack_configure_request(
    stack: str, project: str, dry_run: bool, stack_config: Mapping[str, str]
) -> Any:
    """The ConfigureStack request the engine sends first."""
    return analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=stack,
        project=project,
        organization="organization",
        dry_run=dry_run,
        config=dict(stack_config),
    )


def configure_request(
    policies: Sequence[PolicyInfo], policy_config: Mapping[str, Any] | None
) -> Any:
    """The Configure request for `--policy-pack-config` (`reconcile_config`): every policy's
    level explicit, as the CLI sends it."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, (level, props) in reconcile_config(policies, policy_config).items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = _LEVELS[level]
        if props:
            entry.properties.CopyFrom(to_struct(props))
    return request


def stack_request(
    resources: Iterable[ResourceLike],
    sent: Mapping[int, tuple[ResourceLike, bytes]] | None = None,
) -> tuple[list[PulumiResource], bytes]:
    """The AnalyzeStack request for `resources` (with parents and dependencies), serialized,
    and their records; `sent`: each resource's piece (`stack_piece`) already made, by the
    resource's `id` (as with its Analyze call).

    The request is joined from one serialized piece per resource rather than built as one
    message: a message of the whole stack, its serialized form and gRPC's copy were held at
    once, about 450 MB above the rest of the gate at 45,019 resources. Parse it with
    `analyzer_pb2.AnalyzeStackRequest.FromString` to read it.
    """
    sent = sent or {}
    given = list(resources)
    records = [PulumiResource.of(r) for r in given]
    pieces = []
    for original, record in zip(given, records, strict=True):
        known = sent.get(id(original))
        pieces.append(
            known[1]
            if known is not None and known[0] is original
            else stack_piece(record, _properties(original, record))
        )
    return records, b"".join(pieces)


def stack_piece(record: PulumiResource, properties: struct_pb2.Struct) -> bytes:
    """One resource of an AnalyzeStack request, serialized: the bytes of a request of that
    resource alone. Protobuf reads concatenated messages as one whose repeated fields hold every
    part's items, so the stack's request is its resources' pieces joined, in order."""
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=record.type,
                urn=record.urn,
                name=record.name,
                properties=properties,
                options=analyzer_pb2.AnalyzerResourceOptions(
                    protect=record.protect, parent=record.parent
                ),
                provider=_provider(record.provider),
                parent=record.parent,
                dependencies=list(record.dependencies),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                    for k, v in record.property_dependencies.items()
                    if v
                },
            )
        ]
    )
    return bytes(request.SerializeToString())


def analyze_request(resource: ResourceLike) -> tuple[PulumiResource, Any]:
    """The Analyze request for one resource, and its record."""
    record = PulumiResource.of(resource)
    request = analyzer_pb2.AnalyzeRequest(
        type=record.type,
        urn=record.urn,
        name=record.name,
        properties=_properties(resource, record),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=record.protect, parent=record.parent),
    )
    provider = _provider(record.provider)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return record, request


def _provider(reference: str) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The provider of a resource from its reference (`<provider URN>::<ID>`)."""
    if not reference:
        return None
    urn = reference.rsplit("::", 1)[0] if reference.count("::") > 3 else reference
    parts = urn.split("::")
    if len(parts) < 4:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        urn=urn, type=parts[2].rsplit("$", 1)[-1], name=parts[3], properties=struct_pb2.Struct()
    )


def _rule_of(policy_name: str) -> str:
    match = _RULE_POLICY.match(policy_name)
    return match.group(1).upper() if match else policy_name


def _subject(line: str, rule: str) -> str:
    """The `<name>` of a `KM-XXX-000 <name>: ...` message."""
    if line.startswith(rule + " "):
        return line[len(rule) + 1 :].split(":", 1)[0]
    return ""


def _by_subject(
    line: str, rule: str, by_name: Mapping[str, list[PulumiResource]]
) -> PulumiResource | None:
    matches = by_name.get(_subject(line, rule), [])
    return matches[0] if len(matches) == 1 else None


def _drain(stream: IO[bytes], sink: list[bytes]) -> None:
    """Keep reading the pack's stderr so that it never blocks on a full pipe."""
    try:
        for chunk in iter(lambda: stream.read(4096), b""):
            sink.append(chunk)
    except (OSError, ValueError):  # closed when the pack stops
        return


def _lines(stream: IO[bytes], sink: queue.Queue[bytes]) -> None:
    """The pack's stdout: the port first, then anything else it prints (an EOF as b"")."""
    try:
        for line in iter(stream.readline, b""):
            sink.put(line)
    except (OSError, ValueError):
        pass
    sink.put(b"")
