"""keyplane's CrossGuard policy pack, built from the check registry (`keyplane.rules.registry`).

One policy per check registered at point G (a resource check becomes a ResourceValidationPolicy,
a stack check a StackValidationPolicy), named `rule.policy_name`, described by the rule's title,
at the rule's default enforcement level (overridable per policy by the pack's configuration, as
for any CrossGuard pack). Beside each exceptable rule a companion policy `<name>-excepted`
(advisory) reports the violations an exception covers: CrossGuard fixes the enforcement level per
policy, not per violation, so an excepted violation must come from an advisory policy.

Values only known after deployment make a check answer "cannot judge until deployed"; the pack
reports that through the SDK's own preview path (an advisory "can't run policy ... during
preview" diagnostic of the rule's policy).

This module is imported by `policy-packs/keyplane/__main__.py` inside the pack's process. It must
stay light: no cloud SDK imports.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from inspect import isawaitable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from google.protobuf import struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as _sdk
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from keyplane import collector
from keyplane.adapters.pulumi import PulumiResource, facts_from_resource, stack_facts
from keyplane.engines.crossguard.structs import from_struct
from keyplane.findings import Engine, apply_exceptions, covering_exception
from keyplane.locations import pack_default_estate
from keyplane.rules.catalog import RULES, Enforcement, Point, Rule
from keyplane.rules.context import (
    SETTINGS_SCHEMA,
    Context,
    SettingsError,
    context_from_settings,
)
from keyplane.rules.judge import check_resource, check_stack, to_finding
from keyplane.rules.registry import Scope, checks_at
from keyplane.rules.verdict import Outcome, Verdict

PACK_NAME = "keyplane"
SETTINGS_POLICY = "keyplane-settings"
#: The stack configuration key the program reads its environment from (stacks/__main__.py).
STACK_CONFIG_ENVIRONMENT = "keyplane:environment"

_LEVELS = {
    Enforcement.MANDATORY: EnforcementLevel.MANDATORY,
    Enforcement.ADVISORY: EnforcementLevel.ADVISORY,
    Enforcement.DISABLED: EnforcementLevel.DISABLED,
}
_SEVERITIES = {s.value: Severity(s.value) for s in Severity}


def _keep_wire_form() -> bool:
    """Let policies see properties as the engine sent them.

    The SDK strips the secret marks before policies run, so a plain-text secret value could not
    be told from a Pulumi secret (KM-STO-001); it also wraps properties in a proxy that raises on
    unknown values, where keyplane's facts carry UNKNOWN instead. Both are module-level functions
    of `pulumi_policy.policy` (1.x); if a future SDK moves them, the pack still works and
    KM-STO-001 answers "cannot judge" rather than guessing.
    """
    if not (
        callable(getattr(_sdk, "deserialize_properties", None))
        and callable(getattr(_sdk, "unknown_checking_proxy", None))
    ):
        return False

    def wire_form(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
        return props

    def read_only(props: dict[str, Any]) -> Mapping[str, Any]:
        return MappingProxyType(props)

    setattr(_sdk, "deserialize_properties", wire_form)  # noqa: B010 - a module's private helper
    setattr(_sdk, "unknown_checking_proxy", read_only)  # noqa: B010
    return True


class _ByIdentity:
    """A bounded cache of what was made from an object, keyed by the object's identity.

    An entry holds its object, so the identity cannot pass to another object while cached;
    the oldest entries go first past `limit`. Hits take no lock (one C call under the GIL).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._cache: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, obj: Any, make: Callable[[Any], Any]) -> Any:
        hit = self._cache.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        made = make(obj)
        with self._lock:
            self._cache[id(obj)] = (obj, made)
            while len(self._cache) > self.limit:
                self._cache.popitem(last=False)
        return made


