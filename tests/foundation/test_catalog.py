"""The rule registry mirrors policy/RULES.md and is internally sound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keyplane.rules.catalog import RULES, Enforcement, Point, Severity, get_rule, rules_at

RULES_MD = Path(__file__).resolve().parents[3] / "shared" / "policy" / "RULES.md"


def _catalog_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in RULES_MD.read_text().splitlines():
        match = re.match(r"\| (KM-[A-Z]{3}-\d{3}) \| .* \| (.+?) \| ([GCAV ]+) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3).strip())
    return rows


def test_registry_has_the_28_rules_of_the_catalog_with_their_points() -> None:
    assert len(RULES) == 28
    if not RULES_MD.exists():
        pytest.skip(f"{RULES_MD} is not beside the repository")
    rows = _catalog_rows()
    assert set(rows) == set(RULES)
    for rule_id, (source, points) in rows.items():
        # The catalog's clauses without its parenthesised glosses ("Policy §7 (least privilege)").
        clauses = re.sub(r"\s*\([^)]*\)", "", source)
        assert clauses.startswith(RULES[rule_id].source), rule_id
        assert set(RULES[rule_id].points_text.split()) == set(points.split()), rule_id


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_every_rule_is_complete(rule) -> None:  # type: ignore[no-untyped-def]
    assert re.fullmatch(r"KM-[A-Z]{3}-\d{3}", rule.id)
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", rule.slug)
    assert rule.policy_name.startswith(rule.id.lower() + "-")
    for sentence in (rule.title, rule.remediation):
        assert sentence[0].isupper() and sentence.endswith("."), sentence
        assert len(sentence.split()) >= 6
    assert rule.source.startswith(("Policy §", "Proc "))
    assert rule.points
    assert isinstance(rule.severity, Severity)


def test_ids_and_policy_names_are_unique() -> None:
    assert len({r.policy_name for r in RULES.values()}) == len(RULES)


def test_enforcement_follows_severity() -> None:
    assert get_rule("KM-ROT-002").default_enforcement is Enforcement.MANDATORY
    assert get_rule("KM-ACC-001").severity is Severity.CRITICAL
    assert get_rule("KM-REV-001").default_enforcement is Enforcement.ADVISORY


def test_exception_rules_cannot_be_excepted() -> None:
    assert not get_rule("KM-EXC-001").exceptable
    assert not get_rule("KM-EXC-002").exceptable
    assert get_rule("KM-ROT-002").exceptable


def test_rules_by_enforcement_point() -> None:
    assert [r.id for r in rules_at(Point.VALIDATION)] == [
        "KM-ROT-004",
        "KM-TEN-001",
        "KM-BAK-002",
        "KM-EXC-001",
        "KM-EXC-002",
        "KM-REV-001",
    ]
    assert "KM-BAK-001" in [r.id for r in rules_at(Point.CROSSGUARD)]
    assert "KM-BAK-001" not in [r.id for r in rules_at(Point.CHECKOV)]


def test_unknown_rule_id_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown rule ID 'KM-XYZ-001'"):
        get_rule("KM-XYZ-001")


def test_pending_points_are_declared_points_and_not_enforced() -> None:
    for rule in RULES.values():
        assert rule.pending <= rule.points, rule.id
        for point in rule.pending:
            assert rule not in rules_at(point), rule.id
    acc4 = get_rule("KM-ACC-004")
    if acc4.pending:
        assert "not yet enforced" in acc4.enforced_text
