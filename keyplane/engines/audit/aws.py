"""The live audit's AWS collection: boto3 clients, paging, retries, and a record of what was read.

The caller's account must be the environment's (STS first). `Collector` reads one account and
region with read-only calls (KMS keys, CloudTrail trails and their S3 buckets, CloudHSM clusters,
Secrets Manager secrets, the metric filters, alarms and EventBridge rules that alert on key
misuse, and the period's key lifecycle events from CloudTrail's event history),
made concurrently (`MAX_WORKERS`); `keyplane.adapters.boto3` turns the answers into facts. A read the auditor may not make becomes UNKNOWN plus an `Unverifiable`
record naming its permission (advisory), and the audit goes on.

Transport (`Reader`, `make_client`): the whole collection runs under one deadline (`Deadline`,
`keyplane audit --timeout`, default DEFAULT_TIMEOUT_SECONDS); every call has botocore's
connect and read timeouts (CONNECT_TIMEOUT_SECONDS, `--call-timeout`); throttling, 5xx answers,
dropped connections, timeouts and answers that are not what the API returns (`BadAnswer`: a
body of the wrong content type, unparseable, or without the operation's result field) are retried
with jittered exponential backoff, never past the deadline, and then become a *fault*: UNKNOWN plus
an `Unverifiable` record naming the call, whose findings keep their rule's enforcement (a
mandatory rule left unknown fails the audit, exit 1). botocore's own retries are off, so no sleep
escapes the deadline. A run ends at most one call timeout after its deadline. `run_audit` then hands the collection to the cloud-neutral judge
(`keyplane.engines.audit.judge`) with the keys and secrets the environment declares (by the names
keyplane gives them: `aws_key_alias`, `aws_secret_name`) and files the run as `Evidence` (Proc §5,
SOC 2 CC6.1 and CC6.7): what was declared, found and judged, and each key's lifecycle.

No rule is named here: which rules a permission serves is the rules' side
(`keyplane.rules.audit_permissions`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from keyplane.adapters.boto3 import (
    ACCOUNT_TYPE,
    ALARM_TYPE,
    BUCKET_TYPE,
    CERTIFICATE_TYPE,
    EVENT_HISTORY_DAYS,
    EVENT_RULE_TYPE,
    EVENT_TARGET_TYPE,
    HSM_CLUSTER_TYPE,
    KEY_LIFECYCLE_EVENTS,
    KEY_TYPE,
    METRIC_FILTER_TYPE,
    SECRET_TYPE,
    TRAIL_TYPE,
    TrailEvent,
    alarm_facts,
    aws_key_alias,
    aws_secret_name,
    bucket_facts,
    can_rotate_automatically,
    certificate_facts,
    display_name,
    event_rule_facts,
    event_target_facts,
    hsm_cluster_facts,
    key_facts,
    last_rotation,
    metric_filter_facts,
    policy_problem,
    secret_display_name,
    secret_facts,
    secret_last_rotation,
    tag_map,
    trail_event,
    trail_facts,
)
from keyplane.config import Environment, Estate
from keyplane.engines.audit.evidence import Evidence, Lifecycle
from keyplane.engines.audit.judge import (
    AuditError,
    AuditResult,
    Collected,
    Declared,
    KeySeen,
    PendingDeletion,
    Retired,
    Subject,
    Unverifiable,
    inventory_of,
    judge_collected,
    lifecycle_of,
)
from keyplane.engines.audit.transport import (
    BACKOFF_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    MAX_WORKERS,
    READ_TIMEOUT_SECONDS,
    AuditReader,
    CallFault,
    Deadline,
    check_endpoint_url,
    short,
)
from keyplane.facts.values import UNKNOWN, Maybe, Unknown
from keyplane.rules.context import Context
from keyplane.standard import Cloud

__all__ = [
    "BACKOFF_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_SECONDS",
    "MAX_WORKERS",
    "READ_TIMEOUT_SECONDS",
    "AuditError",
    "AuditResult",
    "BadAnswer",
    "CallFault",
    "Collector",
    "Deadline",
    "Reader",
    "check_endpoint_url",
    "check_event_days",
    "declared_resources",
    "error_code",
    "is_denied",
    "make_client",
    "run_audit",
    "verify_account",
]

#: Error codes of answers worth asking again (the service's side, not the request's).
_TRANSIENT = frozenset(
    {"InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable"}
)

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
    "cloudtrail:LookupEvents",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketVersioning",
    "s3:GetBucketTagging",
    "cloudhsm:DescribeClusters",
    "secretsmanager:ListSecrets",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "acm:ListTagsForCertificate",
    "logs:DescribeMetricFilters",
    "cloudwatch:DescribeAlarms",
    "events:ListRules",
    "events:ListTargetsByRule",
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


def error_code(err: Exception) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    return _code(err)


def is_denied(err: Exception) -> bool:
    """Whether `err` is AWS refusing the caller a permission (AccessDenied and its kin)."""
    return _code(err) in _DENIED


def _status(err: Exception) -> int:
    response = getattr(err, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


class BadAnswer(Exception):
    """An answer that is not what the API returns (raised while botocore reads it): `reason`
    names the operation and what was wrong, e.g. "ListKeys: HTTP 200 answer of type text/html,
    not the API's JSON"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: What `Reader.retrying` raises when it gave up on a call (`reason` names the call and why).
