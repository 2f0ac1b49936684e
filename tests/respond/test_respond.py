"""`keyplane respond` and `keyplane restore-test` end to end: a moto server on 127.0.0.1 (behind
the audit tests' proxy where a fault or CloudTrail's LookupEvents, which moto lacks, is needed),
the commands through the real typer app."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.audit.proxy import Fault, Proxy
from tests.audit.support import (
    ACCOUNT,
    ENV,
    ENVIRONMENT_YAML,
    USER,
    build_account,
    client,
    create_key,
)

EXTRA_KEYS = """\
  - name: session-signing
    purpose: token-signing
    algorithm: ECDSA-P256
    rotation:
      owner: identity-team
      rotate_by: 2027-05-01
  - name: vault-backup
    purpose: backup-encryption
    algorithm: AES-256
secrets:
  - name: legacy-token
    purpose: api-secret
    rotation_days: 90
"""
DEV_YAML = f"""\
name: dev
tier: development
cloud: aws
aws:
  account_id: "{ACCOUNT}"
  region: eu-west-1
hsm:
  enabled: false
logging:
  retention_days: 400
keys:
  - name: dev-only
    purpose: application-encryption
    algorithm: AES-256
access:
  key_admins: [arn:aws:iam::{ACCOUNT}:role/key-admin]
