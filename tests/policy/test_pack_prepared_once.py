"""The pack's Analyze and AnalyzeStack prepared once per call (`pack._PreparedOnce`) answer exactly
what the pulumi-policy SDK's own methods answer.

Both run in process on the same analyzer-protocol messages the harness sends (the requests are
serialised and parsed again, as over gRPC), over every bundled environment's render, the
real-world scan cases and the policy tests' violating stacks, with the exception companions
enabled and disabled; every diagnostic (policy, message, URN, enforcement level, severity) and
every "not applicable" must be the same, in the same order. The gRPC path itself is
`tests/policy/test_pack.py` (the served pack installs the replacement).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import policy as sdk_policy

from keyplane.engines.crossguard import harness, pack
from keyplane.estate import load_estate
from keyplane.gate import pack_settings, render_environment
from keyplane.pulumi_json import load_pulumi_json
from tests.conftest import BUNDLED_ESTATE
from tests.policy.stacks import UNKNOWN_WIRE, aws_stack, gcp_stack, mutate

TODAY = date(2026, 11, 23)
REAL_WORLD = Path(__file__).resolve().parents[3] / "shared" / "cases" / "real-world"
SDK: Any = sdk_policy


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SDK as the served pack patches it (restored after the test), its methods kept."""
    for name in ("json_format", "deserialize_properties", "unknown_checking_proxy"):
        monkeypatch.setattr(SDK, name, getattr(SDK, name))
    servicer = SDK._PolicyAnalyzerServicer
    for name in ("Analyze", "AnalyzeStack"):
        monkeypatch.setattr(servicer, name, getattr(servicer, name))
    original = (servicer.Analyze, servicer.AnalyzeStack)
    assert not getattr(servicer.Analyze, pack._PreparedOnce.MARK, False)
    assert pack._keep_wire_form()
    assert pack._convert_each_message_once()
    return original


def _servicer(stack: str, policy_config: dict[str, Any]) -> Any:
    servicer = SDK._PolicyAnalyzerServicer(
        pack.PACK_NAME,
        "0.0.1",
        pack.policies(pack.Settings(harness.DEFAULT_PACK_DIR, today=TODAY)),
        SDK.EnforcementLevel.ADVISORY,
    )
    servicer.ConfigureStack(
        harness.stack_configure_request(stack, "keyplane", True, {"keyplane:environment": stack}),
        None,
    )
    infos = harness.policy_infos(servicer.GetAnalyzerInfo(empty_pb2.Empty(), None))
    servicer.Configure(harness.configure_request(infos, policy_config), None)
    return servicer


def _answers(
    servicer: Any, analyze: Any, analyze_stack: Any, resources: Sequence[Any]
) -> list[str]:
    """Every answer, in order, as JSON: each Analyze call's, then AnalyzeStack's."""
    answers = []
    for resource in resources:
        _, request = harness.analyze_request(resource)
        again = analyzer_pb2.AnalyzeRequest.FromString(request.SerializeToString())
        answers.append(analyze(servicer, again, None))
    _, request = harness.stack_request(resources)
    again = analyzer_pb2.AnalyzeStackRequest.FromString(request)
    answers.append(analyze_stack(servicer, again, None))
    return [json_format.MessageToJson(a, sort_keys=True) for a in answers]


def _compare(sdk: Any, stack: str, config: dict[str, Any], resources: Sequence[Any]) -> int:
    """Both implementations over the same resources; the number of diagnostics compared."""
    resources = [r for r in resources if not getattr(r, "read", False)]
    sdk_analyze, sdk_stack = sdk
    once = pack._PreparedOnce(SDK._PolicyAnalyzerServicer)
    expected = _answers(_servicer(stack, config), sdk_analyze, sdk_stack, resources)
    servicer = _servicer(stack, config)
    assert once._state(servicer) is not None  # the replacement's own path, not its fallback
    got = _answers(
        servicer,
        once.analyze,
        once.analyze_stack,
        resources,
    )
    assert got == expected
    return sum(len(json.loads(a).get("diagnostics", [])) for a in expected)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod", "prod-gcp", "prod-azure"])
def test_bundled_environments_answer_alike(sdk: Any, environment: str) -> None:
    estate = load_estate(BUNDLED_ESTATE)
    resources = render_environment(estate.environments[environment], estate.root, today=TODAY)
    for config in (
        pack_settings(environment, estate, TODAY),  # companions without exceptions disabled
        {"keyplane-settings": pack_settings(environment, estate, TODAY)["keyplane-settings"]},
    ):
        _compare(sdk, environment, config, resources)


def _real_world_cases() -> list[Path]:
    return sorted(p for p in REAL_WORLD.glob("*.json") if p.name != "expected.json")


@pytest.mark.skipif(not REAL_WORLD.is_dir(), reason="the shared real-world cases are not here")
def test_real_world_scans_answer_alike(sdk: Any) -> None:
    compared = 0
    for case in _real_world_cases():
        try:
            state = load_pulumi_json(case)
        except Exception:  # not every case is a Pulumi JSON (diffs, estates)
            continue
        stack = state.stack or "prod"
        compared += _compare(
            sdk, stack, {"keyplane-settings": {"environment": stack}}, state.resources
        )
    assert compared > 0  # the cases do report something


