"""`keyplane audit ENV`: judge what is deployed in an AWS account, with the pack's own rules.

The caller's account must be the environment's (STS first). Facts come from read-only describe
calls (`keyplane.adapters.boto3`), made concurrently and retried with exponential backoff on
throttling; a call the auditor may not make makes one "unverifiable" advisory finding per rule it
blocks and the audit goes on. The point-A rules then judge the facts exactly as the CrossGuard
pack judges a stack, and the run is recorded as evidence (when, which account and region, who
asked, which policy version): the artefact Proc §5 maps to SOC 2 CC6.7.
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from keyplane import __version__
from keyplane.adapters.boto3 import (
    ACCOUNT_TYPE,
    BUCKET_TYPE,
    HSM_CLUSTER_TYPE,
    KEY_TYPE,
    SECRET_TYPE,
    TRAIL_TYPE,
    bucket_facts,
    can_rotate_automatically,
    display_name,
    hsm_cluster_facts,
    key_facts,
    last_rotation,
    secret_display_name,
    secret_facts,
    secret_last_rotation,
    tag_map,
    trail_facts,
)
from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    fail_bad_input,
    parse_day,
)
from keyplane.config import ConfigError, Estate, load_estate
from keyplane.facts.access import Grant
from keyplane.facts.model import Facts, Key, Secret
from keyplane.facts.values import UNKNOWN, Ref, Unknown
from keyplane.findings import (
    Engine,
    ExceptionScope,
    Finding,
    apply_exceptions,
    has_mandatory,
)
from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
from keyplane.rules.common import purpose_of, rotation_limit
from keyplane.rules.context import Context
from keyplane.rules.judge import evaluate
from keyplane.rules.verdict import Outcome, Verdict
from keyplane.standard import POLICY_VERSION, SECRET_ROTATION_PURPOSES, Algorithm, Cloud
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

#: Concurrent describe calls: enough to hide latency, few enough to stay under KMS's quotas.
MAX_WORKERS = 8
#: Attempts per call (botocore's own retries, then keyplane's backoff on top of them).
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5
SECRET_ROTATION_DAYS = 90

_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
    }
)
_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "CloudHsmAccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
    }
)
#: Caller identity errors: bad or expired credentials (not a resource the auditor may not read).
_BAD_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)

_KEY_RULES = ("KM-ALG-001", "KM-ROT-001", "KM-ROT-002", "KM-PUR-001", "KM-ENV-001", "KM-ACC-001")
_KEY_ONLY_RULES = ("KM-ALG-001", "KM-ROT-001", "KM-ROT-002", "KM-HSM-001", "KM-ACC-002")
_GRANT_RULES = ("KM-ACC-001", "KM-ACC-002", "KM-ENV-002")
_SECRET_GRANT_RULES = ("KM-ACC-001", "KM-ENV-002")
_TAG_RULES = ("KM-PUR-001", "KM-ENV-001", "KM-ROT-002", "KM-HSM-001")

#: Read-only permissions the auditor's role needs (README "Live audit (AWS)").
PERMISSIONS = (
    "sts:GetCallerIdentity",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations",
    "kms:GetKeyPolicy",
    "kms:ListResourceTags",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:ListTags",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketVersioning",
    "s3:GetBucketTagging",
    "cloudhsm:DescribeClusters",
    "secretsmanager:ListSecrets",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
)

#: What a live audit cannot see, said once in the evidence (and in each finding it affects).
NOT_VISIBLE = (
    "Pulumi's protect option lives in the stack state, not in the account: KM-DEL-001 reports "
    "it as not verifiable (resources[].protect is not evidence)",
    "an active KMS key has no deletion window until its deletion is scheduled",
)


class AuditError(Exception):
    """The audit cannot run (bad input, wrong account, no credentials): one line for the user."""


# --- evidence -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Who audited what, when, against which policy: filed with the findings."""

    environment: str
    account: str
    region: str
    caller_arn: str
    started_at: datetime
    finished_at: datetime
    as_of: date
    endpoint_url: str | None = None
    policy_version: str = POLICY_VERSION
    keyplane_version: str = __version__
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "account": self.account,
            "region": self.region,
            "caller_arn": self.caller_arn,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "as_of": self.as_of.isoformat(),
            "endpoint_url": self.endpoint_url,
            "policy_version": self.policy_version,
            "keyplane_version": self.keyplane_version,
            "control": "SOC 2 CC6.7 (OP-PROC-001 §5)",
            "resources": dict(self.counts),
            "not_visible": list(NOT_VISIBLE),
            "permissions": list(PERMISSIONS),
        }

    def header_lines(self) -> list[str]:
        return [
            f"Live audit evidence (SOC 2 CC6.7, OP-PROC-001 §5): account {self.account}, "
            f"region {self.region}, environment {self.environment}",
            f"Collected {_iso(self.started_at)} to {_iso(self.finished_at)} by {self.caller_arn}"
            + (f" via {self.endpoint_url}" if self.endpoint_url else ""),
            f"Policy {self.policy_version}, keyplane {self.keyplane_version}, judged as of "
            f"{self.as_of.isoformat()}; "
            + ", ".join(f"{n} {kind}" for kind, n in self.counts.items()),
            "Not visible live: " + "; ".join(NOT_VISIBLE) + ".",
        ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- reading the account -----------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What a describe call is about: a resource, or the account for list calls."""

    urn: str
    name: str
    type: str


@dataclass(frozen=True)
class Unverifiable:
    subject: Subject
    what: str
    permission: str
    code: str
    rules: tuple[str, ...]


def _code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class Reader:
    """Describe calls with retries; unreadable answers become UNKNOWN plus a record of why."""

    def __init__(
        self,
        *,
        attempts: int = MAX_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.unverifiable: list[Unverifiable] = []
        self._lock = threading.Lock()

    def retrying(self, call: Callable[[], Any]) -> Any:
        """`call()`, again after 1, 2, 4... backoff units (with jitter) while AWS throttles."""
        from botocore.exceptions import ClientError  # noqa: PLC0415 - boto3 only for audit

        for attempt in range(self.attempts):
            try:
                return call()
            except ClientError as err:
                if _code(err) not in _THROTTLING or attempt + 1 >= self.attempts:
                    raise
                self.sleep(self.backoff_seconds * 2**attempt * (1 + random.random() / 2))  # noqa: S311 - jitter
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self,
        client: Any,
        operation: str,
        *,
        subject: Subject,
        what: str,
        permission: str,
        rules: Sequence[str],
        absent: Iterable[str] = (),
        **kwargs: Any,
    ) -> Any:
        """The answer; None when the code says the thing is absent; UNKNOWN when unreadable."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            return self.retrying(lambda: getattr(client, operation)(**kwargs))
        except ClientError as err:
            code = _code(err)
            if code in set(absent):
                return None
            if code in _BAD_CREDENTIALS:
                raise AuditError(f"AWS rejected the credentials ({code}): {err}") from None
            self.record(Unverifiable(subject, what, permission, code or "error", tuple(rules)))
            return UNKNOWN

    def pages(
        self,
        client: Any,
        operation: str,
        result_key: str,
        *,
        subject: Subject,
        what: str,
        permission: str,
        rules: Sequence[str],
        **kwargs: Any,
    ) -> list[Any] | Unknown:
        """Every item of a paginated list call (restarted from the top when throttled)."""

        def collect() -> list[Any]:
            if client.can_paginate(operation):
                items: list[Any] = []
                for page in client.get_paginator(operation).paginate(**kwargs):
                    items.extend(page.get(result_key) or [])
                return items
            return list(getattr(client, operation)(**kwargs).get(result_key) or [])

        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            result: list[Any] = self.retrying(collect)
            return result
        except ClientError as err:
            code = _code(err)
            if code in _BAD_CREDENTIALS:
                raise AuditError(f"AWS rejected the credentials ({code}): {err}") from None
            self.record(Unverifiable(subject, what, permission, code or "error", tuple(rules)))
            return UNKNOWN

    def record(self, item: Unverifiable) -> None:
        with self._lock:
            self.unverifiable.append(item)


@dataclass(frozen=True)
class PendingDeletion:
    key: Subject
    deletion_date: datetime | None


@dataclass
class Collected:
    facts: list[Facts] = field(default_factory=list)
    pending: list[PendingDeletion] = field(default_factory=list)
    #: Audit-only observations (material older than the period), as verdicts.
    verdicts: list[Verdict] = field(default_factory=list)
    #: Rules whose account-wide input (a list call) could not be read: not judged at all.
    blocked: set[str] = field(default_factory=set)
    hsm_counts: dict[str, int] = field(default_factory=dict)
    unverifiable: list[Unverifiable] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *facts: Facts) -> None:
        with self.lock:
            self.facts.extend(facts)


