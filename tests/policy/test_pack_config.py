"""Configuring the pack as `--policy-pack-config` does, and a pack that cannot start."""

from __future__ import annotations

import re
import shutil
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
from tests.conftest import REPO
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


# --- the context given inline --------------------------------------------------------------------

SHARED_EXAMPLES = REPO.parent / "shared" / "examples" / "environments"


def _estates(tmp_path: Path) -> list[Path]:
    """The bundled estate, the users' examples, and a copy of the bundled estate whose backup
    key's restore test is a `keyplane restore-test` record (with the tested key's ID)."""
    from tests.conftest import BUNDLED_ESTATE
    from tests.foundation.test_detective_fields import BACKUP_LINE, _record
    from tests.foundation.test_estate import edit

    recorded = tmp_path / "environments"
    shutil.copytree(BUNDLED_ESTATE, recorded)
    edit(recorded / "prod.yaml", BACKUP_LINE, "")
    _record(recorded, tested_at="2026-11-01T10:00:00+00:00", result="failed")
    return [p for p in (BUNDLED_ESTATE, SHARED_EXAMPLES, recorded) if p.is_dir()]


def test_the_context_given_inline_is_the_context_the_estate_gives(tmp_path: Path) -> None:
    """The gate gives its packs the environment's context inline (`pack_settings`) instead of
    the estate to read: for every environment of every estate at hand, the pack's context from
    those settings equals the one it would read from the estate."""
    from datetime import date

    from keyplane.estate import load_estate
    from keyplane.gate import pack_settings
    from keyplane.rules.context import Context, context_from_settings

    judged = 0
    for root in _estates(tmp_path):
        estate = load_estate(root)
        for environment in estate.environments:
            settings = pack_settings(environment, estate, AS_OF)[SETTINGS_POLICY]
            assert "estate" not in settings
            from_estate = context_from_settings(
                {"environment": environment, "asOf": AS_OF.isoformat(), "estate": str(root)},
                default_environment="",
                base_dir=tmp_path,
                today=date(2000, 1, 1),
            )
            inline = context_from_settings(
                settings, default_environment="", base_dir=tmp_path, today=date(2000, 1, 1)
            )
            assert inline == from_estate == Context.from_estate(estate, environment, AS_OF)
            judged += 1
    assert judged >= 7
    # The record's test is carried with its day, result, source and key ID.
    tests = context_from_settings(
        pack_settings("prod", load_estate(tmp_path / "environments"), AS_OF)[SETTINGS_POLICY],
        default_environment="",
        base_dir=tmp_path,
        today=AS_OF,
    ).restore_tests
    (test,) = (t for t in tests.values() if t is not None and t.key_id)
    assert (test.on, test.passed, test.key_id) == (
        date(2026, 11, 1),
        False,
        "arn:aws:kms:eu-west-1:111111111111:key/1234",
    )


def test_an_environment_the_estate_lacks_is_left_to_the_pack_to_report() -> None:
    from keyplane.estate import load_estate
    from keyplane.gate import pack_settings
    from tests.conftest import BUNDLED_ESTATE

    settings = pack_settings("nowhere", load_estate(BUNDLED_ESTATE), AS_OF)[SETTINGS_POLICY]
    assert settings["estate"] == str(BUNDLED_ESTATE.resolve())


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"on": "2026-01-01", "passed": True}, "restoreTests[0]: expected an object with a key"),
        ({"key": "k", "on": "2026-13-01", "passed": True}, "restoreTests[0].on"),
        ({"key": "k", "on": "2026-01-01", "passed": "yes"}, "restoreTests[0].passed"),
    ],
)
def test_unusable_inline_restore_tests_name_the_entry(entry: dict[str, object], named: str) -> None:
    from keyplane.rules.context import SettingsError, context_from_settings

    with pytest.raises(SettingsError, match=re.escape(f"keyplane-settings.{named}")):
        context_from_settings(
            {"environment": "prod", "restoreTests": [entry]},
            default_environment="",
            base_dir=Path("."),
            today=AS_OF,
        )
