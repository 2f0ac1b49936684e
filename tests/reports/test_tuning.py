"""`keyplane.tuning`: what `--policy-config`, `--skip-check`, `--check` and `--fail-on` do to a
run's findings, on the hand-built sample (one finding of each kind), and where a finding points
in its environment file (`keyplane.rules.locate`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.config import ConfigError
from keyplane.estate import load_estate
from keyplane.findings import Engine, Finding
from keyplane.reports import Report, junit_report, markdown_report
from keyplane.reports.model import is_failing, verdict
from keyplane.rules.catalog import RULES, Enforcement, Severity
from keyplane.rules.locate import locate
from keyplane.tuning import Tuning, check_ids, project_defaults, read_policy_config
from tests.foundation.test_estate import edit
from tests.reports.sample import CKV_AWS_7, HSM_001_EXCEPTED, ROT_002

FINDINGS = [ROT_002, HSM_001_EXCEPTED, CKV_AWS_7]


def test_skipping_a_checkov_check_and_a_mandatory_rule_is_listed() -> None:
    kept, skipped = Tuning(skip=("CKV_AWS_7", "KM-ROT-002")).apply(FINDINGS)
    assert kept == [HSM_001_EXCEPTED]
    assert [s.text() for s in skipped] == [
        "CKV_AWS_7 (--skip-check, 1 finding not reported)",
        "KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)",
    ]
    report = Report(findings=kept, resources=[], environment="prod", skipped=tuple(skipped))
    assert "- KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)" in (
        markdown_report(report)
    )
    assert 'message="KM-ROT-002 (mandatory, --skip-check, 1 finding not reported)"' in (
        junit_report(report)
    )


def test_check_keeps_only_the_named_rules_and_lists_what_it_hid() -> None:
    kept, skipped = Tuning(only=("CKV_AWS_7",)).apply(FINDINGS)
    assert kept == [CKV_AWS_7]
    assert {s.rule: s.hidden for s in skipped} == {"KM-ROT-002": 1, "KM-HSM-001": 1}


def test_levels_apply_to_every_engine_and_excepted_findings_follow_their_companion() -> None:
    config_twin = Finding(
        rule="KM-ROT-002",
        enforcement=Enforcement.MANDATORY,
        resource="acme-orders-db",
        type="keyplane:config:key",
        message="KM-ROT-002 acme-orders-db: ...",
        engine=Engine.CONFIG,
    )
    tuning = Tuning(
        levels={"KM-ROT-002": Enforcement.ADVISORY},
        excepted_levels={"KM-HSM-001": Enforcement.DISABLED},
    )
    kept, skipped = tuning.apply([*FINDINGS, config_twin])
    assert [(f.rule, f.engine.value, f.enforcement.value) for f in kept] == [
        ("KM-ROT-002", "crossguard", "advisory"),
        ("CKV_AWS_7", "checkov", "advisory"),
        ("KM-ROT-002", "config", "advisory"),
    ]
    assert skipped == []
    rule = RULES["KM-ROT-002"]
    assert tuning.pack_config() == {rule.policy_name: "advisory"}


def test_fail_on_counts_advisory_findings_at_or_above_the_severity() -> None:
    advisory = Tuning(levels={"KM-ROT-002": Enforcement.ADVISORY}).apply(FINDINGS)[0]
    assert verdict(advisory) == "PASS"
    assert verdict(advisory, Severity.CRITICAL) == "PASS"
    assert verdict(advisory, Severity.HIGH) == "FAIL"
    # An excepted finding's risk was accepted; checkov's own checks carry no severity.
    assert not is_failing(HSM_001_EXCEPTED, Severity.LOW)
    assert not is_failing(CKV_AWS_7, Severity.LOW)


def test_policy_config_file_is_read_like_the_pulumi_cli(tmp_path: Path) -> None:
    rule = RULES["KM-ROT-002"]
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps(
            {
                "all": {"enforcementLevel": "advisory"},
                rule.policy_name: {"enforcementLevel": "mandatory"},
                rule.excepted_policy_name: "disabled",
                "keyplane-settings": {"environment": "prod"},
            }
        )
    )
    levels, excepted = read_policy_config(path)
    assert levels["KM-ROT-002"] is Enforcement.MANDATORY
    assert levels["KM-ALG-001"] is Enforcement.ADVISORY
    assert excepted == {"KM-ROT-002": Enforcement.DISABLED}
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        read_policy_config(path)


def test_check_ids_accept_keyplane_and_checkov_forms() -> None:
    assert check_ids(["km-rot-002,CKV_AWS_7", "CKV2_GCP_3"], "--check") == (
        "KM-ROT-002",
        "CKV_AWS_7",
        "CKV2_GCP_3",
    )
    with pytest.raises(ConfigError) as err:
        check_ids(["KM-ROT-999"], "--skip-check")
    assert str(err.value.problems[0]).startswith("--skip-check: unknown check 'KM-ROT-999'")


def test_project_defaults_from_yaml_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.keyplane]\nskip-check = ["CKV_AWS_7"]\nfail-on = "medium"\nsoft-fail = true\n'
    )
    defaults = project_defaults(tmp_path)
    assert (defaults.skip_check, defaults.fail_on, defaults.soft_fail) == (
        ("CKV_AWS_7",),
        Severity.MEDIUM,
        True,
    )
    (tmp_path / ".keyplane.yaml").write_text("estate: envs\nfail-on: severe\n")
    with pytest.raises(ConfigError) as err:
        project_defaults(tmp_path)
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / '.keyplane.yaml'}:2: fail-on: not a severity (got 'severe'); write "
        "critical, high, medium or low"
    ]


def test_locate_points_at_the_judged_field_or_its_item(estate: Path) -> None:
    line = edit(
        estate / "dev.yaml",
        "    tenant: acme\n  - name: session-signing",
        "    tenant: acme\n    rotation_days: 400\n  - name: session-signing",
    )
    loaded = load_estate(estate)
    urn = "urn:pulumi:dev::keyplane::keyplane:aws:KeyRing$aws:kms/key:Key::"
    findings = [
        Finding(
            "KM-ROT-002", Enforcement.MANDATORY, urn + "acme-orders-db", "t", "m", Engine.CROSSGUARD
        ),
        Finding(
            "KM-ALG-001",
            Enforcement.MANDATORY,
            urn + "acme-orders-db-alias",
            "t",
            "m",
            Engine.CROSSGUARD,
        ),
        Finding(
            "CKV_AWS_18", Enforcement.ADVISORY, urn + "dev-audit-logs", "t", "m", Engine.CHECKOV
        ),
        Finding(
            "KM-ROT-004", Enforcement.MANDATORY, "x", "t", "m", Engine.CONFIG, file="f", line=3
        ),
    ]
    text = (estate / "dev.yaml").read_text().splitlines()
    located = locate(findings, loaded, "dev")
    assert [(f.file, f.line) for f in located[:3]] == [
        (str(estate / "dev.yaml"), line + 1),
        (str(estate / "dev.yaml"), text.index("    algorithm: AES-256") + 1),
        (str(estate / "dev.yaml"), text.index("logging:") + 1),
    ]
    assert located[3] == findings[3]