class Collector:
    """Reads one account and region: keys, trails and their buckets, HSM clusters, secrets."""

    def __init__(
        self,
        session: Any,
        *,
        account: str,
        region: str,
        environment: str,
        as_of: date,
        endpoint_url: str | None = None,
        reader: Reader | None = None,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self.session = session
        self.account = account
        self.region = region
        self.environment = environment
        self.as_of = as_of
        self.endpoint_url = endpoint_url
        self.reader = reader or Reader()
        self.max_workers = max_workers
        self.account_subject = Subject(
            f"arn:aws:iam::{account}:root", f"{account}/{region}", ACCOUNT_TYPE
        )
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        """One client per service and region, created up front (sessions are not thread-safe;
        clients are)."""
        where = region or self.region
        if (service, where) not in self._clients:
            self._clients[(service, where)] = make_client(
                self.session, service, where, self.endpoint_url
            )
        return self._clients[(service, where)]

    def collect(self) -> Collected:
        out = Collected()
        kms = self.client("kms")
        trails_client = self.client("cloudtrail")
        sm = self.client("secretsmanager")
        hsm = self.client("cloudhsmv2")
        self.client("s3")
        read = self.reader
        acct = self.account_subject

        keys = read.pages(
            kms,
            "list_keys",
            "Keys",
            subject=acct,
            what="the account's KMS keys",
            permission="kms:ListKeys",
            rules=_KEY_RULES,
        )
        if isinstance(keys, Unknown):
            out.blocked.update((*_KEY_ONLY_RULES, "KM-DEL-001"))
            keys = []
        alias_list = read.pages(
            kms,
            "list_aliases",
            "Aliases",
            subject=acct,
            what="the key aliases (names in findings fall back to key IDs)",
            permission="kms:ListAliases",
            rules=(),
        )
        aliases: dict[str, list[str]] = {}
        for alias in [] if isinstance(alias_list, Unknown) else alias_list:
            if alias.get("TargetKeyId"):
                aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        trails = read.call(
            trails_client,
            "describe_trails",
            subject=acct,
            what="the account's CloudTrail trails",
            permission="cloudtrail:DescribeTrails",
            rules=("KM-LOG-001", "KM-LOG-002"),
            includeShadowTrails=True,
        )
        trail_list: list[Mapping[str, Any]] = []
        if isinstance(trails, Unknown):
            out.blocked.update({"KM-LOG-001", "KM-LOG-002"})
        else:
            trail_list = list((trails or {}).get("trailList") or [])
        for trail in trail_list:
            self.client("cloudtrail", str(trail.get("HomeRegion") or self.region))
        secrets = read.pages(
            sm,
            "list_secrets",
            "SecretList",
            subject=acct,
            what="the account's secrets",
            permission="secretsmanager:ListSecrets",
            rules=("KM-ROT-003", "KM-STO-002"),
        )
        if isinstance(secrets, Unknown):
            out.blocked.update({"KM-ROT-003", "KM-STO-002"})
            secrets = []
        clusters = read.pages(
            hsm,
            "describe_clusters",
            "Clusters",
            subject=acct,
            what="the CloudHSM clusters",
            permission="cloudhsm:DescribeClusters",
            rules=("KM-DEL-001",),
        )
        for cluster in [] if isinstance(clusters, Unknown) else clusters:
            out.add(hsm_cluster_facts(cluster, account=self.account, region=self.region))
            out.hsm_counts[str(cluster.get("ClusterId"))] = len(cluster.get("Hsms") or [])

        buckets = sorted({str(t["S3BucketName"]) for t in trail_list if t.get("S3BucketName")})
        tasks: list[Callable[[], None]] = [
            *(lambda k=k: self._key(k, aliases, out) for k in keys),
            *(lambda t=t: self._trail(t, out) for t in trail_list),
            *(lambda b=b: self._bucket(b, out) for b in buckets),
            *(lambda s=s: self._secret(s, out) for s in secrets),
        ]
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for future in [pool.submit(task) for task in tasks]:
                future.result()
        out.facts.sort(key=lambda f: (f.type, f.name, f.urn))
        return out

    # --- one resource each ---------------------------------------------------------------

    def _key(
        self, listed: Mapping[str, Any], aliases: Mapping[str, list[str]], out: Collected
    ) -> None:
        kms = self.client("kms")
        key_id = str(listed.get("KeyId"))
        arn = str(listed.get("KeyArn") or key_id)
        names = aliases.get(key_id, [])
        subject = Subject(arn, display_name(arn, names, self.environment), KEY_TYPE)
        described = self.reader.call(
            kms,
            "describe_key",
            subject=subject,
            what="the key's metadata",
            permission="kms:DescribeKey",
            rules=_KEY_RULES,
            KeyId=key_id,
        )
        if isinstance(described, Unknown) or described is None:
            return
        metadata = described["KeyMetadata"]
        if metadata.get("KeyManager") != "CUSTOMER":
            return  # AWS managed keys (aws/s3, ...) are AWS's to rotate and protect.
        if metadata.get("KeyState") == "PendingDeletion":
            with out.lock:
                out.pending.append(PendingDeletion(subject, metadata.get("DeletionDate")))
            return
        read = self.reader
        tag_list = read.pages(
            kms,
            "list_resource_tags",
            "Tags",
            subject=subject,
            what="the key's tags",
            permission="kms:ListResourceTags",
            rules=_TAG_RULES,
            KeyId=key_id,
        )
        tags = UNKNOWN if isinstance(tag_list, Unknown) else tag_map(tag_list, "TagKey", "TagValue")
        rotation = None
        if can_rotate_automatically(metadata):
            rotation = read.call(
                kms,
                "get_key_rotation_status",
                subject=subject,
                what="the key's rotation status",
                permission="kms:GetKeyRotationStatus",
                rules=("KM-ROT-001", "KM-ROT-002"),
                KeyId=key_id,
            )
        policy = read.call(
            kms,
            "get_key_policy",
            subject=subject,
            what="the key policy",
            permission="kms:GetKeyPolicy",
            rules=_GRANT_RULES,
            KeyId=key_id,
            PolicyName="default",
        )
        key = key_facts(
            metadata,
            name=subject.name,
            aliases=names,
            tags=tags,
            rotation=rotation,
            policy=UNKNOWN if isinstance(policy, Unknown) else (policy or {}).get("Policy"),
        )
        out.add(key)
        if key.rotation_enabled is True:
            rotations = read.pages(
                kms,
                "list_key_rotations",
                "Rotations",
                subject=subject,
                what="the key's rotation history",
                permission="kms:ListKeyRotations",
                rules=("KM-ROT-002",),
                KeyId=key_id,
            )
            if not isinstance(rotations, Unknown):
                verdict = self._material_age(key, last_rotation(metadata, rotations))
                if verdict is not None:
                    with out.lock:
                        out.verdicts.append(verdict)

    def _material_age(self, key: Key, last: datetime | None) -> Verdict | None:
        """KM-ROT-002 on the evidence: material older than the purpose's period has not been
        rotated in time, whatever the configured period says."""
        purpose = purpose_of(key)
        if last is None or isinstance(purpose, Unknown):
            return None
        limit = rotation_limit(purpose)
        age = (self.as_of - last.astimezone(UTC).date()).days
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

    def _trail(self, trail: Mapping[str, Any], out: Collected) -> None:
        client = self.client("cloudtrail", str(trail.get("HomeRegion") or self.region))
        arn = str(trail.get("TrailARN") or trail.get("Name"))
        subject = Subject(arn, str(trail.get("Name") or arn), TRAIL_TYPE)
        read = self.reader
        status = read.call(
            client,
            "get_trail_status",
            subject=subject,
            what="whether the trail is logging",
            permission="cloudtrail:GetTrailStatus",
            rules=("KM-LOG-001",),
            Name=arn,
        )
        selectors = read.call(
            client,
            "get_event_selectors",
            subject=subject,
            what="the trail's event selectors",
            permission="cloudtrail:GetEventSelectors",
            rules=("KM-LOG-001",),
            TrailName=arn,
        )
        listed = read.call(
            client,
            "list_tags",
            subject=subject,
            what="the trail's tags",
            permission="cloudtrail:ListTags",
            rules=("KM-ENV-001",),
            ResourceIdList=[arn],
        )
        tags: Any = UNKNOWN
        if not isinstance(listed, Unknown):
            found = (listed or {}).get("ResourceTagList") or [{}]
            tags = tag_map(found[0].get("TagsList"))
        out.add(
            trail_facts(
                trail,
                status=UNKNOWN if status is None else status,
                selectors={} if selectors is None else selectors,
                tags=tags,
            )
        )

    def _bucket(self, bucket: str, out: Collected) -> None:
        s3 = self.client("s3")
        subject = Subject(f"arn:aws:s3:::{bucket}", bucket, BUCKET_TYPE)
        read = self.reader
        lock = read.call(
            s3,
            "get_object_lock_configuration",
            subject=subject,
            what="the audit-log bucket's Object Lock configuration",
            permission="s3:GetBucketObjectLockConfiguration",
            rules=("KM-LOG-002",),
            absent=("ObjectLockConfigurationNotFoundError",),
            Bucket=bucket,
        )
        versioning = read.call(
            s3,
            "get_bucket_versioning",
            subject=subject,
            what="the audit-log bucket's versioning",
            permission="s3:GetBucketVersioning",
            rules=("KM-LOG-002",),
            Bucket=bucket,
        )
        tagging = read.call(
            s3,
            "get_bucket_tagging",
            subject=subject,
            what="the audit-log bucket's tags",
            permission="s3:GetBucketTagging",
            rules=("KM-ENV-001",),
            absent=("NoSuchTagSet",),
            Bucket=bucket,
        )
        out.add(
            bucket_facts(
                bucket,
                lock=lock
                if lock is None or isinstance(lock, Unknown)
                else lock.get("ObjectLockConfiguration"),
                versioning=versioning if isinstance(versioning, Unknown) else versioning or {},
                tags=tagging
                if isinstance(tagging, Unknown)
                else tag_map((tagging or {}).get("TagSet")),
            )
        )

    def _secret(self, listed: Mapping[str, Any], out: Collected) -> None:
        sm = self.client("secretsmanager")
        arn = str(listed.get("ARN") or listed.get("Name"))
        name = secret_display_name(str(listed.get("Name") or arn), self.environment)
        subject = Subject(arn, name, SECRET_TYPE)
        read = self.reader
        described = read.call(
            sm,
            "describe_secret",
            subject=subject,
            what="the secret's metadata",
            permission="secretsmanager:DescribeSecret",
            # ListSecrets returned the same metadata: judged from it when this is refused.
            rules=(),
            SecretId=arn,
        )
        metadata = listed if isinstance(described, Unknown) or described is None else described
        policy = read.call(
            sm,
            "get_resource_policy",
            subject=subject,
            what="the secret's resource policy",
            permission="secretsmanager:GetResourcePolicy",
            rules=_SECRET_GRANT_RULES,
            absent=("ResourceNotFoundException",),
            SecretId=arn,
        )
        secret = secret_facts(metadata, name=name, policy=policy)
        out.add(secret)
        verdict = self._secret_age(secret, secret_last_rotation(metadata))
        if verdict is not None:
            with out.lock:
                out.verdicts.append(verdict)

    def _secret_age(self, secret: Secret, last: datetime | None) -> Verdict | None:
        """KM-ROT-003 on the evidence: a secret rotating on schedule is never older than 90 days."""
        purpose = purpose_of(secret)
        if last is None or isinstance(purpose, Unknown) or secret.rotation_days is None:
            return None
        if purpose is not None and purpose not in SECRET_ROTATION_PURPOSES:
            return None
        age = (self.as_of - last.astimezone(UTC).date()).days
        if age <= SECRET_ROTATION_DAYS:
            return None
        return Verdict(
            "KM-ROT-003",
            Outcome.FAIL,
            f"KM-ROT-003 {secret.name}: the secret was last rotated on "
            f"{last.date().isoformat()}, {age} days ago, more than {SECRET_ROTATION_DAYS}; "
            "rotate it now and check its rotation function.",
            secret.urn,
            secret.name,
            secret.type,
        )


def make_client(session: Any, service: str, region: str, endpoint_url: str | None) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=MAX_WORKERS * 2,
    )
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