"""
#: One CloudTrail event history: a failed Decrypt by an unknown role, two Decrypts by the user.
EVENTS = {
    "Events": [
        {
            "EventName": "Decrypt",
            "EventTime": 1767225600,
            "CloudTrailEvent": json.dumps(
                {
                    "userIdentity": {"arn": f"arn:aws:iam::{ACCOUNT}:role/intruder"},
                    "errorCode": "AccessDenied",
                }
            ),
        },
        *[
            {
                "EventName": "Decrypt",
                "EventTime": 1767225600,
                "CloudTrailEvent": json.dumps({"userIdentity": {"arn": USER}}),
            }
        ]
        * 2,
    ]
}


def write_estate(root: Path, account: str = ACCOUNT) -> Path:
    estate = root / "environments"
    estate.mkdir()
    text = ENVIRONMENT_YAML.format(account=account).replace("secrets:\n", EXTRA_KEYS, 1)
    (estate / f"{ENV}.yaml").write_text(text)
    (estate / "dev.yaml").write_text(DEV_YAML)
    return estate


def build(endpoint: str) -> dict[str, str]:
    """The audit tests' account plus a grant on orders-db, a signing key, a backup key and a
    secret without a rotation function."""
    account = build_account(endpoint)
    kms = client("kms", endpoint)
    kms.create_grant(KeyId=account.keys["orders-db"], GranteePrincipal=USER, Operations=["Decrypt"])
    keys = dict(account.keys)
    keys["session-signing"] = create_key(
        kms,
        "session-signing",
        "token-signing",
        spec="ECC_NIST_P256",
        usage="SIGN_VERIFY",
        rotate=False,
    )
    keys["vault-backup"] = create_key(kms, "vault-backup", "backup-encryption")
    client("secretsmanager", endpoint).create_secret(
        Name=f"{ENV}/legacy-token", SecretString="not-a-real-secret"
    )
    return keys


def snapshot(endpoint: str) -> dict[str, Any]:
    """Everything `respond` may change: keys (state, policy, grants, tags), aliases, secrets."""
    kms = client("kms", endpoint)
    keys = {}
    for listed in kms.list_keys()["Keys"]:
        key_id = listed["KeyId"]
        keys[key_id] = (
            kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"],
            kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"],
            len(kms.list_grants(KeyId=key_id)["Grants"]),
            kms.list_resource_tags(KeyId=key_id)["Tags"],
        )
    aliases = sorted((a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases()["Aliases"])
    sm = client("secretsmanager", endpoint)
    secrets = {
        s["Name"]: sorted(
            (v["VersionId"], tuple(v.get("VersionStages", ())))
            for v in sm.list_secret_version_ids(SecretId=s["ARN"])["Versions"]
        )
        for s in sm.list_secrets()["SecretList"]
    }
    return {"keys": keys, "aliases": aliases, "secrets": secrets}


@pytest.fixture
def proxy(endpoint: str) -> Iterator[Proxy]:
    """The proxy in front of moto, answering LookupEvents with `EVENTS`."""
    with Proxy(endpoint).running() as running:
        running.faults["LookupEvents"] = Fault("body", body=EVENTS)
        yield running


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def respond(estate: Path, url: str, records: Path, *args: str) -> tuple[int, str, str]:
    return run(
        "respond",
        ENV,
        "--estate",
        str(estate),
        "--endpoint-url",
        url,
        "--record-dir",
        str(records),
        *args,
    )


def target_of(endpoint: str, alias: str) -> dict[str, Any]:
    metadata: dict[str, Any] = client("kms", endpoint).describe_key(KeyId=alias)["KeyMetadata"]
    return metadata


def test_the_dry_run_prints_the_plan_and_changes_nothing(endpoint: str, tmp_path: Path) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    before = snapshot(endpoint)
    code, out, err = respond(estate, endpoint, tmp_path / "incidents", "--key", "orders-db")
    assert code == 0, err
    assert "Plan for the compromised key orders-db in prod (AWS, database-encryption):" in out
    assert "  2. revoke: remove the users' statements from the key policy" in out
    assert "Dry run: nothing was changed. Run again with --apply to carry it out." in out
    assert snapshot(endpoint) == before
    assert not (tmp_path / "incidents").exists()


@pytest.mark.parametrize(
    ("args", "heading", "step"),
    [
        (
            ("--key", "session-signing"),
            "Plan for the compromised key session-signing in prod (AWS, token-signing):",
            "2. revoke: disable the key",
        ),
        (
            ("--secret", "payments-api"),
            "Plan for the compromised secret payments-api in prod (AWS, api-secret):",
            "1. rotate: rotate the secret now (RotateSecret",
        ),
    ],
)
def test_the_dry_run_of_a_signing_key_or_a_secret_changes_nothing(
    endpoint: str, tmp_path: Path, args: tuple[str, ...], heading: str, step: str
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    before = snapshot(endpoint)
    code, out, err = respond(estate, endpoint, tmp_path / "incidents", *args)
    assert code == 0, err
    assert out.splitlines()[0] == heading
    assert f"  {step}" in out
    assert "Then by hand:" in out
    assert out.rstrip().endswith(
        "Dry run: nothing was changed. Run again with --apply to carry it out."
    )
    assert snapshot(endpoint) == before
    assert not (tmp_path / "incidents").exists()


def test_apply_rotates_an_encryption_key_then_a_second_run_is_a_no_op(
    endpoint: str, proxy: Proxy, tmp_path: Path
) -> None:
    keys = build(endpoint)
    estate, records = write_estate(tmp_path), tmp_path / "incidents"
    old_arn = keys["orders-db"]
    code, out, err = respond(
        estate, proxy.url, records, "--key", "orders-db", "--apply", "--reason", "leaked in a log"
    )
    assert code == 0, out + err
    alias = target_of(endpoint, f"alias/{ENV}/orders-db")
    old = target_of(endpoint, old_arn)
    kms = client("kms", endpoint)
    assert alias["Arn"] != old_arn and alias["KeyState"] == "Enabled"
    assert (alias["KeySpec"], alias["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert old["KeyState"] == "Disabled"
    assert kms.list_grants(KeyId=old_arn)["Grants"] == []
    assert USER not in kms.get_key_policy(KeyId=old_arn, PolicyName="default")["Policy"]
    assert USER in kms.get_key_policy(KeyId=alias["Arn"], PolicyName="default")["Policy"]
    assert kms.get_key_rotation_status(KeyId=alias["KeyId"])["KeyRotationEnabled"] is True
    new_tags = {
        t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=alias["KeyId"])["Tags"]
    }
    assert new_tags["keyplane-purpose"] == "database-encryption"
    assert new_tags["keyplane-replaces"] == old["KeyId"]
    assert "[done] revoke/retire-grants: revoked 1 grant(s)" in out
    assert f"[done] rotate/retain-old-key: disabled {old['KeyId']}" in out
    assert (
        "[done] investigate/investigate: 3 CloudTrail event(s) in 30 days, 1 failed, 2 principal(s)"
        in out
    )

    [record_json] = records.glob("*.json")
    record = json.loads(record_json.read_text())
    assert record["reason"] == "leaked in a log"
    assert record["caller"].startswith(f"arn:aws:sts::{ACCOUNT}:") or ACCOUNT in record["caller"]
    assert record["result"] == "complete"
    assert [s["status"] for s in record["steps"]] == ["done"] * 6
    rows = record["investigation"]["by_principal_and_action"]
    assert rows[0] == {
        "principal": f"arn:aws:iam::{ACCOUNT}:role/intruder",
        "action": "Decrypt",
        "events": 1,
        "failed": 1,
    }
    assert rows[1] == {"principal": USER, "action": "Decrypt", "events": 2, "failed": 0}
    assert any("re-encrypt the data" in item for item in record["remaining_manual"])
    markdown = record_json.with_suffix(".md").read_text()
    assert "- **Reason:** leaked in a log" in markdown
    assert "- **Result:** complete" in markdown
    intruder = markdown.index(f"| arn:aws:iam::{ACCOUNT}:role/intruder | Decrypt | 1 | 1 |")
    assert intruder < markdown.index(f"| {USER} | Decrypt | 2 | 0 |")
    assert "## Remaining manual steps" in markdown

    before = snapshot(endpoint)
    code, out, err = respond(estate, proxy.url, records, "--key", "orders-db", "--apply")
    assert code == 0, out + err
    assert "Every change was already made by an earlier run: nothing changed now." in out
    assert "[already done] rotate/new-key" in out
    assert snapshot(endpoint) == before


def test_apply_on_a_signing_key_disables_it_and_records_the_new_public_key(
    endpoint: str, proxy: Proxy, tmp_path: Path
) -> None:
    keys = build(endpoint)
    estate, records = write_estate(tmp_path), tmp_path / "incidents"
    code, out, err = respond(estate, proxy.url, records, "--key", "session-signing", "--apply")
    assert code == 0, out + err
    assert "[done] revoke/revoke-users: disabled" in out
    assert "[already done] rotate/retain-old-key" in out
    assert target_of(endpoint, keys["session-signing"])["KeyState"] == "Disabled"
    new = target_of(endpoint, f"alias/{ENV}/session-signing")
    assert (new["KeySpec"], new["KeyState"]) == ("ECC_NIST_P256", "Enabled")
    record = json.loads(next(records.glob("*.json")).read_text())
    assert record["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----\n")
    assert "PRIVATE" not in json.dumps(record)


def test_a_secret_without_a_rotation_function_is_rotated_by_hand(
    endpoint: str, proxy: Proxy, tmp_path: Path
) -> None:
    build(endpoint)
    estate, records = write_estate(tmp_path), tmp_path / "incidents"
    before = snapshot(endpoint)
    code, out, err = respond(estate, proxy.url, records, "--secret", "legacy-token", "--apply")
    assert code == 0, out + err
    assert "[manual] rotate/rotate-secret:" in out and "has no rotation function" in out
    assert snapshot(endpoint) == before
    record = json.loads(next(records.glob("*.json")).read_text())
    assert record["steps"][0]["status"] == "manual"


def test_a_secret_with_a_rotation_function_is_rotated_once(
    endpoint: str, proxy: Proxy, tmp_path: Path
) -> None:
    """moto rotates a secret on RotateSecret (it stages the new version AWSCURRENT itself)."""
    build(endpoint)
    estate, records = write_estate(tmp_path), tmp_path / "incidents"
    sm = client("secretsmanager", endpoint)
    before = sm.describe_secret(SecretId=f"{ENV}/payments-api")["VersionIdsToStages"]
    code, out, err = respond(estate, proxy.url, records, "--secret", "payments-api", "--apply")
    assert code == 0, out + err
    assert "[done] rotate/rotate-secret: rotated" in out
    after = sm.describe_secret(SecretId=f"{ENV}/payments-api")["VersionIdsToStages"]
    [current] = [v for v, stages in after.items() if "AWSCURRENT" in stages]
    assert current not in before
    code, out, err = respond(estate, proxy.url, records, "--secret", "payments-api", "--apply")
    assert code == 0, out + err
    assert "[already done] rotate/rotate-secret: " in out and current in out
    assert sm.describe_secret(SecretId=f"{ENV}/payments-api")["VersionIdsToStages"] == after


def test_access_denied_on_one_step_is_recorded_and_the_rest_continues(
    endpoint: str, proxy: Proxy, tmp_path: Path
) -> None:
    keys = build(endpoint)
    estate, records = write_estate(tmp_path), tmp_path / "incidents"
    proxy.faults["RevokeGrant"] = Fault("denied")
    code, out, _ = respond(estate, proxy.url, records, "--key", "orders-db", "--apply")
    assert code == 1
    assert "[failed] revoke/retire-grants: RevokeGrant refused: AccessDeniedException" in out
    assert "[done] rotate/new-key" in out
    assert target_of(endpoint, keys["orders-db"])["KeyState"] == "Disabled"
    record = json.loads(next(records.glob("*.json")).read_text())
    assert record["result"] == "incomplete"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key", "nope"), "no key 'nope' in prod (declared: orders-db, app-data"),
        (("--key", "dev-only"), "it is declared in dev: pass that environment"),
        (("--secret", "nope"), "no secret 'nope' in prod"),
        (("--key", "orders-db", "--secret", "legacy-token"), "pass exactly one of --key"),
        (("--key", "orders-db", "--endpoint-url", "ftp://x"), "not an http(s) URL"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_changes(
    endpoint: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    before = snapshot(endpoint)
    code, _, err = respond(estate, endpoint, tmp_path / "incidents", *args, "--apply")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert snapshot(endpoint) == before
    assert not (tmp_path / "incidents").exists()


def _unwritable(tmp_path: Path) -> tuple[Path, str]:
    """A directory this process cannot write to: read-only by mode, or (root writes through
    modes) a directory of /proc, where no file can be created."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked / "incidents", f"directory {locked} is not writable"
    return Path("/proc/keyplane-incidents"), "directory /proc is not writable"


