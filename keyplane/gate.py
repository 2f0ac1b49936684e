"""The policy gate: render a stack offline, judge it with the CrossGuard pack and checkov, merge.

`keyplane preview ENV` renders the stack program (`keyplane.program`) for `DIR/ENV.yaml` through the Pulumi SDK's
mock engine; `keyplane scan FILE` reads what the real CLI wrote. Both then go through `judge`:
the real CrossGuard pack over the analyzer protocol, checkov on the Terraform-plan form (in its
own environment, concurrently), the file-level rules of the estate, de-duplication and the
exceptions register.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyplane.adapters.pulumi import PulumiResource
from keyplane.config import Environment, Estate
from keyplane.config.stack import (
    AS_OF,
    ENVIRONMENT,
    ESTATE,
    KEY_STORE_CONNECTED,
    KMSUSER_PASSWORD,
    TRUST_ANCHOR_CERTIFICATE,
    config_key,
)
from keyplane.findings import Engine, Finding, apply_exceptions
from keyplane.locations import stack_config_file
from keyplane.pulumi_json import SECRET_TEXT, StackValues
from keyplane.reports.redaction import (
    flagged_values,
    plaintext_secret_paths,
    redact_plan,
    redact_resources,
)
from keyplane.rules.catalog import Enforcement, Point, rules_at
from keyplane.rules.files import config_findings, merge_twins
from keyplane.rules.locate import locate
from keyplane.standard import Cloud
from keyplane.terraform.to_plan import TerraformPlan, to_terraform_plan
from keyplane.wire import SECRET_SIG, SIG_KEY, STACK_TYPE, Registration

if TYPE_CHECKING:
    from keyplane.adapters.pulumi import PulumiResource
    from keyplane.engines.checkov.runner import PendingCheckov
    from keyplane.engines.checkov.secrets import PendingSecretsScan, ScanScope
    from keyplane.engines.crossguard.harness import CrossGuardPack, Prepared
    from keyplane.render import PlaceholderMocks

PROJECT = "keyplane"
#: Stands in for stack secrets during an offline preview (never a real value).
OFFLINE_PLACEHOLDER = "offline-preview-placeholder"
#: Stands in for the CloudHSM trust anchor (a certificate, public) during an offline preview.
OFFLINE_CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nb2ZmbGluZS1wcmV2aWV3\n-----END CERTIFICATE-----\n"
)

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


@dataclass
class GateResult:
    environment: str
    resources: list[Registration]
    findings: list[Finding]
    plan: TerraformPlan | None = None
    #: Seconds per stage: `render` (the program's run; the pack analyses meanwhile),
    #: `crossguard` (the pack's work left after the render: the last answers and AnalyzeStack),
    #: `plan` (the Terraform-plan conversion), `checkov` (from the plan to checkov's results).
    #: Stages overlap: their sum is not the run's duration (`seconds`).
    timings: dict[str, float] = field(default_factory=dict)
    #: Wall time of the run, seconds: from the gate's start (checkov and the pack starting,
    #: the render) to the merged findings.
    seconds: float = 0.0
    #: Rules that were judged (for reports that list the rules without findings).
    checked_rules: tuple[str, ...] = ()


# --- rendering ------------------------------------------------------------------------------


def stack_config(
    env: Environment,
    estate_dir: Path,
    today: date | None = None,
    config_dir: Path | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The stack configuration the program reads: the estate's project's `Pulumi.<env>.yaml`
    (or `config_dir`'s: `--stack-config`) when there is one
    (`keyplane.locations.stack_config_file`), the environment's own cloud settings otherwise,
    and placeholders for stack secrets."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in read_stack_config(estate_dir, env.name, config_dir).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # an encrypted stack secret: replaced by a placeholder below
        config[str(key)] = value if isinstance(value, str) else json.dumps(value)
    if env.aws is not None:
        config.setdefault("aws:region", env.aws.region)
        config.setdefault("aws:allowedAccountIds", json.dumps([env.aws.account_id]))
    if env.gcp is not None:
        config.setdefault("gcp:project", env.gcp.project)
        config.setdefault("gcp:region", env.gcp.location)
    if env.azure is not None:
        config.setdefault("azure-native:location", env.azure.location)
        config.setdefault("azure-native:subscriptionId", env.azure.subscription_id)
        config.setdefault("azure-native:tenantId", env.azure.tenant_id)
    config[config_key(ENVIRONMENT)] = env.name
    config[config_key(ESTATE)] = str(estate_dir.resolve())
    if today is not None:
        # Expiries and schedules the program derives from "today" match the judging day.
        config[config_key(AS_OF)] = today.isoformat()
    if env.cloud is Cloud.AWS and env.hsm.enabled:
        # Render the whole CloudHSM layer (cluster, key store, keys in it), as after activation.
        config.setdefault(config_key(KMSUSER_PASSWORD), OFFLINE_PLACEHOLDER)
        secret_keys.append(config_key(KMSUSER_PASSWORD))
        config.setdefault(config_key(TRUST_ANCHOR_CERTIFICATE), OFFLINE_CERTIFICATE)
        config.setdefault(config_key(KEY_STORE_CONNECTED), "true")
    if env.cloud is Cloud.AZURE:
        # Azure cannot create a secret without a value: the program reads them from stack secrets.
        for secret in env.secrets:
            config.setdefault(f"keyplane:secret-{secret.name}", OFFLINE_PLACEHOLDER)
            secret_keys.append(f"keyplane:secret-{secret.name}")
    return config, secret_keys


def read_stack_config(
    estate_dir: Path, environment: str, config_dir: Path | None = None
) -> dict[str, Any]:
    """The `config` mapping of the estate project's `Pulumi.<environment>.yaml` (empty when the
    project has none), read with the bounded YAML reader. Raises `ConfigError` (exit 2) on a
    file that cannot be read or whose `config` is not a mapping."""
    from keyplane.config.errors import ConfigError, Problem  # noqa: PLC0415
    from keyplane.config.yamlio import read_yaml  # noqa: PLC0415

    stack_file = stack_config_file(estate_dir, environment, config_dir)
    if stack_file is None:
        return {}
    document = read_yaml(stack_file)
    data = document.data if document.data is not None else {}
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(config, dict | None):
        raise ConfigError(
            [
                Problem(
                    str(stack_file),
                    document.line_of(("config",)),
                    "config",
                    "a stack configuration file holds a mapping with a `config` mapping",
                    fix="write `config:` followed by `<namespace>:<key>: <value>` lines",
                )
            ]
        )
    return dict(config or {})


def stack_config_values(
    estate_dir: Path, environment: str, config_dir: Path | None = None
) -> StackValues | None:
    """The stack configuration file's values for KM-STO-001 (encrypted `secure` values marked
    as secrets); None when the project has no configuration for the stack."""
    config = read_stack_config(estate_dir, environment, config_dir)
    if not config:
        return None
    marked = {
        key: {SIG_KEY: SECRET_SIG, "value": SECRET_TEXT}
        if isinstance(value, dict) and "secure" in value
        else value
        for key, value in config.items()
    }
    return StackValues("", f"Pulumi.{environment}.yaml", {}, marked)


def render_environment(
    env: Environment,
    estate_dir: Path,
    *,
    today: date | None = None,
    on_register: Callable[[Registration], None] | None = None,
    mocks_class: type[PlaceholderMocks] | None = None,
    stack_config_dir: Path | None = None,
    shard: frozenset[str] | None = None,
    progress: Progress | None = None,
) -> list[Registration]:
    """Run the real stack program for `env` under the mock engine (preview mode).

    `on_register` sees each resource as the program registers it (to pipeline the analysis);
    `mocks_class` replaces `PlaceholderMocks` (a subclass takes the mock monitor's own path);
    `stack_config_dir` is `--stack-config`. An estate with many tenants is rendered in
    shards, each in a process of its own (`keyplane.render_shards`), unless `mocks_class` is
    given; `shard` renders only those tenants' resources (a shard's process); `progress` is told
    of the shards. Raises
    RenderError when the program stops; a complaint about a stack setting names the stack file
    and line it was read from. Raises `render_shards.ShardError` when a shard's process fails.
    """
    from keyplane import render_shards  # noqa: PLC0415

    shards = render_shards.plan_shards(env) if mocks_class is None and shard is None else []
    if len(shards) > 1:
        job = render_shards.ShardJob(env, estate_dir, today, stack_config_dir, frozenset())
        return render_shards.render_sharded(
            job, shards, on_register=on_register, on_warning=_log_warning, progress=progress
        )
    return _render_in_process(
        env,
        estate_dir,
        today=today,
        on_register=on_register,
        mocks_class=mocks_class,
        stack_config_dir=stack_config_dir,
        shard=shard,
    )


def _log_warning(message: str) -> None:
    """A shard's program warning, logged once as the mock engine logs an unsharded one's."""
    import logging  # noqa: PLC0415

    logging.getLogger().warning(message)


def _render_in_process(
    env: Environment,
    estate_dir: Path,
    *,
    today: date | None,
    on_register: Callable[[Registration], None] | None,
    mocks_class: type[PlaceholderMocks] | None,
    stack_config_dir: Path | None,
    shard: frozenset[str] | None,
) -> list[Registration]:
    import pulumi  # noqa: PLC0415 - the SDK loads slowly; scan does not need it

    from keyplane import collector  # noqa: PLC0415
    from keyplane.render import PlaceholderMocks, render  # noqa: PLC0415

    collector.tune()  # the SDK's modules are never garbage

    config, secret_keys = stack_config(env, estate_dir, today, stack_config_dir)
    account, region = (
        (env.aws.account_id, env.aws.region) if env.aws else ("000000000000", "us-east-1")
    )
    from keyplane.components.shard import TenantShard, rendering  # noqa: PLC0415
    from keyplane.program import main  # noqa: PLC0415 - loads the components

    mocks = (mocks_class or PlaceholderMocks)(account, region)

    def run_program() -> None:
        # The stack's configuration names `env`'s file (`stack_config`), already read.
        main(project_root=estate_dir.resolve().parent, loaded=env)

    try:
        with collector.paused(), ExitStack() as scope:
            if shard is not None:
                scope.enter_context(rendering(TenantShard(shard, mocks.computed)))
            result = render(
                run_program,
                project=PROJECT,
                stack=env.name,
                config=config,
                secret_keys=secret_keys,
                mocks=mocks,
                on_register=on_register,
            )
    except pulumi.RunError as err:
        stack_file = stack_config_file(estate_dir, env.name, stack_config_dir)
        raise RenderError(name_stack_file(str(err), stack_file)) from None
    return result.resources


#: How the components begin a complaint about a stack setting: `stack config aws:region: ...`.
_STACK_SETTING = re.compile(r"^stack config ([\w.-]+:[\w.-]+): ")


def name_stack_file(message: str, stack_file: Path | None) -> str:
    """`message` with each complaint about a stack setting prefixed by the file and line it was
    read from (`stacks/Pulumi.prod.yaml:4: stack config aws:region: ...`); unchanged when the
    stack has no stack file (the settings then come from the environment file itself)."""
    from keyplane.config.yamlio import read_yaml  # noqa: PLC0415

    document = read_yaml(stack_file) if stack_file is not None else None
    lines = []
    for text in message.splitlines():
        match = _STACK_SETTING.match(text)
        if match is not None and document is not None:
            line = document.lines.get(("config", match.group(1)))
            text = f"{stack_file}:{line}: {text}" if line else f"{stack_file}: {text}"  # noqa: PLW2901
        lines.append(text)
    return "\n".join(lines)


class RenderError(Exception):
    """The stack program stopped (bad configuration); the message is for the user."""


# --- judging --------------------------------------------------------------------------------


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Another engine's finding of the same rule on the same resource folds into the first one
    (its wording wins: CrossGuard's first), unless it is mandatory where the first is not: a
    merge never weakens a verdict, so the mandatory one is kept, the engines merged. An
    engine's own findings are all kept (distinct problems of one resource, key material on
    several lines of one file), but for its exact repeats. Order is kept."""
    first: dict[tuple[str, str], int] = {}
    exact: set[tuple[Engine, str, str, str, int | None]] = set()
    result: list[Finding] = []
    for finding in findings:
        repeat = (finding.engine, finding.rule, finding.resource, finding.message, finding.line)
        if repeat in exact:
            continue
        exact.add(repeat)
        key = (finding.rule, finding.resource)
        position = first.get(key)
        kept = result[position] if position is not None else None
        if kept is None or finding.engine in (kept.engines or (kept.engine,)):
            first.setdefault(key, len(result))
            result.append(finding)
            continue
        assert position is not None
        weaker = kept.enforcement is not Enforcement.MANDATORY
        if weaker and finding.enforcement is Enforcement.MANDATORY:
            result[position] = finding.merged_with(kept)
        else:
            result[position] = kept.merged_with(finding)
    return result


