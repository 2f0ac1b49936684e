"""The developer and CI integration (issue 18, part 5): `keyplane init`, shell completion, the
GitHub Action and example workflow, the GitLab template and the pre-commit hook (run by
pre-commit itself on a sample repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.conftest import BUNDLED_ESTATE, REPO

runner = CliRunner()


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- keyplane init ---------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_init_writes_a_commented_file_that_validates(tmp_path: Path, cloud: str) -> None:
    estate = tmp_path / "environments"
    result = runner.invoke(app, ["init", "sandbox", "--cloud", cloud, "--estate", str(estate)])
    assert result.exit_code == 0, result.stderr
    written = estate / "sandbox.yaml"
    assert result.stdout.startswith(f"{written}: written;")
    text = written.read_text()
    assert text.startswith("# keyplane environment file")
    assert "REPLACE" in text
    checked = runner.invoke(app, ["validate", "--estate", str(estate)])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert "1 environment (sandbox), 0 exceptions, 0 shared keys: valid" in checked.stdout


def test_init_never_overwrites_and_refuses_a_bad_name(tmp_path: Path) -> None:
    estate = tmp_path / "environments"
    estate.mkdir()
    (estate / "dev.yaml").write_text("name: dev\n")
    result = runner.invoke(app, ["init", "dev", "--cloud", "aws", "--estate", str(estate)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"{estate / 'dev.yaml'}: already exists; keyplane init never overwrites a file\n"
    )
    assert (estate / "dev.yaml").read_text() == "name: dev\n"
    result = runner.invoke(app, ["init", "Dev_1", "--cloud", "aws", "--estate", str(estate)])
    assert result.exit_code == 2
    assert result.stderr.startswith("keyplane init: ENV: expected a lower-case name")
    result = runner.invoke(app, ["init", "x", "--cloud", "oci", "--estate", str(estate)])
    assert result.exit_code == 2


def test_shell_completion_is_offered() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "keyplane"), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "_keyplane_completion" in result.stdout
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


# --- the action, the workflow, the GitLab template, the hook ---------------------------------


def test_the_action_is_a_composite_that_uploads_sarif_and_fails_on_the_verdict() -> None:
    action = _yaml(REPO / "action.yml")
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    assert action["inputs"]["environment"]["required"] is True
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert "default" in spec or spec.get("required"), name
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    for step in steps:
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step
    gate = next(s for s in steps if s.get("id") == "gate")
    assert "keyplane preview" in gate["run"] and "--sarif" in gate["run"]
    assert 'echo "exit-code=$code" >> "$GITHUB_OUTPUT"' in gate["run"]
    upload = next(
        s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    )
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    # The verdict comes last: SARIF is uploaded even when the gate fails.
    assert steps[-1]["run"] == 'exit "$CODE"'
    assert steps.index(upload) < len(steps) - 1
    # Inputs reach the shell through the environment, never spliced into the script.
    assert "${{" not in gate["run"]
    # Every option the action passes exists.
    help_text = runner.invoke(app, ["preview", "--help"], env={"COLUMNS": "200"}).stdout
    for option in ("--estate", "--sarif", "--junit", "--markdown", "--stack-config"):
        assert option in help_text


def test_the_example_workflow_gates_pull_requests_and_comments_the_diff() -> None:
    workflow = _yaml(REPO / "docs" / "ci" / "github-workflow.yml")
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers
    assert workflow["permissions"]["security-events"] == "write"
    assert workflow["permissions"]["pull-requests"] == "write"
    jobs = workflow["jobs"]
    gate_steps = jobs["gate"]["steps"]
    assert any(str(s.get("uses", "")).startswith("actions/checkout@") for s in gate_steps)
    [gate] = [s for s in gate_steps if "with" in s and "environment" in s["with"]]
    assert gate["with"]["environment"] == "${{ matrix.environment }}"
    runs = "\n".join(s.get("run", "") for s in jobs["diff"]["steps"])
    assert "keyplane diff preview.json" in runs and "--markdown keyplane-diff.md" in runs
    assert "gh pr comment" in runs


def test_the_gitlab_template_reports_junit() -> None:
    template = _yaml(REPO / "docs" / "ci" / "gitlab-ci.yml")
    job = template["keyplane-gate"]
    assert {"stage", "image", "script", "artifacts"} <= set(job)
    script = "\n".join(job["before_script"] + job["script"])
    assert "--no-dev" in script
    assert "keyplane preview" in script and "--junit" in script
    assert job["artifacts"]["reports"]["junit"] == "reports/*.xml"
    assert job["artifacts"]["when"] == "always"


def test_the_pre_commit_hook_is_declared() -> None:
    [hook] = _yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["id"] == "keyplane-validate"
    assert hook["entry"] == "keyplane validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False


@pytest.mark.slow
def test_pre_commit_runs_the_hook_on_a_sample_repository(tmp_path: Path) -> None:
    """`pre-commit try-repo` against this checkout: pre-commit installs keyplane into the hook's
    own environment and runs it; a valid estate passes, a broken one fails naming the line."""
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit is not None
    sample = tmp_path / "sample"
    shutil.copytree(BUNDLED_ESTATE, sample / "environments")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    env.pop("VIRTUAL_ENV", None)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=sample, env=env, check=True, capture_output=True)

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "try-repo", str(REPO), "keyplane-validate", "--all-files"],
            cwd=sample,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "estate")
    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "keyplane validate" in passed.stdout and "Passed" in passed.stdout

    dev = sample / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace("retention_days: 90", "retention_days: ninety"))
    git("add", "-A")
    failed = try_repo()
    assert failed.returncode == 1
    assert "Failed" in failed.stdout
    assert "environments/dev.yaml:" in failed.stdout and "logging.retention_days" in failed.stdout