# --- judging ---------------------------------------------------------------------------------------

_CANNOT_JUDGE = re.compile(
    r"^(?P<head>\S+ .+?): cannot judge until deployed: (?P<what>.+) is only known after "
    r"deployment\.$",
    re.DOTALL,
)
_NOTES = {
    "KM-DEL-001": " (Pulumi's protect lives in the stack state, and a key has no deletion window "
    "until its deletion is scheduled); check them in the stack with keyplane scan",
}


def live_message(verdict: Verdict) -> str:
    """An UNKNOWN verdict's words for a live audit: not "until deployed" but "not visible"."""
    match = _CANNOT_JUDGE.match(verdict.message)
    if not match:
        return verdict.message
    return (
        f"{match['head']}: not verifiable live: {match['what']} cannot be read from AWS"
        f"{_NOTES.get(verdict.rule, '')}."
    )


def unverifiable_findings(items: Iterable[Unverifiable]) -> list[Finding]:
    findings = []
    for item in items:
        for rule in item.rules:
            findings.append(
                Finding(
                    rule=rule,
                    enforcement=Enforcement.ADVISORY,
                    resource=item.subject.urn,
                    type=item.subject.type,
                    message=f"{rule} {item.subject.name}: unverifiable: {item.what} could not be "
                    f"read ({item.code}); grant the auditor {item.permission} to judge {rule}.",
                    engine=Engine.AUDIT,
                )
            )
    return findings


