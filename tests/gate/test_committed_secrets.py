"""KM-STO-001 "no key material is in the repository" (issue 14): `scan` and `preview` run
checkov's secrets framework over the project's files and report committed key material by file
and line, never the value; the bundled estate stays clean."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.engines.checkov.runner import CheckovError
from keyplane.engines.checkov.secrets import (
    _documents,
    file_scope,
    project_scope,
    scan_size_limit,
)
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


def _project_with_a_key(tmp_path: Path) -> Path:
    """A copy of keyplane's own Pulumi project (estate, `Pulumi.yaml`, program) with a private
    key committed in the program's folder."""
    project = tmp_path / "project"
    shutil.copytree(BUNDLED_ESTATE, project / "environments")
    shutil.copy(REPO / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copytree(
        REPO / "stacks", project / "stacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "stacks" / "id_rsa").write_text(PEM)
    return project


def test_preview_reports_a_private_key_in_the_project(tmp_path: Path) -> None:
    project = _project_with_a_key(tmp_path)
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


def _service_account_key() -> str:
    """A GCP service account key file's shape (made at run time), its private key on line 5."""
    key = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": bytes(range(20)).hex(),
        "private_key": PEM.replace("RSA PRIVATE", "PRIVATE"),
        "client_email": "deployer@acme-prod.iam.gserviceaccount.com",
    }
    return json.dumps(key, indent=2)


def test_scan_reports_key_files_beside_the_export_but_not_ciphertext(tmp_path: Path) -> None:
    path = _export(tmp_path)
    (tmp_path / "deployer-key.json").write_text(_service_account_key())
    (tmp_path / "tls.pem").write_text(PEM)
    # Stack documents carry their secrets as ciphertext: high-entropy, not key material.
    (tmp_path / "old-state.json").write_text(
        json.dumps({"ciphertext": base64.b64encode(bytes(range(200))).decode()}, indent=2)
    )
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted(f["message"] for f in _committed(result.stdout)) == [
        MESSAGE.format(file="deployer-key.json", line=5),
        MESSAGE.format(file="tls.pem", line=2),
    ]
    assert BODY.splitlines()[0] not in result.stdout


def test_a_file_the_scan_cannot_read_is_reported_not_passed(tmp_path: Path) -> None:
    path = _export(tmp_path)
    (tmp_path / "deploy.pem").symlink_to(tmp_path / "nowhere.pem")
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    [finding] = _committed(result.stdout)
    assert (finding["enforcement"], finding["resource"], finding["message"]) == (
        "advisory",
        "deploy.pem",
        "KM-STO-001 deploy.pem: cannot judge: the secrets scan could not read the file, so key "
        "material in it would go unseen; make it a readable file (or remove it) and run again.",
    )


def test_preview_scans_a_stack_config_folder_outside_the_project(tmp_path: Path) -> None:
    outside = tmp_path / "stack-config"
    outside.mkdir()
    config = (REPO / "stacks" / "Pulumi.prod.yaml").read_text()
    lines = len(config.splitlines())
    # A value in clear (reported on its own as configuration) that is key material.
    (outside / "Pulumi.prod.yaml").write_text(
        config + "  acme:tlsKey: |\n" + "".join(f"    {line}\n" for line in PEM.splitlines())
    )
    scope = project_scope(BUNDLED_ESTATE, outside)
    assert outside.resolve() in scope.paths
    result = runner.invoke(
        app,
        [
            "preview",
            "prod",
            "--estate",
            str(BUNDLED_ESTATE),
            "--stack-config",
            str(outside),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1, result.output
    assert [f["message"] for f in _committed(result.stdout)] == [
        # The line of the value's key (checkov reads YAML as YAML).
        MESSAGE.format(file=f"{outside.resolve().as_posix()}/Pulumi.prod.yaml", line=lines + 1)
    ]
    assert BODY.splitlines()[0] not in result.stdout


def test_dependency_lock_files_are_not_scanned(tmp_path: Path) -> None:
    """Package managers write them (names, versions, integrity hashes); in keyplane's own
    checkout uv.lock was half the lines the scan read."""
    scope = project_scope(BUNDLED_ESTATE)
    assert (REPO / "uv.lock").is_file()
    assert "uv.lock" not in {p.name for p in scope.paths}
    assert {"Pulumi.yaml", "README.md"} <= {p.name for p in scope.paths}


def test_a_file_larger_than_the_secrets_scan_reads_is_reported_not_passed(tmp_path: Path) -> None:
    """checkov's secrets scan skips a file above CHECKOV_MAX_FILE_SIZE (5 MB by default),
    saying so at info level only: keyplane reports it as not judged. The document `scan`
    judges is never part of the secrets scan, whatever its size."""
    path = _export(tmp_path)
    document = json.loads(path.read_text())
    document["deployment"]["resources"][0]["outputs"] = {"notes": "x" * 5_100_000}
    path.write_text(json.dumps(document))
    # Key material in it: unseen by the scan, so the file must be reported as not judged.
    (tmp_path / "bundle.pem").write_text(PEM + "#\n" * 2_500_001)
    size = (tmp_path / "bundle.pem").stat().st_size
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [(f["enforcement"], f["resource"], f["message"]) for f in _committed(result.stdout)] == [
        (
            "advisory",
            "bundle.pem",
            f"KM-STO-001 bundle.pem: cannot judge: the file is larger than the secrets scan reads "
            f"({size:,} bytes, above 5,000,000), so key material in it would go unseen; set "
            "CHECKOV_MAX_FILE_SIZE to 0 (no limit) or above its size to scan it, or remove the file.",
        )
    ]


def test_the_secrets_scan_size_limit_is_checkovs_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the limit a file is scanned (its key material found), above it reported as not
    judged; `CHECKOV_MAX_FILE_SIZE` sets the limit for both checkov and keyplane."""
    monkeypatch.setenv("CHECKOV_MAX_FILE_SIZE", "4000")
    path = _export(tmp_path)
    (tmp_path / "small.pem").write_text(PEM)
    (tmp_path / "large.pem").write_text(PEM + "#\n" * 2_000)
    assert (tmp_path / "small.pem").stat().st_size < 4000 < (tmp_path / "large.pem").stat().st_size
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted(
        (f["resource"], f["message"].split(": ")[1]) for f in _committed(result.stdout)
    ) == [
        ("large.pem", "cannot judge"),
        (
            "small.pem",
            "Private Key committed to the repository; remove it from the file and from the history, rotate it, and keep it in a vault or as a Pulumi secret.",
        ),
    ]
    monkeypatch.setenv("CHECKOV_MAX_FILE_SIZE", "0")
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted(f["message"] for f in _committed(result.stdout)) == [
        MESSAGE.format(file="large.pem", line=2),
        MESSAGE.format(file="small.pem", line=2),
    ]


def test_an_unusable_secrets_scan_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKOV_MAX_FILE_SIZE", "5MB")
    with pytest.raises(
        CheckovError, match=r"^CHECKOV_MAX_FILE_SIZE: not a number of bytes \(got '5MB'\)"
    ):
        scan_size_limit()


#: A short deadline for the scans below: a checkov let open a named pipe waits on it for ever,
#: and the run must then fail in this many seconds (exit 2), not hang for the default minutes.
PIPE_DEADLINE = "30"


def _not_read(file: str, kind: str) -> str:
    return (
        f"KM-STO-001 {file}: cannot judge: the file is not a regular file ({kind}), so the "
        "secrets scan did not read it and key material in it would go unseen; remove it from "
        "the repository or the scanned folder."
    )


@pytest.mark.parametrize("folder", ["", "infra.terraform"])
def test_a_named_pipe_beside_the_scanned_file_is_reported_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """checkov opens every file of a folder it walks: a named pipe (or a link to one) blocked
    it until the scan's deadline. Never handed to it, it is reported as not read, and the rest
    of the folder is judged as before. (A folder named `*.terraform`: checkov rewrites
    `.terraform` in a `--skip-path` pattern.)"""
    monkeypatch.setenv("KEYPLANE_CHECKOV_TIMEOUT", PIPE_DEADLINE)
    (tmp_path / folder).mkdir(exist_ok=True)
    path = _export(tmp_path / folder)
    (path.parent / "deploy").mkdir()
    os.mkfifo(path.parent / "deploy" / "events")
    (path.parent / "tls.pem").symlink_to(path.parent / "deploy" / "events")
    (path.parent / "server.key").write_text(PEM)
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted(
        (f["enforcement"], f["resource"], f["message"]) for f in _committed(result.stdout)
    ) == [
        ("advisory", "deploy/events", _not_read("deploy/events", "a named pipe")),
        ("advisory", "tls.pem", _not_read("tls.pem", "a link to a named pipe")),
        ("mandatory", "server.key", MESSAGE.format(file="server.key", line=2)),
    ]


def test_preview_reports_a_named_pipe_in_the_project_and_never_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`preview` hands checkov the files of several folders one by one: a named pipe among them
    (in the estate folder, at the project's top) is left out and reported as not read."""
    monkeypatch.setenv("KEYPLANE_CHECKOV_TIMEOUT", PIPE_DEADLINE)
    project = _project_with_a_key(tmp_path)
    os.mkfifo(project / "environments" / "events")
    os.mkfifo(project / "notifications")
    result = runner.invoke(
        app, ["preview", "prod", "--estate", str(project / "environments"), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    assert sorted(f["message"] for f in _committed(result.stdout)) == [
        _not_read("environments/events", "a named pipe"),
        _not_read("notifications", "a named pipe"),
        MESSAGE.format(file="stacks/id_rsa", line=2),
    ]


def test_the_command_with_a_named_pipe_in_the_folder_ends_promptly(tmp_path: Path) -> None:
    """End to end, as a user runs it: the gate passes (the pipe is advisory) in seconds, where
    it hung until the scan's deadline and then failed with exit 2."""
    path = _export(tmp_path)
    os.mkfifo(tmp_path / "events")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "keyplane", "scan", str(path), "--env", "prod", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "KEYPLANE_CHECKOV_TIMEOUT": PIPE_DEADLINE},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < float(PIPE_DEADLINE)
    assert [f["message"] for f in _committed(done.stdout)] == [_not_read("events", "a named pipe")]


# --- key material in comments ----------------------------------------------------------------

#: An access key ID of AWS's documented form (made up: no such key exists).
ACCESS_KEY = "AKIA" + "IOSFODNN7EXAMPLQ"


def test_key_material_in_comments_is_reported_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkov reads a YAML (or INI) file's values only, and misses a PEM behind comment
    markers: a private key commented out in YAML or Python, an access key in a trailing YAML
    comment or in an INI comment are each reported at their line, the value never shown; a `#`
    inside a YAML value is no comment. The comments' copies are removed afterwards."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    path = _export(tmp_path)
    commented = "".join(f"# {line}\n" for line in PEM.splitlines())
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  acme:region: eu-west-1\n" + commented)
    (tmp_path / "settings.yaml").write_text(
        'url: "https://example.com/#' + ACCESS_KEY.lower() + '"\n'
        f"owner: platform  # old key {ACCESS_KEY}\n"
    )
    (tmp_path / "setup.cfg").write_text(f"[tool]\nname = orders\n# {ACCESS_KEY}\n")
    (tmp_path / "deploy.py").write_text('print("deploy")\n' + commented)
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted(f["message"] for f in _committed(result.stdout)) == sorted(
        [
            # The first line of the PEM's body, as checkov reports a private key.
            MESSAGE.format(file="Pulumi.prod.yaml", line=4),
            MESSAGE.format(file="deploy.py", line=3),
            MESSAGE.format(file="settings.yaml", line=2).replace("Private Key", "AWS Access Key"),
            MESSAGE.format(file="setup.cfg", line=3).replace("Private Key", "AWS Access Key"),
        ]
    )
    assert BODY.splitlines()[0] not in result.stdout
    assert ACCESS_KEY not in result.stdout
    assert list(temporary.iterdir()) == []


def test_the_comments_of_a_file_are_read_with_its_syntax() -> None:
    from keyplane.engines.checkov.comments import comments

    yaml_text = (
        "# a whole line\n"
        "name: orders   # after a value\n"
        'url: "https://example.com/#anchor"  # after a quoted value\n'
        "plain: a#b\n"
        "block: |\n"
        "  echo start # part of the value\n"
        "#\n"
        "list: [a, b]  # after a flow list\n"
    )
    assert comments("stack.yaml", yaml_text) == {
        1: "a whole line",
        2: "after a value",
        3: "after a quoted value",
        8: "after a flow list",
    }
    # A YAML file that does not parse is read as plain text: whole-line comments.
    assert comments("broken.yml", "a: [\n# hidden\n") == {2: "hidden"}
    assert comments("main.ts", "const a = 1;\n// one\n/* two */\n * three\n") == {
        2: "one",
        3: "two",
        4: "three",
    }
    # A PEM's armour and a line of base64 are no comments.
    assert comments("id_rsa", PEM + "//8AAAB\n") == {}
    assert comments("plain.txt", "no comment here\n") == {}


# --- key material in binary files ----------------------------------------------------------


def _binary_key_files() -> dict[str, bytes]:
    """Key material made at run time (never committed), and binary files that are none."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    from tests.certs import self_signed

    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key, "orders.example", datetime.now(UTC), days=1)
    der, pkcs8 = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8
    return {
        "tls.key": key.private_bytes(der, pkcs8, serialization.NoEncryption()),
        "tls-locked.key": key.private_bytes(
            der, pkcs8, serialization.BestAvailableEncryption(b"a passphrase")
        ),
        "tls.pfx": pkcs12.serialize_key_and_certificates(
            b"tls", key, certificate, None, serialization.BestAvailableEncryption(b"a passphrase")
        ),
        "signing.jks": bytes.fromhex("feedfeed00000002") + bytes(64),
        # Not key material: a certificate, a public key, an image.
        "tls.crt": certificate.public_bytes(der),
        "tls.pub": key.public_key().public_bytes(
            der, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "logo.png": bytes.fromhex("89504e470d0a1a0a") + bytes(range(256)),
    }


def test_binary_key_material_is_told_from_other_binary_files() -> None:
    from keyplane.engines.checkov.key_files import key_material

    found = {name: key_material(data) for name, data in _binary_key_files().items()}
    assert found == {
        "tls.key": "a DER-encoded private key",
        "tls-locked.key": "an encrypted DER-encoded private key",
        "tls.pfx": "a PKCS#12 key store",
        "signing.jks": "a Java key store (JKS)",
        "tls.crt": None,
        "tls.pub": None,
        "logo.png": None,
    }


def test_a_committed_binary_key_or_key_store_is_reported(tmp_path: Path) -> None:
    """checkov's scan reads text only: a DER private key or a key store passed silently."""
    path = _export(tmp_path)
    (tmp_path / "certs").mkdir()
    for name, data in _binary_key_files().items():
        (tmp_path / "certs" / name).write_bytes(data)
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    reported = {f["resource"]: (f["enforcement"], f["message"]) for f in _committed(result.stdout)}
    kinds = {
        "certs/signing.jks": "a Java key store (JKS)",
        "certs/tls-locked.key": "an encrypted DER-encoded private key",
        "certs/tls.key": "a DER-encoded private key",
        "certs/tls.pfx": "a PKCS#12 key store",
    }
    assert reported == {
        file: (
            "mandatory",
            f"KM-STO-001 {file}: {kind} committed to the repository; remove the file and its "
            "history, rotate the keys it holds, and keep them in a vault or as a Pulumi secret.",
        )
        for file, kind in kinds.items()
    }


def _private_key_pem(encrypted: bool = False) -> str:
    """A real private key (made at run time), as PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(b"a passphrase")
        if encrypted
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
    ).decode()


def test_private_keys_checkovs_detector_misses_are_reported(tmp_path: Path) -> None:
    """Its detector reads no file over 8 KiB and knows no encrypted PKCS#8 block nor PuTTY key
    file of version 3: each passed silently. A key checkov does find is reported once."""
    path = _export(tmp_path)
    filler = "".join(f"# setting {n}\n" for n in range(1000))  # 8 KiB and more before the key
    key = _private_key_pem()
    (tmp_path / "found.pem").write_text(key)
    (tmp_path / "locked.pem").write_text(_private_key_pem(encrypted=True))
    (tmp_path / "big.txt").write_text(filler + key)
    value = "".join(f"  {line}\n" for line in key.splitlines())
    (tmp_path / "big.yaml").write_text(f"name: orders\n{filler}tls: |\n{value}")
    commented = "".join(f"# {line}\n" for line in key.splitlines())
    (tmp_path / "big-comment.yaml").write_text("name: orders\n" + filler + commented)
    (tmp_path / "deploy.ppk").write_text(
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\n"
        "Public-Lines: 1\nAAAAC3NzaC1lZDI1NTE5AAAAIExample\nPrivate-Lines: 1\n"
        "AAAAIExampleExampleExampleExample\nPrivate-MAC: 00\n"
    )
    # An example in a document is not a key: left to checkov, which does not take it for one.
    (tmp_path / "README.md").write_text(
        "A key starts so:\n\n-----BEGIN "
        + "PRIVATE KEY-----\n...\n-----END "
        + "PRIVATE KEY-----\n"
    )
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    found = sorted(
        (
            f["resource"],
            f["location"]["line"],
            f["message"].split(": ", 1)[1].split(" committed")[0],
        )
        for f in _committed(result.stdout)
    )
    assert found == [
        ("big-comment.yaml", 1002, "a private key (PRIVATE KEY)"),
        ("big.txt", 1001, "a private key (PRIVATE KEY)"),
        ("big.yaml", 1002, "Private Key"),  # checkov reads a YAML value whole: found
        ("deploy.ppk", 1, "a PuTTY private key (version 3)"),
        ("found.pem", 2, "Private Key"),  # checkov's, at the first line of the body
        ("locked.pem", 1, "an encrypted private key (ENCRYPTED PRIVATE KEY)"),
    ]
    assert key.splitlines()[1] not in result.stdout


def test_a_private_key_in_a_json_string_is_reported_at_its_line(tmp_path: Path) -> None:
    """A key file's `private_key` (PEM lines as `\\n` escapes) in a JSON file over 8 KiB, which
    checkov's detector does not read; a small one, which it does, is reported once."""
    path = _export(tmp_path)
    key = _private_key_pem()
    large = {"notes": ["x" * 60] * 200, "type": "service_account", "private_key": key}
    (tmp_path / "large-sa.json").write_text(json.dumps(large, indent=2))
    (tmp_path / "small-sa.json").write_text(
        json.dumps({"type": "service_account", "private_key": key}, indent=2)
    )
    result = runner.invoke(app, ["scan", str(path), "--env", "prod", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert sorted((f["resource"], f["location"]["line"]) for f in _committed(result.stdout)) == [
        ("large-sa.json", 205),
        ("small-sa.json", 3),
    ]
    assert key.splitlines()[1] not in result.stdout
