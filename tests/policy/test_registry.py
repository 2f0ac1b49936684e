"""The check registry against the catalog: every enforced point of every rule has exactly one
check, nothing else is registered, the pack's policies come from it, and a disagreement fails
the import of keyplane's rules with a sentence naming the rule and the point."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from keyplane.engines.crossguard.pack import SETTINGS_POLICY, Settings, policies
from keyplane.facts.model import Key
from keyplane.rules import CHECKS
from keyplane.rules.catalog import EXCEPTED_SUFFIX, RULES, Point, rules_at
from keyplane.rules.registry import (
    RegistryError,
    Scope,
    check_of,
    checks_at,
    kinds_of,
    resource_checks,
    stack_checks,
    verify,
)

ROOT = Path(__file__).resolve().parents[2]
G_RULES = {r.id for r in rules_at(Point.CROSSGUARD)}


@pytest.mark.parametrize("point", list(Point))
def test_each_enforced_point_of_each_rule_has_exactly_one_check(point: Point) -> None:
    served = [c.rule for c in checks_at(point) if c.foresees is None]
    assert sorted(served) == sorted(r.id for r in rules_at(point))
    assert len(served) == len(set(served))


def test_a_file_check_foresees_only_a_point_its_rule_enforces() -> None:
    """KM-ACC-001 is not a V rule, but a wildcard principal in the access block is reported from
    the file: the components never grant it, so the stack it would fail is not rendered."""
    foreseeing = [c for c in CHECKS if c.foresees is not None]
    assert {(c.rule, c.foresees) for c in foreseeing} == {
        ("KM-ACC-001", Point.CROSSGUARD),
        ("KM-ROT-003", Point.CROSSGUARD),
    }
    for registered in foreseeing:
        assert registered.points == {Point.VALIDATION}
        assert registered.foresees in RULES[registered.rule].enforced_points


def test_a_rule_is_judged_per_resource_or_per_stack_never_both() -> None:
    assert set(resource_checks(Point.CROSSGUARD)) | set(stack_checks(Point.CROSSGUARD)) == G_RULES
    assert not set(resource_checks(Point.CROSSGUARD)) & set(stack_checks(Point.CROSSGUARD))


def test_resource_checks_name_the_kinds_they_judge() -> None:
    for registered in CHECKS:
        assert bool(registered.kinds) == (registered.scope is Scope.RESOURCE), registered.name
    assert kinds_of("KM-ROT-002") == (Key,)
    assert kinds_of("KM-LOG-001") == ()


def test_checkov_serves_the_several_resource_rules_with_stack_checks() -> None:
    for rule_id in ("KM-ROT-003", "KM-LOG-001", "KM-LOG-002"):
        assert check_of(rule_id, Point.CHECKOV).scope is Scope.STACK


def test_the_registry_agrees_with_the_catalog() -> None:
    verify(CHECKS)


def test_a_missing_checkov_check_fails_naming_the_rule_and_point() -> None:
    rotation = check_of("KM-ROT-002", Point.CHECKOV)
    without_c = replace(rotation, points=rotation.points - {Point.CHECKOV})
    checks = [without_c if c is rotation else c for c in CHECKS]
    with pytest.raises(RegistryError, match=r"KM-ROT-002 declares point C .* no check"):
        verify(checks)


def test_a_missing_crossguard_check_fails_naming_the_rule_and_point() -> None:
    logging = check_of("KM-LOG-001", Point.CROSSGUARD)
    without_g = replace(logging, points=logging.points - {Point.CROSSGUARD})
    checks = [without_g if c is logging else c for c in CHECKS]
    with pytest.raises(RegistryError, match=r"KM-LOG-001 declares point G .* no check"):
        verify(checks)


def test_a_check_for_an_unknown_rule_or_an_undeclared_point_fails() -> None:
    rotation = check_of("KM-ROT-002", Point.CROSSGUARD)
    with pytest.raises(RegistryError, match=r"KM-ROT-999, which the catalog .* does not know"):
        verify([*CHECKS, replace(rotation, rule="KM-ROT-999")])
    stretched = replace(rotation, points=rotation.points | {Point.VALIDATION})
    with pytest.raises(RegistryError, match=r"KM-ROT-002 at point V, which the catalog does not"):
        verify([stretched if c is rotation else c for c in CHECKS])


def test_two_checks_of_one_rule_at_one_point_fail() -> None:
    rotation = check_of("KM-ROT-002", Point.CROSSGUARD)
    with pytest.raises(RegistryError, match=r"KM-ROT-002 has two checks at point A"):
        verify([*CHECKS, replace(rotation)])


def test_a_catalog_claiming_a_point_no_check_serves_fails_the_import() -> None:
    """Run in a fresh interpreter: the catalog says KM-ACC-003 is audited; nothing audits it."""
    code = (
        "import dataclasses, importlib.util, sys\n"
        "from types import MappingProxyType\n"
        "import keyplane\n"
        "spec = importlib.util.spec_from_file_location(\n"
        "    'keyplane.rules.catalog', 'keyplane/rules/catalog.py')\n"
        "catalog = importlib.util.module_from_spec(spec)\n"
        "sys.modules['keyplane.rules.catalog'] = catalog\n"
        "spec.loader.exec_module(catalog)\n"
        "rule = catalog.RULES['KM-ACC-003']\n"
        "changed = dataclasses.replace(rule, points=rule.points | {catalog.Point.AUDIT})\n"
        "catalog.RULES = MappingProxyType({**catalog.RULES, 'KM-ACC-003': changed})\n"
        "import keyplane.rules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("keyplane.rules.registry.RegistryError: KM-ACC-003 declares point A")


def test_pack_policies_come_from_the_registry() -> None:
    built = policies(Settings(Path(".")))
    by_name = {p.name: p for p in built}
    assert built[0].name == SETTINGS_POLICY
    expected = {SETTINGS_POLICY}
    for rule_id in G_RULES:
        rule = RULES[rule_id]
        policy = by_name[rule.policy_name]
        expected.add(rule.policy_name)
        assert policy.description == rule.title
        assert policy.enforcement_level is EnforcementLevel(rule.default_enforcement.value)
        scope = check_of(rule_id, Point.CROSSGUARD).scope
        kind = ResourceValidationPolicy if scope is Scope.RESOURCE else StackValidationPolicy
        assert isinstance(policy, kind)
        if rule.exceptable:
            companion = by_name[rule.policy_name + EXCEPTED_SUFFIX]
            expected.add(companion.name)
            assert companion.enforcement_level is EnforcementLevel.ADVISORY
            assert isinstance(companion, kind)
    assert set(by_name) == expected
    assert len(built) == len(expected)
    assert "km-exc-002-expired-exception" + EXCEPTED_SUFFIX not in by_name
