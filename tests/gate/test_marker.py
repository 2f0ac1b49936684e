"""No output copies a secret (issue 14): one unique marker planted as a plain-text secret in
resource inputs, stack outputs and configuration (the project's stack file, a preview's `config`,
an export's outputs) appears in no report of any format, nor in the emitted plan, nor on stderr,
for `scan`, `preview` and `diff`. The formats are every member of the commands' format enums, so
a format added later is held to the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.reports.formats import DiffFormat, ReportFormat
from tests.conftest import BUNDLED_ESTATE

MARKER = "kp-marker-7f3c91e2a4"
STACK = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"
runner = CliRunner()


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::payments::{type_}::{name}"


#: Resources holding the marker in clear, each of a kind KM-STO-001 reads.
PLANTED: list[tuple[str, str, dict[str, Any]]] = [
    (
        "aws:secretsmanager/secretVersion:SecretVersion",
        "api-v1",
        {"secretId": "prod/api", "secretString": json.dumps({"token": MARKER})},
    ),
    ("aws:rds/instance:Instance", "orders-db", {"engine": "postgres", "password": MARKER}),
    ("aws:rds/cluster:Cluster", "orders-cluster", {"masterPassword": f"{MARKER}-cluster"}),
    (
        "aws:kms/externalKey:ExternalKey",
        "imported",
        {"keyMaterialBase64": f"{MARKER}==", "deletionWindowInDays": 30},
    ),
    ("azure:keyvault/secret:Secret", "kv-api", {"name": "api", "value": MARKER}),
    (
        "azure-native:keyvault:Secret",
        "native-api",
        {"secretName": "api", "vaultName": "kv", "properties": {"value": MARKER}},
    ),
]


def _state(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": _urn(type_, name),
        "type": type_,
        "custom": True,
        "parent": STACK,
        "inputs": inputs,
        "outputs": {**inputs, "note": f"copy of {MARKER}"},
    }


def _preview() -> dict[str, Any]:
    return {
        "config": {"payments:apiToken": MARKER, "payments:region": "eu-west-1"},
        "steps": [
            {
                "op": "create",
                "urn": STACK,
                "newState": {
                    "urn": STACK,
                    "type": "pulumi:pulumi:Stack",
                    "outputs": {"dbPassword": MARKER},
                },
            },
            *(
                {"op": "create", "urn": _urn(t, n), "newState": _state(t, n, i)}
                for t, n, i in PLANTED
            ),
        ],
    }


def _export(*, changed: bool = False) -> dict[str, Any]:
    suffix = "-2" if changed else ""
    stack = {
        "urn": STACK,
        "custom": False,
        "type": "pulumi:pulumi:Stack",
        "outputs": {"dbPassword": MARKER + suffix},
    }
    resources = [
        _state(t, n, {k: (v + suffix if isinstance(v, str) else v) for k, v in i.items()})
        for t, n, i in PLANTED
    ]
    return {"version": 3, "deployment": {"resources": [stack, *resources]}}


def _clean(result: Any, *files: Path) -> None:
    assert MARKER not in result.stdout
    assert MARKER not in result.stderr
    for file in files:
        assert MARKER not in file.read_text(), file.name


@pytest.mark.parametrize("format", list(ReportFormat))
@pytest.mark.parametrize("kind", ["preview", "export"])
def test_scan_copies_no_planted_secret(tmp_path: Path, kind: str, format: ReportFormat) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps(_preview() if kind == "preview" else _export()))
    plan, report = tmp_path / "plan.json", tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "scan",
            str(path),
            "--env",
            "prod",
            "--estate",
            str(tmp_path / "no-estate"),
            "--no-checkov",
            "--format",
            format.value,
            "--emit-plan",
            str(plan),
            "--output",
            str(report),
        ],
    )
    assert result.exit_code == 1, result.output
    _clean(result, plan, report)
    assert report.read_text()  # the report was written (and holds no marker)


def test_scan_reports_every_planted_secret(tmp_path: Path) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(_preview()))
    result = runner.invoke(
        app,
        ["scan", str(path), "--env", "prod", "--no-checkov", "--format", "json"],
    )
    flagged = {
        f["resource"].rsplit("::", 1)[-1]
        for f in json.loads(result.stdout)["findings"]
        if f["rule"] == "KM-STO-001"
    }
    assert flagged == {"payments-prod", "Pulumi.prod.yaml", *(name for _, name, _ in PLANTED)}


@pytest.mark.parametrize("format", list(DiffFormat))
def test_diff_copies_no_planted_secret(tmp_path: Path, format: DiffFormat) -> None:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(_export()))
    after.write_text(json.dumps(_export(changed=True)))
    result = runner.invoke(app, ["diff", str(before), str(after), "--format", format.value])
    assert result.exit_code in (0, 1), result.output
    _clean(result)


def test_preview_copies_no_planted_secret_from_the_stack_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(BUNDLED_ESTATE, project / "environments")
    shutil.copy(BUNDLED_ESTATE.parent / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "stacks").mkdir()
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    shutil.copy(BUNDLED_ESTATE.parent / "stacks" / "Pulumi.prod.yaml", stack_file)
    stack_file.write_text(stack_file.read_text() + f"  keyplane:dbPassword: {MARKER}\n")
    for format in ReportFormat:
        plan, report = tmp_path / f"plan-{format}.json", tmp_path / f"report-{format}"
        result = runner.invoke(
            app,
            [
                "preview",
                "prod",
                "--estate",
                str(project / "environments"),
                "--no-checkov",
                "--format",
                format.value,
                "--emit-plan",
                str(plan),
                "--output",
                str(report),
            ],
        )
        assert result.exit_code == 1, result.output
        _clean(result, plan, report)
