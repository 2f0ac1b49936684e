"""The key lifecycle in the live audit (Proc 4.4 step 3, Proc 4.5, Policy §11): disabled keys and
retired keys' destruction are evidence, declared keys and secrets the account lacks are findings,
and the evidence lists each key's CloudTrail lifecycle events (through the test proxy: moto has no
LookupEvents)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from keyplane.adapters.boto3 import TrailEvent
from keyplane.engines.audit.aws import Reader, run_audit
from keyplane.engines.audit.judge import AuditResult, Collected, Subject, lifecycle_of
from keyplane.estate import load_estate
from keyplane.findings import Finding
from keyplane.rules.catalog import Enforcement
from tests.audit.proxy import Fault, Proxy
from tests.audit.support import (
    ACCOUNT,
    ADMIN,
    ENV,
    ENVIRONMENT_YAML,
    REGION,
    Account,
    build_account,
    client,
)
from tests.audit.test_cli import endpoint, run  # noqa: F401 - the moto server fixture

TODAY = date.today()
RETIRED_ON = date(2025, 6, 1)
APP_DATA = """\
  - name: app-data
    purpose: application-encryption
    algorithm: AES-256
"""
RETIREMENT = f"""\
    retired:
      on: {RETIRED_ON.isoformat()}
      reason: replaced by app-data-v2 (CHG-0042)
"""
LEDGER = """\
  - name: ledger
    purpose: database-encryption
    algorithm: AES-256
"""
WEBHOOK = """\
  - name: webhook-token
    purpose: api-secret
    rotation_days: 30
