"""Audit-only checks: what a live account shows that a configuration cannot (point A evidence).

Pure functions of facts and dates, like every check; the audit judge
(`keyplane.engines.audit.judge`) calls them with what its collector observed:

- `material_age` (KM-ROT-002, Policy §6): key material older than the purpose's period has not
  been rotated in time, whatever the configured period says.
- `secret_age` (KM-ROT-003, Policy §6): a secret rotating on schedule is never older than
  `standard.SECRET_ROTATION_MAX_DAYS`.
- `pending_deletion` (KM-DEL-001, Proc 4.5): a key scheduled for destruction without a
  retirement record in the environment file (with one, it is lifecycle evidence, not a finding).
- `missing_key` (KM-DEL-001, Policy §11, Proc 4.5): a declared key the account lacks was
  destroyed (or never made) outside the destruction procedure: its data may be lost.
- `missing_secret` (KM-STO-002, Policy §6): a declared secret the account lacks is not kept in the
  hardened vault the environment promises.
- `live_message`: an UNKNOWN verdict's words for a live audit ("not verifiable live" rather than
  "until deployed").
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from keyplane.facts.model import Key, Secret
from keyplane.facts.values import Unknown
from keyplane.rules.common import purpose_of, rotation_limit
from keyplane.rules.verdict import Outcome, Verdict
from keyplane.standard import SECRET_ROTATION_MAX_DAYS, SECRET_ROTATION_PURPOSES

_CANNOT_JUDGE = re.compile(
    r"^(?P<head>\S+ .+?): cannot judge until deployed: (?P<what>.+) is only known after "
    r"deployment\.$",
    re.DOTALL,
)
#: Why a rule's input is invisible live, per cloud, appended to its "not verifiable live"
#: message.
_LIVE_NOTES = {
    ("KM-DEL-001", "AWS"): " (Pulumi's protect lives in the stack state, and a key has no "
    "deletion window until its deletion is scheduled); check them in the stack with keyplane scan",
    ("KM-DEL-001", "GCP"): " (Pulumi's protect lives in the stack state); check it in the stack "
    "with keyplane scan",
    ("KM-DEL-001", "Azure"): " (Pulumi's protect lives in the stack state); check it in the "
    "stack with keyplane scan",
}


def live_message(verdict: Verdict, cloud: str = "AWS") -> str:
    """An UNKNOWN verdict's words for a live audit of `cloud` ("AWS", "GCP", "Azure"): not "until
    deployed" but "not visible"."""
    match = _CANNOT_JUDGE.match(verdict.message)
    if not match:
        return verdict.message
    return (
        f"{match['head']}: not verifiable live: {match['what']} cannot be read from {cloud}"
        f"{_LIVE_NOTES.get((verdict.rule, cloud), '')}."
    )


def material_age(key: Key, last: datetime | None, as_of: date) -> Verdict | None:
    """KM-ROT-002 on the evidence: FAIL when the material last changed (`last`, aware datetime)
    more days before `as_of` than the purpose allows; None when it did not or cannot be told."""
    purpose = purpose_of(key)
    if last is None or isinstance(purpose, Unknown):
        return None
    limit = rotation_limit(purpose)
    age = (as_of - last.astimezone(UTC).date()).days
    if age <= limit:
        return None
    what = f"{purpose.value} keys" if purpose else "keys without a declared purpose"
    return Verdict(
        "KM-ROT-002",
        Outcome.FAIL,
        f"KM-ROT-002 {key.name}: key material last changed on {last.date().isoformat()}, "
        f"{age} days ago, more than the {limit} days allowed for {what}; rotate it now "
        "(RotateKeyOnDemand) and check why scheduled rotation did not run.",
        key.urn,
        key.name,
        key.type,
    )


def secret_age(secret: Secret, last: datetime | None, as_of: date) -> Verdict | None:
    """KM-ROT-003 on the evidence: FAIL when a rotating secret of a secret-rotation purpose was
    last rotated more than `SECRET_ROTATION_MAX_DAYS` days before `as_of`; None otherwise."""
    purpose = purpose_of(secret)
    if last is None or isinstance(purpose, Unknown) or secret.rotation_days is None:
        return None
    if purpose is not None and purpose not in SECRET_ROTATION_PURPOSES:
        return None
    age = (as_of - last.astimezone(UTC).date()).days
    if age <= SECRET_ROTATION_MAX_DAYS:
        return None
    return Verdict(
        "KM-ROT-003",
        Outcome.FAIL,
        f"KM-ROT-003 {secret.name}: the secret was last rotated on "
        f"{last.date().isoformat()}, {age} days ago, more than {SECRET_ROTATION_MAX_DAYS}; "
        "rotate it now and check its rotation function.",
        secret.urn,
        secret.name,
        secret.type,
    )