class _StructsOnce:
    """Each resource's properties converted once per stack, whatever call they come with.

    `Struct` messages are recognised by their content, serialized with sorted keys (a resource
    sent again unchanged, as in AnalyzeStack after its Analyze call, has the same; one that
    changed in between has other bytes, so it can never be given its old properties), and
    converted by `structs.from_struct`, to the same plain data as `json_format.MessageToDict`.
    Protobuf maps have no order: upb iterates two equal maps differently (1,004 of 1,819
    resources' properties came in another key order in AnalyzeStack than in Analyze), so the
    key order of the plain data was arbitrary before and stays so (no verdict depends on it).
    Entries go oldest first past `limit` entries or `max_bytes` of keys, and all at once when
    the engine configures the pack for a stack (`clear`). Lookups take no lock (one C call
    under the GIL).
    """

    LIMIT = 50_000
    MAX_BYTES = 256 * 1024 * 1024

    def __init__(self, limit: int = LIMIT, max_bytes: int = MAX_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self._cache: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, message: struct_pb2.Struct) -> dict[str, Any]:
        key = message.SerializeToString(deterministic=True)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        made = from_struct(message)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = made
                self._bytes += len(key)
            while self._cache and (len(self._cache) > self.limit or self._bytes > self.max_bytes):
                old, _ = self._cache.popitem(last=False)
                self._bytes -= len(old)
        return made

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._bytes = 0