_Fault = CallFault


#: The field every successful answer of an operation carries (AWS API reference); an answer
#: without it is a `BadAnswer`, never an empty list. Operations not listed have no such field.
RESULT_FIELDS: Mapping[str, str] = {
    "GetCallerIdentity": "Account",
    "ListKeys": "Keys",
    "ListAliases": "Aliases",
    "DescribeKey": "KeyMetadata",
    "GetKeyRotationStatus": "KeyRotationEnabled",
    "ListKeyRotations": "Rotations",
    "GetKeyPolicy": "Policy",
    "ListResourceTags": "Tags",
    "DescribeTrails": "trailList",
    "GetTrailStatus": "IsLogging",
    "ListTags": "ResourceTagList",
    "GetObjectLockConfiguration": "ObjectLockConfiguration",
    "GetBucketTagging": "TagSet",
    "DescribeClusters": "Clusters",
    "ListSecrets": "SecretList",
    "DescribeSecret": "ARN",
    "GetResourcePolicy": "ARN",
    "LookupEvents": "Events",
    "DescribeMetricFilters": "metricFilters",
    "ListRules": "Rules",
    "ListTargetsByRule": "Targets",
    # DescribeAlarms is left out: whether CloudWatch's JSON protocol sends an empty
    # `MetricAlarms` is not documented, and a fault in its place would report every account
    # without alarms as unreadable.
}


def _operation(client: Any, snake: str) -> str:
    try:
        return str(client.meta.method_to_api_mapping.get(snake, snake))
    except AttributeError:
        return snake


def _check_result(answer: Any, operation: str) -> Any:
    """`answer` when it is a mapping with the operation's result field; BadAnswer otherwise."""
    field_name = RESULT_FIELDS.get(operation)
    if not isinstance(answer, Mapping):
        raise BadAnswer(f"{operation}: the answer is not an object")
    if field_name is not None and field_name not in answer:
        raise BadAnswer(f"{operation}: the answer has no {field_name!r}")
    return answer


