"""The plan handed to checkov in parts (`to_plan.split_plan`), judged as the whole; and
keyplane's checks inside checkov: facts cached per resource are never another's or stale, and a
stack check runs only on the types it fails on."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from keyplane.engines.checkov import runner
from keyplane.engines.checkov.runner import CheckovRun
from keyplane.locations import keyplane_import_root
from keyplane.rules.context import settings_from_context
from keyplane.terraform.to_plan import merge_plans, split_plan, to_terraform_plan
from tests.checkov.support import registration, scan
from tests.policy.stacks import (
    aws_context,
    aws_stack,
    azure_key,
    azure_vault,
    gcp_stack,
    mutate,
    without,
)


def _plan(size: int) -> dict[str, Any]:
    """A plan of `size` keys (each with an alias referring to it) and two providers."""
    planned, changes, configuration = [], [], []
    for index in range(size):
        tf_type = "aws_kms_key" if index % 2 == 0 else "google_kms_crypto_key"
        address = f"{tf_type}.k{index}"
        planned.append({"address": address, "type": tf_type, "values": {"n": index}})
        changes.append({"address": address, "change": {"actions": ["create"], "after": {}}})
        configuration.append(
            {"address": address, "expressions": {"key_id": {"references": [f"x.{index}"]}}}
        )
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {"aws": {"name": "aws"}, "google": {"name": "google"}},
            "root_module": {"resources": configuration},
        },
    }


def test_a_plan_is_split_in_order_each_resource_with_its_change_and_configuration() -> None:
    plan = _plan(7)
    parts = split_plan(plan, 3)
    assert [len(p["planned_values"]["root_module"]["resources"]) for p in parts] == [3, 3, 1]
    for part in parts:
        addresses = [r["address"] for r in part["planned_values"]["root_module"]["resources"]]
        assert [c["address"] for c in part["resource_changes"]] == addresses
        configured = part["configuration"]["root_module"]["resources"]
        assert [c["address"] for c in configured] == addresses
        assert (part["format_version"], part["terraform_version"]) == ("1.2", "1.9.8")
    # Providers are judged once per file by checkov: they are in the first part only.
    assert [sorted(p["configuration"].get("provider_config", {})) for p in parts] == [
        ["aws", "google"],
        [],
        [],
    ]
    merged = merge_plans(parts)
    for section in ("planned_values", "configuration"):
        assert (
            merged[section]["root_module"]["resources"]
            == (plan[section]["root_module"]["resources"])
        )
    assert merged["resource_changes"] == plan["resource_changes"]
    assert merged["configuration"]["provider_config"] == plan["configuration"]["provider_config"]


def test_a_small_plan_or_one_with_modules_is_one_part() -> None:
    plan = _plan(3)
    assert split_plan(plan, 3) == [plan]
    plan["planned_values"]["root_module"]["child_modules"] = [{"resources": []}]
    assert split_plan(plan, 1) == [plan]
    assert merge_plans([plan]) == plan


def _run(monkeypatch: pytest.MonkeyPatch, part_resources: int | None) -> CheckovRun:
    """A stack with a key rotated every 400 days (a resource check fails) and no trail (a
    stack check fails), plus a GCP stack and an Azure key, through checkov, whole or in parts."""
    resources = [
        *mutate(
            without(aws_stack(), "audit-trail"), "acme-orders-db", ["rotationPeriodInDays"], 400.0
        ),
        *gcp_stack(),
        azure_vault("primary-vault", "kv-prod"),
        azure_key("acme-vault-key", "primary-vault", "database-encryption", rotation_days=400),
    ]
    monkeypatch.setattr(
        runner,
        "split_plan",
        lambda plan: [plan] if part_resources is None else split_plan(plan, part_resources),
    )
    _, run = scan([registration(r) for r in resources], aws_context())
    return run


def test_checkov_judges_a_plan_in_parts_as_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _run(monkeypatch, None)
    parts = _run(monkeypatch, 4)
    assert whole.failed > 0
    assert {f.rule for f in whole.findings} >= {"KM-ROT-002", "KM-LOG-001"}
    assert sorted((f.rule, f.resource, f.message) for f in parts.findings) == sorted(
        (f.rule, f.resource, f.message) for f in whole.findings
    )
    assert (parts.passed, parts.failed) == (whole.passed, whole.failed)


def _in_checkov(
    script: str,
    tmp_path: Path,
    plan: dict[str, Any] | None = None,
    *,
    plan_folder: Path | None = None,
    stderr: list[str] | None = None,
) -> Any:
    """`script` run in checkov's environment with keyplane's checks imported as `checks`; what
    it prints last, as JSON. `plan` is handed over in parts in a folder (`plan_folder`: that
    folder as it is); `stderr` collects what it printed there."""
    env = {
        **os.environ,
        "KEYPLANE_ROOT": str(keyplane_import_root()),
        "KEYPLANE_ENVIRONMENT": "prod",
        "KEYPLANE_SETTINGS": json.dumps(settings_from_context(aws_context())),
    }
    env.pop("KEYPLANE_SETTINGS_FILE", None)
    env.pop("KEYPLANE_PLAN", None)
    if plan is not None:
        folder = tmp_path / "plan"
        folder.mkdir()
        for number, part in enumerate(split_plan(plan, 5)):
            (folder / f"plan-{number:04d}.json").write_text(json.dumps(part))
        env["KEYPLANE_PLAN"] = str(folder)
    if plan_folder is not None:
        env["KEYPLANE_PLAN"] = str(plan_folder)
    prelude = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(runner.CUSTOM_CHECKS_DIR)!r})\n"
        "import keyplane_checks as checks\n"
    )
    result = subprocess.run(
        [*runner._uv_tool_run(), "python", "-c", prelude + script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    if stderr is not None:
        stderr.append(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_facts_cached_for_a_resource_are_never_stale_nor_another_resources(
    tmp_path: Path,
) -> None:
    script = """