def pack_settings(
    environment: str,
    estate: Estate | None,
    today: date,
    levels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The pack's configuration: the settings, `levels` (policy name to enforcement level:
    `--policy-config`), and the exception companions that have nothing to report disabled.
    The settings carry the environment's context inline (`context_settings`) when the estate
    declares it, else name the estate, whose reading the pack reports as unusable settings.

    A rule's `-excepted` companion reports the violations an exception covers; when the register
    holds no exception of the rule for this environment it can report nothing, and disabling it
    spares the pack a pass per resource and one over the whole stack (the SDK prepares every
    resource again for each policy it runs).
    """
    settings: dict[str, Any] = {"environment": environment, "asOf": today.isoformat()}
    if estate is not None and environment in estate.environments:
        # What the pack would read from the estate, given inline: the gate has read it already.
        settings = context_settings(environment, estate, today)
    elif estate is not None:  # the pack reads it, and reports the environment it lacks
        settings["estate"] = str(estate.root.resolve())
    config: dict[str, Any] = {"keyplane-settings": settings}
    if estate is not None:
        excepted = {s.rule for s in estate.exception_scopes() if s.environment == environment}
        for rule in rules_at(Point.CROSSGUARD):
            if rule.exceptable and rule.id not in excepted:
                config[rule.excepted_policy_name] = "disabled"
    for name, level in (levels or {}).items():
        config.setdefault(name, level)
    return config


def context_settings(environment: str, estate: Estate, today: date) -> dict[str, Any]:
    """`keyplane-settings` holding the context of `environment` (declared in `estate`) inline,
    as of `today` (`settings_from_context`): the engine given them reads no estate."""
    from keyplane.rules.context import Context, settings_from_context  # noqa: PLC0415

    return settings_from_context(Context.from_estate(estate, environment, today))


def checkov_settings(environment: str, estate: Estate | None, today: date) -> dict[str, Any] | None:
    """The environment's context for keyplane's checkov checks (None: they judge strictly)."""
    if estate is None or environment not in estate.environments:
        return None
    return context_settings(environment, estate, today)


class CrossGuardStage:
    """The CrossGuard pack, started early and fed resources as they come.

    The engine analyses each resource as the program registers it; so does this stage: `submit`
    sends the resource's Analyze call at once (resources registered while the pack is still
    starting are sent as soon as it is up), and the pack, another process, works through them
    on the other core while the program goes on rendering. `analyze_stack` sends AnalyzeStack
    over all resources once they are all submitted, and `finish` collects every answer.

    The pack answers AnalyzeStack from what it is sent, whatever came before, so the stage sends
    it as soon as it can: a scan, whose resources are all known at once, has it sent first, and
    the pack works on the stack in the gaps between Analyze calls (at 9,919 resources the run
    ended about 0.5 s sooner than with the stack's analysis after the last resource's).

    `resources`: how many resources will be analysed, when known up front (a scan): a large
    scan shares its Analyze calls among packs (`harness.pack_processes`); a preview, whose
    resources come as the program renders them, uses one.
    """

    def __init__(
        self,
        *,
        environment: str,
        estate: Estate | _Later | None,
        today: date,
        stack: str,
        project: str,
        levels: Mapping[str, str] | None = None,
        resources: int = 0,
    ) -> None:
        from keyplane.engines.crossguard.harness import (  # noqa: PLC0415 - loads grpc
            PackPool,
            pack_processes,
        )

        self._pack = PackPool(
            pack_processes(resources),
            stack=stack,
            project=project,
            stack_config={"keyplane:environment": environment},
        )
        self._settings = (environment, today, levels)
        #: The environment, stack and project the pack was started for.
        self.started_for = (environment, stack, project)
        #: Set once the pack's configuration is known (at once, unless the estate comes later).
        self._configurable = threading.Event()
        self._cancelled = False
        if not isinstance(estate, _Later):
            self.configure(estate)
        self._lock = threading.Lock()
        self._ready = False
        self._waiting: deque[Prepared] = deque()
        self._in_flight: list[Callable[[], list[Finding]]] = []
        #: AnalyzeStack's request, made before the pack was up (sent first once it is).
        self._stack_waiting: tuple[list[PulumiResource], Any] | None = None
        self._stack: Callable[[], list[Finding]] | None = None
        self._stack_sent = False
        self._error: BaseException | None = None
        self._starter = threading.Thread(
            target=self._start, name="keyplane-crossguard", daemon=True
        )
        #: Packs started after the first (`more_packs`).
        self._joiners: list[threading.Thread] = []

    def __enter__(self) -> CrossGuardStage:
        self._starter.start()
        return self

    def __exit__(self, *_: object) -> None:
        if not self._configurable.is_set():  # left before the estate was given (bad input)
            self._cancelled = True
            self._configurable.set()
        self._starter.join()
        for joiner in self._joiners:
            joiner.join()  # before the stop: a pack still starting is stopped with the others
        self._pack.stop()

    @classmethod
    def before_estate(
        cls,
        *,
        environment: str,
        today: date,
        stack: str,
        project: str,
        levels: Mapping[str, str] | None = None,
        resources: int = 0,
    ) -> CrossGuardStage:
        """A stage whose pack starts before the estate is read (`scan`: the pack's start-up,
        about half a second, overlaps the reading); `configure` gives it the estate."""
        return cls(
            environment=environment,
            estate=_Later(),
            today=today,
            stack=stack,
            project=project,
            levels=levels,
            resources=resources,
        )

    def more_packs(self, resources: int) -> None:
        """Start the packs a scan of `resources` resources gets beyond the first
        (`harness.pack_processes`), for a stage started before the count was known (`scan`
        starts its pack before it parses the file); each takes Analyze calls once it is up and
        configured."""
        from keyplane.engines.crossguard.harness import pack_processes  # noqa: PLC0415

        for _ in range(pack_processes(resources) - len(self._pack.packs)):
            joiner = threading.Thread(
                target=self._join,
                args=(self._pack.new_pack(),),
                name="keyplane-crossguard-more",
                daemon=True,
            )
            self._joiners.append(joiner)
            joiner.start()

    def _join(self, pack: CrossGuardPack) -> None:
        try:
            pack.start(configure=False)
            self._configurable.wait()
            if self._cancelled:
                raise PackCancelled
            pack.configure(self._pack.policy_config)
            self._pack.join(pack)
        except BaseException as err:  # reported by finish(), on the caller's thread
            self._error = self._error or err

    def configure(self, estate: Estate | None) -> None:
        """The pack's configuration from `estate` (`pack_settings`), sent once it is up."""
        environment, today, levels = self._settings
        self._pack.policy_config = pack_settings(environment, estate, today, levels)
        self._configurable.set()

    def feed(self, resources: Sequence[Registration]) -> None:
        """Submit every resource, then AnalyzeStack over them (a scan's: all known at once)."""
        for resource in resources:
            self.submit(resource)
        # Every resource is known: AnalyzeStack goes out first (see the class).
        self.analyze_stack([r for r in resources if not r.read])

    def submit(self, resource: Registration) -> None:
        if resource.type == STACK_TYPE or resource.read:
            return
        # The request is made here, on the caller's thread: while the pack starts (and reads
        # the estate), `scan` makes the requests of a whole export.
        prepared = self._pack.prepare(resource)
        with self._lock:
            if not self._ready:
                self._waiting.append(prepared)
            elif self._error is None:
                self._send(prepared)

    def analyze_stack(self, resources: Sequence[Registration]) -> None:
        """Send AnalyzeStack over `resources` (every one submitted before); `finish` collects
        it. Sent at once when the pack is up, else as soon as it is, before the Analyze calls
        still waiting."""
        if self._stack_sent:
            return
        self._stack_sent = True
        try:
            prepared = self._pack.prepare_stack(resources)
        except BaseException as err:
            self._error = self._error or err
            return
        with self._lock:
            if not self._ready:
                self._stack_waiting = prepared
                return
        self._send_stack(prepared)

    def finish(self, resources: Sequence[Registration]) -> list[Finding]:
        """Wait for the per-resource analysis and the stack's."""
        self.analyze_stack(resources)
        self._starter.join()
        for joiner in self._joiners:
            joiner.join()
        if self._error is not None:
            raise self._error
        assert self._stack is not None
        findings = [finding for collect in self._in_flight for finding in collect()]
        return [*findings, *self._stack()]

    def _start(self) -> None:
        try:
            self._pack.start(configure=False)
            self._configurable.wait()
            if self._cancelled:
                raise PackCancelled
            self._pack.configure(self._pack.policy_config)
        except BaseException as err:  # reported by finish(), on the caller's thread
            self._error = err
        while True:
            # One item at a time, so that AnalyzeStack, when it comes, goes out next.
            with self._lock:
                stack, self._stack_waiting = self._stack_waiting, None
                resource = self._waiting.popleft() if stack is None and self._waiting else None
                if stack is None and resource is None:
                    self._ready = True
                    return
            if self._error is not None:
                continue  # dropped: finish() reports the error
            if stack is not None:
                self._send_stack(stack)
            elif resource is not None:
                self._send(resource)

    def _send(self, resource: Prepared) -> None:
        try:
            self._in_flight.append(self._pack.analyze_later(resource))
        except BaseException as err:
            self._error = err

    def _send_stack(self, prepared: tuple[list[PulumiResource], Any]) -> None:
        try:
            self._stack = self._pack.analyze_stack_later(prepared=prepared)
        except BaseException as err:
            self._error = err


