"""`keyplane docs`: the Tenant-Isolation-Claim, the Shared-Service-Boundary-Register and the rule
traceability matrix, generated from the bundled estate, the registry and the tests."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from keyplane.artefacts import artefacts, rule_test_files, traceability_matrix
from keyplane.cli.docs import docs
from keyplane.estate import load_estate
from keyplane.rules.catalog import RULES
from tests.conftest import BUNDLED_ESTATE, REPO

app = typer.Typer()


@app.callback()
def _main() -> None:
    """The command as `keyplane` registers it."""


app.command()(docs)
runner = CliRunner()
FILES = (
    "tenant-isolation-claim-prod.md",
    "shared-service-boundary-register-prod.md",
    "rule-traceability-matrix.md",
    "policy-coverage-matrix.md",
)


def generate(tmp_path: Path) -> dict[str, str]:
    result = runner.invoke(
        app, ["docs", "prod", "--estate", str(BUNDLED_ESTATE), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    return {name: (tmp_path / name).read_text() for name in FILES}


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_claim_names_each_tenant_its_isolation_keys_and_shared_keys(tmp_path: Path) -> None:
    claim = generate(tmp_path)["tenant-isolation-claim-prod.md"]
    assert claim.startswith("# Tenant-Isolation-Claim: prod\n")
    acme = section(claim, "## Tenant `acme`")
    assert "Isolation: **dedicated**" in acme
    assert (
        "| `acme-orders-db` | key | database-encryption | AES-256 | "
        "`arn:aws:iam::111111111111:role/acme-orders-service` |"
    ) in acme
    assert "| `acme-payments-api` | secret | api-secret |" in acme
    assert "Shared keys it may use: none (dedicated isolation)." in acme
    assert "search-index" not in acme
    globex = section(claim, "## Tenant `globex`")
    assert "Isolation: **shared**" in globex
    assert (
        "- `search-index` (application-encryption, AES-256); risk accepted by CISO on 2026-04-15"
        in globex
    )


def test_register_lists_the_shared_keys_of_the_environment(tmp_path: Path) -> None:
    register = generate(tmp_path)["shared-service-boundary-register-prod.md"]
    assert "| `search-index` | application-encryption | `globex` | The search cluster" in register
    assert register.rstrip().endswith("| CISO | 2026-04-15 |")


def test_register_of_an_environment_without_shared_keys(tmp_path: Path) -> None:
    estate = load_estate(BUNDLED_ESTATE)
    documents = artefacts(estate, estate.environments["dev"], REPO / "tests")
    assert (
        "No shared keys are registered for `dev`."
        in documents["shared-service-boundary-register-dev.md"]
    )


def test_matrix_lists_every_rule_with_its_points_and_tests(tmp_path: Path) -> None:
    matrix = generate(tmp_path)["rule-traceability-matrix.md"]
    rows = [
        line
        for line in matrix.splitlines()
        if line.startswith("| Policy") or line.startswith("| Proc")
    ]
    rows = [r for r in rows if not r.startswith("| Policy clause")]
    assert len(rows) == len(RULES) == 28
    for rule, row in zip(RULES.values(), rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[0] == rule.source
        assert cells[1].startswith(f"{rule.id}: ")
        assert cells[3] == rule.enforced_text
    # This very file names no rule ID literally, so it must not appear as a test of any rule.
    assert "tests/artefacts/test_artefacts.py" not in matrix


def test_matrix_finds_rule_test_files_id(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "sub").mkdir(parents=True)
    rule_id = next(iter(RULES))
    (tests / "sub" / "test_one.py").write_text(f"# exercises {rule_id}\n")
    (tests / "helper.py").write_text(f"# not a test file: {rule_id}\n")
    found = rule_test_files(tests)
    assert found[rule_id] == ["tests/sub/test_one.py"]
    assert all(files == [] for rid, files in found.items() if rid != rule_id)
    assert f"| {RULES[rule_id].id}: " in traceability_matrix(found)


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = generate(tmp_path / "a")
    second = generate(tmp_path / "b")
    assert first == second
    result = runner.invoke(app, ["docs", "prod", "--estate", str(BUNDLED_ESTATE)])
    assert result.exit_code == 0
    assert result.stdout == "\n---\n\n".join(first.values())


def test_unknown_environment_and_bad_estate_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["docs", "nope", "--estate", str(BUNDLED_ESTATE)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{BUNDLED_ESTATE}: unknown environment 'nope' "
        "(known: dev, prod, prod-azure, prod-gcp, staging)"
    ]
    result = runner.invoke(app, ["docs", "prod", "--estate", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1


def test_docs_writes_all_of_its_documents_or_none(tmp_path: Path) -> None:
    """A document that cannot be written (its name taken by a directory) leaves none written."""
    (tmp_path / "rule-traceability-matrix.md").mkdir()
    result = CliRunner().invoke(
        app, ["docs", "prod", "--estate", str(BUNDLED_ESTATE), "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "rule-traceability-matrix.md" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rule-traceability-matrix.md"]