def _record_dir(tmp_path: Path, case: str) -> tuple[Path, str]:
    """The `--record-dir` of each refused case and the words that say why."""
    if case == "unwritable":
        return _unwritable(tmp_path)
    target = tmp_path / "incidents"
    if case == "file":
        target.write_text("")
        return target, f"{target} is not a directory"
    if case == "file-parent":
        (tmp_path / "a-file").write_text("")
        return tmp_path / "a-file" / "incidents", f"{tmp_path / 'a-file'} is not a directory"
    if case == "symlink":
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
        return target, "is a symbolic link; name the directory itself"
    assert case == "dangling-symlink"
    (tmp_path / "parent").symlink_to(tmp_path / "gone")
    parent = tmp_path / "parent"
    return parent / "incidents", f"{parent} is a dangling symbolic link"


@pytest.mark.parametrize(
    "case", ["file", "file-parent", "symlink", "dangling-symlink", "unwritable"]
)
def test_a_record_dir_that_cannot_hold_the_record_is_refused_before_any_change(
    endpoint: str, tmp_path: Path, case: str
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    record_dir, why = _record_dir(tmp_path, case)
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    before = snapshot(endpoint)
    code, out, err = respond(estate, endpoint, record_dir, "--key", "orders-db", "--apply")
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"keyplane respond: --record-dir {record_dir}: cannot write: ")
    assert why in line and line.endswith("; nothing was changed")
    assert out == ""
    assert snapshot(endpoint) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing


