"""KM-STO-001 "no key material is in the repository" (issue 14): `scan` and `preview` run
checkov's secrets framework over the project's files and report committed key material by file
and line, never the value; the bundled estate stays clean."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.engines.checkov.secrets import _documents, file_scope, project_scope
from tests.conftest import BUNDLED_ESTATE, REPO

runner = CliRunner()
#: Key material made at run time (never committed): a PEM header and random body.
BODY = base64.encodebytes(bytes(range(256)) * 2).decode()
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + BODY + "-----END " + "RSA PRIVATE KEY-----\n"
MESSAGE = (
    "KM-STO-001 {file}:{line}: Private Key committed to the repository; remove it from the file "
    "and from the history, rotate it, and keep it in a vault or as a Pulumi secret."
)


def _export(tmp_path: Path) -> Path:
    stack = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"
    document = {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": stack, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}},
            ]
        },
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    return path


def _committed(stdout: str) -> list[dict[str, Any]]:
    return [
        f
        for f in json.loads(stdout)["findings"]
        if f["rule"] == "KM-STO-001" and f["type"] == "keyplane:repository:File"
    ]


def test_scan_reports_a_private_key_beside_the_scanned_file(tmp_path: Path) -> None:
    path = _export(tmp_path)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "server.key").write_text("# the web tier's key\n" + PEM)
    # A stack document beside it carries secrets as ciphertext: not key material.
    (tmp_path / "old-state.json").write_text(
        json.dumps({"ciphertext": base64.b64encode(bytes(range(200))).decode()})
    )
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    [finding] = _committed(result.stdout)
    # The line checkov reports: for a PEM, the first line of its body.
    assert finding["message"] == MESSAGE.format(file="deploy/server.key", line=3)
    assert (finding["enforcement"], finding["engine"], finding["resource"]) == (
        "mandatory",
        "checkov",
        "deploy/server.key",
    )
    assert finding["location"] == {"file": "deploy/server.key", "line": 3}
    assert BODY.splitlines()[0] not in result.stdout


def test_scan_without_checkov_does_not_scan_the_folder(tmp_path: Path) -> None:
    path = _export(tmp_path)
    (tmp_path / "server.key").write_text(PEM)
    result = runner.invoke(
        app, ["scan", str(path), "--env", "prod", "--no-checkov", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert _committed(result.stdout) == []


def test_preview_reports_a_private_key_in_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(BUNDLED_ESTATE, project / "environments")
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(
        REPO / "stacks", project / "stacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "stacks" / "id_rsa").write_text(PEM)
    # Not what the project holds for keyplane: never scanned.
    (project / ".venv").mkdir()
    (project / ".venv" / "leaked.pem").write_text(PEM)
    (project / "node_modules").mkdir()
    (project / "node_modules" / "leaked.pem").write_text(PEM)
    result = runner.invoke(
        app, ["preview", "prod", "--estate", str(project / "environments"), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    assert [f["message"] for f in _committed(result.stdout)] == [
        MESSAGE.format(file="stacks/id_rsa", line=2)
    ]


def test_the_scopes_are_what_the_project_holds(tmp_path: Path) -> None:
    scope = project_scope(BUNDLED_ESTATE)
    assert scope.root == REPO.resolve()
    assert {p.relative_to(scope.root).as_posix() for p in scope.paths if p.is_dir()} == {
        "environments",
        "stacks",
    }
    assert "tests" not in {p.name for p in scope.paths}
    scanned = file_scope(tmp_path / "state.json")
    assert (scanned.paths, scanned.skip_json) == ((tmp_path.resolve(),), True)


def test_checkovs_summaries_one_per_path_are_read() -> None:
    empty = '{"passed": 0, "failed": 0}\n{"passed": 0, "failed": 0}\n'
    assert _documents(empty) == [{"passed": 0, "failed": 0}] * 2
    assert _documents("not json") is None
