"""The audit engine against moto in process: a compliant account, then one drift at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from keyplane.cli.audit import render
from keyplane.config import Estate
from keyplane.engines.audit.aws import Reader, run_audit
from keyplane.engines.audit.judge import AuditError, AuditResult
from keyplane.estate import load_estate
from keyplane.findings import Finding, has_mandatory
from keyplane.reports.formats import AuditFormat
from keyplane.rules.catalog import Enforcement
from tests.audit.support import (
    ACCOUNT,
    BUCKET,
    ENV,
    REGION,
    TRAIL,
    Account,
    build_account,
    client,
    configure_secret_rotation,
    create_key,
    key_policy,
    write_estate,
)

pytestmark = pytest.mark.usefixtures("aws")

TODAY = date.today()


def audit(estate: Estate, session: Any = None, reader: Reader | None = None) -> AuditResult:
    return run_audit(
        estate,
        ENV,
        as_of=TODAY,
        session=session,
        reader=reader or Reader(backoff_seconds=0),
    )


def mandatory(result: AuditResult) -> list[Finding]:
    return [f for f in result.findings if f.enforcement is Enforcement.MANDATORY]


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


def test_a_compliant_account_is_clean(prod_estate: Estate) -> None:
    build_account()
    result = audit(prod_estate)
    assert not has_mandatory(result.findings), result.findings
    # Only what a live audit cannot see is left, once per key, as advisory.
    assert {(f.rule, f.enforcement) for f in result.findings} == {
        ("KM-DEL-001", Enforcement.ADVISORY)
    }
    assert all("not verifiable live" in f.message for f in result.findings)
    assert {f.engine.value for f in result.findings} == {"audit"}
    assert dict(result.evidence.counts) == {
        "alarms": 6,
        "buckets": 1,
        "keys": 3,
        "metric filters": 6,
        "secrets": 1,
        "trails": 1,
    }
    assert result.evidence.account == ACCOUNT and result.evidence.region == REGION


def _disable_rotation(account: Account) -> None:
    client("kms").disable_key_rotation(KeyId=account.keys["orders-db"])


def _widen_policy(account: Account) -> None:
    client("kms").put_key_policy(
        KeyId=account.keys["orders-db"], PolicyName="default", Policy=key_policy(user="*")
    )


def _unapproved_spec(account: Account) -> None:
    account.keys["legacy-signing"] = create_key(
        client("kms"),
        "legacy-signing",
        "token-signing",
        spec="ECC_SECG_P256K1",
        usage="SIGN_VERIFY",
        rotate=False,
    )


def _no_log_validation(account: Account) -> None:
    client("cloudtrail").update_trail(Name=TRAIL, EnableLogFileValidation=False)


def _slow_secret_rotation(account: Account) -> None:
    sm = client("secretsmanager")
    # A rotation is already pending in moto: clear it before asking for another.
    sm.put_secret_value(SecretId=account.secret, SecretString="v2")
    configure_secret_rotation(sm, account.secret, 120)


def _pending_deletion(account: Account) -> None:
    # moto looks the key up by ID only.
    key_id = account.keys["app-data"].rsplit("/", 1)[-1]
    client("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=30)


CONTRACTOR = f"arn:aws:iam::{ACCOUNT}:role/former-contractor"


def _grant_to_undeclared(account: Account) -> None:
    key_id = account.keys["orders-db"].rsplit("/", 1)[-1]
    client("kms").create_grant(KeyId=key_id, GranteePrincipal=CONTRACTOR, Operations=["Decrypt"])


def _undeclared_in_policy(account: Account) -> None:
    client("kms").put_key_policy(
        KeyId=account.keys["orders-db"], PolicyName="default", Policy=key_policy(user=CONTRACTOR)
    )


DRIFTS: dict[str, tuple[Callable[[Account], None], str, str, str]] = {
    "KMS grant to an undeclared principal": (
        _grant_to_undeclared,
        "KM-ACC-004",
        "orders-db",
        "KM-ACC-004 orders-db: granted to principals environment prod does not declare: "
        f"{CONTRACTOR} (kms:Decrypt through statement grant ",
    ),
    "key policy naming an undeclared role": (
        _undeclared_in_policy,
        "KM-ACC-004",
        "orders-db",
        "KM-ACC-004 orders-db: granted to principals environment prod does not declare: "
        f"{CONTRACTOR} (kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey through "
        "statement 'Use' of the key's own policy)",
    ),
    "rotation disabled out of band": (
        _disable_rotation,
        "KM-ROT-001",
        "orders-db",
        "KM-ROT-001 orders-db: automatic rotation is disabled on this aws KMS key; set "
        "enableKeyRotation to true (rotation_days in the environment file).",
    ),
    "key policy widened to everyone": (
        _widen_policy,
        "KM-ACC-001",
        "orders-db",
        "KM-ACC-001 orders-db: grants kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, "
        "kms:DescribeKey to the wildcard principal *; name the principals and grant only the "
        "actions they need.",
    ),
    "non-approved key spec": (
        _unapproved_spec,
        "KM-ALG-001",
        "legacy-signing",
        "KM-ALG-001 legacy-signing: algorithm ECDSA-SECP256K1 is not approved",
    ),
    "trail without log-file validation": (
        _no_log_validation,
        "KM-LOG-001",
        TRAIL,
        f"KM-LOG-001 {TRAIL}: the trail has log-file validation off; make it multi-region, "
        "with log-file validation, KMS encryption and management events including KMS.",
    ),
    "secret rotating every 120 days": (
        _slow_secret_rotation,
        "KM-ROT-003",
        "payments-api",
        "KM-ROT-003 payments-api: rotates about every 120 days (the longest interval between two rotations), more than 90 for api-secret secrets; "
        "lower rotation_days or file an exception.",
    ),
    "key pending deletion": (
        _pending_deletion,
        "KM-DEL-001",
        "app-data",
        "KM-DEL-001 app-data: the key is pending deletion and will be destroyed on ",
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_is_caught_by_its_rule(prod_estate: Estate, drift: str) -> None:
    account = build_account()
    mutate, rule, name, message = DRIFTS[drift]
    mutate(account)
    result = audit(prod_estate)
    finding = only(mandatory(result), rule)
    assert finding.message.startswith(message), finding.message
    assert finding.engine.value == "audit"
    assert [f.rule for f in mandatory(result)] == [rule]
    assert name in finding.message


def test_a_rotation_period_over_the_purpose_limit_is_reported(prod_estate: Estate) -> None:
    # moto neither stores nor reports RotationPeriodInDays: answer as AWS does.
    account = build_account()
    session = boto3.session.Session(region_name=REGION)

    def period(parsed: dict[str, Any], **_: Any) -> None:
        parsed["RotationPeriodInDays"] = 400

    session.events.register("after-call.kms.GetKeyRotationStatus", period)
    result = audit(prod_estate, session)
    rules = sorted({f.rule for f in mandatory(result)})
    assert rules == ["KM-ROT-002"]
    orders = [f for f in mandatory(result) if f.resource == account.keys["orders-db"]]
    assert orders[0].message == (
        "KM-ROT-002 orders-db: rotation period 400 days exceeds 365 for database-encryption "
        "keys; lower rotation_days or file an exception."
    )


def test_key_material_older_than_the_period_is_reported(prod_estate: Estate) -> None:
    account = build_account()
    later = date(TODAY.year + 2, 1, 1)
    result = run_audit(prod_estate, ENV, as_of=later, reader=Reader(backoff_seconds=0))
    ages = [f for f in mandatory(result) if "key material last changed" in f.message]
    assert {f.resource for f in ages} == set(account.keys.values())
    assert {f.rule for f in ages} == {"KM-ROT-002"}


def _raise(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, operation)


def test_throttling_is_retried_until_it_succeeds(prod_estate: Estate) -> None:
    build_account()
    session = boto3.session.Session(region_name=REGION)
    calls = {"throttled": 0}

    def throttle(**_: Any) -> None:
        if calls["throttled"] < 3:
            calls["throttled"] += 1
            raise _raise("ThrottlingException", "GetKeyPolicy")

    session.events.register("provide-client-params.kms.GetKeyPolicy", throttle)
    slept: list[float] = []
    result = audit(prod_estate, session, Reader(backoff_seconds=0.01, sleep=slept.append))
    assert calls["throttled"] == 3
    assert len(slept) == 3 and slept == sorted(slept)  # exponential backoff
    assert not has_mandatory(result.findings)
    assert not [f for f in result.findings if "unverifiable" in f.message]


def test_throttling_that_never_ends_is_reported_not_raised(prod_estate: Estate) -> None:
    build_account()
    session = boto3.session.Session(region_name=REGION)

    def throttle(**_: Any) -> None:
        raise _raise("ThrottlingException", "DescribeTrails")

    session.events.register("provide-client-params.cloudtrail.DescribeTrails", throttle)
    result = audit(prod_estate, session, Reader(attempts=2, backoff_seconds=0))
    unread = [f for f in result.findings if "unverifiable" in f.message]
    # Without the trails, which log groups are delivered to is unknown: KM-MON-001 is not judged.
    assert {f.rule for f in unread} == {"KM-LOG-001", "KM-LOG-002", "KM-MON-001"}
    # A fault, not a refused permission: the mandatory rules it leaves unknown fail the audit.
    assert all(f.enforcement is Enforcement.MANDATORY for f in unread)
    assert unread[0].message.startswith(
        f"{unread[0].rule} {ACCOUNT}/{REGION}: unverifiable: the account's CloudTrail trails "
        "could not be read (DescribeTrails: ThrottlingException (after 2 attempts));"
    )


def test_access_denied_on_one_key_is_unverifiable_and_the_audit_goes_on(
    prod_estate: Estate,
) -> None:
    account = build_account()
    _widen_policy(account)  # on orders-db: hidden by the denial below
    account.keys["other"] = create_key(client("kms"), "other", "application-encryption")
    client("kms").put_key_policy(
        KeyId=account.keys["other"], PolicyName="default", Policy=key_policy(user="*")
    )
    orders_id = account.keys["orders-db"].rsplit("/", 1)[-1]
    session = boto3.session.Session(region_name=REGION)

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params.get("KeyId") == orders_id:
            raise _raise("AccessDeniedException", "GetKeyPolicy")

    session.events.register("provide-client-params.kms.GetKeyPolicy", deny)
    result = audit(prod_estate, session)
    unverifiable = [f for f in result.findings if f.resource == account.keys["orders-db"]]
    assert {f.rule for f in unverifiable if "unverifiable" in f.message} == {
        "KM-ACC-001",
        "KM-ACC-002",
        "KM-ACC-004",
        "KM-ENV-002",
    }
    acc = next(f for f in unverifiable if f.rule == "KM-ACC-001")
    assert acc.enforcement is Enforcement.ADVISORY
    assert acc.message == (
        "KM-ACC-001 orders-db: unverifiable: the key policy could not be read "
        "(AccessDeniedException); grant the auditor kms:GetKeyPolicy to judge KM-ACC-001."
    )
    # The other key is still judged.
    assert [f.resource for f in mandatory(result)] == [account.keys["other"]]


def test_a_refused_list_call_blocks_its_rules_instead_of_failing_them(
    prod_estate: Estate,
) -> None:
    build_account()
    session = boto3.session.Session(region_name=REGION)

    def deny(**_: Any) -> None:
        raise _raise("AccessDeniedException", "ListSecrets")

    session.events.register("provide-client-params.secretsmanager.ListSecrets", deny)
    result = audit(prod_estate, session)
    assert not has_mandatory(result.findings)
    refused = [f for f in result.findings if "unverifiable" in f.message]
    assert {f.rule for f in refused} == {"KM-ROT-003", "KM-STO-002"}
    assert all("secretsmanager:ListSecrets" in f.message for f in refused)


def test_exceptions_cover_live_findings_by_declared_name(prod_estate: Estate) -> None:
    account = build_account()
    _disable_rotation(account)
    exceptions = prod_estate.root / "exceptions.yaml"
    exceptions.write_text(
        f"""exceptions:
  - id: EXC-2026-100
    rule: KM-ROT-001
    environment: {ENV}
    resource: orders-db
    justification: Rotation is paused during the database migration.
    accepted_by: CISO
    accepted_on: {TODAY.isoformat()}
    compensating_controls: [Every use of the key is alerted on.]
    expires: {date(TODAY.year + 1, 1, 1).isoformat()}