"""


def estate_with(
    root: Path, *, retired: bool = False, ledger: str = "", webhook: bool = False
) -> Any:
    """The audit tests' `prod` environment, with app-data retired, an extra declared key (with its
    own YAML lines), an extra declared secret."""
    text = ENVIRONMENT_YAML.format(account=ACCOUNT)
    text = text.replace(APP_DATA, APP_DATA + (RETIREMENT if retired else "") + ledger, 1)
    if webhook:
        text = text.replace("secrets:\n", "secrets:\n" + WEBHOOK, 1)
    folder = root / "environments"
    folder.mkdir()
    (folder / f"{ENV}.yaml").write_text(text)
    return load_estate(folder)


def audit(estate: Any, session: Any = None, as_of: date = TODAY) -> AuditResult:
    return run_audit(estate, ENV, as_of=as_of, session=session, reader=Reader(backoff_seconds=0))


def mandatory(result: AuditResult) -> list[Finding]:
    return [f for f in result.findings if f.enforcement is Enforcement.MANDATORY]


def lifecycle(result: AuditResult) -> dict[str, dict[str, Any]]:
    assert result.evidence.lifecycle is not None
    return {k.name: k.to_json() for k in result.evidence.lifecycle.keys}


def key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]  # moto looks keys up by ID only


def schedule_deletion(account: Account, name: str = "app-data") -> str:
    answer = client("kms").schedule_key_deletion(
        KeyId=key_id(account.keys[name]), PendingWindowInDays=30
    )
    return str(answer["DeletionDate"].astimezone(UTC).date().isoformat())


# --- disabled keys -------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_a_disabled_key_is_evidence_deactivated_and_retained_not_judged(tmp_path: Path) -> None:
    estate = estate_with(tmp_path)
    account = build_account()
    kms = client("kms")
    kms.disable_key_rotation(KeyId=key_id(account.keys["app-data"]))
    # Enabled, the key with rotation off fails KM-ROT-001...
    assert [(f.rule, f.resource) for f in mandatory(audit(estate))] == [
        ("KM-ROT-001", account.keys["app-data"])
    ]
    # ...disabled, it is deactivated and retained (Proc 4.4 step 3): no finding at all.
    kms.disable_key(KeyId=key_id(account.keys["app-data"]))
    result = audit(estate)
    assert mandatory(result) == []
    assert [f for f in result.findings if f.resource == account.keys["app-data"]] == []
    assert account.keys["app-data"] not in {f.urn for f in result.facts}
    entry = lifecycle(result)["app-data"]
    assert (entry["resource"], entry["state"], entry["evidence"]) == (
        account.keys["app-data"],
        "disabled",
        "deactivated, retained (Proc 4.4 step 3); not judged as an active key",
    )
    assert lifecycle(result)["orders-db"]["state"] == "active"
    assert result.evidence.counts["keys deactivated (retained)"] == 1
    # Found, but not judged.
    assert result.evidence.inventory is not None
    assert result.evidence.inventory.text() == (
        "declared 3 (2 keys, 1 secret), found 3; 17 resources judged"
    )


# --- keys pending deletion -----------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_pending_deletion_without_a_retirement_record_stays_a_km_del_001_violation(
    tmp_path: Path,
) -> None:
    estate = estate_with(tmp_path)
    account = build_account()
    when = schedule_deletion(account)
    result = audit(estate)
    [finding] = mandatory(result)
    assert (finding.rule, finding.resource) == ("KM-DEL-001", account.keys["app-data"])
    assert finding.message == (
        f"KM-DEL-001 app-data: the key is pending deletion and will be destroyed on {when}; "
        "cancel it (CancelKeyDeletion) unless the destruction follows Proc 4.5, then record the "
        "key's retirement in the environment file (keys[].retired: on, reason). Other rules are "
        "not judged on it."
    )
    assert lifecycle(result)["app-data"]["evidence"] == (
        f"destruction scheduled for {when} without a retirement record in the environment "
        "file: a finding"
    )


@pytest.mark.usefixtures("aws")
def test_pending_deletion_of_a_retired_key_is_evidence_not_a_violation(tmp_path: Path) -> None:
    estate = estate_with(tmp_path, retired=True)
    account = build_account()
    when = schedule_deletion(account)
    result = audit(estate)
    assert mandatory(result) == []
    assert [f for f in result.findings if f.resource == account.keys["app-data"]] == []
    entry = lifecycle(result)["app-data"]
    assert (entry["state"], entry["evidence"]) == (
        "pending deletion",
        f"destruction scheduled for {when}, retired on {RETIRED_ON.isoformat()}: replaced by "
        "app-data-v2 (CHG-0042) (Proc 4.5)",
    )
    # A retirement dated after the audit's day does not cover it yet.
    early = audit(estate, as_of=date(2025, 5, 31))
    [finding] = [f for f in mandatory(early) if f.resource == account.keys["app-data"]]
    assert finding.rule == "KM-DEL-001"
    assert "records its retirement on 2025-06-01, after the audit's date" in finding.message


@pytest.mark.usefixtures("aws")
def test_retirement_is_matched_by_the_alias_keyplane_gives_the_key(tmp_path: Path) -> None:
    """A key named app-data under another alias is not the retired one."""
    estate = estate_with(tmp_path, retired=True)
    account = build_account()
    kms = client("kms")
    kms.delete_alias(AliasName=f"alias/{ENV}/app-data")
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=key_id(account.keys["app-data"]))
    schedule_deletion(account)
    result = audit(estate)
    rules = sorted((f.rule, f.resource) for f in mandatory(result))
    # Its deletion is a violation, and the declared key is missing (but retired: evidence).
    assert rules == [("KM-DEL-001", account.keys["app-data"])]
    assert lifecycle(result)["app-data"]["evidence"] == (
        f"destroyed: retired on {RETIRED_ON.isoformat()}: replaced by app-data-v2 (CHG-0042)"
    )


# --- declared but missing ------------------------------------------------------------------------


@pytest.mark.usefixtures("aws")
def test_a_declared_key_and_secret_missing_from_the_account_are_findings(tmp_path: Path) -> None:
    estate = estate_with(tmp_path, ledger=LEDGER, webhook=True)
    build_account()
    result = audit(estate)
    found = sorted((f.rule, f.resource, f.type, f.message) for f in mandatory(result))
    assert found == [
        (
            "KM-DEL-001",
            f"alias/{ENV}/ledger",
            "AWS::KMS::Key",
            f"KM-DEL-001 ledger: environment {ENV} declares this key but the account has no "
            f"alias/{ENV}/ledger; it was destroyed or never created, and data encrypted under it "
            "may be lost (Policy §11): recreate it (pulumi up) or restore the alias, or record "
            "its retirement (keys[].retired: on, reason) if it was destroyed under Proc 4.5.",
        ),
        (
            "KM-STO-002",
            f"{ENV}/webhook-token",
            "AWS::SecretsManager::Secret",
            f"KM-STO-002 webhook-token: environment {ENV} declares this secret but the account "
            f"has no secret {ENV}/webhook-token, so it is not kept in the hardened vault "
            "(Policy §6): create it (pulumi up) or remove it from the environment file.",
        ),
    ]
    assert result.evidence.inventory is not None
    assert result.evidence.inventory.text() == (
        f"declared 5 (3 keys, 2 secrets), found 3, missing 2 (alias/{ENV}/ledger, "
        f"{ENV}/webhook-token); 18 resources judged"
    )
    assert lifecycle(result)["ledger"]["state"] == "missing"


@pytest.mark.usefixtures("aws")
def test_a_missing_key_whose_retirement_is_recorded_is_evidence(tmp_path: Path) -> None:
    retired_ledger = LEDGER + RETIREMENT.replace("app-data-v2", "ledger-v2")
    estate = estate_with(tmp_path, ledger=retired_ledger)
    build_account()
    result = audit(estate)
    assert mandatory(result) == []
    assert lifecycle(result)["ledger"]["evidence"] == (
        f"destroyed: retired on {RETIRED_ON.isoformat()}: replaced by ledger-v2 (CHG-0042)"
    )


@pytest.mark.usefixtures("aws")
def test_an_exception_covers_a_missing_key_by_its_declared_name(tmp_path: Path) -> None:
    if True:
        estate = estate_with(tmp_path, ledger=LEDGER)
        (estate.root / "exceptions.yaml").write_text(
            f"""exceptions:
  - id: EXC-2026-200
    rule: KM-DEL-001
    environment: {ENV}
    resource: ledger
    justification: The ledger key is created with the ledger service next quarter.
    accepted_by: CISO
    accepted_on: {TODAY.isoformat()}
    compensating_controls: [No data is encrypted under it before it exists.]
    expires: {date(TODAY.year + 1, 1, 1).isoformat()}