class _MessagesOnce:
    """`json_format` as `pulumi_policy.policy` sees it, converting each message once.

    The SDK converts a resource's properties from protobuf again for every policy: 25 times per
    Analyze call and, in AnalyzeStack, every resource once per stack policy (15 passes over the
    whole stack); and AnalyzeStack sends every resource the Analyze calls sent already. Policies
    only read the properties (`_keep_wire_form` hands them over read-only), so the conversions
    are shared: properties (`Struct`s) by their content (`_StructsOnce`), other messages by
    identity (protobuf, upb, hands out the same object for the same field of one request).
    """

    LIMIT = 50_000

    def __init__(self, module: Any, limit: int = LIMIT) -> None:
        self._module = module
        self._converted = _ByIdentity(limit)
        self.structs = _StructsOnce(limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return self._module.MessageToDict(message, *args, **kwargs)
        if isinstance(message, struct_pb2.Struct):
            return self._converted.get(message, self.structs.get)
        return self._converted.get(message, self._module.MessageToDict)


def _convert_each_message_once() -> bool:
    """See `_MessagesOnce`; without the SDK's module-level `json_format`, nothing changes.

    Once each message is converted once, each resource's properties are the same dictionary
    for every policy, so they get the same read-only view as well.
    """
    module = getattr(_sdk, "json_format", None)
    if module is None or not callable(getattr(module, "MessageToDict", None)):
        return False
    setattr(_sdk, "json_format", _MessagesOnce(module))  # noqa: B010 - the SDK's import
    views = _ByIdentity(_MessagesOnce.LIMIT)
    setattr(_sdk, "unknown_checking_proxy", lambda props: views.get(props, MappingProxyType))  # noqa: B010
    return True


def _forget_properties() -> None:
    """A stack's analysis begins: the properties kept for another's can go."""
    converter = getattr(_SDK, "json_format", None)
    if isinstance(converter, _MessagesOnce):
        converter.structs.clear()


#: What `_PreparedOnce` needs of the SDK's servicer: its methods, and the attributes it keeps
#: the pack in (name-mangled: `_PolicyAnalyzerServicer__<name>`).
_SERVICER_METHODS = (
    "Analyze",
    "AnalyzeStack",
    "_configure_runtime_settings",
    "_get_enforcement_level",
    "_create_report_violation",
    "_get_policy_config",
    "_get_resource_options",
    "_get_provider_resource",
    "_map_enforcement_level",
)
_SERVICER_STATE = (
    "policies",
    "policy_pack_name",
    "policy_pack_version",
    "stack_tags",
    # Replaced (never changed in place) by each Configure call: what a `_Plan` is made for.
    "policy_pack_config_enforcement_level",
)
_SDK_NAMES = ("proto", "_NotApplicableError", "PolicyResource", "json_format")
#: The SDK module, for names it does not export (and which `serve` may have replaced): read at
#: each call, never imported by name.
_SDK: Any = _sdk


class _Plan:
    """The policies a servicer runs, in the pack's order, with the level each reports at: the
    SDK's own choice (`_get_enforcement_level`; disabled policies left out; a resource policy
    still violated after remediation reports as mandatory, a stack policy cannot remediate),
    made once per configuration instead of for every policy of every call."""

    def __init__(
        self, resource: Sequence[tuple[Any, EnforcementLevel]], stack: Sequence[tuple[Any, Any]]
    ) -> None:
        self.resource = tuple(resource)
        self.stack = tuple(stack)

    @classmethod
    def of(cls, servicer: Any, policies: Sequence[Any]) -> _Plan:
        resource, stack = [], []
        for policy in policies:
            level = servicer._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED:
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            if isinstance(policy, ResourceValidationPolicy):
                resource.append((policy, level))
            elif isinstance(policy, StackValidationPolicy):
                stack.append((policy, level))
        return cls(resource, stack)


class _LazyReport:
    """The SDK's `report_violation` for one policy of one call, made when first used (most
    policies report nothing on most resources)."""

    __slots__ = ("_args", "_made")

    def __init__(self, servicer: Any, response: Any, policy: Any, level: EnforcementLevel) -> None:
        self._args = (servicer, response, policy, level)
        self._made: ReportViolation | None = None

    def __call__(self, message: str, urn: str | None = None) -> None:
        if self._made is None:
            servicer, response, policy, level = self._args
            self._made = servicer._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
        self._made(message, urn)


class _PreparedOnce:
    """The SDK servicer's Analyze and AnalyzeStack, preparing what they judge once per call.

    The SDK (pulumi-policy 1.x, `_PolicyAnalyzerServicer`) prepares the request again for every
    policy it runs: in Analyze, a resource's properties, options and provider once per resource
    policy (25 here), and in AnalyzeStack every resource of the stack, linked to its parent and
    dependencies, once per stack policy (8 stack rules and their exception companions: 8 to 16
    passes over the whole stack, measured 4.4 s of CPU at 9,919 resources against 1.25 s with one
    pass, most of the pack's work after the render). It also re-reads the runtime settings,
    through `inspect.signature`, on every call. Here the request is prepared once, the SDK's
    own way (its methods, the same classes), the runtime settings are read on the first call
    (the pack's process environment does not change), and every enabled policy runs over the
    same objects, each reported under its own name and enforcement level, with the SDK's
    handling of unknown values and "not applicable". keyplane's policies only read what they
    are given, so sharing it is safe. Which policies are enabled, at which level, is worked out
    once per configuration (`_Plan`), not for each of the pack's 50 policies on every call,
    and each call runs under a token of its own (`_Call`) that tells its policies they judge
    the same resource or stack.

    Anything this needs that the SDK lacks (a later SDK reorganising its servicer) leaves the
    SDK's own methods in place: slower, same verdicts.
    """

    #: Marks the replacement methods (so that installing twice changes nothing).
    MARK = "keyplane_prepared_once"

    def __init__(self, servicer_class: Any) -> None:
        self._original_analyze = servicer_class.Analyze
        self._original_stack = servicer_class.AnalyzeStack
        # Python mangles `self.__policies` in the class `_PolicyAnalyzerServicer` this way.
        self._prefix = f"_{servicer_class.__name__.lstrip('_')}__"
        self._configured: set[int] = set()
        #: Per servicer: the configured levels it was made for, and its `_Plan`.
        self._plans: dict[int, tuple[object, _Plan]] = {}

    @classmethod
    def install(cls, on_configure: Callable[[Any], None] | None = None) -> bool:
        """Replace the SDK servicer's Analyze and AnalyzeStack; False when it cannot.

        `on_configure(servicer)` runs after each Configure call (the SDK's own), once the
        policies' configuration is in place.
        """
        servicer_class = getattr(_sdk, "_PolicyAnalyzerServicer", None)
        if servicer_class is None or not all(
            callable(getattr(servicer_class, name, None)) for name in _SERVICER_METHODS
        ):
            return False
        if not all(hasattr(_sdk, name) for name in _SDK_NAMES):
            return False
        if getattr(servicer_class.AnalyzeStack, cls.MARK, False):
            return True
        once = cls(servicer_class)

        def analyze(servicer: Any, request: Any, context: Any) -> Any:
            return once.analyze(servicer, request, context)

        def analyze_stack(servicer: Any, request: Any, context: Any) -> Any:
            return once.analyze_stack(servicer, request, context)

        for name, method in (("Analyze", analyze), ("AnalyzeStack", analyze_stack)):
            setattr(method, cls.MARK, True)
            setattr(servicer_class, name, method)
        if on_configure is not None:
            original_configure = servicer_class.Configure

            def configure(servicer: Any, request: Any, context: Any) -> Any:
                answer = original_configure(servicer, request, context)
                on_configure(servicer)
                return answer

            servicer_class.Configure = configure
        return True

    def plan(self, servicer: Any) -> _Plan | None:
        """The enabled policies of `servicer` and their levels, as configured now (None when
        the servicer lacks the SDK's state)."""
        state = self._state(servicer)
        if state is None:
            return None
        policies, levels = state[0], state[4]
        known = self._plans.get(id(servicer))
        if known is not None and known[0] is levels:
            return known[1]
        made = _Plan.of(servicer, policies)
        self._plans[id(servicer)] = (levels, made)
        return made

    @staticmethod
    def policies_of(servicer: Any) -> Sequence[Any]:
        """The servicer's policies (none when it lacks the SDK's state)."""
        prefix = f"_{type(servicer).__name__.lstrip('_')}__"
        policies: Sequence[Any] = getattr(servicer, prefix + "policies", ())
        return policies

    def _state(self, servicer: Any) -> tuple[Any, ...] | None:
        try:
            return tuple(getattr(servicer, self._prefix + name) for name in _SERVICER_STATE)
        except AttributeError:
            return None

    def _configure_runtime(self, servicer: Any) -> None:
        if id(servicer) not in self._configured:
            servicer._configure_runtime_settings()
            self._configured.add(id(servicer))

    def analyze(self, servicer: Any, request: Any, context: Any) -> Any:
        state = self._state(servicer)
        if state is None:
            return self._original_analyze(servicer, request, context)
        _CALL.token = object()
        try:
            return self._analyze(servicer, request, state)
        finally:
            _CALL.token = None

    def _analyze(self, servicer: Any, request: Any, state: tuple[Any, ...]) -> Any:
        _, pack_name, pack_version, stack_tags, _ = state
        plan = self.plan(servicer)
        assert plan is not None
        self._configure_runtime(servicer)
        proto = _SDK.proto
        response = proto.AnalyzeResponse()
        props: Any = None
        shared: ResourceValidationArgs | None = None  # the arguments of policies without config
        for policy, level in plan.resource:
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            report = _LazyReport(servicer, response, policy, level)
            if props is None:
                props = (
                    _SDK.unknown_checking_proxy(
                        _SDK.deserialize_properties(
                            _SDK.json_format.MessageToDict(request.properties)
                        )
                    ),
                    servicer._get_resource_options(request),
                    servicer._get_provider_resource(request),
                )
            config = servicer._get_policy_config(policy.name)
            if config is None and shared is not None:
                args = shared  # policies only read their arguments
            else:
                properties, options, provider = props
                args = ResourceValidationArgs(
                    request.type,
                    properties,
                    request.urn,
                    request.name,
                    options,
                    provider,
                    config,
                    stack_tags,
                )
                if config is None:
                    shared = args
            self._validate(servicer, policy, args, report, response, pack_name, pack_version)
        return response

    def analyze_stack(self, servicer: Any, request: Any, context: Any) -> Any:
        state = self._state(servicer)
        if state is None:
            return self._original_stack(servicer, request, context)
        _CALL.token = object()
        try:
            return self._analyze_stack(servicer, request, state)
        finally:
            _CALL.token = None

    def _analyze_stack(self, servicer: Any, request: Any, state: tuple[Any, ...]) -> Any:
        _, pack_name, pack_version, stack_tags, _ = state
        plan = self.plan(servicer)
        assert plan is not None
        self._configure_runtime(servicer)
        response = _SDK.proto.AnalyzeResponse()
        resources: list[Any] | None = None
        for policy, level in plan.stack:
            report = _LazyReport(servicer, response, policy, level)
            if resources is None:
                resources = self._stack_resources(servicer, request)
            args = StackValidationArgs(
                resources, servicer._get_policy_config(policy.name), stack_tags
            )
            self._validate(servicer, policy, args, report, response, pack_name, pack_version)
        return response

    @staticmethod
    def _validate(
        servicer: Any,
        policy: Any,
        args: Any,
        report: ReportViolation,
        response: Any,
        pack_name: str,
        pack_version: str,
    ) -> None:
        """Run one policy, as the SDK does: unknown values become its advisory diagnostic."""
        proto = _SDK.proto
        try:
            result = policy.validate(args, report)
            if result is not None and isawaitable(result):
                asyncio.run(_awaited(result))
        except UnknownValueError as err:
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=pack_name,
                    policyPackVersion=pack_version,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack "
                        f"'{pack_name}@v{pack_version}' during preview: {err.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=servicer._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _SDK._NotApplicableError as err:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=err.reason or "")
            )

    @staticmethod
    def _stack_resources(servicer: Any, request: Any) -> list[Any]:
        """The request's resources as the SDK builds them for a stack policy, linked to their
        parents and dependencies (URNs outside the request are left out, as the SDK does)."""
        resources: list[Any] = []
        links: list[tuple[Any, str, list[str], dict[str, list[str]]]] = []
        by_urn: dict[str, Any] = {}
        for r in request.resources:
            props = _SDK.unknown_checking_proxy(
                _SDK.deserialize_properties(_SDK.json_format.MessageToDict(r.properties))
            )
            resource = _SDK.PolicyResource(
                r.type,
                props,
                r.urn,
                r.name,
                servicer._get_resource_options(r),
                servicer._get_provider_resource(r),
                None,
                [],
                {},
            )
            resources.append(resource)
            by_urn[resource.urn] = resource
            links.append(
                (
                    resource,
                    r.parent,
                    list(r.dependencies),
                    {k: list(v.urns) for k, v in r.propertyDependencies.items()},
                )
            )
        for resource, parent, dependencies, property_dependencies in links:
            if parent in by_urn:
                resource.parent = by_urn[parent]
            resource.dependencies.extend(by_urn[d] for d in dependencies if d in by_urn)
            for key, urns in property_dependencies.items():
                resource.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
        return resources