def test_credentials_of_another_account_are_refused_with_exit_2(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path, account="210987654321")
    before = snapshot(endpoint)
    code, _, err = respond(
        estate, endpoint, tmp_path / "incidents", "--key", "orders-db", "--apply"
    )
    assert code == 2
    assert f"the credentials belong to account {ACCOUNT}" in err
    assert snapshot(endpoint) == before


def test_an_azure_secret_gets_the_plan_and_apply_says_it_is_not_automated(
    estate: Path, tmp_path: Path
) -> None:
    # Keys are automated on every cloud (tests/audit_gcp, tests/audit_azure); an Azure secret's
    # new value is not (keyplane cannot make one).
    secret = ["respond", "prod-azure", "--secret", "acme-payments-api", "--estate", str(estate)]
    code, out, _ = run(*secret)
    assert code == 0
    assert "Not yet automated on Azure: do these steps by hand." in out
    code, _, err = run(*secret, "--apply")
    assert code == 2
    assert "--apply is not yet automated on secrets on Azure" in err


def test_a_restore_test_round_trip_files_the_evidence_validate_reads(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    as_of = ["validate", "--estate", str(estate), "--as-of", "2026-01-10"]
    _, out, _ = run(*as_of)
    assert "KM-BAK-002" in out and "vault-backup" in out

    code, out, err = run("restore-test", ENV, "--key", "vault-backup", "--estate", str(estate))
    assert code == 0, err
    assert "Dry run: nothing was called or written." in out
    assert not (estate / "evidence").exists()

    code, out, err = run(
        "restore-test",
        ENV,
        "--key",
        "vault-backup",
        "--estate",
        str(estate),
        "--endpoint-url",
        endpoint,
        "--apply",
    )
    assert code == 0, err
    assert "Restore test passed: alias/prod/vault-backup" in out
    record = json.loads((estate / "evidence" / "restore-test-prod--vault-backup.json").read_text())
    assert record["result"] == "passed"
    assert set(record) == {
        "kind",
        "environment",
        "key",
        "key_id",
        "tested_at",
        "result",
        "caller",
        "keyplane_version",
        "backup_role",
        "decrypted_by",
        "as_backup_role",
        "note",
    }
    _, out, _ = run(*[*as_of[:-1], record["tested_at"][:10]])
    assert "KM-BAK-002" not in out


def test_a_restore_test_of_a_key_that_is_not_a_backup_key_is_refused(
    endpoint: str, tmp_path: Path
) -> None:
    estate = write_estate(tmp_path)
    code, _, err = run(
        "restore-test",
        ENV,
        "--key",
        "orders-db",
        "--estate",
        str(estate),
        "--apply",
        "--endpoint-url",
        endpoint,
    )
    assert code == 2
    assert (
        "orders-db is a database-encryption key; restore tests are for backup-encryption keys"
        in err
    )
    assert not (estate / "evidence").exists()


def record_caller(estate: Path) -> str:
    record = json.loads((estate / "evidence" / "restore-test-prod--vault-backup.json").read_text())
    return str(record["caller"])


def test_a_refused_decrypt_fails_the_restore_test_with_exit_1(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    with Proxy(endpoint).running() as proxy:
        proxy.faults["Decrypt"] = Fault("denied")
        code, out, _ = run(
            "restore-test",
            ENV,
            "--key",
            "vault-backup",
            "--estate",
            str(estate),
            "--endpoint-url",
            proxy.url,
            "--apply",
        )
    assert code == 1
    assert "Restore test failed: " in out
    assert f"Decrypt refused as {record_caller(estate)}: AccessDeniedException" in out
    record = json.loads((estate / "evidence" / "restore-test-prod--vault-backup.json").read_text())
    assert record["result"] == "failed"