def judge_collected(collected: Collected, context: Context) -> list[Finding]:
    """The point-A rules over the collected facts, plus what only a live audit sees."""
    rule_ids = [r.id for r in rules_at(Point.AUDIT) if r.id not in collected.blocked]
    verdicts = evaluate(collected.facts, context, rule_ids) + collected.verdicts
    for pending in collected.pending:
        when = f" on {pending.deletion_date.date().isoformat()}" if pending.deletion_date else ""
        verdicts.append(
            Verdict(
                "KM-DEL-001",
                Outcome.FAIL,
                f"KM-DEL-001 {pending.key.name}: the key is pending deletion and will be "
                f"destroyed{when}; cancel it (CancelKeyDeletion) unless the destruction follows "
                "Proc 4.5 with a change record. Other rules are not judged on it.",
                pending.key.urn,
                pending.key.name,
                pending.key.type,
            )
        )
    unreadable = {(u.subject.urn, r) for u in collected.unverifiable for r in u.rules}
    findings = unverifiable_findings(collected.unverifiable)
    for verdict in verdicts:
        if verdict.rule in collected.blocked:
            continue
        if verdict.outcome is Outcome.UNKNOWN and (verdict.urn, verdict.rule) in unreadable:
            continue  # said once, with the missing permission
        failed = verdict.outcome is Outcome.FAIL
        findings.append(
            Finding(
                rule=verdict.rule,
                enforcement=RULES[verdict.rule].default_enforcement
                if failed
                else Enforcement.ADVISORY,
                resource=verdict.urn or verdict.name,
                type=verdict.type or ACCOUNT_TYPE,
                message=verdict.message if failed else live_message(verdict),
                engine=Engine.AUDIT,
            )
        )
    names = {f.urn: f.name for f in collected.facts} | {
        p.key.urn: p.key.name for p in collected.pending
    }
    return _with_exceptions(findings, names, context.exceptions, context.environment, context.as_of)