async def _awaited(result: Any) -> None:
    await result


class CannotJudge(UnknownValueError):
    """Raised by a policy whose verdict depends on values known only after deployment; the SDK
    reports it as an advisory diagnostic of the policy."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [])
        self.message = "\n".join(messages)


class Settings:
    """The pack's `keyplane-settings`, turned into a check context.

    CrossGuard gives each policy only its own configuration, so the `keyplane-settings` policy
    (first in the pack, run first on every resource) loads it for all the others. What the
    engine configured (`preload`, from Configure) is read ahead, and is what a stack policy
    judges with when AnalyzeStack comes before any resource.
    """

    def __init__(self, base_dir: Path, today: date | None = None) -> None:
        self.base_dir = base_dir
        self.today = today
        self._lock = threading.Lock()
        self._loaded: Mapping[str, Any] | None = None
        #: The configuration Configure gave, until it is loaded.
        self._pending: dict[str, Any] | None = None
        self._context: Context | None = None
        #: The context of unusable settings (one, so that policies can share what they build).
        self._fallback: Context | None = None
        self.error: str | None = None
        self.error_reported = False

    def _default_environment(self) -> str:
        """The stack config's `keyplane:environment` (as the program reads it), else the stack."""
        try:
            stack_config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
        except ValueError:
            stack_config = {}
        configured = (
            stack_config.get(STACK_CONFIG_ENVIRONMENT) if isinstance(stack_config, dict) else None
        )
        return str(configured or os.environ.get("PULUMI_STACK", ""))

    def load(self, config: Mapping[str, Any]) -> None:
        with self._lock:
            if self._pending is not None and dict(config) == self._pending:
                self._pending = None
            if self._loaded is not None and dict(config) == dict(self._loaded):
                return
            self._loaded = dict(config)
            try:
                self._context = context_from_settings(
                    config,
                    default_environment=self._default_environment(),
                    base_dir=self.base_dir,
                    today=self.today or date.today(),
                    default_estate=pack_default_estate(self.base_dir),
                )
                self.error = None
            except (SettingsError, ValueError, TypeError, KeyError) as err:
                self._context = None
                self._fallback = None
                self.error = str(err)
                self.error_reported = False

    def preload(self, config: Mapping[str, Any]) -> threading.Thread:
        """Start loading `config` (the configuration Configure gave) in the background: the
        estate takes a while to read. `load` of the same configuration, or `context`, waits
        for it."""
        with self._lock:
            self._pending = dict(config)
        thread = threading.Thread(
            target=self.load, args=(dict(config),), name="keyplane-settings", daemon=True
        )
        thread.start()
        return thread

    def context(self) -> Context:
        pending = self._pending
        if pending is not None:
            self.load(pending)
        with self._lock:
            if self._context is not None:
                return self._context
        if self._loaded is None:
            self.load({})
        with self._lock:
            if self._context is not None:
                return self._context
            # Unusable settings were reported by keyplane-settings; judge with the stack's name.
            if self._fallback is None:
                self._fallback = Context(
                    environment=self._default_environment() or "unknown",
                    as_of=self.today or date.today(),
                )
            return self._fallback


