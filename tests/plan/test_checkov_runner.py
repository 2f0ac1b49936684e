"""checkov from its own pinned environment, offline, with findings mapped back to URNs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pulumi_aws as aws
import pytest

from keyplane.engines.checkov.runner import (
    CUSTOM_CHECKS_DIR,
    CheckovError,
    PendingCheckov,
    checkov_command,
    parse_output,
    run_checkov,
)
from keyplane.render import render
from keyplane.rules.catalog import Enforcement
from keyplane.terraform.to_plan import to_terraform_plan


def _bucket_without_guards() -> None:
    aws.s3.Bucket("audit-trail-bucket")


def test_builtin_findings_map_back_to_urns_and_advise(tmp_path: Path) -> None:
    converted = to_terraform_plan(
        render(_bucket_without_guards, project="keyplane", stack="dev").resources
    )
    (tmp_path / "__init__.py").write_text("")
    run = run_checkov(
        converted.plan, converted.urn_by_address, environment="dev", external_checks=tmp_path
    )
    by_rule = {f.rule: f for f in run.findings}
    finding = by_rule["CKV2_AWS_6"]  # public access block missing
    assert finding.resource == "urn:pulumi:dev::keyplane::aws:s3/bucket:Bucket::audit-trail-bucket"
    assert finding.enforcement is Enforcement.ADVISORY
    assert finding.engine.value == "checkov"
    assert finding.message.startswith(
        "CKV2_AWS_6 aws_s3_bucket.audit_trail_bucket: Ensure that S3 bucket has a Public Access block"
    )
    assert run.failed == len(run.findings)


def test_checkov_started_ahead_judges_as_the_checkov_command_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted = to_terraform_plan(
        render(_bucket_without_guards, project="keyplane", stack="dev").resources
    )
    (tmp_path / "__init__.py").write_text("")
    with PendingCheckov(environment="dev", external_checks=tmp_path) as ahead:
        assert ahead._process is not None  # started before it has a plan
        started_ahead = ahead.run(converted.plan, converted.urn_by_address)
    monkeypatch.setenv("KEYPLANE_CHECKOV", " ".join(checkov_command()))
    command = run_checkov(
        converted.plan, converted.urn_by_address, environment="dev", external_checks=tmp_path
    )
    assert started_ahead.findings
    assert sorted(f.rule for f in started_ahead.findings) == sorted(
        f.rule for f in command.findings
    )
    assert (started_ahead.passed, started_ahead.failed) == (command.passed, command.failed)


def test_checkov_started_ahead_and_never_given_a_plan_is_stopped() -> None:
    with PendingCheckov(environment="dev") as ahead:
        process = ahead._process
        assert process is not None
    assert process.poll() is not None


def test_a_broken_checkov_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPLANE_CHECKOV", "/nonexistent/checkov")
    with pytest.raises(
        CheckovError, match=r"cannot start checkov \(/nonexistent/checkov not found\)"
    ):
        run_checkov({}, {}, environment="dev")


def test_checkov_failing_without_json_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPLANE_CHECKOV", "false")
    with pytest.raises(CheckovError, match=r"checkov failed \(exit 1\): no output"):
        run_checkov({}, {}, environment="dev")


def test_keyplane_checks_without_an_environment_stop_checkov_with_one_line(tmp_path: Path) -> None:
    """Run by hand without KEYPLANE_ENVIRONMENT: one line and exit 2, not a traceback for every
    check of every resource."""
    converted = to_terraform_plan(
        render(_bucket_without_guards, project="keyplane", stack="dev").resources
    )
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(converted.plan))
    unset = {"KEYPLANE_ENVIRONMENT", "KEYPLANE_SETTINGS", "KEYPLANE_ESTATE", "PULUMI_STACK"}
    result = subprocess.run(
        [
            *checkov_command(),
            *("-f", str(plan), "--framework", "terraform_plan", "--skip-download", "-o", "json"),
            *("--external-checks-dir", str(CUSTOM_CHECKS_DIR)),
        ],
        env={k: v for k, v in os.environ.items() if k not in unset},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "keyplane checks: keyplane-settings.environment: no environment given and PULUMI_STACK "
        "is not set (they read KEYPLANE_ENVIRONMENT, KEYPLANE_SETTINGS and KEYPLANE_ESTATE: set "
        "KEYPLANE_ENVIRONMENT to the stack's environment)"
    ]


def test_custom_check_results_use_the_rule_and_its_message() -> None:
    output = {
        "check_type": "terraform_plan",
        "results": {
            "passed_checks": [],
            "failed_checks": [
                {
                    "check_id": "KM-ROT-002",
                    "check_name": "x",
                    "resource": "aws_kms_key.legacy",
                    "details": [
                        "KM-ROT-002 legacy: rotation period 400 days exceeds 365 for database-encryption keys; lower rotation_days or file an exception."
                    ],
                }
            ],
        },
    }
    [finding] = parse_output(json.dumps(output), {"aws_kms_key.legacy": "urn:legacy"})
    assert (finding.rule, finding.resource, finding.enforcement) == (
        "KM-ROT-002",
        "urn:legacy",
        Enforcement.MANDATORY,
    )
    assert finding.message.startswith("KM-ROT-002 legacy: rotation period 400 days")
