"""The live audit's AWS collection: boto3 clients, paging, retries, and a record of what was read.

The caller's account must be the environment's (STS first). `Collector` reads one account and
region with read-only calls (KMS keys, CloudTrail trails and their S3 buckets, CloudHSM clusters,
Secrets Manager secrets), made concurrently (`MAX_WORKERS`) and retried with exponential backoff
on throttling (`Reader`); `keyplane.adapters.boto3` turns the answers into facts. A read the
auditor may not make becomes UNKNOWN plus an `Unverifiable` record naming its permission, and the
audit goes on. `run_audit` then hands the collection to the cloud-neutral judge
(`keyplane.engines.audit.judge`) and files the run as `Evidence` (Proc §5, SOC 2 CC6.7).

No rule is named here: which rules a permission serves is the rules' side
(`keyplane.rules.audit_permissions`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

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
from keyplane.config import Estate
from keyplane.engines.audit.evidence import Evidence
from keyplane.engines.audit.judge import (
    AuditError,
    AuditResult,
    Collected,
    PendingDeletion,
    Subject,
    Unverifiable,
    judge_collected,
)
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.context import Context
from keyplane.standard import Cloud

__all__ = ["AuditError", "AuditResult", "Collector", "Reader", "make_client", "run_audit"]

#: Concurrent describe calls: enough to hide latency, few enough to stay under KMS's quotas.
MAX_WORKERS = 8
#: Attempts per call (botocore's own retries, then keyplane's backoff on top of them).
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5

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

#: Read-only permissions the auditor's role needs (README "Live audit (AWS)").
PERMISSIONS = (
    "sts:GetCallerIdentity",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations",
    "kms:GetKeyPolicy",
    "kms:ListGrants",
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
            self.record(Unverifiable(subject, what, permission, code or "error"))
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
            self.record(Unverifiable(subject, what, permission, code or "error"))
            return UNKNOWN

    def record(self, item: Unverifiable) -> None:
        with self._lock:
            self.unverifiable.append(item)


class Collector:
    """Reads one account and region: keys, trails and their buckets, HSM clusters, secrets."""

    def __init__(
        self,
        session: Any,
        *,
        account: str,
        region: str,
        environment: str,
        endpoint_url: str | None = None,
        reader: Reader | None = None,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self.session = session
        self.account = account
        self.region = region
        self.environment = environment
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
        out = Collected(self.account_subject)
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
        )
        if isinstance(keys, Unknown):
            keys = []
        alias_list = read.pages(
            kms,
            "list_aliases",
            "Aliases",
            subject=acct,
            what="the key aliases (names in findings fall back to key IDs)",
            permission="kms:ListAliases",
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
            includeShadowTrails=True,
        )
        trail_list: list[Mapping[str, Any]] = []
        if not isinstance(trails, Unknown):
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
        )
        if isinstance(secrets, Unknown):
            secrets = []
        clusters = read.pages(
            hsm,
            "describe_clusters",
            "Clusters",
            subject=acct,
            what="the CloudHSM clusters",
            permission="cloudhsm:DescribeClusters",
        )
        for cluster in [] if isinstance(clusters, Unknown) else clusters:
            out.add(hsm_cluster_facts(cluster, account=self.account, region=self.region))

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
                KeyId=key_id,
            )
        policy = read.call(
            kms,
            "get_key_policy",
            subject=subject,
            what="the key policy",
            permission="kms:GetKeyPolicy",
            KeyId=key_id,
            PolicyName="default",
        )
        # KMS grants give access beside the key policy (KM-ACC-004 names their grantees).
        kms_grants = read.pages(
            kms,
            "list_grants",
            "Grants",
            subject=subject,
            what="the key's grants",
            permission="kms:ListGrants",
            KeyId=key_id,
        )
        key = key_facts(
            metadata,
            name=subject.name,
            aliases=names,
            tags=tags,
            rotation=rotation,
            policy=UNKNOWN if isinstance(policy, Unknown) else (policy or {}).get("Policy"),
            kms_grants=kms_grants,
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
                KeyId=key_id,
            )
            if not isinstance(rotations, Unknown):
                with out.lock:
                    out.material_changes.append((key, last_rotation(metadata, rotations)))

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
            Name=arn,
        )
        selectors = read.call(
            client,
            "get_event_selectors",
            subject=subject,
            what="the trail's event selectors",
            permission="cloudtrail:GetEventSelectors",
            TrailName=arn,
        )
        listed = read.call(
            client,
            "list_tags",
            subject=subject,
            what="the trail's tags",
            permission="cloudtrail:ListTags",
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
            absent=("ObjectLockConfigurationNotFoundError",),
            Bucket=bucket,
        )
        versioning = read.call(
            s3,
            "get_bucket_versioning",
            subject=subject,
            what="the audit-log bucket's versioning",
            permission="s3:GetBucketVersioning",
            Bucket=bucket,
        )
        tagging = read.call(
            s3,
            "get_bucket_tagging",
            subject=subject,
            what="the audit-log bucket's tags",
            permission="s3:GetBucketTagging",
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
            SecretId=arn,
        )
        metadata = listed if isinstance(described, Unknown) or described is None else described
        policy = read.call(
            sm,
            "get_resource_policy",
            subject=subject,
            what="the secret's resource policy",
            permission="secretsmanager:GetResourcePolicy",
            absent=("ResourceNotFoundException",),
            SecretId=arn,
        )
        secret = secret_facts(metadata, name=name, policy=policy)
        out.add(secret)
        with out.lock:
            out.secret_rotations.append((secret, secret_last_rotation(metadata)))


def make_client(session: Any, service: str, region: str, endpoint_url: str | None) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=MAX_WORKERS * 2,
    )
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


# --- the run -------------------------------------------------------------------------------------


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
        permissions=PERMISSIONS,
        not_visible=NOT_VISIBLE,
    )
    return AuditResult(findings, collected.facts, evidence)


_KINDS = {
    KEY_TYPE: "keys",
    TRAIL_TYPE: "trails",
    BUCKET_TYPE: "buckets",
    SECRET_TYPE: "secrets",
    HSM_CLUSTER_TYPE: "HSM clusters",
}
