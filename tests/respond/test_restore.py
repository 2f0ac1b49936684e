"""Restore tests of backup keys (Policy §11, KM-BAK-002) end to end on a moto server on
127.0.0.1: the canary decrypted as the declared backup role (STS AssumeRole), the caller's
fallback said in the evidence, and the evidence judged the same way by `validate` (point V) and
the live audit (point A) through `keyplane.rules.bak.restore_test_problem`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from keyplane.config.evidence import restore_record_path
from tests.audit.proxy import Fault, Proxy
from tests.audit.support import ACCOUNT, ENV, client
from tests.respond.test_respond import build, run, write_estate

BACKUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup-agent"
#: The environment's key users gain the role that restores backups with vault-backup.
BACKUP_USER = f"    - principal: {BACKUP_ROLE}\n      keys: [vault-backup]\n"
FIX = "run `keyplane restore-test prod --key vault-backup --apply`"


def estate_with_backup_role(root: Path, tested_on: str | None = None) -> Path:
    """The respond tests' estate; vault-backup used by BACKUP_ROLE and, when given, declared
    restore-tested on `tested_on`."""
    estate = write_estate(root)
    path = estate / f"{ENV}.yaml"
    text = path.read_text().replace("      keys: [orders-db, app-data]\n", "", 1)
    text = text.replace(
        "    - principal: arn:aws:iam::123456789012:role/orders-service\n",
        "    - principal: arn:aws:iam::123456789012:role/orders-service\n"
        "      keys: [orders-db, app-data]\n" + BACKUP_USER,
        1,
    )
    if tested_on is not None:
        text = text.replace(
            "  - name: vault-backup\n    purpose: backup-encryption\n    algorithm: AES-256\n",
            "  - name: vault-backup\n    purpose: backup-encryption\n    algorithm: AES-256\n"
            f"    restore_tested_on: {tested_on}\n",
            1,
        )
    path.write_text(text)
    return estate


def create_backup_role(endpoint: str) -> None:
    """The role in IAM, trusting the account (whose principals may then assume it)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    client("iam", endpoint).create_role(
        RoleName="backup-agent", AssumeRolePolicyDocument=json.dumps(trust)
    )


def restore_test(estate: Path, url: str, *extra: str) -> tuple[int, str, str]:
    return run(
        "restore-test",
        ENV,
        "--key",
        "vault-backup",
        "--estate",
        str(estate),
        "--endpoint-url",
        url,
        *extra,
    )


def record_of(estate: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        restore_record_path(estate, ENV, "vault-backup").read_text()
    )
    return document


def test_the_canary_is_decrypted_as_the_declared_backup_role(endpoint: str, tmp_path: Path) -> None:
    build(endpoint)
    create_backup_role(endpoint)
    estate = estate_with_backup_role(tmp_path)
    code, out, _ = restore_test(estate, endpoint)
    assert code == 0
    assert f"decrypt it as the declared backup role {BACKUP_ROLE} (STS AssumeRole" in out

    code, out, err = restore_test(estate, endpoint, "--apply")
    assert code == 0, err
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/backup-agent/keyplane-restore-test"
    assert out.splitlines()[0] == (
        f"Restore test passed: alias/{ENV}/vault-backup "
        f"({client('kms', endpoint).describe_key(KeyId=f'alias/{ENV}/vault-backup')['KeyMetadata']['Arn']}) "
        f"encrypted a 32-byte canary and decrypted it as {session}."
    )
    record = record_of(estate)
    assert (record["result"], record["backup_role"], record["decrypted_by"]) == (
        "passed",
        BACKUP_ROLE,
        session,
    )
    assert record["as_backup_role"] is True and record["note"] is None
    assert record["caller"] != session