def pending_deletion(
    urn: str,
    name: str,
    type: str,
    deletion_date: datetime | None,
    *,
    retired_on: date | None = None,
    as_of: date | None = None,
) -> Verdict | None:
    """KM-DEL-001 on the evidence: a key pending deletion is a FAIL unless the environment file
    records its retirement (`retired_on`, no later than `as_of`): then None, the destruction is
    a lifecycle step (Proc 4.5) that the audit's evidence reports."""
    if retired_on is not None and (as_of is None or retired_on <= as_of):
        return None
    when = f" on {deletion_date.date().isoformat()}" if deletion_date else ""
    record = (
        f" The environment file records its retirement on {retired_on.isoformat()}, after the "
        "audit's date: correct keys[].retired.on or cancel the deletion."
        if retired_on is not None
        else ""
    )
    return Verdict(
        "KM-DEL-001",
        Outcome.FAIL,
        f"KM-DEL-001 {name}: the key is pending deletion and will be destroyed{when}; cancel it "
        "(CancelKeyDeletion) unless the destruction follows Proc 4.5, then record the key's "
        f"retirement in the environment file (keys[].retired: on, reason).{record} Other rules "
        "are not judged on it.",
        urn,
        name,
        type,
    )


def versions_pending_destruction(
    urn: str,
    name: str,
    type: str,
    versions: tuple[str, ...],
    destroy_time: datetime | None,
    *,
    retired_on: date | None = None,
    as_of: date | None = None,
) -> Verdict | None:
    """KM-DEL-001 on the evidence: versions of a key in use are scheduled for destruction (GCP
    key versions): what they encrypted becomes unreadable once destroyed, so it is a FAIL unless
    the environment file records the key's retirement (no later than `as_of`)."""
    if retired_on is not None and (as_of is None or retired_on <= as_of):
        return None
    numbers = ", ".join(v.rsplit("/", 1)[-1] for v in versions)
    when = f"; the last on {destroy_time.date().isoformat()}" if destroy_time else ""
    count = f"{len(versions)} version{'s' if len(versions) != 1 else ''}"
    return Verdict(
        "KM-DEL-001",
        Outcome.FAIL,
        f"KM-DEL-001 {name}: {count} of the key ({numbers}) scheduled for destruction{when}; "
        "data they encrypted becomes unreadable (Policy §11): restore them "
        "(RestoreCryptoKeyVersion) unless the destruction follows Proc 4.5, then record the "
        "key's retirement in the environment file (keys[].retired: on, reason).",
        urn,
        name,
        type,
    )


def missing_key(native: str, name: str, type: str, environment: str) -> Verdict:
    """KM-DEL-001 on the evidence: environment `environment` declares key `name`, but the
    account has nothing under `native` (its alias): destroyed or never created outside Proc 4.5,
    and "loss of encryption keys must be treated as potential data loss" (Policy §11)."""
    return Verdict(
        "KM-DEL-001",
        Outcome.FAIL,
        f"KM-DEL-001 {name}: environment {environment} declares this key but the account has no "
        f"{native}; it was destroyed or never created, and data encrypted under it may be lost "
        "(Policy §11): recreate it (pulumi up) or restore the alias, or record its retirement "
        "(keys[].retired: on, reason) if it was destroyed under Proc 4.5.",
        native,
        name,
        type,
    )


def missing_secret(native: str, name: str, type: str, environment: str) -> Verdict:
    """KM-STO-002 on the evidence: environment `environment` declares secret `name`, but the
    account has no secret `native`: the credential is not kept in the hardened vault (Policy §6:
    keys are stored in managed secret stores)."""
    return Verdict(
        "KM-STO-002",
        Outcome.FAIL,
        f"KM-STO-002 {name}: environment {environment} declares this secret but the account has "
        f"no secret {native}, so it is not kept in the hardened vault (Policy §6): create it "
        "(pulumi up) or remove it from the environment file.",
        native,
        name,
        type,
    )
