"""The policy documents the rules cite live in the repository (`docs/policy/`), so a reader of the
README or of a finding's `Policy §N` never depends on a folder outside the checkout. Where the
canonical copies are present (`../shared/policy/` beside the checkout), the repository's copies
must match them byte for byte: drift is caught here, not by an auditor."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

POLICY_DIR = REPO / "docs" / "policy"
CANONICAL_DIR = REPO.parent / "shared" / "policy"
DOCUMENTS = (
    "Cryptographic-Key-Management-Policy__v1.0.md",
    "OP-PROC-001-Key-Lifecycle-Procedure.md",
    "RULES.md",
)


def test_the_cited_documents_are_in_the_repository() -> None:
    assert sorted(p.name for p in POLICY_DIR.glob("*.md")) == sorted(DOCUMENTS)


@pytest.mark.skipif(
    not CANONICAL_DIR.is_dir(), reason="no canonical policy folder beside the checkout"
)
@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_copies_match_the_canonical_documents(name: str) -> None:
    copy, canonical = POLICY_DIR / name, CANONICAL_DIR / name
    assert copy.read_bytes() == canonical.read_bytes(), (
        f"docs/policy/{name} differs from {canonical}: copy the canonical document over it"
    )


def test_the_canonical_folder_holds_no_document_the_repository_lacks() -> None:
    if not CANONICAL_DIR.is_dir():
        pytest.skip("no canonical policy folder beside the checkout")
    assert sorted(p.name for p in CANONICAL_DIR.glob("*.md")) == sorted(DOCUMENTS)


def test_the_readme_links_the_policy_inside_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/policy/Cryptographic-Key-Management-Policy__v1.0.md" in links
    assert not [link for link in links if link.startswith("../")], "a link leaves the repository"
    for link in links:
        if not link.startswith(("http://", "https://", "mailto:")):
            assert (REPO / link).exists(), f"README links {link}, which does not exist"
