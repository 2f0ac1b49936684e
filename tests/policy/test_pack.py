"""The real policy pack over the analyzer protocol (keyplane.engines.crossguard.harness plays the engine).

One pack process for the module, configured the way `--policy-pack-config` would configure it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from keyplane.engines.crossguard.harness import CrossGuardPack
from keyplane.engines.crossguard.pack import SETTINGS_POLICY
from keyplane.findings import Engine, Finding
from keyplane.rules.catalog import EXCEPTED_SUFFIX, Enforcement, Point, rules_at
from tests.policy.stacks import (
    ACCOUNT,
    ADMIN,
    AS_OF,
    AUDITOR,
    BACKUP_ADMIN,
    BACKUP_AGENT,
    DEV_ACCOUNT,
    GLOBEX,
    IDENTITY,
    ORDERS,
    UNKNOWN_WIRE,
    aws_stack,
    mutate,
    secret,
    urn,
    without,
)

EXCEPTION = {
    "id": "EXC-2026-020",
    "rule": "KM-ROT-002",
    "environment": "prod",
    "resource": "acme-orders-db",
    "expires": (AS_OF + timedelta(days=30)).isoformat(),
}
SETTINGS = {
    "environment": "prod",
    "asOf": AS_OF.isoformat(),
    "tier": "production",
    "scope": ACCOUNT,
    "retentionDays": 400,
    "keyAdmins": [ADMIN],
    "backupKeyAdmins": [BACKUP_ADMIN],
    "auditors": [AUDITOR],
    "keyUsers": [
        {"principal": ORDERS, "tenant": "acme"},
        {"principal": GLOBEX, "tenant": "globex"},
        {"principal": BACKUP_AGENT},
        {"principal": IDENTITY},
    ],
    "tenants": [
        {"name": "acme", "isolation": "dedicated"},
        {"name": "globex", "isolation": "shared"},
    ],
    "otherEnvironments": [{"name": "dev", "tier": "development", "scope": DEV_ACCOUNT}],
    "exceptions": [EXCEPTION],
}
CONFIG = {SETTINGS_POLICY: SETTINGS}
KEY = "aws:kms/key:Key"


@pytest.fixture(scope="module")
def pack() -> Iterator[CrossGuardPack]:
    with CrossGuardPack(stack="prod", policy_config=CONFIG) as running:
        yield running


@pytest.fixture
def reconfigured(pack: CrossGuardPack) -> Iterator[CrossGuardPack]:
    """The module's pack, restored to the module's configuration after the test."""
    yield pack
    pack.configure(CONFIG)


def test_every_rule_is_a_policy_at_its_registry_level(pack: CrossGuardPack) -> None:
    levels = {p.name: p.enforcement for p in pack.policies}
    for rule in rules_at(Point.CROSSGUARD):
        assert levels.pop(rule.policy_name) == rule.default_enforcement.value
        if rule.exceptable:
            assert levels.pop(rule.policy_name + EXCEPTED_SUFFIX) == "advisory"
    assert levels == {SETTINGS_POLICY: "mandatory"}
    stack_policies = {p.name for p in pack.policies if p.stack}
    assert "km-log-001-audit-logging" in stack_policies
    assert "km-rot-002-rotation-period" not in stack_policies


def test_compliant_stack_passes_analyze_and_analyze_stack(pack: CrossGuardPack) -> None:
    assert pack.run(aws_stack()) == []


def test_resource_violation(pack: CrossGuardPack) -> None:
    stack = mutate(aws_stack(), "acme-orders-db", ["deletionWindowInDays"], 7.0)
    assert pack.analyze(stack[0]) == [
        Finding(
            rule="KM-DEL-001",
            enforcement=Enforcement.MANDATORY,
            resource=urn(KEY, "acme-orders-db"),
            type=KEY,
            message="KM-DEL-001 acme-orders-db: deletion window 7 days is shorter than 30; set "
            "deletion_window_days to 30.",
            engine=Engine.CROSSGUARD,
        )
    ]


def test_stack_violation_names_the_resource(pack: CrossGuardPack) -> None:
    stack = without(aws_stack(), "acme-payments-api-rotation")
    [finding] = pack.analyze_stack(stack)
    assert (finding.rule, finding.enforcement, finding.resource, finding.type) == (
        "KM-ROT-003",
        Enforcement.MANDATORY,
        urn("aws:secretsmanager/secret:Secret", "acme-payments-api"),
        "aws:secretsmanager/secret:Secret",
    )


def test_excepted_violation_is_advisory_with_the_exception_id(pack: CrossGuardPack) -> None:
    stack = mutate(aws_stack(), "acme-orders-db", ["rotationPeriodInDays"], 395.0)
    [finding] = pack.analyze(stack[0])
    assert (finding.rule, finding.enforcement, finding.exception) == (
        "KM-ROT-002",
        Enforcement.ADVISORY,
        "EXC-2026-020",
    )
    assert finding.message == (
        "KM-ROT-002 acme-orders-db: rotation period 395 days exceeds 365 for database-encryption "
        f"keys; lower rotation_days or file an exception. [excepted by EXC-2026-020 until "
        f"{EXCEPTION['expires']}]"
    )


def test_excepted_violation_of_another_resource_stays_mandatory(pack: CrossGuardPack) -> None:
    stack = mutate(aws_stack(), "platform-backup", ["rotationPeriodInDays"], 395.0)
    [finding] = pack.analyze(stack[1])
    assert (finding.rule, finding.enforcement, finding.exception) == (
        "KM-ROT-002",
        Enforcement.MANDATORY,
        None,
    )


def test_unknown_values_are_advisory_cannot_judge_until_deployed(pack: CrossGuardPack) -> None:
    stack = mutate(aws_stack(), "acme-orders-db", ["enableKeyRotation"], UNKNOWN_WIRE)
    assert pack.analyze(stack[0]) == [
        Finding(
            rule="KM-ROT-001",
            enforcement=Enforcement.ADVISORY,
            resource=urn(KEY, "acme-orders-db"),
            type=KEY,
            message="KM-ROT-001 acme-orders-db: cannot judge until deployed: whether automatic "
            "rotation is enabled is only known after deployment.",
            engine=Engine.CROSSGUARD,
        )
    ]
    stack = mutate(
        aws_stack(), "audit-logs-lock", ["rule", "defaultRetention", "mode"], UNKNOWN_WIRE
    )
    [finding] = pack.analyze_stack(stack)
    assert (finding.rule, finding.enforcement, finding.resource) == (
        "KM-LOG-002",
        Enforcement.ADVISORY,
        urn("aws:s3/bucket:Bucket", "audit-logs"),
    )
    assert "cannot judge until deployed" in finding.message


def test_plain_text_secret_is_told_from_a_pulumi_secret(pack: CrossGuardPack) -> None:
    version = aws_stack()[7]
    assert pack.analyze(version) == []
    plain = mutate([version], version.name, ["secretString"], "hunter2")[0]
    [finding] = pack.analyze(plain)
    assert (finding.rule, finding.enforcement) == ("KM-STO-001", Enforcement.MANDATORY)
    assert pack.analyze(mutate([version], version.name, ["secretString"], secret("x"))[0]) == []


def test_expired_exception_blocks_the_stack(reconfigured: CrossGuardPack) -> None:
    expired = {**EXCEPTION, "id": "EXC-2026-001", "expires": "2026-10-31"}
    reconfigured.configure({SETTINGS_POLICY: {**SETTINGS, "exceptions": [expired]}})
    stack = mutate(aws_stack(), "acme-orders-db", ["rotationPeriodInDays"], 395.0)
    findings = reconfigured.run(stack)
    assert sorted((f.rule, f.enforcement.value, f.resource) for f in findings) == [
        ("KM-EXC-002", "mandatory", "EXC-2026-001"),
        ("KM-ROT-002", "mandatory", urn(KEY, "acme-orders-db")),
    ]
    [blocked] = [f for f in findings if f.rule == "KM-EXC-002"]
    assert blocked.message == (
        "KM-EXC-002 EXC-2026-001: exception for KM-ROT-002 on prod/acme-orders-db expired on "
        "2026-10-31; deployment of prod is blocked until the deviation is fixed or the exception "
        "renewed."
    )


def test_unusable_settings_are_reported_once(reconfigured: CrossGuardPack) -> None:
    reconfigured.configure({SETTINGS_POLICY: {**SETTINGS, "asOf": "tomorrow"}})
    first = reconfigured.analyze(aws_stack()[0])
    assert [(f.rule, f.enforcement.value, f.message) for f in first] == [
        (
            SETTINGS_POLICY,
            "mandatory",
            "keyplane-settings.asOf: expected a date YYYY-MM-DD (got 'tomorrow'); the rules "
            "judge with defaults until it is fixed.",
        )
    ]
    assert reconfigured.analyze(aws_stack()[1]) == []


def test_each_message_is_converted_once_and_never_mistaken_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    from keyplane.engines.crossguard import pack, structs
    from keyplane.engines.crossguard.pack import _MessagesOnce

    calls: list[object] = []
    converted: list[object] = []

    class Counting:
        def MessageToDict(self, message: object, *args: object, **kwargs: object) -> object:
            calls.append(message)
            return json_format.MessageToDict(message, *args, **kwargs)

    convert = structs.from_struct

    def from_struct(message: struct_pb2.Struct) -> dict[str, Any]:
        converted.append(message)
        return convert(message)

    monkeypatch.setattr(pack, "from_struct", from_struct)
    once = _MessagesOnce(Counting(), limit=2)

    def struct(**fields: float) -> struct_pb2.Struct:
        return struct_pb2.Struct(
            fields={k: struct_pb2.Value(number_value=v) for k, v in fields.items()}
        )

    first, second, third = (struct(n=n) for n in (1, 2, 3))
    assert [once.MessageToDict(first) for _ in range(25)] == [{"n": 1.0}] * 25
    assert once.MessageToDict(second) == {"n": 2.0}
    assert once.MessageToDict(third) == {"n": 3.0}  # evicts the first
    assert once.MessageToDict(first) == {"n": 1.0}
    assert converted == [first, second, third, first]
    # Properties sent again (AnalyzeStack after Analyze) are recognised by their content, in
    # any key order; changed properties never get the old ones.
    again = struct(n=1)
    assert once.MessageToDict(again) is once.MessageToDict(first)
    assert once.MessageToDict(struct(a=1, b=2)) is once.MessageToDict(struct(b=2, a=1))
    assert once.MessageToDict(struct(n=1.5)) == {"n": 1.5}
    assert len(converted) == 6
    once.structs.clear()  # the engine configures the pack for another stack
    assert once.MessageToDict(struct(n=1)) == {"n": 1.0}
    assert len(converted) == 7
    # Other messages by identity, through json_format; other forms of the call go straight
    # through.
    options = analyzer_pb2.AnalyzerResourceOptions(protect=True)
    assert [once.MessageToDict(options) for _ in range(3)] == [{"protect": True}] * 3
    assert calls == [options]
    assert once.MessageToDict(first, preserving_proto_field_name=True) == {"n": 1.0}
    assert calls == [options, first]


def test_the_policies_of_one_call_share_property_views(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.protobuf import struct_pb2
    from pulumi_policy import policy

    from keyplane.engines.crossguard.pack import _convert_each_message_once

    sdk: Any = policy

    monkeypatch.setattr(sdk, "json_format", sdk.json_format)
    monkeypatch.setattr(sdk, "unknown_checking_proxy", sdk.unknown_checking_proxy)
    assert _convert_each_message_once()
    message = struct_pb2.Struct(fields={"n": struct_pb2.Value(number_value=1)})
    same = struct_pb2.Struct(fields={"n": struct_pb2.Value(number_value=1)})
    other = struct_pb2.Struct(fields={"n": struct_pb2.Value(number_value=2)})
    view = sdk.unknown_checking_proxy(sdk.json_format.MessageToDict(message))
    assert view == {"n": 1.0}
    assert sdk.unknown_checking_proxy(sdk.json_format.MessageToDict(message)) is view
    assert sdk.unknown_checking_proxy(sdk.json_format.MessageToDict(same)) is view
    assert sdk.unknown_checking_proxy(sdk.json_format.MessageToDict(other)) == {"n": 2.0}
    with pytest.raises(TypeError):
        view["n"] = 2


def test_the_memo_rebuilds_for_another_resource_context_or_call() -> None:
    from keyplane.engines.crossguard.pack import _CALL, _Memo
    from keyplane.rules.context import Context

    memo = _Memo()
    built: list[str] = []
    keyed: list[str] = []
    first, second = Context("prod", AS_OF), Context("dev", AS_OF)

    def get(key: str, props: list[dict[str, int]], context: Context) -> object:
        def resource_key() -> tuple[object, ...]:
            keyed.append(key)
            return (key,)

        def build() -> str:
            built.append(key)
            return f"facts of {key}"

        return memo.get(resource_key, lambda: props, context, build)

    # The SDK's own methods: the resource's key and properties tell resources apart.
    props = [{"n": 1}]
    assert get("a", props, first) == "facts of a"
    assert get("a", [{"n": 1}], first) == "facts of a"  # equal copies of the same resource
    assert get("b", props, first) == "facts of b"  # another resource, the same properties
    assert get("b", [{"n": 2}], first) == "facts of b"  # new properties
    assert get("b", [{"n": 2}], second) == "facts of b"  # another context
    assert built == ["a", "b", "b", "b"]
    # Under `_PreparedOnce`, each call has its token: one build per call, nothing compared.
    built.clear()
    keyed.clear()
    try:
        _CALL.token = object()
        assert [get("c", props, first) for _ in range(3)] == ["facts of c"] * 3
        assert get("c", props, second) == "facts of c"  # another context
        _CALL.token = object()  # the next call, whatever it holds
        assert get("c", props, second) == "facts of c"
    finally:
        _CALL.token = None
    assert (built, keyed) == (["c", "c", "c"], [])
    assert get("c", props, second) == "facts of c"  # no call: keyed and compared again
    assert (built, keyed) == (["c", "c", "c", "c"], ["c"])


def test_thousands_of_analyze_calls_in_flight_are_all_answered(pack: CrossGuardPack) -> None:
    """`keyplane scan` submits a whole export at once; the pack's server cancels calls when
    thousands queue up, so at most `IN_FLIGHT` are outstanding."""
    key = next(r for r in aws_stack() if r.type == KEY)
    many = [replace(key, name=f"{key.name}-{i}", urn=f"{key.urn}-{i}") for i in range(3000)]
    collectors = [pack.analyze_later(r) for r in many]
    findings = [f for collect in collectors for f in collect()]
    assert {f.resource for f in findings} <= {r.urn for r in many}
    assert pack._in_flight._value == pack.IN_FLIGHT


def test_analyze_stack_before_any_resource_judges_with_the_configured_settings() -> None:
    """A fresh pack reads what Configure gave (in the background) and judges AnalyzeStack with
    it even when no Analyze call came first. The stack is named `elsewhere`: the settings name
    its environment (`prod`, whose tenant `acme` is dedicated, so one of its principals granted
    the shared key violates KM-TEN-001); without them it would be judged as `elsewhere`, which
    declares no tenant."""
    from tests.policy.stacks import edit_policy, statement

    stack = edit_policy(aws_stack(), "session-signing", statement(ORDERS, ["kms:Sign"]))
    with CrossGuardPack(stack="elsewhere", policy_config=CONFIG) as fresh:
        first = fresh.analyze_stack(stack)
        after = fresh.run(stack)
    with CrossGuardPack(stack="elsewhere", policy_config={}) as bare:
        unset = bare.analyze_stack(stack)
    assert [f.message for f in first] == [
        f"KM-TEN-001 session-signing: tenant acme is dedicated but its principal {ORDERS} is "
        "granted the shared key session-signing; give the tenant its own key or declare it "
        "shared."
    ]
    assert [f for f in after if f.rule == "KM-TEN-001"] == first
    assert not any("tenant acme is dedicated" in f.message for f in unset)
