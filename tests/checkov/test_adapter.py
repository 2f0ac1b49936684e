"""The Terraform-plan adapter: checkov's configuration and plain plan values to facts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from keyplane.adapters.terraform import facts_from_conf, facts_from_values
from keyplane.facts import UNKNOWN, Key, KeyOrigin

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkov_configuration_reads_like_the_plan_values() -> None:
    conf = {
        "__address__": "google_kms_crypto_key.orders",
        "rotation_period": ["7776000s"],
        "version_template": [
            {"algorithm": ["GOOGLE_SYMMETRIC_ENCRYPTION"], "protection_level": ["HSM"]}
        ],
        "labels": [{"keyplane-purpose": ["database-encryption"]}],
    }
    [key] = facts_from_conf("google_kms_crypto_key", conf)
    assert isinstance(key, Key)
    assert (key.name, key.urn, key.rotation_days, key.origin) == (
        "orders",
        "google_kms_crypto_key.orders",
        90,
        KeyOrigin.CLOUD_HSM,
    )
    assert key.purpose_tag == "database-encryption"


def test_values_unknown_until_apply_are_unknown_not_defaults() -> None:
    [key] = facts_from_values(
        "google_kms_crypto_key",
        {"version_template": [{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"}]},
        address="google_kms_crypto_key.k",
        after_unknown={"rotation_period": True, "version_template": [{"protection_level": True}]},
    )
    assert isinstance(key, Key)
    assert (key.rotation_enabled, key.rotation_days, key.origin) == (UNKNOWN, UNKNOWN, UNKNOWN)


def test_checkov_marks_and_references_are_unknown() -> None:
    [key] = facts_from_conf(
        "aws_kms_key",
        {
            "__address__": "aws_kms_key.k",
            "enable_key_rotation": ["true_after_unknown"],
            "tags": [{"keyplane-environment": "aws_s3_bucket.b.id"}],
            "deletion_window_in_days": ["aws_s3_bucket.b.id"],
            "references_": [["aws_s3_bucket.b.id", "aws_s3_bucket.b"]],
        },
    )
    assert isinstance(key, Key)
    assert (key.rotation_enabled, key.deletion_window_days, key.protect) == (
        UNKNOWN,
        UNKNOWN,
        UNKNOWN,
    )


def test_the_check_path_imports_no_keyplane_dependency() -> None:
    """checkov loads the checks without pydantic, PyYAML or pulumi installed."""
    script = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def guard(name, *args, **kwargs):\n"
        "    if name.split('.')[0] in ('pydantic', 'pydantic_core', 'yaml', 'pulumi'):\n"
        "        raise ImportError(name)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = guard\n"
        "import keyplane.adapters.terraform, keyplane.rules, keyplane.rules.registry\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