def _configured(servicer: Any, settings: Settings) -> None:
    """The engine has configured the pack for a stack: forget the properties kept for another,
    and read the settings (the estate) while the engine goes on to send resources, as
    `keyplane-settings` would on the first resource, unless that policy is disabled. At 9,919
    resources the estate took 0.5-0.8 s to read, before any resource could be judged."""
    _forget_properties()
    for policy in _PreparedOnce.policies_of(servicer):
        if policy.name == SETTINGS_POLICY:
            if servicer._get_enforcement_level(policy) != EnforcementLevel.DISABLED:
                settings.preload(servicer._get_policy_config(SETTINGS_POLICY) or {})
            return


def _resource(args: ResourceValidationArgs) -> PulumiResource:
    return PulumiResource(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        inputs=args.props,
        protect=bool(args.opts.protect),
        parent=args.opts.parent or "",
    )


def _stack_resources(args: StackValidationArgs) -> list[PulumiResource]:
    return [
        PulumiResource(
            type=r.resource_type,
            name=r.name,
            urn=r.urn,
            inputs=r.props,
            protect=bool(r.opts.protect),
            parent=r.parent.urn if r.parent is not None else "",
            dependencies=tuple(d.urn for d in r.dependencies),
            property_dependencies={
                k: tuple(d.urn for d in v) for k, v in r.property_dependencies.items()
            },
        )
        for r in args.resources
    ]


