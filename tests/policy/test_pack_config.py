"""Configuring the pack as `--policy-pack-config` does, and a pack that cannot start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.engines.crossguard.harness import (
    CrossGuardPack,
    PackError,
    PolicyInfo,
    reconcile_config,
)
from keyplane.engines.crossguard.pack import SETTINGS_POLICY
from tests.policy.stacks import AS_OF, aws_stack, mutate

OVERRIDES = {
    "all": "advisory",
    "km-del-001-deletion-protection": {"enforcementLevel": "mandatory"},
    "km-rot-001-rotation-enabled": "disabled",
    SETTINGS_POLICY: {"environment": "prod", "asOf": AS_OF.isoformat(), "tier": "production"},
}


@pytest.fixture(scope="module")
def pack() -> Iterator[CrossGuardPack]:
    with CrossGuardPack(stack="prod", policy_config=OVERRIDES) as running:
        yield running


def test_enforcement_levels_follow_the_configuration(pack: CrossGuardPack) -> None:
    key = mutate(
        mutate(aws_stack(), "acme-orders-db", ["deletionWindowInDays"], 7.0),
        "acme-orders-db",
        ["rotationPeriodInDays"],
        395.0,
    )[0]
    broken = mutate([key], key.name, ["enableKeyRotation"], False)[0]
    assert sorted((f.rule, f.enforcement.value) for f in pack.analyze(key)) == [
        ("KM-DEL-001", "mandatory"),
        ("KM-ROT-002", "advisory"),
    ]
    # KM-ROT-001 is disabled: a key without rotation reports nothing for it.
    assert sorted((f.rule, f.enforcement.value) for f in pack.analyze(broken)) == [
        ("KM-DEL-001", "mandatory"),
    ]


def test_reconcile_sets_every_policy_explicitly() -> None:
    policies = [
        PolicyInfo("a-1", "", "mandatory", False),
        PolicyInfo("b-2", "", "mandatory", True),
        PolicyInfo("c-3", "", "advisory", False),
    ]
    config = {
        "all": "advisory",
        "b-2": {"enforcementLevel": "mandatory", "x": 1},
        "extra": {"y": 2},
    }
    assert reconcile_config(policies, config) == {
        "a-1": ("advisory", {}),
        "b-2": ("mandatory", {"x": 1}),
        "c-3": ("advisory", {}),
        # Like the CLI, entries that name no policy are passed through ("all" included).
        "all": ("advisory", {}),
        "extra": ("advisory", {"y": 2}),
    }
    assert reconcile_config(policies, None) == {
        "a-1": ("mandatory", {}),
        "b-2": ("mandatory", {}),
        "c-3": ("advisory", {}),
    }
    with pytest.raises(PackError, match="Invalid enforcement level 'strict' for 'a-1'"):
        reconcile_config(policies, {"a-1": "strict"})


def test_a_pack_that_fails_to_start_is_reported_and_not_left_running(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('cannot load the rules')\n")
    with (
        pytest.raises(PackError) as err,
        CrossGuardPack(tmp_path, stack="prod", startup_timeout=30),
    ):
        pass
    assert str(err.value).startswith(f"the policy pack in {tmp_path} failed to start: it exited")
    assert "cannot load the rules" in str(err.value)


def test_a_folder_without_a_pack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="not a policy pack"), CrossGuardPack(tmp_path, stack="x"):
        pass
