"""A wildcard principal declared in the access block (issue 13): well-formed (DESIGN.md), never
granted by the components, and reported as KM-ACC-001 with exit 1 by `validate`, `preview` and
`scan` in every format, never a stop with exit 2 and no report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.foundation.test_estate import edit

runner = CliRunner()
TODAY = "2026-11-23"
AWS_USER = "principal: arn:aws:iam::111111111111:role/backup-agent"
MESSAGE = (
    "KM-ACC-001 {env}: access.key_users declares the wildcard principal {who!r}, which would "
    "grant everyone; keyplane's components never grant it, and preview does not render the "
    "stack until it names specific roles, users or service accounts."
)


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _wildcard_aws(estate: Path) -> int:
    return edit(estate / "prod.yaml", AWS_USER, 'principal: "*"')


def test_validate_reports_the_wildcard_with_its_line(estate: Path) -> None:
    line = _wildcard_aws(estate)
    code, out, err = _cli("validate", "--estate", str(estate))
    assert code == 1, err
    assert f"prod.yaml:{line}: [mandatory] {MESSAGE.format(env='prod', who='*')}" in out


@pytest.mark.parametrize("format", ["json", "sarif", "junit", "markdown", "table"])
def test_preview_reports_the_wildcard_in_every_format(estate: Path, format: str) -> None:
    _wildcard_aws(estate)
    code, out, err = _cli(
        "preview", "prod", "--estate", str(estate), "--as-of", TODAY, "--format", format
    )
    assert code == 1, err
    assert "KM-ACC-001" in out
    if format == "json":
        found = json.loads(out)["findings"]
        assert [
            (f["rule"], f["enforcement"], f["message"]) for f in found if f["rule"] == "KM-ACC-001"
        ] == [("KM-ACC-001", "mandatory", MESSAGE.format(env="prod", who="*"))]
    if format == "sarif":
        results = json.loads(out)["runs"][0]["results"]
        assert any(r["ruleId"] == "KM-ACC-001" and r["level"] == "error" for r in results)


def test_a_gcp_all_users_key_user_is_reported_not_granted(estate: Path) -> None:
    path = estate / "prod-gcp.yaml"
    text = path.read_text()
    first = text.index("principal: ", text.index("key_users:"))
    end = text.index("\n", first)
    path.write_text(text[:first] + "principal: allUsers" + text[end:])
    code, out, err = _cli(
        "preview",
        "prod-gcp",
        "--estate",
        str(estate),
        "--as-of",
        TODAY,
        "--no-checkov",
        "--format",
        "json",
    )
    assert code == 1, err
    document = json.loads(out)
    assert document["resources"] == []
    assert MESSAGE.format(env="prod-gcp", who="allUsers") in [
        f["message"] for f in document["findings"]
    ]