"""
    )
    result = audit(load_estate(prod_estate.root))
    finding = only(result.findings, "KM-ROT-001")
    assert finding.exception == "EXC-2026-100"
    assert finding.enforcement is Enforcement.ADVISORY
    assert finding.resource == account.keys["orders-db"]


def test_the_wrong_account_is_refused(tmp_path: Any) -> None:
    estate = load_estate(write_estate(tmp_path, account="111111111111"))
    with pytest.raises(AuditError) as raised:
        run_audit(estate, ENV, as_of=TODAY)
    assert "123456789012" in str(raised.value) and "111111111111" in str(raised.value)


def test_an_unknown_environment_is_refused(prod_estate: Estate) -> None:
    with pytest.raises(AuditError, match=r"no such environment \(known: prod\)"):
        run_audit(prod_estate, "staging", as_of=TODAY)


def test_json_carries_the_contract_and_the_evidence(prod_estate: Estate) -> None:
    account = build_account()
    _disable_rotation(account)
    document = json.loads(render(audit(prod_estate), AuditFormat.JSON))
    assert document["tool"]["command"] == "audit"
    assert document["verdict"] == "fail"
    assert {f["engine"] for f in document["findings"]} == {"audit"}
    assert set(document["findings"][0]) >= {
        "rule",
        "enforcement",
        "resource",
        "type",
        "message",
        "engine",
        "exception",
    }
    evidence = document["evidence"]
    assert evidence["account"] == ACCOUNT and evidence["region"] == REGION
    assert evidence["caller_arn"].startswith(f"arn:aws:sts::{ACCOUNT}:")
    assert evidence["policy_version"] == "1.0"
    assert evidence["started_at"].endswith("Z")
    bucket = next(r for r in document["resources"] if r["name"] == BUCKET)
    assert bucket["inputs"]["immutability"] == "COMPLIANCE"
    assert bucket["inputs"]["retention_days"] == 400


def test_table_and_markdown_open_with_the_evidence(prod_estate: Estate) -> None:
    build_account()
    result = audit(prod_estate)
    table = render(result, AuditFormat.TABLE)
    assert table.startswith(
        f"Live audit evidence (SOC 2 CC6.1, CC6.7; OP-PROC-001 §5): account {ACCOUNT}, region {REGION}"
    )
    assert "keyplane audit · environment prod" in table
    markdown = render(result, AuditFormat.MARKDOWN)
    assert markdown.startswith("> Live audit evidence")
    assert "## ✅ keyplane audit `prod`: PASS" in markdown


def test_every_permission_the_collector_reads_with_is_mapped_to_rules() -> None:
    """The AWS collector names permissions only; the rules' side maps each one (a read no rule
    accounts for would crash the judge, and a mapped permission never read is a stale entry)."""
    import re
    from pathlib import Path

    from keyplane.engines.audit import aws
    from keyplane.rules.audit_permissions import UNVERIFIABLE_WITHOUT

    read_with = set(re.findall(r'permission="([^"]+)"', Path(aws.__file__).read_text()))
    # AWS permissions are `service:Action`; the map also holds GCP's (`service.resource.verb`)
    # and the Azure collector's operations (`Microsoft.*`; tests/audit_azure checks those).
    aws_mapped = {p for p in UNVERIFIABLE_WITHOUT if ":" in p and not p.startswith("Microsoft.")}
    assert read_with == aws_mapped
    assert set(aws.PERMISSIONS) == read_with | {"sts:GetCallerIdentity"}