rotation = next(c for c in checks.CHECKS if c.id == "KM-ROT-001").check
def judged(conf):
    result, messages = checks.result_of(rotation, "aws_kms_key", conf)
    return [result.value, messages]
conf = {"__address__": "aws_kms_key.orders", "enable_key_rotation": [True],
        "key_usage": ["ENCRYPT_DECRYPT"], "customer_master_key_spec": ["SYMMETRIC_DEFAULT"]}
seen = [judged(conf), judged(conf)]
conf["enable_key_rotation"][0] = False  # changed in place between two checks
seen.append(judged(conf))
other = dict(conf, enable_key_rotation=[True])  # another resource, the same address
seen.append(judged(other))
print(json.dumps(seen))
"""
    disabled = (
        "KM-ROT-001 orders: automatic rotation is disabled on this aws KMS key; set "
        "enableKeyRotation to true (rotation_days in the environment file)."
    )
    assert _in_checkov(script, tmp_path) == [
        ["PASSED", []],
        ["PASSED", []],
        ["FAILED", [disabled]],
        ["PASSED", []],
    ]


def test_a_stack_check_runs_only_on_the_types_it_fails_on(tmp_path: Path) -> None:
    """Its other runs would be UNKNOWN, which checkov leaves out of its report."""
    resources = without(aws_stack(), "audit-trail")
    plan = to_terraform_plan([registration(r) for r in resources]).plan
    script = """
print(json.dumps({c.id: list(c.supported_resources) for c in checks.CHECKS
                  if isinstance(c, checks.KeyplaneStackCheck)}))
"""
    types = _in_checkov(script, tmp_path, plan)
    # No trail: KM-LOG-001 fails on every key and secret; nothing else fails in this stack.
    assert types.pop("KM-LOG-001") == ["aws_kms_key", "aws_secretsmanager_secret"]
    assert types == {rule: [] for rule in types}


def test_a_plan_folder_without_parts_is_named_as_such(tmp_path: Path) -> None:
    """Not "set KEYPLANE_PLAN" when it is set: the folder it names holds no part."""
    empty = tmp_path / "no-parts"
    empty.mkdir()
    printed: list[str] = []
    script = "print(json.dumps(len(checks.stack_verdicts())))"
    assert _in_checkov(script, tmp_path, plan_folder=empty, stderr=printed) == 0
    assert f"KEYPLANE_PLAN names {empty}, which holds no plan part (*.json)" in printed[0]
    assert "set KEYPLANE_PLAN" not in printed[0]
