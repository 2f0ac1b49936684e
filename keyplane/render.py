"""Rendering a Pulumi program offline, through the Pulumi SDK's mock engine.

There is no Pulumi CLI where keyplane's CI runs, so the program is run with
`pulumi.runtime.set_mocks` and a monitor that records every registration the way the engine
would see it: type, name, parent, dependencies, protect, provider and the inputs in wire form
(camelCase names, secrets and unknowns marked). URNs are recomputed as the engine builds them
(the mock monitor qualifies a child's type with its parent's type only, the engine with the
whole chain).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from keyplane.wire import SECRET_SIG, SIG_KEY, STACK_TYPE, Registration


@dataclass
class RenderResult:
    project: str
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]

    @property
    def resources(self) -> list[Registration]:
        """Every registration but the stack's own."""
        return [r for r in self.registrations if r.type != STACK_TYPE]


class PlaceholderMocks(pulumi.runtime.Mocks):
    """Resource state = inputs plus deterministic placeholders for well-known computed outputs.

    Placeholders keep policies that reference another resource's ARN judgeable offline; a real
    first `pulumi preview` would show those values as unknown.
    """

    def __init__(self, account_id: str = "000000000000", region: str = "us-east-1") -> None:
        self.account_id = account_id
        self.region = region

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        for key, value in self.computed(args.typ, args.name).items():
            state.setdefault(key, value)
        return self.resource_id(args.name), state

    def resource_id(self, name: str) -> str:
        return f"{name}-id"

    def computed(self, type_: str, name: str) -> dict[str, str]:
        """The placeholder outputs of a resource (added where the inputs lack them)."""
        if type_.startswith("aws:"):
            service = type_.split(":")[1].split("/", maxsplit=1)[0]
            resource = type_.rsplit(":", maxsplit=1)[-1].lower()
            return {"arn": f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}/{name}"}
        return {}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request, with engine-style URNs.

    With `PlaceholderMocks` it answers from the request's wire form directly (the state is the
    inputs plus placeholders), skipping the mock monitor's deserialise-and-serialise round trip;
    it then keeps no `resources` table for `get_resource` invokes (keyplane's program makes
    none).
    """

    def __init__(
        self,
        mocks: pulumi.runtime.Mocks,
        on_register: Callable[[Registration], None] | None = None,
    ) -> None:
        super().__init__(mocks)
        self._on_register = on_register
        self.registrations: list[Registration] = []
        self.outputs: dict[str, Any] = {}
        self._qualified: dict[str, str] = {}
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        if type(self.mocks) is PlaceholderMocks:
            response = self._placeholder_response(request, self.mocks)
        else:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        urn = self._engine_urn(request.parent, request.type, request.name)
        self._qualified[response.urn] = urn
        inputs = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        registration = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=self._qualified.get(request.parent, request.parent),
            dependencies=tuple(self._qualified.get(d, d) for d in request.dependencies),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            provider=self._provider_ref(request.provider),
            inputs=inputs,
            wire=request.object,
            property_dependencies={
                key: tuple(self._qualified.get(u, u) for u in deps.urns)
                for key, deps in request.propertyDependencies.items()
            },
        )
        with self._lock:
            self.registrations.append(registration)
        if self._on_register is not None and registration.type != STACK_TYPE:
            self._on_register(registration)
        return response

    def _placeholder_response(self, request: Any, mocks: PlaceholderMocks) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        state = struct_pb2.Struct()
        state.CopyFrom(request.object)
        for key, value in mocks.computed(request.type, request.name).items():
            if key not in state.fields:
                state[key] = value
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=mocks.resource_id(request.name), object=state
        )

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if self._qualified.get(request.urn, "").split("::")[2:3] == [STACK_TYPE]:
            self.outputs.update(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def _provider_ref(self, reference: str) -> str:
        """A provider reference is `<provider URN>::<provider ID>`: recompute its URN too."""
        if not reference:
            return reference
        urn, _, provider_id = reference.rpartition("::")
        return f"{self._qualified.get(urn, urn)}::{provider_id}" if urn else reference

    def _engine_urn(self, parent_mock_urn: str, type_: str, name: str) -> str:
        qualified = type_
        parent = self._qualified.get(parent_mock_urn, "")
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"


_RENDER_LOCK = threading.Lock()


def render(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str] | None = None,
    secret_keys: Sequence[str] = (),
    preview: bool = True,
    mocks: pulumi.runtime.Mocks | None = None,
    on_register: Callable[[Registration], None] | None = None,
) -> RenderResult:
    """Run `program` under the mock engine and return what it registered.

    Pulumi's runtime settings are process-global, so renders are serialised.
    """
    with _RENDER_LOCK, _without_source_positions():
        monitor = RecordingMonitor(mocks or PlaceholderMocks(), on_register)
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))
        pulumi_mocks.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor
        )
        # set_mocks registers and finishes a root stack of its own; replace it with one that
        # runs the program and then registers the program's outputs, as the engine's host does.
        pulumi_settings.ROOT.set(None)
        monitor.registrations.clear()
        try:
            _sync_await(run_pulumi_func(lambda: _run_in_stack(program)))
        finally:
            pulumi_settings.SETTINGS.rpc_manager.clear()
            pulumi_settings.SETTINGS.outputs.clear()
        # set_mocks' own stack may register after the clear above: keep one per URN.
        unique = list({r.urn: r for r in reversed(monitor.registrations)}.values())[::-1]
        return RenderResult(project, stack, unique, monitor.outputs)


@contextmanager
def _without_source_positions() -> Iterator[None]:
    """The SDK walks the Python stack at every registration to tell the engine where in the
    program the resource was declared (about a sixth of the render); nothing offline reads it."""
    original = getattr(pulumi_resource, "_get_stack_trace", None)
    if original is None:  # an SDK without it: nothing to skip
        yield
        return
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = original


def _run_in_stack(program: Callable[[], None]) -> None:
    Stack(program)


def unwrap_secrets(value: Any) -> Any:
    """Wire-form value with secrets replaced by their plain content (for in-process judging)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value