def _report(
    verdicts: Sequence[Verdict],
    context: Context,
    report: ReportViolation,
    *,
    excepted: bool,
    stack: bool,
) -> None:
    """Report failures (covered by an exception or not, as asked); raise for unknowns."""
    for verdict in verdicts:
        if verdict.outcome is not Outcome.FAIL:
            continue
        finding = to_finding(verdict, Engine.CROSSGUARD)
        scope = covering_exception(finding, context.exceptions, context.environment, context.as_of)
        if (scope is not None) != excepted:
            continue
        message = verdict.message
        if scope is not None:
            [labelled] = apply_exceptions([finding], [scope], context.environment, context.as_of)
            message = labelled.message
        report(message, (verdict.urn or None) if stack else None)
    unknowns = [v.message for v in verdicts if v.outcome is Outcome.UNKNOWN]
    if unknowns and not excepted:
        raise CannotJudge(unknowns)


class _Call(threading.local):
    """The Analyze or AnalyzeStack call this thread is running (`_PreparedOnce`), if any."""

    token: object | None = None


_CALL = _Call()


class _Memo(threading.local):
    """What the previous policy computed for the same resource (or stack) and context.

    The SDK runs every policy of the pack on the same resource one after the other; keyplane
    builds the facts and verdicts once per resource. Under `_PreparedOnce` every call has its
    own token, so the policies of one call share what the first built, and the next call builds
    afresh. Without it (the SDK's own methods), the resource's key (`key()`: everything its
    facts are read from besides the properties) and its properties are compared: equal
    properties alone are not enough, since resources with the same properties share one
    converted copy (`_StructsOnce`).
    """

    def __init__(self) -> None:
        self.token: object | None = None
        self.key: tuple[object, ...] = ()
        self.props: Sequence[Mapping[str, Any]] = ()
        self.facts: Any = None
        self.context: Context | None = None
        self.verdicts: dict[str, list[Verdict]] = {}

    def get(
        self,
        key: Callable[[], tuple[object, ...]],
        props: Callable[[], Sequence[Mapping[str, Any]]],
        context: Context,
        build: Callable[[], Any],
    ) -> Any:
        token = _CALL.token
        if token is not None:
            if token is not self.token or context is not self.context:
                self.token, self.context, self.facts = token, context, build()
                self.key, self.props, self.verdicts = (), (), {}
            return self.facts
        known, given = key(), props()
        if (
            self.token is not None
            or known != self.key
            or given != self.props
            or context is not self.context
        ):
            self.token, self.key, self.props = None, known, given
            self.context, self.facts, self.verdicts = context, build(), {}
        return self.facts