class _Later:
    """The estate of a `CrossGuardStage` that is given later (`CrossGuardStage.configure`)."""


class PackCancelled(Exception):
    """The stage was left before its pack could be configured (the command stopped first)."""


def start_checkov(environment: str, estate: Estate | None, today: date) -> PendingCheckov:
    """checkov, started now so that its start-up overlaps with the work before the plan."""
    from keyplane.engines.checkov.runner import PendingCheckov  # noqa: PLC0415

    return PendingCheckov(
        environment=environment, settings=checkov_settings(environment, estate, today)
    )


def judge(
    resources: Sequence[Registration],
    *,
    environment: str,
    estate: Estate | None,
    today: date,
    stack: str | None = None,
    project: str = PROJECT,
    run_checkov: bool = True,
    progress: Progress = _silent,
    timings: dict[str, float] | None = None,
    crossguard_stage: CrossGuardStage | None = None,
    checkov: PendingCheckov | None = None,
    stack_values: StackValues | None = None,
    began: float | None = None,
    levels: Mapping[str, str] | None = None,
    repository: ScanScope | None = None,
    secrets_scan: PendingSecretsScan | None = None,
    keep_plan: bool = False,
) -> GateResult:
    """Judge resources with every engine and return the merged findings.

    With `crossguard_stage`, the resources were already submitted to a running pack as they were
    rendered, and with `checkov` checkov was started ahead; what is not given is started here.

    Read resources (`Registration.read`) are not judged, as the real engine sends none to a
    pack: they are kept in the result, for the report to list as read. `stack_values` (a scan's
    stack outputs and configuration) are judged for plain-text secrets (KM-STO-001). The
    result's resources and plan have every plain-text value KM-STO-001 flagged replaced by a
    secret mark, so that no report or emitted plan copies it. `began`: when the run started
    (`time.monotonic()`; default now), for the result's `seconds`. `levels`: the pack's
    policies' enforcement levels (`Tuning.pack_config`). With checkov, the files of
    `repository` are scanned for committed key material (KM-STO-001) by checkov's secrets
    framework (`secrets_scan`, when started ahead).
    The Terraform-plan form (the result's `plan`) is made for checkov, or
    when `keep_plan` (`--emit-plan`); else the result has none.
    """
    began = time.monotonic() if began is None else began
    with ExitStack() as started_here:
        if run_checkov and checkov is None:
            checkov = started_here.enter_context(start_checkov(environment, estate, today))
        if run_checkov and checkov is not None and secrets_scan is None and repository is not None:
            secrets_scan = started_here.enter_context(repository.start(checkov))
        if crossguard_stage is None:
            crossguard_stage = started_here.enter_context(
                CrossGuardStage(
                    environment=environment,
                    estate=estate,
                    today=today,
                    stack=stack or environment,
                    project=project,
                    levels=levels,
                )
            )
            crossguard_stage.feed(resources)
        return _judge(
            resources,
            environment=environment,
            estate=estate,
            today=today,
            progress=progress,
            timings=dict(timings or {}),
            crossguard_stage=crossguard_stage,
            checkov=checkov if run_checkov else None,
            stack_values=stack_values,
            began=began,
            secrets_scan=secrets_scan if run_checkov else None,
            keep_plan=keep_plan,
        )


