"""Undeclared principals (issue 13) through `keyplane scan`: the real-world case of
`../shared/cases/real-world/README.md` (copied in `tests/fixtures/real-world/`), judged with the
bundled estate's prod environment as its README writes: KM-ACC-004, mandatory, for each of the
three principals; exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app

ROOT = Path(__file__).resolve().parent.parent.parent
CASE = ROOT / "tests" / "fixtures" / "real-world" / "undeclared-principals-export.json"


def scan(*extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(CASE),
            "--env",
            "prod",
            "--estate",
            str(ROOT / "environments"),
            "--no-checkov",
            "--as-of",
            "2026-11-29",
            *extra,
        ],
    )
    return result.exit_code, result.stdout


def test_each_undeclared_principal_is_a_mandatory_km_acc_004() -> None:
    code, out = scan("--format", "json")
    assert code == 1
    found = {
        f["resource"].rsplit("::", 1)[-1]: f
        for f in json.loads(out)["findings"]
        if f["rule"] == "KM-ACC-004"
    }
    assert set(found) == {"ledger", "platform-data"}
    assert {f["enforcement"] for f in found.values()} == {"mandatory"}
    assert found["ledger"]["message"] == (
        "KM-ACC-004 ledger: granted to principals environment prod does not declare: "
        "arn:aws:iam::111111111111:role/former-contractor (kms:Encrypt, kms:Decrypt, "
        "kms:GenerateDataKey*, kms:ReEncrypt* through statement 'use' of the key's own policy); "
        "remove the grants, or declare the principals in the environment file's access block."
    )
    assert found["platform-data"]["message"] == (
        "KM-ACC-004 platform-data: granted to principals environment prod does not declare: "
        "arn:aws:iam::999999999999:role/model-provider (kms:Decrypt through statement 'ext' of "
        "the key's own policy); service:bedrock.amazonaws.com (kms:Decrypt, kms:GenerateDataKey "
        "through statement 'svc' of the key's own policy); remove the grants, or declare the "
        "principals in the environment file's access block."
    )


def test_the_declared_principals_are_not_named() -> None:
    _, out = scan("--format", "json")
    messages = [f["message"] for f in json.loads(out)["findings"] if f["rule"] == "KM-ACC-004"]
    assert not any("platform-key-admin" in m or "acme-orders-service" in m for m in messages)


def test_sarif_carries_km_acc_004() -> None:
    code, out = scan("--format", "sarif")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    assert sum(r["ruleId"] == "KM-ACC-004" for r in results) == 2
