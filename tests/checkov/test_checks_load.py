"""The real checkov, started the runner's way, loads every one of keyplane's checks: a check
that fails to import is logged by checkov ("Cannot load external check") and checkov goes on
without it, so the gate would pass silently. These tests read checkov's stderr for that line,
and prove on a deliberately broken checks folder that the line is what checkov prints."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from keyplane.engines.checkov.runner import CUSTOM_CHECKS_DIR, CheckovRun, run_checkov
from keyplane.rules.catalog import Point
from keyplane.rules.context import OtherEnvironment, settings_from_context
from keyplane.rules.registry import Scope, checks_at
from keyplane.terraform.to_plan import to_terraform_plan
from tests.checkov.support import registration
from tests.policy.stacks import aws_context, aws_stack, mutate, without

#: What checkov logs when a check module cannot be imported or instantiated.
LOAD_FAILURE = re.compile(
    r"Cannot load external check|Failed to load external check|ModuleNotFoundError|ImportError"
    r"|Traceback \(most recent call last\)|SyntaxError",
)


def _scan(external_checks: Path) -> CheckovRun:
    # A key with a 400-day rotation (a resource check) in a stack without a trail (a stack check).
    resources = mutate(
        without(aws_stack(), "audit-trail"), "acme-orders-db", ["rotationPeriodInDays"], 400.0
    )
    converted = to_terraform_plan([registration(r) for r in resources])
    context = aws_context()
    return run_checkov(
        converted.plan,
        converted.urn_by_address,
        environment=context.environment,
        external_checks=external_checks,
        settings=settings_from_context(context),
    )


def test_checkov_loads_every_keyplane_check_without_an_import_failure() -> None:
    run = _scan(CUSTOM_CHECKS_DIR)
    failures = [line for line in run.stderr.splitlines() if LOAD_FAILURE.search(line)]
    assert failures == []
    # The checks ran: a resource check and a stack check each reported their failure.
    rules = {f.rule for f in run.findings}
    assert {"KM-ROT-002", "KM-LOG-001"} <= rules
    assert {c.rule for c in checks_at(Point.CHECKOV, Scope.STACK)} == {
        "KM-ACC-004",
        "KM-ENV-001",
        "KM-ROT-003",
        "KM-LOG-001",
        "KM-LOG-002",
        "KM-MON-001",
        # Judged over the stack: a proxy's SSL policy may live in another stack.
        "KM-CRT-002",
    }


def test_a_check_that_cannot_be_imported_shows_on_checkovs_stderr(tmp_path: Path) -> None:
    """The negative control: the line the test above looks for is what checkov prints."""
    broken = tmp_path / "checks"
    shutil.copytree(CUSTOM_CHECKS_DIR, broken)
    (broken / "keyplane_checks.py").write_text(
        "import keyplane_module_that_does_not_exist  # noqa: F401\n"
    )
    run = _scan(broken)
    assert any(LOAD_FAILURE.search(line) for line in run.stderr.splitlines()), run.stderr
    assert not any(f.rule.startswith("KM-") for f in run.findings)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYPLANE_SETTINGS", raising=False)
    monkeypatch.delenv("KEYPLANE_SETTINGS_FILE", raising=False)


def test_a_context_larger_than_one_environment_variable_reaches_the_checks() -> None:
    """Linux caps one environment variable at 128 KiB: the context travels in a file."""
    far = OtherEnvironment(
        "far",
        scope="222222222222",
        principals=frozenset(f"arn:aws:iam::222222222222:role/r{i}" for i in range(6000)),
    )
    context = replace(aws_context(), other_environments=(far,))
    settings = settings_from_context(context)
    assert len(json.dumps(settings)) > 128 * 1024
    resources = mutate(aws_stack(), "acme-orders-db", ["rotationPeriodInDays"], 400.0)
    converted = to_terraform_plan([registration(r) for r in resources])
    run = run_checkov(
        converted.plan,
        converted.urn_by_address,
        environment=context.environment,
        settings=settings,
    )
    assert [f.rule for f in run.findings if f.rule.startswith("KM-")] == ["KM-ROT-002"]