"""
        )
        build_account()
        result = audit(load_estate(estate.root))
    [finding] = [f for f in result.findings if f.resource == f"alias/{ENV}/ledger"]
    assert (finding.exception, finding.enforcement) == ("EXC-2026-200", Enforcement.ADVISORY)


@pytest.mark.usefixtures("aws")
def test_refused_aliases_make_presence_unverifiable_not_missing(tmp_path: Path) -> None:
    estate = estate_with(tmp_path, ledger=LEDGER)
    build_account()
    session = boto3.session.Session(region_name=REGION)

    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListAliases"
        )

    session.events.register("provide-client-params.kms.ListAliases", deny)
    result = audit(estate, session)
    assert not [f for f in result.findings if f.resource == f"alias/{ENV}/ledger"]
    unread = [f for f in result.findings if f.resource == f"arn:aws:iam::{ACCOUNT}:root"]
    # KM-BAK-002 too: without the aliases no key can be matched to its declared restore test.
    assert [f.rule for f in unread] == ["KM-DEL-001", "KM-BAK-002"]
    assert all(f.enforcement is Enforcement.ADVISORY for f in unread)
    assert all("grant the auditor kms:ListAliases" in f.message for f in unread)
    assert result.evidence.inventory is not None
    assert result.evidence.inventory.unknown == ("keys",)


# --- lifecycle events (CloudTrail LookupEvents through the proxy) -------------------------------


def _event(event_id: str, name: str, resource: str, *, days_ago: int = 5) -> dict[str, Any]:
    return {
        "EventId": event_id,
        "EventName": name,
        "EventTime": int(time.time()) - days_ago * 86400,
        "Username": "key-admin",
        "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": resource}],
        "CloudTrailEvent": json.dumps({"userIdentity": {"arn": ADMIN}}),
    }


GONE = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-00000000dead"


@pytest.fixture
def proxy(endpoint: str) -> Iterator[Proxy]:  # noqa: F811 - the imported fixture
    with Proxy(endpoint).running() as running:
        yield running


def test_the_evidence_lists_each_keys_lifecycle_events(
    endpoint: str,  # noqa: F811
    proxy: Proxy,
    tmp_path: Path,
) -> None:
    account = build_account(endpoint)
    orders, app = account.keys["orders-db"], account.keys["app-data"]
    events = [
        _event("e1", "CreateKey", orders, days_ago=20),
        _event("e2", "EnableKeyRotation", orders, days_ago=19),
        _event("e3", "DisableKey", key_id(app)),
        _event("e4", "ScheduleKeyDeletion", GONE),
        # Not a lifecycle event: never listed.
        _event("e5", "Decrypt", orders),
    ]
    events[3]["CloudTrailEvent"] = json.dumps(
        {"userIdentity": {"arn": ADMIN}, "errorCode": "AccessDeniedException"}
    )
    proxy.faults["LookupEvents"] = Fault("body", body={"Events": events})
    estate = estate_with(tmp_path)
    code, out, err = run(
        ENV, "--estate", str(estate.root), "--endpoint-url", proxy.url, "-f", "json", "--days", "30"
    )
    assert code == 0, err
    # One call per lifecycle event name, answered once each.
    assert proxy.seen["LookupEvents"] == 7
    lifecycle = json.loads(out)["evidence"]["lifecycle"]
    assert (lifecycle["days"], lifecycle["events_read"], lifecycle["unverifiable"]) == (
        30,
        True,
        None,
    )
    keys = {k["name"]: k for k in lifecycle["keys"]}
    assert [(e["event"], e["principal"], e["error"]) for e in keys["orders-db"]["events"]] == [
        ("CreateKey", ADMIN, None),
        ("EnableKeyRotation", ADMIN, None),
    ]
    assert [e["event"] for e in keys["app-data"]["events"]] == ["DisableKey"]
    assert keys["audit-logs"]["events"] == []
    gone = keys[GONE.rsplit("/", 1)[-1]]
    assert (gone["resource"], gone["state"]) == (GONE, "not in the account")
    assert [(e["event"], e["error"]) for e in gone["events"]] == [
        ("ScheduleKeyDeletion", "AccessDeniedException")
    ]
    assert all(e["time"].endswith("Z") for k in keys.values() for e in k["events"])

    code, out, _ = run(ENV, "--estate", str(estate.root), "--endpoint-url", proxy.url)
    assert code == 0
    assert "Key lifecycle, last 90 days (CloudTrail): 4 lifecycle events" in out
    created = datetime.fromtimestamp(events[0]["EventTime"], UTC)
    stamp = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert (
        f"Key orders-db: active: judged by the rules; events: {stamp} CreateKey by {ADMIN}" in out
    )


def test_a_refused_lookup_events_is_unverifiable_evidence_not_silence(
    endpoint: str,  # noqa: F811
    proxy: Proxy,
    tmp_path: Path,
) -> None:
    build_account(endpoint)
    proxy.faults["LookupEvents"] = Fault("denied")
    estate = estate_with(tmp_path)
    code, out, err = run(
        ENV, "--estate", str(estate.root), "--endpoint-url", proxy.url, "-f", "json"
    )
    assert code == 0, err
    assert proxy.seen["LookupEvents"] == 1  # refused once: not asked again for each name
    lifecycle = json.loads(out)["evidence"]["lifecycle"]
    assert lifecycle["events_read"] is False
    assert lifecycle["unverifiable"] == (
        "refused (AccessDeniedException); grant the auditor cloudtrail:LookupEvents"
    )
    assert all(k["events"] == [] for k in lifecycle["keys"])
    code, out, _ = run(ENV, "--estate", str(estate.root), "--endpoint-url", proxy.url)
    assert (
        "Key lifecycle, last 90 days (CloudTrail): events unverifiable: refused "
        "(AccessDeniedException); grant the auditor cloudtrail:LookupEvents"
    ) in out


def test_the_summary_says_what_was_declared_found_and_judged(
    endpoint: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    build_account(endpoint)
    estate = estate_with(tmp_path, ledger=LEDGER)
    args = (ENV, "--estate", str(estate.root), "--endpoint-url", endpoint)
    code, out, _ = run(*args)
    assert code == 1
    summary = (
        f"FAIL: 1 mandatory, 3 advisory · declared 4 (3 keys, 1 secret), found 3, missing 1 "
        f"(alias/{ENV}/ledger); 18 resources judged in "
    )
    assert summary in " ".join(out.split())  # the terminal wraps the line
    assert " resources (" not in out
    code, out, _ = run(*args, "-f", "markdown")
    assert (
        f"declared 4 (3 keys, 1 secret), found 3, missing 1 (alias/{ENV}/ledger); "
        "18 resources judged · policy"
    ) in out
    code, out, _ = run(*args, "-f", "json")
    document = json.loads(out)
    assert {k: document["summary"][k] for k in ("declared", "found", "missing", "judged")} == {
        "declared": 4,
        "found": 3,
        "missing": 1,
        "judged": 18,
    }
    assert document["summary"]["resources"] == 18  # the contract's field, kept
    evidence = document["evidence"]
    assert evidence["controls"] == [
        "SOC 2 CC6.1 (protection of keys: logical access security)",
        "SOC 2 CC6.7 (OP-PROC-001 §5: key lifecycle)",
    ]
    assert evidence["inventory"]["missing"] == [f"alias/{ENV}/ledger"]


@pytest.mark.parametrize("days", ["0", "-3", "91"])
def test_days_out_of_range_exits_2_in_one_line(days: str, tmp_path: Path) -> None:
    estate = estate_with(tmp_path)
    code, out, err = run(ENV, "--estate", str(estate.root), "--days", days)
    assert (code, out) == (2, "")
    assert err == (
        f"keyplane audit: --days: must be 1 to 90 (CloudTrail's event history holds 90 days; "
        f"got {days}); pass a number of days in that range\n"
    )


def test_events_of_keys_that_could_not_be_listed_are_not_called_gone() -> None:
    account = Subject(f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, "AWS::Account")
    event = TrailEvent("DisableKey", datetime(2026, 1, 2, tzinfo=UTC), ADMIN, None, "e1", (GONE,))
    listed = Collected(account, events=[event])
    unlisted = Collected(account, events=[event], keys_listed=False)
    [gone] = lifecycle_of(listed, [], TODAY)
    [unknown] = lifecycle_of(unlisted, [], TODAY)
    assert (gone.state, unknown.state) == ("not in the account", "not listed")
    assert unknown.evidence == (
        "named by the period's events; the account's keys could not be listed"
    )
    assert unknown.events == (event,)
