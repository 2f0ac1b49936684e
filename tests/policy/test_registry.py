"""Every CrossGuard rule of the registry has one check and one policy; nothing else does."""

from __future__ import annotations

from pathlib import Path

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from keyplane.engines.crossguard.pack import SETTINGS_POLICY, Settings, policies
from keyplane.rules.catalog import EXCEPTED_SUFFIX, RULES, Point, rules_at
from keyplane.rules.checks import RESOURCE_CHECKS, STACK_CHECKS

G_RULES = {r.id for r in rules_at(Point.CROSSGUARD)}


def test_each_crossguard_rule_has_exactly_one_check() -> None:
    assert set(RESOURCE_CHECKS) | set(STACK_CHECKS) == G_RULES
    assert not set(RESOURCE_CHECKS) & set(STACK_CHECKS)


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
        kind = ResourceValidationPolicy if rule_id in RESOURCE_CHECKS else StackValidationPolicy
        assert isinstance(policy, kind)
        if rule.exceptable:
            companion = by_name[rule.policy_name + EXCEPTED_SUFFIX]
            expected.add(companion.name)
            assert companion.enforcement_level is EnforcementLevel.ADVISORY
            assert isinstance(companion, kind)
    assert set(by_name) == expected
    assert len(built) == len(expected)
    assert "km-exc-002-expired-exception" + EXCEPTED_SUFFIX not in by_name