_RESOURCE_MEMO = _Memo()
_STACK_MEMO = _Memo()


def _resource_policy(rule: Rule, settings: Settings, *, excepted: bool, secrets: bool) -> Any:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        context = settings.context()
        memo = _RESOURCE_MEMO
        facts = memo.get(
            lambda: (args.urn, args.resource_type, args.name, args.opts.protect, args.opts.parent),
            lambda: [args.props],
            context,
            lambda: facts_from_resource(_resource(args), secrets_marked=secrets),
        )
        if not facts:
            return
        if rule.id not in memo.verdicts:
            memo.verdicts[rule.id] = check_resource(rule.id, facts, context)
        _report(memo.verdicts[rule.id], context, report, excepted=excepted, stack=False)

    return validate


def _stack_key(args: StackValidationArgs) -> tuple[object, ...]:
    """What a stack's facts are read from besides the properties: cheaper to build and compare
    than the resources themselves, which the SDK rebuilds for every stack policy."""
    return tuple(
        (
            r.urn,
            r.resource_type,
            r.name,
            bool(r.opts.protect),
            r.parent.urn if r.parent is not None else "",
            tuple(d.urn for d in r.dependencies),
            tuple((k, tuple(d.urn for d in v)) for k, v in r.property_dependencies.items()),
        )
        for r in args.resources
    )


