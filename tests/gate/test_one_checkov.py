"""Issue 14, the benchmark's condition: the secrets scan costs no second checkov start-up. The
gate's one preloaded checkov serves the plan's run and the secrets scan (each a fork taken after
checkov's import); their findings are those of lone `checkov` commands, and a secrets scan that
fails or runs out of time is an error, never a clean result."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
from typer.testing import CliRunner

from keyplane import supervise
from keyplane.cli.app import app
from keyplane.engines.checkov.runner import (
    CUSTOM_CHECKS_DIR,
    CheckovError,
    CheckovRun,
    PendingCheckov,
    checkov_command,
)
from keyplane.engines.checkov.secrets import ScanScope
from keyplane.findings import Finding
from keyplane.render import render
from keyplane.terraform.to_plan import to_terraform_plan

runner = CliRunner()
#: Key material made at run time (never committed): a PEM header and random body.
BODY = base64.encodebytes(bytes(range(256)) * 2).decode()
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + BODY + "-----END " + "RSA PRIVATE KEY-----\n"
#: An AWS access key pair in the form AWS documents (assembled here, never committed whole).
AWS_KEYS = (
    "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY\n"
)
STACK = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"


def _program() -> None:
    aws.s3.Bucket("audit-trail-bucket")
    aws.kms.Key("legacy", enable_key_rotation=False)


def _plan() -> Any:
    return to_terraform_plan(render(_program, project="keyplane", stack="dev").resources)


def _repository(tmp_path: Path) -> ScanScope:
    folder = tmp_path / "repository"
    (folder / "deploy").mkdir(parents=True)
    (folder / "deploy" / "server.key").write_text("# the web tier's key\n" + PEM)
    (folder / "credentials").write_text("[default]\n" + AWS_KEYS)
    (folder / "README.md").write_text("nothing secret here\n")
    return ScanScope(folder, (folder,))


def _counting_spawns(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command keyplane starts through `supervise` from now on."""
    started: list[list[str]] = []
    spawn = supervise.spawn

    def counting(command: list[str], **popen_args: Any) -> subprocess.Popen[Any]:
        started.append(list(command))
        return spawn(command, **popen_args)

    monkeypatch.setattr(supervise, "spawn", counting)
    return started


def _checkov_starts(started: list[list[str]]) -> list[list[str]]:
    # By a part's own name (`checkov==3.3.30`, `checkov`), not by a folder in a path (a
    # checkout in a folder named after checkov runs the pack from there).
    return [
        command
        for command in started
        if any(Path(part).name.startswith("checkov") for part in command)
    ]


def _both(scope: ScanScope) -> tuple[CheckovRun, list[Finding]]:
    """The plan's run and the secrets scan, as the gate runs them: the scan started first."""
    converted = _plan()
    with (
        PendingCheckov(environment="dev", external_checks=CUSTOM_CHECKS_DIR) as checkov,
        scope.start(checkov) as scan,
    ):
        run = checkov.run(converted.plan, converted.urn_by_address)
        return run, scan.findings()


def _seen(findings: list[Finding]) -> list[tuple[str, str, str, str | None, int | None]]:
    return sorted((f.rule, f.resource, f.message, f.file, f.line) for f in findings)


def test_one_checkov_process_gives_what_lone_commands_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = _repository(tmp_path)
    started = _counting_spawns(monkeypatch)
    shared_run, shared_secrets = _both(scope)
    assert len(_checkov_starts(started)) == 1
    # The same runs, each a `checkov` command of its own (as with KEYPLANE_CHECKOV).
    monkeypatch.setenv("KEYPLANE_CHECKOV", shlex.join(checkov_command()))
    lone_run, lone_secrets = _both(scope)
    assert len(_checkov_starts(started)) == 3

    assert {f.rule for f in shared_run.findings} >= {"CKV2_AWS_6", "KM-ROT-001"}
    assert _seen(shared_run.findings) == _seen(lone_run.findings)
    assert (shared_run.passed, shared_run.failed) == (lone_run.passed, lone_run.failed)
    assert sorted((f.file, f.line) for f in shared_secrets) == [
        ("credentials", 2),
        ("credentials", 3),
        ("deploy/server.key", 3),
    ]
    assert _seen(shared_secrets) == _seen(lone_secrets)
    # Nothing of the plan's run in the scan's answer, nor of the scan's in the plan's.
    assert not any(f.rule.startswith("CKV") for f in shared_secrets)
    assert all(f.file is None for f in shared_run.findings)
    assert BODY.splitlines()[0] not in json.dumps([f.message for f in shared_secrets])


def test_a_secrets_scan_that_fails_is_an_error_and_the_plan_is_still_judged(
    tmp_path: Path,
) -> None:
    """checkov skips a folder that is gone with an error on stderr, exits 0 and prints no
    report: that is a failed scan, and the plan's run in the same process is unaffected."""
    gone = tmp_path / "gone"
    gone.mkdir()
    converted = _plan()
    with PendingCheckov(environment="dev", external_checks=CUSTOM_CHECKS_DIR) as checkov:
        scan = ScanScope(tmp_path, (gone,)).start(checkov)
        # Gone before checkov has imported itself (seconds): the run cannot have read it.
        gone.rmdir()
        run = checkov.run(converted.plan, converted.urn_by_address)
        with pytest.raises(
            CheckovError,
            match=r"^checkov's secrets scan failed \(exit 0\): .*Directory .*gone does not exist",
        ):
            scan.findings()
    assert "CKV2_AWS_6" in {f.rule for f in run.findings}


