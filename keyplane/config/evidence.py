"""Evidence records the estate keeps beside its files: restore tests of backup keys (KM-BAK-002).

`keyplane restore-test ENV --key NAME --apply` proves that a backup key still decrypts what it
protects (Policy §11: "tested annually for restoration capability") and writes one JSON record
per environment and key into `<estate>/evidence/`:

    evidence/restore-test-<env>--<key>.json
    {"kind": "restore-test", "environment": "prod", "key": "platform-backup",
     "key_id": "arn:aws:kms:...", "tested_at": "2026-11-30T10:00:00+00:00",
     "result": "passed", "caller": "arn:aws:sts::...", "keyplane_version": "0.1.0",
     "backup_role": "arn:aws:iam::...:role/backup-agent",
     "decrypted_by": "arn:aws:sts::...:assumed-role/backup-agent/keyplane-restore-test",
     "as_backup_role": true, "note": null}

The record holds no key material and no canary. `validate`, the gate and the live audit read the
records with the estate (`load_restore_evidence`); a record that cannot be read is a problem of
the estate (exit 2), never a silently missing test. `latest_restore_test` is the one place that
says which test counts: the later of the record and the environment file's `restore_tested_on`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from keyplane.config.errors import ConfigError, Problem
from keyplane.config.files import read_regular_file
from keyplane.rules.context import RestoreTest

#: The folder of evidence records inside the estate directory.
EVIDENCE_DIR = "evidence"
_RECORD = re.compile(r"restore-test-(?P<env>[a-z0-9-]+?)--(?P<key>[a-z0-9-]+)\.json")
_MAX_RECORD_BYTES = 64 * 1024


class RestoreTestRecord(BaseModel):
    """One restore test of a backup key, as `keyplane restore-test --apply` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["restore-test"]
    environment: str
    key: str
    key_id: str
    tested_at: datetime
    result: Literal["passed", "failed"]
    caller: str
    keyplane_version: str
    #: The role the environment declares for the key's use (a key user), which the test
    #: assumed to decrypt; None when none is declared. Records before it was added lack it.
    backup_role: str | None = None
    #: Who made the Decrypt call (the assumed role's session, or the caller).
    decrypted_by: str | None = None
    #: Whether the canary was decrypted as `backup_role` (False: by the caller, see `note`).
    as_backup_role: bool = False
    #: Why the caller decrypted instead of the declared role, when it did.
    note: str | None = None


def restore_record_path(estate_dir: Path, environment: str, key: str) -> Path:
    """Where the record of `key`'s restore test in `environment` lives (`--` separates the
    names, which are lower-case letters, digits and single dashes)."""
    return estate_dir / EVIDENCE_DIR / f"restore-test-{environment}--{key}.json"


def load_restore_evidence(estate_dir: Path) -> Mapping[tuple[str, str], RestoreTestRecord]:
    """The restore-test records of the estate by (environment, key); {} without the folder.

    Raises ConfigError naming each record that is not a regular file, not JSON, or not of the
    record's shape, or whose name disagrees with its content.
    """
    folder = estate_dir / EVIDENCE_DIR
    if not folder.is_dir():
        return {}
    records: dict[tuple[str, str], RestoreTestRecord] = {}
    problems: list[Problem] = []
    fix = "re-run keyplane restore-test, or remove the file"
    for path in sorted(folder.glob("restore-test-*.json")):
        shown = str(path)
        match = _RECORD.fullmatch(path.name)
        if match is None:
            problems.append(Problem(shown, None, "", "not a restore-test record name", fix=fix))
            continue
        try:
            raw = read_regular_file(path, shown, _MAX_RECORD_BYTES, fix)
            record = RestoreTestRecord.model_validate(json.loads(raw))
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        except (ValueError, ValidationError) as err:
            what = " ".join(str(err).split())[:160]
            problems.append(Problem(shown, None, "", f"not a restore-test record: {what}", fix=fix))
            continue
        if (record.environment, record.key) != (match["env"], match["key"]):
            problems.append(
                Problem(
                    shown,
                    None,
                    "key",
                    "the record names another environment or key than its file name",
                    f"{record.environment}/{record.key}",
                    fix,
                )
            )
            continue
        records[(record.environment, record.key)] = record
    if problems:
        raise ConfigError(problems)
    return records


def latest_restore_test(
    declared: date | None, record: RestoreTestRecord | None, record_path: str = ""
) -> RestoreTest | None:
    """The test that counts: the later of the environment file's `restore_tested_on` (a passed
    test, declared) and the `keyplane restore-test` record (passed or failed); on the same day
    a failed record wins (a failure is never hidden by a declaration). None without either."""
    tests = []
    if declared is not None:
        tests.append(RestoreTest(declared, True, "restore_tested_on"))
    if record is not None:
        passed = record.result == "passed"
        tests.append(
            RestoreTest(
                record.tested_at.date(), passed, record_path or EVIDENCE_DIR, record.key_id or None
            )
        )
    return max(tests, key=lambda t: (t.on, not t.passed), default=None)