def _judge(
    resources: Sequence[Registration],
    *,
    environment: str,
    estate: Estate | None,
    today: date,
    progress: Progress,
    timings: dict[str, float],
    crossguard_stage: CrossGuardStage,
    checkov: PendingCheckov | None,
    stack_values: StackValues | None,
    began: float,
    secrets_scan: PendingSecretsScan | None = None,
    keep_plan: bool = False,
) -> GateResult:
    everything = resources
    resources = [r for r in everything if not r.read]
    crossguard_started = time.monotonic()
    if checkov is None:
        # Nothing waits for the plan: the pack analyses the stack while it is converted.
        crossguard_stage.analyze_stack(resources)
    plan: TerraformPlan | None = None
    if checkov is not None or keep_plan:
        # Only checkov and `--emit-plan` read it (0.3-0.5 s at 9,919 resources).
        started = time.monotonic()
        plan = to_terraform_plan(resources)
        timings["plan"] = time.monotonic() - started
    # What reports show is redacted meanwhile: nothing here waits for a verdict.
    flagged = plaintext_secret_paths(resources)
    shown = redact_resources(everything, flagged)

    with ThreadPoolExecutor(max_workers=1) as pool:
        checkov_future = None
        if checkov is not None and plan is not None:
            type_by_urn = {r.urn: r.type for r in resources}
            types = {
                address: type_by_urn.get(urn, "") for address, urn in plan.urn_by_address.items()
            }
            progress("checkov: scanning the Terraform-plan form")
            checkov_future = pool.submit(checkov.run, plan.plan, plan.urn_by_address, types)
        progress(f"crossguard: analysing {len(resources)} resources")
        crossguard = crossguard_stage.finish(resources)
        timings["crossguard"] = time.monotonic() - crossguard_started
        checkov_findings: list[Finding] = []
        if checkov_future is not None:
            run = checkov_future.result()
            checkov_findings = run.findings
            timings["checkov"] = run.seconds
        if secrets_scan is not None:
            waited = time.monotonic()
            progress("checkov: scanning the project's files for committed key material")
            checkov_findings += secrets_scan.findings()
            timings["secrets"] = time.monotonic() - waited

    scopes = estate.exception_scopes() if estate is not None else ()
    own = _stack_value_findings(stack_values, environment, today)
    others = apply_exceptions([*checkov_findings, *own], scopes, environment, today)
    if estate is not None and environment in estate.environments:
        # The file-level rules of this environment and of the estate as a whole; a file finding
        # that the pack also reports (a V check and its G twin) folds into the pack's.
        others += config_findings(estate, today, environment=environment)
    findings = _dedupe(merge_twins([*crossguard, *others]))
    if estate is not None:
        # Each finding on the line of the field it judges in the environment file (SARIF).
        findings = locate(findings, estate, environment)
    checked = [r.id for r in rules_at(Point.CROSSGUARD)]
    if checkov is not None:
        checked += [r.id for r in rules_at(Point.CHECKOV) if r.id not in checked]
    # What KM-STO-001 flagged leaves no copy in the report or the emitted plan.
    if plan is not None:
        plan = replace(plan, plan=redact_plan(plan.plan, flagged_values(resources, flagged)))
    return GateResult(
        environment,
        shown,
        findings,
        plan,
        timings=timings,
        seconds=time.monotonic() - began,
        checked_rules=tuple(checked),
    )