def _stack_policy(rule: Rule, settings: Settings, *, excepted: bool, secrets: bool) -> Any:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        context = settings.context()
        memo = _STACK_MEMO
        stack = memo.get(
            lambda: _stack_key(args),
            lambda: [r.props for r in args.resources],
            context,
            lambda: stack_facts(_stack_resources(args), secrets_marked=secrets),
        )
        if rule.id not in memo.verdicts:
            memo.verdicts[rule.id] = check_stack(rule.id, stack, context)
        _report(memo.verdicts[rule.id], context, report, excepted=excepted, stack=True)

    return validate


def _settings_policy(settings: Settings) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        settings.load(args.get_config())
        if settings.error and not settings.error_reported:
            settings.error_reported = True
            report(f"{settings.error}; the rules judge with defaults until it is fixed.", None)

    return ResourceValidationPolicy(
        name=SETTINGS_POLICY,
        description="keyplane's settings: the stack's environment, its declared estate and the "
        "exceptions register (reports only unusable settings).",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={k: dict(v) for k, v in SETTINGS_SCHEMA.items()}
        ),
    )


def _policy(
    rule: Rule, scope: Scope, name: str, description: str, level: EnforcementLevel, validate: Any
) -> Any:
    severity = _SEVERITIES.get(rule.severity.value)
    tags = [rule.id, rule.source]
    if scope is Scope.RESOURCE:
        return ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            severity=severity,
            tags=tags,
            remediation_steps=rule.remediation,
        )
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        severity=severity,
        tags=tags,
        remediation_steps=rule.remediation,
    )


def policies(settings: Settings, *, secrets: bool = True) -> list[Any]:
    """The pack's policies: keyplane-settings first, then each G rule and its companion."""
    result: list[Any] = [_settings_policy(settings)]
    for check in checks_at(Point.CROSSGUARD):
        rule = RULES[check.rule]
        make = _resource_policy if check.scope is Scope.RESOURCE else _stack_policy
        result.append(
            _policy(
                rule,
                check.scope,
                rule.policy_name,
                rule.title,
                _LEVELS[rule.default_enforcement],
                make(rule, settings, excepted=False, secrets=secrets),
            )
        )
        if rule.exceptable:
            result.append(
                _policy(
                    rule,
                    check.scope,
                    rule.excepted_policy_name,
                    f"{rule.title} (violations covered by a valid exception)",
                    EnforcementLevel.ADVISORY,
                    make(rule, settings, excepted=True, secrets=secrets),
                )
            )
    return result


#: Seconds between two looks at whether the process that started the pack is still alive.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent() -> None:
    """End the pack when the process that started it (the engine, or keyplane's gate) is gone.

    A gate killed outright (SIGKILL, the kernel's out-of-memory killer, a CI runner cancelling
    the job) cannot stop its children; a pack server left behind was seen alive minutes later.
    An orphan is adopted by another process, so a change of parent PID means the parent died.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="keyplane-parent-watch", daemon=True).start()


def serve(pack_dir: Path | None = None) -> None:
    """Build the pack and serve it (blocks; the engine stops it with SIGINT, keyplane's gate
    with SIGTERM; it ends by itself when the process that started it dies)."""
    _exit_with_parent()
    collector.tune()
    secrets = _keep_wire_form()
    if secrets:  # the properties reach policies read-only: one conversion can serve them all
        _convert_each_message_once()
    settings = Settings(pack_dir or Path.cwd())
    _PreparedOnce.install(on_configure=lambda servicer: _configured(servicer, settings))
    PolicyPack(
        name=PACK_NAME,
        policies=policies(settings, secrets=secrets),
        description="keyplane: the Cryptographic Key Management Policy as CrossGuard policies.",
    )