def _with_exceptions(
    findings: Sequence[Finding],
    names: Mapping[str, str],
    scopes: Sequence[ExceptionScope],
    environment: str,
    today: date,
) -> list[Finding]:
    """Exceptions name a resource by its declared name; live findings carry the ARN."""
    result = []
    for finding in findings:
        [applied] = apply_exceptions([finding], scopes, environment, today)
        name = names.get(finding.resource)
        if applied.exception is None and name:
            [by_name] = apply_exceptions(
                [replace(finding, resource=name)], scopes, environment, today
            )
            if by_name.exception is not None:
                applied = replace(by_name, resource=finding.resource)
        result.append(applied)
    return result


# --- the run -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRecord:
    """A resource as observed (the report's `resources`): its facts, in plain values."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str = ""
    protect: bool = False


@dataclass(frozen=True)
class AuditResult:
    findings: list[Finding]
    facts: list[Facts]
    evidence: Evidence

    @property
    def records(self) -> list[LiveRecord]:
        return [LiveRecord(f.urn, f.type, f.name, observed(f)) for f in self.facts]


def run_audit(
    estate: Estate,
    environment: str,
    *,
    as_of: date,
    endpoint_url: str | None = None,
    session: Any = None,
    reader: Reader | None = None,
    max_workers: int = MAX_WORKERS,
) -> AuditResult:
    """Audit `environment`'s AWS account; AuditError when it cannot run."""
    env = estate.environments.get(environment)
    if env is None:
        known = ", ".join(sorted(estate.environments))
        raise AuditError(
            f"{estate.root / (environment + '.yaml')}: no such environment (known: {known}); "
            "pass an environment of --estate"
        )
    if env.cloud is not Cloud.AWS or env.aws is None:
        raise AuditError(
            f"{estate.root / (environment + '.yaml')}: cloud is {env.cloud.value}; the live "
            "audit covers AWS environments only"
        )
    import boto3  # noqa: PLC0415 - only the audit needs boto3
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    started = datetime.now(UTC)
    region, account = env.aws.region, env.aws.account_id
    try:
        session = session or boto3.session.Session(region_name=region)
        sts = make_client(session, "sts", region, endpoint_url)
        identity = sts.get_caller_identity()
        caller_account, caller_arn = str(identity["Account"]), str(identity["Arn"])
        if caller_account != account:
            raise AuditError(
                f"the credentials belong to account {caller_account} ({caller_arn}), not "
                f"{environment}'s account {account}; use credentials for {account}"
            )
        collector = Collector(
            session,
            account=account,
            region=region,
            environment=environment,
            as_of=as_of,
            endpoint_url=endpoint_url,
            reader=reader,
            max_workers=max_workers,
        )
        collected = collector.collect()
    except ClientError as err:
        raise AuditError(f"AWS refused the audit ({_code(err) or 'error'}): {err}") from None
    except BotoCoreError as err:
        where = f" at {endpoint_url}" if endpoint_url else ""
        raise AuditError(f"cannot reach AWS{where}: {err}") from None
    collected.unverifiable = list(collector.reader.unverifiable)
    context = Context.from_estate(estate, environment, as_of)
    findings = judge_collected(collected, context)
    counts: dict[str, int] = {}
    for fact in collected.facts:
        kind = _KINDS.get(fact.type, fact.type)
        counts[kind] = counts.get(kind, 0) + 1
    if collected.pending:
        counts["keys pending deletion"] = len(collected.pending)
    evidence = Evidence(
        environment=environment,
        account=account,
        region=region,
        caller_arn=caller_arn,
        started_at=started,
        finished_at=datetime.now(UTC),
        as_of=as_of,
        endpoint_url=endpoint_url,
        counts=counts,
    )
    return AuditResult(findings, collected.facts, evidence)