def _stack_value_findings(
    stack_values: StackValues | None, environment: str, today: date
) -> list[Finding]:
    """The pack's resource checks over the stack's own outputs and configuration: the engine
    hands a pack neither, so they are judged here, in process, with the same check."""
    if stack_values is None:
        return []
    from keyplane.adapters.stack_values import stack_value_facts  # noqa: PLC0415
    from keyplane.rules.context import Context  # noqa: PLC0415
    from keyplane.rules.judge import evaluate, to_finding  # noqa: PLC0415
    from keyplane.rules.registry import resource_checks  # noqa: PLC0415

    stack = environment
    if stack_values.urn:
        stack = stack_values.urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    facts = [
        *stack_value_facts(
            stack_values.outputs,
            subject_urn=stack_values.urn,
            subject_name=stack_values.name,
            subject_type=STACK_TYPE,
            location="stack outputs",
        ),
        # The configuration is the stack's file, not its resource: a finding of its own.
        *stack_value_facts(
            stack_values.config,
            subject_urn="",
            subject_name=f"Pulumi.{stack}.yaml",
            subject_type="pulumi:config",
            location="stack configuration",
        ),
    ]
    if not facts:
        return []
    rule_ids = list(resource_checks(Point.CROSSGUARD))
    context = Context(environment=environment, as_of=today)
    return [to_finding(v) for v in evaluate(facts, context, rule_ids)]


