"""The policy coverage matrix: every clause of the policy and the procedure, with how keyplane
covers it (keyplane/rules/clauses.py), written by `keyplane docs`."""

from __future__ import annotations

import re

import pytest

from keyplane.artefacts import policy_coverage_matrix
from keyplane.rules.catalog import RULES
from keyplane.rules.clauses import CLAUSES, CLAUSES_BY_REF, Coverage, cited_clauses
from tests.conftest import REPO

POLICY = REPO / "docs" / "policy" / "Cryptographic-Key-Management-Policy__v1.0.md"
PROCEDURE = REPO / "docs" / "policy" / "OP-PROC-001-Key-Lifecycle-Procedure.md"
_HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)
_STEP_ROW = re.compile(r"^\|\s*\*\*(\d+)\*\*\s*\|", re.MULTILINE)


def policy_refs() -> list[str]:
    text = POLICY.read_text(encoding="utf-8")
    return [f"Policy §{n}" for n in _HEADING.findall(text)]


def procedure_refs() -> list[str]:
    text = PROCEDURE.read_text(encoding="utf-8")
    refs = []
    sections = re.split(r"^(#{3,4} \d+(?:\.\d+)?\.? .*)$", text, flags=re.MULTILINE)
    current = ""
    for part in sections:
        heading = _HEADING.match(part + " ")
        if heading is not None:
            current = heading.group(1)
            refs.append(f"Proc {current}")
        elif current.startswith("4."):
            refs += [f"Proc {current} step {n}" for n in _STEP_ROW.findall(part)]
    return refs


def test_the_documents_have_the_clauses_this_test_expects_to_parse() -> None:
    assert policy_refs() == [f"Policy §{n}" for n in range(1, 19)]
    refs = procedure_refs()
    assert refs[:4] == ["Proc 1", "Proc 2", "Proc 3", "Proc 4"]
    assert "Proc 4.3 step 3" in refs and "Proc 4.4 step 4" in refs and refs[-1] == "Proc 8"
    assert len(refs) == 8 + 5 + 16


def test_every_clause_of_the_documents_is_in_the_matrix_in_document_order() -> None:
    assert [c.ref for c in CLAUSES] == policy_refs() + procedure_refs()


def test_every_clause_a_rule_cites_exists() -> None:
    for rule in RULES.values():
        cited = cited_clauses(rule.source)
        assert cited, rule.id
        assert cited <= set(CLAUSES_BY_REF), (rule.id, cited - set(CLAUSES_BY_REF))


@pytest.mark.parametrize(
    ("source", "refs"),
    [
        ("Policy §9, Proc 4.4", {"Policy §9", "Proc 4.4"}),
        ("Policy §9, §13", {"Policy §9", "Policy §13"}),
        ("Policy §14, Proc 4.1-4.5", {"Policy §14", *(f"Proc 4.{n}" for n in range(1, 6))}),
        ("Proc 4.1, 4.3", {"Proc 4.1", "Proc 4.3"}),
        ("Policy §14, Proc 4.3 step 3", {"Policy §14", "Proc 4.3 step 3"}),
    ],
)
def test_catalog_sources_are_read_as_clauses(source: str, refs: set[str]) -> None:
    assert cited_clauses(source) == refs


def test_each_clause_says_how_it_is_covered() -> None:
    rotation = CLAUSES_BY_REF["Policy §9"]
    assert [r.id for r in rotation.enforced_by][:4] == [
        "KM-ROT-001",
        "KM-ROT-002",
        "KM-ROT-003",
        "KM-ROT-004",
    ]
    assert rotation.coverage == (Coverage.ENFORCED, Coverage.PROVISIONED, Coverage.MANUAL)
    assert CLAUSES_BY_REF["Policy §10"].coverage == (Coverage.PROVISIONED, Coverage.MANUAL)
    assert CLAUSES_BY_REF["Policy §18"].owner == "Human Orchestrator"
    assert CLAUSES_BY_REF["Policy §1"].coverage == (Coverage.INFORMATIVE,)
    # A step the catalog cites directly, and one refined here.
    assert [r.id for r in CLAUSES_BY_REF["Proc 4.3 step 3"].enforced_by] == ["KM-MON-001"]
    assert [r.id for r in CLAUSES_BY_REF["Proc 4.2 step 1"].enforced_by] == ["KM-CRT-002"]
    for clause in CLAUSES:
        assert clause.coverage, clause.ref
        assert all(rule in RULES for rule in clause.rules), clause.ref
        assert bool(clause.manual) == bool(clause.owner), f"{clause.ref}: manual needs an owner"


def test_the_matrix_lists_every_clause_once() -> None:
    matrix = policy_coverage_matrix()
    assert matrix.startswith("# Policy coverage matrix\n")
    rows = [
        line
        for line in matrix.splitlines()
        if line.startswith("| Policy §") or line.startswith("| Proc ")
    ]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == [c.ref for c in CLAUSES]
    assert (
        "| Policy §9 | Key Rotation | enforced, provisioned, manual | KM-ROT-001 (G C A), "
        "KM-ROT-002 (G C A), KM-ROT-003 (G C A), KM-ROT-004 (G V), KM-CRT-001 (G C A) |"
    ) in matrix
    assert (
        "| Policy §18 | Ownership | manual | - | - | accountability for key governance (Human Orchestrator) |"
        in matrix
    )