_KINDS = {
    KEY_TYPE: "keys",
    TRAIL_TYPE: "trails",
    BUCKET_TYPE: "buckets",
    SECRET_TYPE: "secrets",
    HSM_CLUSTER_TYPE: "HSM clusters",
}


def observed(facts: Facts) -> dict[str, Any]:
    """A fact's values for the report: what the audit saw, UNKNOWN marked as unknown."""
    skip = {"urn", "name", "type", "cloud", "ids", "parent", "dependencies"}
    return {f.name: _plain(getattr(facts, f.name)) for f in fields(facts) if f.name not in skip}


def _plain(value: Any) -> Any:
    if isinstance(value, Unknown):
        return WIRE_UNKNOWN
    if isinstance(value, Algorithm):
        return value.name
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Ref):
        return _plain(value.value)
    if isinstance(value, Grant):
        return {
            "principal": _plain(value.principal),
            "actions": _plain(value.actions),
            "effect": value.effect.value,
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- output and the command ----------------------------------------------------------------------


class AuditFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def render(result: AuditResult, fmt: AuditFormat, *, color: bool = False) -> str:
    """The report in `fmt`, with the evidence: an `evidence` object in JSON, a header else."""
    import json  # noqa: PLC0415

    from keyplane.reports import Report, json_document, render_report  # noqa: PLC0415

    evidence = result.evidence
    report = Report(
        findings=result.findings,
        resources=result.records,
        environment=evidence.environment,
        command="audit",
        checked_rules=[r.id for r in rules_at(Point.AUDIT)],
        started_at=evidence.started_at,
        duration_seconds=(evidence.finished_at - evidence.started_at).total_seconds(),
    )
    if fmt is AuditFormat.JSON:
        document = json_document(report)
        document["evidence"] = evidence.to_json()
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text = render_report(report, fmt.value, color=color)
    if fmt is AuditFormat.MARKDOWN:
        header = "".join(f"> {line}\n>\n" for line in evidence.header_lines()).rstrip(">\n")
        return f"{header}\n\n{text}"
    return "".join(f"{line}\n" for line in evidence.header_lines()) + "\n" + text


def audit(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml (AWS).")],
    estate: EstateOption = DEFAULT_ESTATE,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Send every AWS call to this URL (moto_server or another local emulator).",
        ),
    ] = None,
    format: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="Report format.")
    ] = AuditFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE (atomically)."),
    ] = None,
    as_of: AsOfOption = None,
) -> None:
    """Audit the deployed keys, trails and secrets of an AWS environment; file the evidence."""
    from keyplane.cli.prelude import stdout  # noqa: PLC0415
    from keyplane.reports import write_atomic  # noqa: PLC0415

    today = parse_day(as_of)
    try:
        loaded = load_estate(estate)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
    try:
        result = run_audit(loaded, environment, as_of=today, endpoint_url=endpoint_url)
    except AuditError as err:
        fail_bad_input([f"keyplane audit: {err}"])
    text = render(result, format, color=output is None and stdout.is_terminal)
    if output is not None:
        try:
            write_atomic(output, render(result, format))
        except OSError as err:
            fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
    else:
        sys.stdout.write(text)
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(result.findings) else EXIT_CLEAN)