def preview(
    estate: Estate,
    environment: str,
    *,
    today: date,
    run_checkov: bool = True,
    progress: Progress = _silent,
    stack_config_dir: Path | None = None,
    levels: Mapping[str, str] | None = None,
    keep_plan: bool = False,
) -> GateResult:
    """Render `environment` and judge it (`stack_config_dir`: `--stack-config`; `levels`: the
    pack's enforcement levels, `Tuning.pack_config`; `keep_plan`: see `judge`). checkov and the
    pack start first: checkov's start-up and the pack's per-resource analysis run while the
    program renders."""
    began = time.monotonic()
    env = estate.environments[environment]
    from keyplane.rules.acc import wildcard_declarations  # noqa: PLC0415

    refused = wildcard_declarations(estate, environment)
    if refused:
        # The components refuse to grant a wildcard principal: the stack cannot be rendered,
        # and the file's own findings (that one among them) are the report.
        rules = tuple(dict.fromkeys(f.rule for f in refused))
        progress(f"render: skipped: {environment} declares a wildcard principal ({rules[0]})")
        return GateResult(
            environment,
            [],
            config_findings(estate, today, environment=environment),
            seconds=time.monotonic() - began,
            checked_rules=rules,
        )
    from keyplane.engines.checkov.secrets import project_scope  # noqa: PLC0415

    with ExitStack() as running:
        checkov = (
            running.enter_context(start_checkov(environment, estate, today))
            if run_checkov
            else None
        )
        # Started first: the project's files are scanned (in checkov's one process, as soon as
        # it has imported itself) while the program renders.
        secrets_scan = (
            running.enter_context(project_scope(estate.root, stack_config_dir).start(checkov))
            if checkov is not None
            else None
        )
        stage = running.enter_context(
            CrossGuardStage(
                environment=environment,
                estate=estate,
                today=today,
                stack=environment,
                project=PROJECT,
                levels=levels,
            )
        )
        progress(f"render: running the stack program for {environment}")
        started = time.monotonic()
        resources = render_environment(
            env,
            estate.root,
            today=today,
            on_register=stage.submit,
            stack_config_dir=stack_config_dir,
            progress=progress,
        )
        rendered = time.monotonic() - started
        return judge(
            resources,
            environment=environment,
            estate=estate,
            today=today,
            run_checkov=run_checkov,
            progress=progress,
            timings={"render": rendered},
            crossguard_stage=stage,
            checkov=checkov,
            stack_values=stack_config_values(estate.root, environment, stack_config_dir),
            began=began,
            secrets_scan=secrets_scan,
            keep_plan=keep_plan,
        )


__all__ = ["GateResult", "RenderError", "judge", "preview", "render_environment", "start_checkov"]