def test_a_refused_assume_role_falls_back_to_the_caller_and_says_so(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    estate = estate_with_backup_role(tmp_path)
    with Proxy(endpoint).running() as proxy:
        proxy.faults["sts.AssumeRole"] = Fault("sts-denied")
        code, out, err = restore_test(estate, proxy.url, "--apply")
        assert proxy.seen["sts.AssumeRole"] == 1
    assert code == 0, err
    note = (
        f"AWS refused to let the caller assume {BACKUP_ROLE} (AccessDenied), so the caller "
        "decrypted; trust the caller in the role to test as the role"
    )
    assert out.splitlines()[0].endswith(f"({note}).")
    record = record_of(estate)
    assert record["result"] == "passed"
    assert (record["as_backup_role"], record["decrypted_by"]) == (False, record["caller"])
    assert (record["backup_role"], record["note"]) == (BACKUP_ROLE, note)


def test_without_a_declared_role_the_caller_decrypts_and_the_record_says_so(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    estate = write_estate(tmp_path)
    code, out, err = restore_test(estate, endpoint, "--apply")
    assert code == 0, err
    assert "no IAM role among the key's users" in out
    record = record_of(estate)
    assert (record["backup_role"], record["as_backup_role"]) == (None, False)
    assert record["decrypted_by"] == record["caller"]


def test_the_canary_is_never_printed_or_stored(endpoint: str, tmp_path: Path) -> None:
    """The canary's bytes appear nowhere: the Decrypt answer passes through the proxy, which
    keeps it, and neither the output nor the record holds it (nor its base64)."""
    import base64

    build(endpoint)
    create_backup_role(endpoint)
    estate = estate_with_backup_role(tmp_path)
    with Proxy(endpoint).running() as proxy:
        code, out, err = restore_test(estate, proxy.url, "--apply")
    assert code == 0, err
    assert proxy.seen["Decrypt"] == 1
    text = out + err + restore_record_path(estate, ENV, "vault-backup").read_text()
    assert "Plaintext" not in text and 'canary": ' not in text
    # A 32-byte canary is 44 base64 characters: no such token is in what was written.
    assert not [w for w in text.split() if len(w.strip('",()')) == 44 and _is_b64(w, base64)]


def _is_b64(word: str, base64: Any) -> bool:
    try:
        return len(base64.b64decode(word.strip('",()'), validate=True)) == 32
    except ValueError:
        return False


def test_a_failed_restore_test_is_km_bak_002_even_after_a_declared_pass(
    endpoint: str, tmp_path: Path
) -> None:
    """A failed record newer than restore_tested_on counts: a failure is never hidden."""
    build(endpoint)
    estate = estate_with_backup_role(tmp_path, tested_on="2025-12-01")
    with Proxy(endpoint).running() as proxy:
        proxy.faults["Decrypt"] = Fault("denied")
        code, _, _ = restore_test(estate, proxy.url, "--apply")
    assert code == 1
    day = record_of(estate)["tested_at"][:10]
    code, out, _ = run("validate", "--estate", str(estate), "--as-of", day)
    assert code == 1
    assert (
        f"KM-BAK-002 vault-backup: the last restore test, on {day}, failed "
        "(evidence/restore-test-prod--vault-backup.json): the key may not recover its backups; "
        f"find why, fix it and {FIX}." in " ".join(out.split())
    )


# --- KM-BAK-002 at point A: the live audit ------------------------------------------------------


def audit(estate: Path, url: str, as_of: str) -> tuple[int, list[dict[str, Any]]]:
    """The audit's exit code and its KM-BAK-002 findings (`audit_document` keeps the rest)."""
    code, document = audit_document(estate, url, as_of)
    return code, [f for f in document["findings"] if f["rule"] == "KM-BAK-002"]


def audit_document(estate: Path, url: str, as_of: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(
        "audit",
        ENV,
        "--estate",
        str(estate),
        "--endpoint-url",
        url,
        "--as-of",
        as_of,
        "--format",
        "json",
    )
    assert code in (0, 1), err
    document: dict[str, Any] = json.loads(out)
    return code, document


def test_the_audit_judges_the_declared_restore_test_of_a_backup_key(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    # moto creates the key today: a test declared that day counts for a year.
    today = date.today()
    estate = estate_with_backup_role(tmp_path, tested_on=today.isoformat())
    _, findings = audit(estate, endpoint, (today + timedelta(days=365)).isoformat())
    assert findings == []
    _, findings = audit(estate, endpoint, (today + timedelta(days=366)).isoformat())
    assert [(f["message"], f["enforcement"], f["engine"]) for f in findings] == [
        (
            f"KM-BAK-002 vault-backup: the last restore test was on {today.isoformat()}, 366 "
            f"days ago (more than 365); {FIX} and record it.",
            "mandatory",
            "audit",
        )
    ]
    assert findings[0]["resource"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")


def test_a_restore_test_older_than_the_key_tested_the_key_it_replaced(
    endpoint: str, tmp_path: Path
) -> None:
    """`keyplane respond` replaces a suspected key under the same name: the old key's restore
    test must not count for the new one (it was a silent pass)."""
    build(endpoint)
    today = date.today()
    before = today - timedelta(days=30)
    estate = estate_with_backup_role(tmp_path, tested_on=before.isoformat())
    # Point V cannot know which key the account holds: the declared test counts there.
    _, out, _ = run("validate", "--estate", str(estate), "--as-of", today.isoformat())
    assert "KM-BAK-002" not in out, out
    _, findings = audit(estate, endpoint, today.isoformat())
    assert [f["message"] for f in findings] == [
        f"KM-BAK-002 vault-backup: the restore test on record ({before.isoformat()}, "
        f"restore_tested_on) is older than this key, created {today.isoformat()}: it tested the "
        f"key this one replaced; {FIX}."
    ]


def test_a_restore_test_record_of_another_key_id_does_not_count(
    endpoint: str, tmp_path: Path
) -> None:
    build(endpoint)
    create_backup_role(endpoint)
    estate = estate_with_backup_role(tmp_path)
    code, _, err = restore_test(estate, endpoint, "--apply")
    assert code == 0, err
    path = restore_record_path(estate, ENV, "vault-backup")
    record = json.loads(path.read_text())
    day = record["tested_at"][:10]
    _, findings = audit(estate, endpoint, day)
    assert findings == []
    replaced = "0f9c5a52-0000-4000-8000-000000000000"
    path.write_text(json.dumps({**record, "key_id": replaced}))
    _, findings = audit(estate, endpoint, day)
    assert [f["message"] for f in findings] == [
        f"KM-BAK-002 vault-backup: the restore test on record ({day}, "
        f"evidence/restore-test-prod--vault-backup.json) is of key {replaced}, not of this one: "
        f"it tested the key this one replaced; {FIX}."
    ]


def test_the_audit_reads_the_evidence_restore_test_writes(endpoint: str, tmp_path: Path) -> None:
    build(endpoint)
    create_backup_role(endpoint)
    estate = estate_with_backup_role(tmp_path)
    code, findings = audit(estate, endpoint, "2026-11-30")
    assert [f["message"] for f in findings] == [
        "KM-BAK-002 vault-backup: no restore test is on record for this backup key; run "
        "`keyplane restore-test prod --key vault-backup --apply` or record the date of a "
        "successful test in restore_tested_on."
    ]
    assert code == 1
    code, _, err = restore_test(estate, endpoint, "--apply")
    assert code == 0, err
    day = record_of(estate)["tested_at"][:10]
    _, document = audit_document(estate, endpoint, day)
    assert [f for f in document["findings"] if f["rule"] == "KM-BAK-002"] == []
    [backup] = [k for k in document["evidence"]["lifecycle"]["keys"] if k["name"] == "vault-backup"]
    assert backup["evidence"] == (
        "active: judged by the rules; restore test: "
        f"{day}, passed (evidence/restore-test-prod--vault-backup.json)"
    )


def test_the_audit_reports_an_undeclared_key_tagged_for_backups(
    endpoint: str, tmp_path: Path
) -> None:
    from tests.audit.support import create_key

    build(endpoint)
    create_key(client("kms", endpoint), "stray-backup", "backup-encryption")
    today = date.today().isoformat()
    estate = estate_with_backup_role(tmp_path, tested_on=today)
    _, findings = audit(estate, endpoint, today)
    assert [f["message"] for f in findings] == [
        "KM-BAK-002 stray-backup: this key is tagged backup-encryption but environment prod "
        "does not declare it, so no restore test can be on record; declare it under keys[] and "
        "run `keyplane restore-test prod --key <name> --apply`."
    ]


def test_the_audit_does_not_judge_restore_tests_without_the_aliases(
    endpoint: str, tmp_path: Path
) -> None:
    """Without ListAliases no key can be matched to its declaration: KM-BAK-002 is said
    unverifiable, never failed on every key as undeclared, never passed."""
    build(endpoint)
    estate = estate_with_backup_role(tmp_path)
    with Proxy(endpoint).running() as proxy:
        proxy.faults["ListAliases"] = Fault("denied")
        _, findings = audit(estate, proxy.url, "2026-11-30")
    assert [(f["enforcement"], f["message"]) for f in findings] == [
        (
            "advisory",
            f"KM-BAK-002 {ACCOUNT}/eu-west-1: unverifiable: the key aliases (names in findings "
            "fall back to key IDs) could not be read (AccessDeniedException); grant the auditor "
            "kms:ListAliases to judge KM-BAK-002.",
        )
    ]