def _transient(err: Exception, operation: str) -> tuple[str, float | None] | None:
    """Whether a failed AWS call is worth asking again (throttling, 5xx, a dropped or timed-out
    connection, a `BadAnswer`), and what failed; None for a final refusal (raised again)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    if isinstance(err, ClientError):
        code, status = _code(err), _status(err)
        if code not in _THROTTLING and code not in _TRANSIENT and status < 500:
            return None
        return f"{operation}: {code or 'HTTP ' + str(status)}", None
    if isinstance(err, BadAnswer):
        return err.reason, None
    if isinstance(err, BotoCoreError | ValueError | TypeError | AttributeError | KeyError):
        # botocore's parsers raise plain Python errors on bodies that do not fit the
        # operation's shape: that is the answer's fault, not keyplane's.
        return f"{operation}: {type(err).__name__}: {short(err)}", None
    return None


class Reader(AuditReader):
    """Describe calls with retries under the audit's deadline; what cannot be read becomes
    UNKNOWN plus an `Unverifiable` record of why (a refused permission, or a fault naming the
    call)."""

    # Transient: throttling, 5xx, a dropped or timed-out connection, a `BadAnswer`; a final
    # refusal is the ClientError itself.
    transient = staticmethod(_transient)

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

        name = _operation(client, operation)
        try:
            return self.retrying(
                lambda: _check_result(getattr(client, operation)(**kwargs), name), name
            )
        except ClientError as err:
            code = _code(err)
            if code in set(absent):
                return None
            self._refused(err, subject, what, permission, name)
        except _Fault as fault:
            self.record(Unverifiable(subject, what, permission, fault.reason, fault=True))
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
        name = _operation(client, operation)

        def collect() -> list[Any]:
            if client.can_paginate(operation):
                items: list[Any] = []
                for page in client.get_paginator(operation).paginate(**kwargs):
                    items.extend(_list_of(_check_result(page, name), result_key, name))
                return items
            answer = _check_result(getattr(client, operation)(**kwargs), name)
            return _list_of(answer, result_key, name)

        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            result: list[Any] = self.retrying(collect, name)
            return result
        except ClientError as err:
            self._refused(err, subject, what, permission, name)
        except _Fault as fault:
            self.record(Unverifiable(subject, what, permission, fault.reason, fault=True))
        return UNKNOWN

    def _refused(
        self, err: Exception, subject: Subject, what: str, permission: str, operation: str
    ) -> None:
        """A final ClientError: bad credentials stop the audit; a denied permission is
        advisory; any other refusal is a fault naming the call."""
        code = _code(err)
        if code in _BAD_CREDENTIALS:
            raise AuditError(f"AWS rejected the credentials ({code}): {err}") from None
        if code in _DENIED:
            self.record(Unverifiable(subject, what, permission, code))
        else:
            reason = f"{operation}: {code or 'HTTP ' + str(_status(err))}"
            self.record(Unverifiable(subject, what, permission, reason, fault=True))


def _list_of(answer: Mapping[str, Any], key: str, operation: str) -> list[Any]:
    items = answer.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise BadAnswer(f"{operation}: {key!r} is not a list")
    return items


class Collector:
    """Reads one account and region: keys, trails and their buckets, HSM clusters, secrets,
    and the alerts on key misuse."""

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
        call_timeout_seconds: float | None = None,
        event_days: int = EVENT_HISTORY_DAYS,
        now: datetime | None = None,
    ) -> None:
        self.session = session
        self.call_timeout_seconds = call_timeout_seconds
        #: The lifecycle events' period: `event_days` back from `now` (aware; default: the run).
        self.event_days = event_days
        self.now = now or datetime.now(UTC)
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
                self.session,
                service,
                where,
                self.endpoint_url,
                call_timeout_seconds=self.call_timeout_seconds,
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
            out.keys_listed = False
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
        self._names(keys, aliases, out, listed=not isinstance(alias_list, Unknown))
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
        else:
            out.secret_names = {
                str(s["Name"]): str(s.get("ARN") or s["Name"]) for s in secrets if s.get("Name")
            }
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

        acm = self.client("acm")
        certificates = read.pages(
            acm,
            "list_certificates",
            "CertificateSummaryList",
            subject=acct,
            what="the account's ACM certificates",
            permission="acm:ListCertificates",
            # Without it ListCertificates leaves out RSA-1024 and other non-RSA-2048 keys.
            Includes={"keyTypes": list(_ACM_KEY_TYPES)},
        )
        if isinstance(certificates, Unknown):
            certificates = []

        buckets = sorted({str(t["S3BucketName"]) for t in trail_list if t.get("S3BucketName")})
        tasks: list[Callable[[], None]] = [
            *(lambda k=k: self._key(k, aliases, out) for k in keys),
            *(lambda t=t: self._trail(t, out) for t in trail_list),
            *(lambda b=b: self._bucket(b, out) for b in buckets),
            *(lambda s=s: self._secret(s, out) for s in secrets),
            *(lambda c=c: self._certificate(c, out) for c in certificates),
            lambda: self._events(out),
            *self._alerting_tasks(trail_list, out),
        ]
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for future in [pool.submit(task) for task in tasks]:
                future.result()
        out.facts.sort(key=lambda f: (f.type, f.name, f.urn))
        return out

    def _names(
        self,
        keys: list[Any],
        aliases: Mapping[str, list[str]],
        out: Collected,
        *,
        listed: bool,
    ) -> None:
        """Every name a key goes by (for placing events), and alias -> key (for finding the
        declared keys; left UNKNOWN when the aliases could not be listed: a declared key is then
        neither found nor missing)."""
        arns = {str(k.get("KeyId")): str(k.get("KeyArn") or k.get("KeyId")) for k in keys}
        for key_id, arn in arns.items():
            for ref in (key_id, arn, *aliases.get(key_id, ())):
                out.key_refs[ref] = arn
        if listed:
            out.key_names = {
                alias: arns.get(key_id, key_id)
                for key_id, names in aliases.items()
                for alias in names
            }

    def _events(self, out: Collected) -> None:
        """The period's key lifecycle events (CloudTrail LookupEvents, one event name per call:
        the API takes one lookup attribute). A read refused or failed leaves them UNKNOWN (the
        evidence says why) and asks no further."""
        client = self.client("cloudtrail")
        start = self.now - timedelta(days=self.event_days)
        found: dict[str, TrailEvent] = {}
        for name in KEY_LIFECYCLE_EVENTS:
            answer = self.reader.pages(
                client,
                "lookup_events",
                "Events",
                subject=self.account_subject,
                what=f"the key lifecycle events ({name}) of the last {self.event_days} days",
                permission="cloudtrail:LookupEvents",
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                StartTime=start,
                EndTime=self.now,
            )
            if isinstance(answer, Unknown):
                return
            for entry in answer:
                event = trail_event(entry) if isinstance(entry, Mapping) else None
                # Only the name asked for: an answer is never counted under another name.
                if event is not None and event.name == name:
                    found[event.event_id or f"{name}@{event.time.isoformat()}:{event.refs}"] = event
        out.events = sorted(found.values(), key=lambda e: (e.time, e.name))

    # --- alerts on key misuse ------------------------------------------------------------

    def _alerting_tasks(
        self, trails: Iterable[Mapping[str, Any]], out: Collected
    ) -> list[Callable[[], None]]:
        """The reads of the alerts on key misuse: metric filters and alarms in every region
        holding a log group a trail delivers to in this account (an alarm watches metrics of its
        own region; a multi-region trail delivers every region's events to its home region's
        group), and the audited region's; EventBridge rules of the audited region's default bus
        (where KMS and Secrets Manager send the events of calls made there). The clients are
        made here, before the pool runs."""
        regions = {self.region}
        for trail in trails:
            parts = str(trail.get("CloudWatchLogsLogGroupArn") or "").split(":")
            # arn:aws:logs:<region>:<account>:log-group:<name>:*; another account's group is
            # not readable with this account's credentials.
            if len(parts) > 5 and parts[4] == self.account and parts[3]:
                regions.add(parts[3])
        for region in regions:
            self.client("logs", region)
            self.client("cloudwatch", region)
        self.client("events")
        return [
            *(lambda r=r: self._metric_filters(r, out) for r in sorted(regions)),
            *(lambda r=r: self._alarms(r, out) for r in sorted(regions)),
            lambda: self._event_rules(out),
        ]

    def _region_subject(self, region: str) -> Subject:
        if region == self.region:
            return self.account_subject
        return Subject(self.account_subject.urn, f"{self.account}/{region}", ACCOUNT_TYPE)

    def _metric_filters(self, region: str, out: Collected) -> None:
        found = self.reader.pages(
            self.client("logs", region),
            "describe_metric_filters",
            "metricFilters",
            subject=self._region_subject(region),
            what="the CloudWatch Logs metric filters",
            permission="logs:DescribeMetricFilters",
        )
        if not isinstance(found, Unknown):
            out.add(*(metric_filter_facts(f, account=self.account, region=region) for f in found))

    def _alarms(self, region: str, out: Collected) -> None:
        found = self.reader.pages(
            self.client("cloudwatch", region),
            "describe_alarms",
            "MetricAlarms",
            subject=self._region_subject(region),
            what="the CloudWatch alarms",
            permission="cloudwatch:DescribeAlarms",
        )
        if not isinstance(found, Unknown):
            out.add(*(alarm_facts(alarm) for alarm in found))

    def _event_rules(self, out: Collected) -> None:
        events = self.client("events")
        read = self.reader
        rules = read.pages(
            events,
            "list_rules",
            "Rules",
            subject=self.account_subject,
            what="the EventBridge rules",
            permission="events:ListRules",
        )
        for listed in [] if isinstance(rules, Unknown) else rules:
            rule = event_rule_facts(listed)
            out.add(rule)
            if rule.signals == frozenset():
                continue  # where a rule on no misuse signal sends its events changes no verdict
            targets = read.pages(
                events,
                "list_targets_by_rule",
                "Targets",
                subject=Subject(rule.urn, rule.name, EVENT_RULE_TYPE),
                what="the EventBridge rule's targets",
                permission="events:ListTargetsByRule",
                Rule=rule.name,
            )
            if not isinstance(targets, Unknown):
                out.add(*(event_target_facts(rule, target) for target in targets))

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
        state = str(metadata.get("KeyState") or "")
        with out.lock:
            out.keys_seen.append(KeySeen(subject, state))
        if state == "PendingDeletion":
            with out.lock:
                out.pending.append(PendingDeletion(subject, metadata.get("DeletionDate")))
            return
        if state == "Disabled":
            return  # deactivated, retained (Proc 4.4 step 3): evidence, not an active key
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
        document = self._policy(
            policy, "Policy", subject, "the key policy", "kms:GetKeyPolicy", "GetKeyPolicy"
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
            policy=document,
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

    def _policy(
        self,
        answer: Any,
        field_name: str,
        subject: Subject,
        what: str,
        permission: str,
        operation: str,
    ) -> Maybe[str | None]:
        """The policy document text of `answer` (None: no policy); UNKNOWN, recorded as a
        fault, when it was not read or is not a JSON object (never "no grants")."""
        if isinstance(answer, Unknown):
            return UNKNOWN
        text = (answer or {}).get(field_name)
        problem = policy_problem(text)
        if problem is not None:
            self.reader.record(
                Unverifiable(subject, what, permission, f"{operation}: {problem}", fault=True)
            )
            return UNKNOWN
        return text if isinstance(text, str) else None

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
        document = self._policy(
            policy,
            "ResourcePolicy",
            subject,
            "the secret's resource policy",
            "secretsmanager:GetResourcePolicy",
            "GetResourcePolicy",
        )
        secret = secret_facts(
            metadata,
            name=name,
            policy=document if isinstance(document, Unknown) else {"ResourcePolicy": document},
        )
        out.add(secret)
        with out.lock:
            out.secret_rotations.append((secret, secret_last_rotation(metadata)))

    def _certificate(self, listed: Mapping[str, Any], out: Collected) -> None:
        acm = self.client("acm")
        arn = str(listed.get("CertificateArn"))
        subject = Subject(arn, str(listed.get("DomainName") or arn), CERTIFICATE_TYPE)
        read = self.reader
        described = read.call(
            acm,
            "describe_certificate",
            subject=subject,
            what="the certificate's type, key and renewal",
            permission="acm:DescribeCertificate",
            CertificateArn=arn,
        )
        if isinstance(described, Unknown) or not isinstance(described, Mapping):
            return
        tags = read.call(
            acm,
            "list_tags_for_certificate",
            subject=subject,
            what="the certificate's tags (its manual renewal plan)",
            permission="acm:ListTagsForCertificate",
            CertificateArn=arn,
        )
        out.add(
            certificate_facts(
                described.get("Certificate") or {},
                tags=UNKNOWN if isinstance(tags, Unknown) else tag_map((tags or {}).get("Tags")),
            )
        )


#: Every key type ACM issues or imports (ListCertificates' `Includes.keyTypes`).
_ACM_KEY_TYPES = (
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
)


def make_client(
    session: Any,
    service: str,
    region: str,
    endpoint_url: str | None,
    *,
    call_timeout_seconds: float | None = None,
) -> Any:
    """A botocore client for the audit: per-call connect/read timeouts (`call_timeout_seconds`
    sets both; defaults CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS), botocore's retries off
    (`Reader` retries under the deadline), and every answer checked before botocore parses it
    (`BadAnswer`)."""
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=call_timeout_seconds or CONNECT_TIMEOUT_SECONDS,
        read_timeout=call_timeout_seconds or READ_TIMEOUT_SECONDS,
        max_pool_connections=MAX_WORKERS * 2,
    )
    client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    client.meta.events.register("before-parse", _check_answer)
    return client


def _check_answer(operation_model: Any, response_dict: Mapping[str, Any], **_: Any) -> None:
    """Refuse a successful answer that is not what the API returns: for JSON APIs a body that
    is not a JSON object (botocore would read it as `{"message": body}`: an empty list), for XML
    APIs an HTML page. The body decides, not the Content-Type header: AWS always sends the
    right one, but emulators (moto_server answers text/html) may not; the header only names
    what came instead."""
    status = int(response_dict.get("status_code") or 0)
    if not 200 <= status < 300:
        return  # errors are botocore's to parse; an unreadable one is still an error
    operation = str(operation_model.name)
    protocol = str(operation_model.service_model.resolved_protocol)
    expected = "JSON" if "json" in protocol else "XML"
    headers = response_dict.get("headers") or {}
    content_type = str(headers.get("content-type") or headers.get("Content-Type") or "")
    body = response_dict.get("body") or b""
    if not body.strip():
        return  # an empty answer: the result-field check says whether that may be
    what = f"{operation}: HTTP {status} answer of type {content_type or 'unknown'}"
    if expected == "JSON":
        try:
            parsed = json.loads(body)
        except ValueError:
            raise BadAnswer(f"{what}, not the API's JSON") from None
        if parsed is None and not _has_result(operation_model):
            return  # moto answers `null` to calls without a result (DisableKey, UpdateAlias)
        if not isinstance(parsed, dict):
            raise BadAnswer(f"{what}, not a JSON object")
    elif body.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html")):
        raise BadAnswer(f"{what}, an HTML page, not the API's XML")


def _has_result(operation_model: Any) -> bool:
    """Whether the operation answers with fields (DisableKey, UpdateAlias and the like do not)."""
    shape = getattr(operation_model, "output_shape", None)
    return bool(shape is not None and getattr(shape, "members", None))


# --- the run -------------------------------------------------------------------------------------


def verify_account(
    session: Any,
    *,
    environment: str,
    account: str,
    region: str,
    endpoint_url: str | None,
    reader: Reader,
    call_timeout_seconds: float | None = None,
) -> str:
    """The caller's ARN (STS GetCallerIdentity) once its account is `environment`'s `account`.

    Raises AuditError (exit 2) when STS cannot be reached or read, or the credentials belong to
    another account; a ClientError of STS (refused credentials) propagates.
    """
    sts = make_client(
        session, "sts", region, endpoint_url, call_timeout_seconds=call_timeout_seconds
    )
    try:
        identity = reader.retrying(
            lambda: _check_result(sts.get_caller_identity(), "GetCallerIdentity"),
            "GetCallerIdentity",
        )
    except _Fault as fault:
        where = f" at {endpoint_url}" if endpoint_url else ""
        raise AuditError(
            f"cannot reach AWS{where} to verify the caller's account ({fault.reason}); "
            "check the endpoint and the network, or raise --timeout"
        ) from None
    caller_account, caller_arn = str(identity["Account"]), str(identity.get("Arn"))
    if caller_account != account:
        raise AuditError(
            f"the credentials belong to account {caller_account} ({caller_arn}), not "
            f"{environment}'s account {account}; use credentials for {account}"
        )
    return caller_arn


def run_audit(
    estate: Estate,
    environment: str,
    *,
    as_of: date,
    endpoint_url: str | None = None,
    session: Any = None,
    reader: Reader | None = None,
    max_workers: int = MAX_WORKERS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    call_timeout_seconds: float | None = None,
    event_days: int = EVENT_HISTORY_DAYS,
) -> AuditResult:
    """Audit `environment`'s AWS account within `timeout_seconds` (what is not read by then is
    reported unverifiable); each call times out after `call_timeout_seconds` (default
    CONNECT_TIMEOUT_SECONDS to connect, READ_TIMEOUT_SECONDS to read). The evidence lists each
    key's lifecycle events of the last `event_days` days (1 to EVENT_HISTORY_DAYS: CloudTrail's
    event history holds no more).

    Raises AuditError when it cannot run: an unknown or non-AWS environment, an endpoint that is
    not an http(s) URL, `event_days` out of range, credentials of another account, STS
    unreachable or unreadable.
    """
    check_endpoint_url(endpoint_url)
    check_event_days(event_days)
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
            "audit covers AWS and GCP environments only"
        )
    import boto3  # noqa: PLC0415 - only the audit needs boto3
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    started = datetime.now(UTC)
    region, account = env.aws.region, env.aws.account_id
    reader = reader or Reader()
    if reader.deadline is None:
        reader.deadline = Deadline(timeout_seconds)
    try:
        session = session or boto3.session.Session(region_name=region)
        caller_arn = verify_account(
            session,
            environment=environment,
            account=account,
            region=region,
            endpoint_url=endpoint_url,
            reader=reader,
            call_timeout_seconds=call_timeout_seconds,
        )
        collector = Collector(
            session,
            account=account,
            region=region,
            environment=environment,
            endpoint_url=endpoint_url,
            reader=reader,
            max_workers=max_workers,
            call_timeout_seconds=call_timeout_seconds,
            event_days=event_days,
            now=started,
        )
        collected = collector.collect()
    except ClientError as err:
        raise AuditError(f"AWS refused the audit ({_code(err) or 'error'}): {err}") from None
    except BotoCoreError as err:
        where = f" at {endpoint_url}" if endpoint_url else ""
        raise AuditError(f"cannot reach AWS{where}: {err}") from None
    collected.unverifiable = list(collector.reader.unverifiable)
    context = Context.from_estate(estate, environment, as_of)
    declared = declared_resources(env)
    findings = judge_collected(collected, context, declared)
    counts: dict[str, int] = {}
    for fact in collected.facts:
        kind = _KINDS.get(fact.type, fact.type)
        counts[kind] = counts.get(kind, 0) + 1
    if collected.pending:
        counts["keys pending deletion"] = len(collected.pending)
    if disabled := sum(1 for k in collected.keys_seen if k.state == "Disabled"):
        counts["keys deactivated (retained)"] = disabled
    if faults := sum(1 for u in collected.unverifiable if u.fault):
        counts["reads failed (unverifiable)"] = faults
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
        inventory=inventory_of(collected, declared),
        lifecycle=Lifecycle(
            event_days,
            lifecycle_of(collected, declared, as_of, context.restore_tests),
            unverifiable=_events_problem(collected),
        ),
    )
    return AuditResult(findings, collected.facts, evidence)


def check_event_days(days: int) -> int:
    """`days` when it is 1 to EVENT_HISTORY_DAYS; AuditError (exit 2) otherwise."""
    if not 1 <= days <= EVENT_HISTORY_DAYS:
        raise AuditError(
            f"--days: must be 1 to {EVENT_HISTORY_DAYS} (CloudTrail's event history holds "
            f"{EVENT_HISTORY_DAYS} days; got {days}); pass a number of days in that range"
        )
    return days


def declared_resources(env: Environment) -> list[Declared]:
    """The keys and secrets `env` declares, with the names keyplane gives them on AWS."""
    return [
        *(
            Declared(
                k.name,
                aws_key_alias(env.name, k.name),
                KEY_TYPE,
                key=True,
                retired=Retired(k.retired.on, k.retired.reason) if k.retired else None,
            )
            for k in env.keys
        ),
        *(
            Declared(s.name, aws_secret_name(env.name, s.name), SECRET_TYPE, key=False)
            for s in env.secrets
        ),
    ]


def _events_problem(collected: Collected) -> str | None:
    """Why the lifecycle events were not read (None when they were), with what to grant."""
    if not isinstance(collected.events, Unknown):
        return None
    reasons = [u for u in collected.unverifiable if u.permission == "cloudtrail:LookupEvents"]
    if not reasons:
        return "not read (the collection stopped before them)"
    first = reasons[0]
    if first.fault:
        return f"not read ({first.code}); rerun the audit when CloudTrail answers"
    return f"refused ({first.code}); grant the auditor cloudtrail:LookupEvents"


_KINDS = {
    KEY_TYPE: "keys",
    TRAIL_TYPE: "trails",
    BUCKET_TYPE: "buckets",
    SECRET_TYPE: "secrets",
    HSM_CLUSTER_TYPE: "HSM clusters",
    METRIC_FILTER_TYPE: "metric filters",
    ALARM_TYPE: "alarms",
    EVENT_RULE_TYPE: "EventBridge rules",
    EVENT_TARGET_TYPE: "EventBridge rule targets",
}
