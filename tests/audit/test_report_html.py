"""A real audit (moto) as the auditor's HTML page: `audit --format html`, and the audit's saved
JSON read back by `keyplane report --audit-json` (the document the audit writes is the one the
report accepts)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.audit.support import ACCOUNT, ENV, build_account, client, write_estate
from tests.audit.test_cli import endpoint  # noqa: F401 - the moto server fixture
from tests.reports.test_html import text_of

runner = CliRunner()


def test_a_saved_audit_and_the_html_format_give_the_same_page(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    account = build_account(endpoint)
    client("kms", endpoint).disable_key_rotation(KeyId=account.keys["orders-db"])
    estate = str(write_estate(tmp_path))
    saved, direct, rendered = (tmp_path / n for n in ("audit.json", "audit.html", "report.html"))
    common = ["--estate", estate, "--endpoint-url", endpoint]
    result = runner.invoke(app, ["audit", ENV, *common, "-f", "json", "-o", str(saved)])
    assert result.exit_code == 1, result.stderr
    result = runner.invoke(app, ["audit", ENV, *common, "-f", "html", "-o", str(direct)])
    assert result.exit_code == 1, result.stderr
    result = runner.invoke(
        app, ["report", ENV, "--estate", estate, "--audit-json", str(saved), "-o", str(rendered)]
    )
    assert result.exit_code == 1, result.stderr
    for page in (direct, rendered):
        text = text_of(page.read_text(encoding="utf-8"))
        assert f"keyplane audit · environment {ENV} FAIL 1 mandatory" in text
        assert "KM-ROT-001" in text and "Enable automatic rotation on the key" in text
        assert f"Audit evidence environment {ENV} account {ACCOUNT}" in text
        assert "Key lifecycle, last 90 days" in text
        assert f"Tenant-Isolation-Claim: {ENV}" in text
