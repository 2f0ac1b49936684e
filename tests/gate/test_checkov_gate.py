"""The gate's checkov path: a one-field mutation is caught by CrossGuard and by checkov too."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from keyplane.engines.checkov.runner import run_checkov
from keyplane.estate import load_estate
from keyplane.gate import checkov_settings, preview, render_environment
from keyplane.terraform.to_plan import to_terraform_plan
from tests.foundation.test_estate import edit

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    from tests.conftest import BUNDLED_ESTATE

    estate = tmp_path_factory.mktemp("estate") / "environments"
    shutil.copytree(BUNDLED_ESTATE, estate)
    edit(
        estate / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: acme\n    rotation_days: 400\n  - name: session-signing",
    )
    return estate


def test_checkov_checks_catch_the_mutation_with_the_rules_message(mutated: Path) -> None:
    estate = load_estate(mutated)
    resources = render_environment(estate.environments["dev"], mutated)
    plan = to_terraform_plan(resources)
    run = run_checkov(
        plan.plan,
        plan.urn_by_address,
        environment="dev",
        settings=checkov_settings("dev", estate, TODAY),
    )
    keyplane = [f for f in run.findings if f.rule.startswith("KM-")]
    assert [(f.rule, f.resource.rsplit("::", 1)[-1], f.enforcement.value) for f in keyplane] == [
        ("KM-ROT-002", "acme-orders-db", "mandatory")
    ]
    assert (
        "rotation period 400 days exceeds 365 for database-encryption keys" in keyplane[0].message
    )


def test_full_gate_reports_one_merged_finding(mutated: Path) -> None:
    result = preview(load_estate(mutated), "dev", today=TODAY)
    mandatory = [f for f in result.findings if f.enforcement.value == "mandatory"]
    assert [(f.rule, f.engine.value) for f in mandatory] == [("KM-ROT-002", "crossguard")]
    assert "checkov" in result.timings