def test_violating_stacks_answer_alike(sdk: Any) -> None:
    """Failures, unknown values ("cannot judge until deployed") and stack-rule violations."""
    key = next(r for r in aws_stack() if r.type == "aws:kms/key:Key")
    violating = mutate(aws_stack(), key.name, ["rotationPeriodInDays"], 400)
    violating = mutate(violating, key.name, ["enableKeyRotation"], UNKNOWN_WIRE)
    gcp = gcp_stack()
    compared = _compare(sdk, "prod", {"all": "mandatory"}, violating)
    compared += _compare(sdk, "prod", {}, [*violating[: len(violating) // 2], *gcp])
    assert compared > 0


def test_the_stack_is_prepared_once_for_every_stack_policy(
    sdk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the replacement: one preparation per resource, not one per policy."""
    resources = aws_stack()
    servicer = _servicer("prod", {})
    prepared: list[str] = []
    original = SDK._PolicyAnalyzerServicer._get_resource_options

    def counting(self: Any, request: Any) -> Any:
        prepared.append(request.urn)
        return original(self, request)

    monkeypatch.setattr(SDK._PolicyAnalyzerServicer, "_get_resource_options", counting)
    once = pack._PreparedOnce(SDK._PolicyAnalyzerServicer)
    stack_policies = [
        p
        for p in harness.policy_infos(servicer.GetAnalyzerInfo(empty_pb2.Empty(), None))
        if p.stack
    ]
    assert len(stack_policies) > 2
    _, request = harness.stack_request(resources)
    once.analyze_stack(servicer, analyzer_pb2.AnalyzeStackRequest.FromString(request), None)
    assert sorted(prepared) == sorted(r.urn for r in resources)
    prepared.clear()
    _, single = harness.analyze_request(resources[0])
    once.analyze(servicer, single, None)
    assert prepared == [resources[0].urn]


def test_a_servicer_without_the_expected_state_keeps_the_sdk_methods(sdk: Any) -> None:
    once = pack._PreparedOnce(SDK._PolicyAnalyzerServicer)
    calls: list[str] = []

    class Stranger:
        pass

    def sdk_method(servicer: Any, request: Any, context: Any) -> str:
        calls.append("sdk")
        return "answer"

    once._original_stack = sdk_method
    assert once.analyze_stack(Stranger(), None, None) == "answer"
    assert calls == ["sdk"]


#: Settings that give every call the same context (without them each policy judges with a
#: context of its own, and nothing is shared between policies).
SETTINGS = {"keyplane-settings": {"environment": "prod"}}


def _sequence(
    servicer: Any,
    analyze: Any,
    analyze_stack: Any,
    analyzed: Sequence[Any],
    stacked: Sequence[Any],
) -> list[str]:
    """Analyze each of `analyzed`, then AnalyzeStack over `stacked`: every answer, as JSON."""
    answers = []
    for resource in analyzed:
        _, request = harness.analyze_request(resource)
        again = analyzer_pb2.AnalyzeRequest.FromString(request.SerializeToString())
        answers.append(analyze(servicer, again, None))
    _, request = harness.stack_request(stacked)
    again = analyzer_pb2.AnalyzeStackRequest.FromString(request)
    answers.append(analyze_stack(servicer, again, None))
    return [json_format.MessageToJson(a, sort_keys=True) for a in answers]


def test_a_resource_changed_after_its_analyze_call_is_judged_as_analyzestack_sends_it(
    sdk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the pack keeps between calls (each resource's properties, by content) never stands
    in for what a later call sends: the answers are those of the SDK's own methods with plain
    `json_format`, which keeps nothing, call for call."""
    key = next(r for r in aws_stack() if r.type == "aws:kms/key:Key")
    before = mutate(aws_stack(), key.name, ["rotationPeriodInDays"], 400)  # one resource fails
    after = mutate(
        before, "acme-payments-api-rotation", ["rotationRules", "automaticallyAfterDays"], 120.0
    )
    slow = "KM-ROT-003 acme-payments-api: rotates about every 120 days"
    sdk_analyze, sdk_stack = sdk
    cached = SDK.json_format
    assert isinstance(cached, pack._MessagesOnce)
    for analyzed, stacked in ((before, after), (after, before), (after, after)):
        monkeypatch.setattr(SDK, "json_format", json_format)  # nothing kept between calls
        expected = _sequence(_servicer("prod", SETTINGS), sdk_analyze, sdk_stack, analyzed, stacked)
        monkeypatch.setattr(SDK, "json_format", cached)
        once = pack._PreparedOnce(SDK._PolicyAnalyzerServicer)
        got = _sequence(
            _servicer("prod", SETTINGS), once.analyze, once.analyze_stack, analyzed, stacked
        )
        assert got == expected
        assert (slow in got[-1]) == (stacked is after)
        assert sum("KM-ROT-002" in answer for answer in got[:-1]) == 1
    # The same properties in another resource are that resource's: its own URN and name.
    twin = [
        *before,
        *(replace(r, name=f"{r.name}-twin", urn=f"{r.urn}-twin") for r in before[:3]),
    ]
    monkeypatch.setattr(SDK, "json_format", json_format)
    expected = _sequence(_servicer("prod", SETTINGS), sdk_analyze, sdk_stack, twin, twin)
    monkeypatch.setattr(SDK, "json_format", cached)
    once = pack._PreparedOnce(SDK._PolicyAnalyzerServicer)
    assert _sequence(_servicer("prod", SETTINGS), once.analyze, once.analyze_stack, twin, twin) == (
        expected
    )