def test_a_secrets_scan_out_of_time_stops_checkov_and_no_run_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted = _plan()
    with PendingCheckov(environment="dev", external_checks=CUSTOM_CHECKS_DIR) as checkov:
        scan = _repository(tmp_path).start(checkov)
        # checkov's import alone takes seconds: the scan cannot end within 10 ms.
        monkeypatch.setenv("KEYPLANE_CHECKOV_TIMEOUT", "0.01")
        with pytest.raises(
            CheckovError,
            match=r"^checkov's secrets scan did not finish within 0\.01 s; set "
            r"KEYPLANE_CHECKOV_TIMEOUT to give it longer, or pass --no-checkov$",
        ):
            scan.findings()
        process = checkov._process
        assert process is not None
        assert process.poll() is not None
        # The plan's run in the stopped process is a failure, not an empty answer.
        monkeypatch.delenv("KEYPLANE_CHECKOV_TIMEOUT")
        with pytest.raises(
            CheckovError,
            match=r"^checkov failed \(exit -9\): checkov was stopped before this run ended",
        ):
            checkov.run(converted.plan, converted.urn_by_address)


def _export(tmp_path: Path) -> Path:
    bucket = "urn:pulumi:prod::payments::aws:s3/bucket:Bucket::audit-logs"
    document = {
        "version": 3,
        "deployment": {
            "resources": [
                {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}},
                {
                    "urn": bucket,
                    "custom": True,
                    "id": "audit-logs",
                    "type": "aws:s3/bucket:Bucket",
                    "inputs": {"bucket": "audit-logs"},
                    "outputs": {"bucket": "audit-logs"},
                    "parent": STACK,
                },
            ]
        },
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    return path


def test_scan_starts_checkov_once_for_the_plan_and_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _export(tmp_path)
    (tmp_path / "id_rsa").write_text(PEM)
    started = _counting_spawns(monkeypatch)
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert len(_checkov_starts(started)) == 1
    findings = json.loads(result.stdout)["findings"]
    assert [(f["rule"], f["resource"]) for f in findings if f["resource"] == "id_rsa"] == [
        ("KM-STO-001", "id_rsa")
    ]
    assert "CKV2_AWS_6" in {f["rule"] for f in findings if f["engine"] == "checkov"}
    assert BODY.splitlines()[0] not in result.stdout


#: A `KEYPLANE_CHECKOV` command that answers the plan's run with an empty report and does
#: `{secrets}` for the secrets framework.
_FAKE = (
    'bash -c \'case " $* " in *" secrets "*) {secrets} ;; esac; '
    'echo "{{\\"check_type\\": \\"terraform_plan\\", \\"results\\": {{}}, '
    '\\"summary\\": {{\\"passed\\": 0}}}}"; : {marker}\' checkov'
)


def _alive_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if stat != "Z" and marker in (entry / "cmdline").read_bytes().decode(
                    errors="replace"
                ):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize(
    ("secrets", "line"),
    [
        (
            "echo secrets framework crashed >&2; exit 2",
            "checkov's secrets scan failed (exit 2): secrets framework crashed",
        ),
        (
            "sleep 600",
            "checkov's secrets scan did not finish within 2 s; set KEYPLANE_CHECKOV_TIMEOUT "
            "to give it longer, or pass --no-checkov",
        ),
    ],
    ids=["fails", "hangs"],
)
def test_scan_refuses_a_secrets_scan_that_did_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets: str, line: str
) -> None:
    path = _export(tmp_path)
    marker = f"keyplane-fake-checkov-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("KEYPLANE_CHECKOV", _FAKE.format(secrets=secrets, marker=marker))
    monkeypatch.setenv("KEYPLANE_CHECKOV_TIMEOUT", "2")
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [line]
    assert _alive_with(marker) == []


def test_a_scope_of_a_named_pipe_alone_starts_no_run_and_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing left to hand checkov: no run is started (one would fail here: the command
    prints no report), and the pipe is reported as not read."""
    monkeypatch.setenv("KEYPLANE_CHECKOV", "false")
    pipe = tmp_path / "events"
    os.mkfifo(pipe)
    with PendingCheckov(environment="dev", external_checks=CUSTOM_CHECKS_DIR) as checkov:
        [finding] = ScanScope(tmp_path, (pipe,)).start(checkov).findings()
    assert (finding.rule, finding.enforcement.value, finding.resource) == (
        "KM-STO-001",
        "advisory",
        "events",
    )
    assert finding.message.startswith(
        "KM-STO-001 events: cannot judge: the file is not a regular file (a named pipe), "
    )
