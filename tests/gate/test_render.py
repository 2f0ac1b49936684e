"""The offline render: the placeholder fast path records what the mock monitor's own path does."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource

from keyplane.estate import load_estate
from keyplane.gate import render_environment
from keyplane.render import PlaceholderMocks
from tests.conftest import BUNDLED_ESTATE

TODAY = date(2026, 11, 23)


class ThroughTheMockMonitor(PlaceholderMocks):
    """Same placeholders, but not the exact class: the monitor takes the SDK's generic path."""


def _normalised(registrations: list[Any]) -> dict[str, tuple[Any, ...]]:
    return {
        r.urn: (
            r.type,
            r.parent,
            sorted(r.dependencies),
            r.protect,
            r.provider,
            r.inputs,
            {k: sorted(v) for k, v in r.property_dependencies.items()},
        )
        for r in registrations
    }


@pytest.mark.parametrize("environment", ["prod", "prod-gcp", "prod-azure"])
def test_the_fast_path_registers_what_the_mock_monitor_does(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    estate = load_estate(BUNDLED_ESTATE)
    env = estate.environments[environment]
    fast = render_environment(env, estate.root, today=TODAY)

    generic_calls: list[str] = []
    original = pulumi_mocks.MockMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        generic_calls.append(request.name)
        return original(self, request)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", spy)
    generic = render_environment(env, estate.root, today=TODAY, mocks_class=ThroughTheMockMonitor)

    assert len(fast) > 20
    assert len(generic_calls) >= len(generic)
    assert _normalised(fast) == _normalised(generic)


def test_registrations_keep_the_wire_form_the_program_sent() -> None:
    estate = load_estate(BUNDLED_ESTATE)
    resources = render_environment(estate.environments["dev"], estate.root, today=TODAY)
    for resource in resources:
        assert resource.wire is not None
        assert json_format.MessageToDict(resource.wire) == resource.inputs


def test_source_positions_are_skipped_only_while_rendering() -> None:
    original = pulumi_resource._get_stack_trace
    seen: list[object] = []
    estate = load_estate(BUNDLED_ESTATE)
    render_environment(
        estate.environments["dev"],
        estate.root,
        today=TODAY,
        on_register=lambda _: seen.append(pulumi_resource._get_stack_trace),
    )
    assert seen
    assert all(f is not original for f in seen)
    assert pulumi_resource._get_stack_trace is original
