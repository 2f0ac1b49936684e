"""Facts from boto3 describe calls (the live audit): the same facts the Pulumi adapter builds.

Each function turns the answers of the describe calls about one resource into facts; it never
calls AWS itself (`keyplane.engines.audit.aws` does, and passes UNKNOWN for an answer it could not read).
What a live account cannot show is UNKNOWN, never a guess: Pulumi's `protect` lives in the stack
state, and an active key's deletion window is only set when its deletion is scheduled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from keyplane.adapters.common import (
    advanced_selector_logs_kms,
    alert_destinations,
    as_int,
    as_list,
    aws_metric,
    event_rule_enabled,
    event_rule_signals,
    policy_grants,
    rotation_rules_days,
    sns_target,
    text_signals,
)
from keyplane.adapters.tls import acm_algorithm
from keyplane.facts.access import Condition, Grant, normalize_aws_principal
from keyplane.facts.model import (
    Alert,
    AlertTarget,
    Certificate,
    HsmCluster,
    Immutability,
    Key,
    KeyOrigin,
    LogBucket,
    LogMetric,
    Secret,
    Tags,
    Trail,
)
from keyplane.facts.values import UNKNOWN, Maybe, Ref, Unknown
from keyplane.standard import AWS_DEFAULT_ROTATION_DAYS as DEFAULT_ROTATION_DAYS
from keyplane.standard import (
    Algorithm,
    Cloud,
    Usage,
    algorithm_from_aws,
    rotates_automatically,
)

#: Resource kinds as findings name them (CloudFormation's type names).
KEY_TYPE = "AWS::KMS::Key"
TRAIL_TYPE = "AWS::CloudTrail::Trail"
BUCKET_TYPE = "AWS::S3::Bucket"
SECRET_TYPE = "AWS::SecretsManager::Secret"
HSM_CLUSTER_TYPE = "AWS::CloudHSM::Cluster"
CERTIFICATE_TYPE = "AWS::CertificateManager::Certificate"
ACCOUNT_TYPE = "AWS::Account"
METRIC_FILTER_TYPE = "AWS::Logs::MetricFilter"
ALARM_TYPE = "AWS::CloudWatch::Alarm"
EVENT_RULE_TYPE = "AWS::Events::Rule"
#: An EventBridge rule's target (CloudFormation keeps targets inside the rule: `Rule.Target`).
EVENT_TARGET_TYPE = "AWS::Events::Rule.Target"


_USAGE = {
    "ENCRYPT_DECRYPT": Usage.ENCRYPT,
    "SIGN_VERIFY": Usage.SIGN,
    "GENERATE_VERIFY_MAC": Usage.MAC,
}
#: KMS `Origin` -> (where the material lives, the protection name messages show).
_ORIGIN = {
    "AWS_KMS": (KeyOrigin.CLOUD_HSM, "AWS_KMS"),
    "AWS_CLOUDHSM": (KeyOrigin.DEDICATED_HSM, "AWS_CLOUDHSM"),
    "EXTERNAL": (KeyOrigin.IMPORTED, "EXTERNAL"),
    "EXTERNAL_KEY_STORE": (KeyOrigin.EXTERNAL, "EXTERNAL_KEY_STORE"),
}


def tag_map(
    tags: Iterable[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value"
) -> Tags:
    """AWS tag lists (`[{"Key": k, "Value": v}]`, KMS: `TagKey`/`TagValue`) as a mapping."""
    return MappingProxyType({str(t[key]): str(t.get(value, "")) for t in tags or () if key in t})


def aws_key_alias(environment: str, key: str) -> str:
    """`alias/<environment>/<key>`: the KMS alias keyplane gives a declared key (the components
    create it; the audit, `respond` and `restore-test` find the key by it)."""
    return f"alias/{environment}/{key}"


def aws_secret_name(environment: str, secret: str) -> str:
    """`<environment>/<secret>`: the Secrets Manager name keyplane gives a declared secret."""
    return f"{environment}/{secret}"


def display_name(arn_or_id: str, aliases: Iterable[str], environment: str) -> str:
    """The name findings and exceptions use: keyplane's alias `alias/<env>/<key>` gives the
    declared key name; another alias its name; no alias the key ID."""
    names = sorted(aliases)
    prefix = aws_key_alias(environment, "")
    for alias in names:
        if alias.startswith(prefix) and "/" not in alias.removeprefix(prefix):
            return alias.removeprefix(prefix)
    for alias in names:
        if not alias.startswith("alias/aws/"):
            return alias.removeprefix("alias/")
    return arn_or_id.rsplit("/", 1)[-1]


def secret_display_name(name: str, environment: str) -> str:
    """keyplane names a secret `<env>/<secret>`: the declared name is the last part."""
    return name.removeprefix(aws_secret_name(environment, ""))


# --- KMS keys ---------------------------------------------------------------------------------


def key_facts(
    metadata: Mapping[str, Any],
    *,
    name: str,
    aliases: Iterable[str] = (),
    tags: Maybe[Tags],
    rotation: Maybe[Mapping[str, Any] | None],
    policy: Maybe[str | None],
    kms_grants: Maybe[Iterable[Mapping[str, Any]]] = (),
) -> Key:
    """A customer-managed key from `describe_key`'s `KeyMetadata`, `list_resource_tags`,
    `get_key_rotation_status` (None when not asked: the key type cannot rotate automatically),
    `get_key_policy` and `list_grants`' `Grants` (each grant's grantee with its operations,
    labelled `grant <GrantId>`; a refused read leaves them out, and the permission map reports
    the rules it feeds as unverifiable)."""
    spec = str(metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec") or "")
    spec = spec or "SYMMETRIC_DEFAULT"
    algorithm: Algorithm | str = algorithm_from_aws(spec) or spec
    usage = _USAGE.get(str(metadata.get("KeyUsage") or "ENCRYPT_DECRYPT"))
    store = metadata.get("CustomKeyStoreId") or None
    origin, protection = _ORIGIN.get(
        str(metadata.get("Origin") or "AWS_KMS"), (KeyOrigin.EXTERNAL, str(metadata.get("Origin")))
    )
    if store is not None and origin is KeyOrigin.CLOUD_HSM:
        origin, protection = KeyOrigin.DEDICATED_HSM, "AWS_CLOUDHSM"
    can_rotate = can_rotate_automatically(metadata)
    enabled: Maybe[bool]
    days: Maybe[int | None]
    if not can_rotate or rotation is None:
        enabled, days = False, None
    elif isinstance(rotation, Unknown):
        enabled, days = UNKNOWN, UNKNOWN
    else:
        enabled = rotation.get("KeyRotationEnabled") is True
        period = as_int(rotation.get("RotationPeriodInDays"))
        days = (DEFAULT_ROTATION_DAYS if period is None else period) if enabled else None
    arn = str(metadata.get("Arn") or metadata.get("KeyId"))
    key_id = str(metadata.get("KeyId") or arn.rsplit("/", 1)[-1])
    return Key(
        urn=arn,
        name=name,
        type=KEY_TYPE,
        cloud=Cloud.AWS,
        # Pulumi's protect lives in the stack state, not in the account.
        protect=UNKNOWN,
        tags=tags,
        ids=frozenset({arn, key_id, name, *aliases}),
        algorithm=algorithm,
        usage=usage,
        can_rotate_automatically=can_rotate,
        rotation_enabled=enabled,
        rotation_days=days,
        # Only a key whose deletion is scheduled has a window (and it is not reported back).
        deletion_window_days=UNKNOWN,
        origin=origin,
        protection=protection,
        custom_key_store=store,
        grants=_key_grants(policy_grants(policy), kms_grants),
        created=created if isinstance(created := metadata.get("CreationDate"), datetime) else None,
    )


def _key_grants(
    policy: Maybe[tuple[Grant, ...]], kms_grants: Maybe[Iterable[Mapping[str, Any]]]
) -> Maybe[tuple[Grant, ...]]:
    """The key policy's grants and the KMS grants'; unknown when the policy is, or when a KMS
    grant entry cannot be read (never "no grant")."""
    listed = kms_grant_facts(kms_grants)
    if isinstance(policy, Unknown) or isinstance(listed, Unknown):
        return UNKNOWN
    return (*policy, *listed)


def kms_grant_facts(listed: Maybe[Iterable[Mapping[str, Any]]]) -> Maybe[tuple[Grant, ...]]:
    """`list_grants`' entries as grants: the grantee, `kms:<Operation>` actions, and the grant's
    constraints (encryption context) kept as conditions. A refused read gives no grant (the
    permission map reports the rules it feeds as unverifiable); an entry of the wrong shape
    makes the whole answer UNKNOWN."""
    if isinstance(listed, Unknown):
        return ()
    grants = []
    for entry in listed:
        if not isinstance(entry, Mapping):
            return UNKNOWN
        grantee = entry.get("GranteePrincipal")
        operations = entry.get("Operations") or ()
        constraints = entry.get("Constraints") or {}
        if (
            not isinstance(grantee, str)
            or not isinstance(operations, list | tuple)
            or not isinstance(constraints, Mapping)
        ):
            return UNKNOWN
        conditions = tuple(
            Condition(kind, "kms:EncryptionContext", tuple(f"{k}={v}" for k, v in values.items()))
            for kind, values in constraints.items()
            if isinstance(values, Mapping)
        )
        grants.append(
            Grant(
                normalize_aws_principal(grantee),
                tuple(f"kms:{op}" for op in operations),
                conditions=conditions,
                label=f"grant {entry.get('GrantId') or entry.get('Name') or '?'}",
            )
        )
    return tuple(grants)


def policy_problem(text: Any) -> str | None:
    """Why a policy document from `get_key_policy` (`Policy`) or `get_resource_policy`
    (`ResourcePolicy`) cannot be read as grants, or None when it can (absent counts as
    readable: no resource policy). A document that is not a JSON object is never read as "no
    grants": the caller makes the grants UNKNOWN, so the access rules report "cannot judge"."""
    if text is None:
        return None
    if not isinstance(text, str):
        return f"the policy document is not text (got {type(text).__name__})"
    try:
        document = json.loads(text)
    except ValueError:
        return "the policy document is not valid JSON"
    if not isinstance(document, dict):
        return "the policy document is not a JSON object"
    return None


def can_rotate_automatically(metadata: Mapping[str, Any]) -> bool:
    """Whether KMS rotates this key by itself: symmetric encryption keys whose material KMS
    generated, outside custom key stores (GetKeyRotationStatus fails for the others)."""
    if metadata.get("Origin", "AWS_KMS") != "AWS_KMS":
        return False
    spec = str(metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec") or "")
    algorithm = algorithm_from_aws(spec or "SYMMETRIC_DEFAULT")
    if algorithm is None or metadata.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return False
    return rotates_automatically(
        Cloud.AWS, algorithm, in_custom_key_store=bool(metadata.get("CustomKeyStoreId"))
    )


def last_rotation(
    metadata: Mapping[str, Any], rotations: Iterable[Mapping[str, Any]]
) -> datetime | None:
    """When the key's material last changed: its latest rotation, else its creation."""
    dates: list[datetime] = [
        r["RotationDate"] for r in rotations if isinstance(r.get("RotationDate"), datetime)
    ]
    if dates:
        return max(dates)
    created = metadata.get("CreationDate")
    return created if isinstance(created, datetime) else None


# --- CloudTrail and its bucket -------------------------------------------------------------------


def trail_facts(
    trail: Mapping[str, Any],
    *,
    status: Maybe[Mapping[str, Any]],
    selectors: Maybe[Mapping[str, Any]],
    tags: Maybe[Tags],
) -> Trail:
    """A trail from `describe_trails`, `get_trail_status`, `get_event_selectors`, `list_tags`;
    `CloudWatchLogsLogGroupArn` is the log group it also delivers to (KM-MON-001)."""
    arn = str(trail.get("TrailARN") or trail.get("Name"))
    name = str(trail.get("Name") or arn.rsplit("/", 1)[-1])
    logging: Maybe[bool] = (
        UNKNOWN if isinstance(status, Unknown) else status.get("IsLogging") is True
    )
    return Trail(
        urn=arn,
        name=name,
        type=TRAIL_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=tags,
        ids=frozenset({arn, name}),
        multi_region=trail.get("IsMultiRegionTrail") is True,
        log_file_validation=trail.get("LogFileValidationEnabled") is True,
        kms_key=trail.get("KmsKeyId") or None,
        logging_enabled=logging,
        excludes_kms_events=_excludes_kms(selectors),
        bucket=Ref(trail.get("S3BucketName") or None),
        log_group=Ref(group) if (group := trail.get("CloudWatchLogsLogGroupArn")) else None,
    )


def _excludes_kms(selectors: Maybe[Mapping[str, Any]]) -> Maybe[bool]:
    """Whether the trail's selectors leave KMS management events out (no selectors: it logs
    every management event, the default)."""
    if isinstance(selectors, Unknown):
        return UNKNOWN
    advanced = as_list(selectors.get("AdvancedEventSelectors"))
    basic = as_list(selectors.get("EventSelectors"))
    if advanced:
        return not any(advanced_selector_logs_kms(s) for s in advanced)
    if basic:
        return not any(
            isinstance(s, Mapping)
            and s.get("IncludeManagementEvents", True) is not False
            and "kms.amazonaws.com" not in as_list(s.get("ExcludeManagementEventSources"))
            for s in basic
        )
    return False


def bucket_facts(
    bucket: str,
    *,
    lock: Maybe[Mapping[str, Any] | None],
    versioning: Maybe[Mapping[str, Any]],
    tags: Maybe[Tags],
) -> LogBucket:
    """A trail's bucket from `get_object_lock_configuration` (None: no lock configured),
    `get_bucket_versioning` and `get_bucket_tagging`."""
    immutability: Maybe[Immutability | None]
    days: Maybe[int | None]
    enabled: Maybe[bool | None]
    if isinstance(lock, Unknown):
        immutability, days, enabled = UNKNOWN, UNKNOWN, UNKNOWN
    elif lock is None:
        immutability, days, enabled = None, None, False
    else:
        enabled = lock.get("ObjectLockEnabled") == "Enabled"
        retention = (lock.get("Rule") or {}).get("DefaultRetention") or {}
        mode = retention.get("Mode")
        try:
            immutability = Immutability(str(mode).upper()) if mode else None
        except ValueError:
            immutability = None
        days = as_int(retention.get("Days")) or None
        years = as_int(retention.get("Years"))
        if days is None and isinstance(years, int) and years:
            days = years * 365
    versioned: Maybe[bool | None] = (
        UNKNOWN if isinstance(versioning, Unknown) else versioning.get("Status") == "Enabled"
    )
    arn = f"arn:aws:s3:::{bucket}"
    return LogBucket(
        urn=arn,
        name=bucket,
        type=BUCKET_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=tags,
        ids=frozenset({bucket, arn}),
        bucket_name=bucket,
        immutability=immutability,
        retention_days=days,
        versioning=versioned,
        object_lock_enabled=enabled,
    )


# --- CloudHSM and Secrets Manager ----------------------------------------------------------------


def hsm_cluster_facts(cluster: Mapping[str, Any], *, account: str, region: str) -> HsmCluster:
    cluster_id = str(cluster.get("ClusterId"))
    arn = f"arn:aws:cloudhsm:{region}:{account}:cluster/{cluster_id}"
    return HsmCluster(
        urn=arn,
        name=cluster_id,
        type=HSM_CLUSTER_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=tag_map(cluster.get("TagList")),
        ids=frozenset({arn, cluster_id}),
    )


def secret_facts(
    described: Mapping[str, Any], *, name: str, policy: Maybe[Mapping[str, Any] | None]
) -> Secret:
    """A secret from `describe_secret` and `get_resource_policy` (None: no resource policy)."""
    arn = str(described.get("ARN") or described.get("Name"))
    rules = described.get("RotationRules") or {}
    days: int | None = None
    problem: str | None = None
    if described.get("RotationEnabled") is True:
        found, problem = rotation_rules_days(
            rules.get("AutomaticallyAfterDays"),
            rules.get("ScheduleExpression"),
            field="RotationRules.ScheduleExpression",
        )
        days = found if isinstance(found, int) else None
    document: Maybe[str | None] = (
        UNKNOWN if isinstance(policy, Unknown) else (policy or {}).get("ResourcePolicy")
    )
    native = str(described.get("Name") or name)
    return Secret(
        urn=arn,
        name=name,
        type=SECRET_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=tag_map(described.get("Tags")),
        ids=frozenset({arn, native, name}),
        kms_key=described.get("KmsKeyId") or None,
        kms_key_ref=Ref(described.get("KmsKeyId") or None),
        rotation_days=days,
        schedule_problem=problem,
        grants=UNKNOWN if isinstance(document, Unknown) else policy_grants(document),
    )


def secret_last_rotation(described: Mapping[str, Any]) -> datetime | None:
    for field in ("LastRotatedDate", "CreatedDate"):
        value = described.get(field)
        if isinstance(value, datetime):
            return value
    return None


# --- ACM (KM-CRT-001) ----------------------------------------------------------------------------


def certificate_facts(described: Mapping[str, Any], *, tags: Maybe[Tags]) -> Certificate:
    """A certificate from `acm:DescribeCertificate` (`Certificate`) and its tags
    (`acm:ListTagsForCertificate`; UNKNOWN when refused).

    ACM renews an AMAZON_ISSUED or PRIVATE certificate by itself only while it is eligible
    (`RenewalEligibility`: in use by an AWS service) and, when public, validated by DNS (e-mail
    validation waits for someone to answer); it never renews an IMPORTED one
    (https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html).
    """
    arn = str(described.get("CertificateArn") or "")
    kind = str(described.get("Type") or "")
    eligibility = str(described.get("RenewalEligibility") or "")
    methods = sorted(
        {
            str(o.get("ValidationMethod"))
            for o in described.get("DomainValidationOptions") or ()
            if isinstance(o, Mapping) and o.get("ValidationMethod")
        }
    )
    renews: Maybe[bool]
    if kind == "IMPORTED":
        renews, setting = False, "Type IMPORTED (ACM does not renew imported certificates)"
    elif kind == "PRIVATE":
        renews, setting = (
            eligibility == "ELIGIBLE",
            f"Type PRIVATE, RenewalEligibility {eligibility}",
        )
    elif kind == "AMAZON_ISSUED":
        renews = eligibility == "ELIGIBLE" and methods == ["DNS"]
        setting = (
            f"Type AMAZON_ISSUED, validation {'/'.join(methods) or 'unknown'}, "
            f"RenewalEligibility {eligibility or 'unknown'}"
        )
    else:
        renews, setting = UNKNOWN, f"Type {kind or 'missing'}"
    algorithm = described.get("KeyAlgorithm")
    not_after = described.get("NotAfter")
    return Certificate(
        urn=arn,
        name=str(described.get("DomainName") or arn),
        type=CERTIFICATE_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=tags,
        ids=frozenset({arn}),
        renews_automatically=renews,
        renewal_setting=setting,
        origin="imported" if kind == "IMPORTED" else "issued",
        algorithm=acm_algorithm(str(algorithm)) if algorithm else UNKNOWN,
        algorithm_field=f"KeyAlgorithm {algorithm}" if algorithm else "",
        not_after=not_after.date() if isinstance(not_after, datetime) else None,
    )


# --- CloudTrail event history (the key lifecycle) -------------------------------------------------

#: The KMS operations that mark a key's lifecycle (Proc 4.3-4.5): creation, rotation, a policy
#: change, deactivation, destruction scheduled or cancelled. Asked one name at a time: LookupEvents
#: takes one lookup attribute per call.
KEY_LIFECYCLE_EVENTS = (
    "CreateKey",
    "EnableKeyRotation",
    "RotateKeyOnDemand",
    "PutKeyPolicy",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
)
#: How far back CloudTrail's event history (LookupEvents) reaches, in days.
EVENT_HISTORY_DAYS = 90


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail event: `name` (the operation), `time` (aware, UTC), `principal` (the
    caller's ARN, else its user name or identity type), `error` (the event's error code, None when
    it succeeded), `event_id`, and `refs`: every name the event gives the key (ARNs, key IDs,
    aliases) so the collector can place it."""

    name: str
    time: datetime
    principal: str
    error: str | None
    event_id: str
    refs: tuple[str, ...]


def trail_event_detail(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's `CloudTrailEvent` record as an object ({} when absent or not a JSON object)."""
    raw = event.get("CloudTrailEvent")
    if not isinstance(raw, str):
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def event_principal(event: Mapping[str, Any], detail: Mapping[str, Any]) -> str:
    """Who made the call: the identity's ARN, else the event's user name, else the identity's
    type, else "unknown"."""
    identity = detail.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    return str(identity.get("arn") or event.get("Username") or identity.get("type") or "unknown")


def trail_event(event: Mapping[str, Any]) -> TrailEvent | None:
    """A `lookup_events` entry as a `TrailEvent`; None when it has no name or time (nothing to
    date it by)."""
    name, when = event.get("EventName"), event.get("EventTime")
    if not isinstance(name, str) or not isinstance(when, datetime):
        return None
    detail = trail_event_detail(event)
    refs: list[str] = []
    for resource in event.get("Resources") or ():
        if isinstance(resource, Mapping) and isinstance(resource.get("ResourceName"), str):
            refs.append(resource["ResourceName"])
    for resource in detail.get("resources") or ():
        if isinstance(resource, Mapping) and isinstance(resource.get("ARN"), str):
            refs.append(resource["ARN"])
    request = detail.get("requestParameters")
    if isinstance(request, Mapping) and isinstance(request.get("keyId"), str):
        refs.append(request["keyId"])
    response = detail.get("responseElements")
    created = response.get("keyMetadata") if isinstance(response, Mapping) else None
    if isinstance(created, Mapping):
        refs.extend(str(created[f]) for f in ("arn", "keyId") if isinstance(created.get(f), str))
    error = detail.get("errorCode")
    return TrailEvent(
        name=name,
        time=when if when.tzinfo else when.replace(tzinfo=UTC),
        principal=event_principal(event, detail),
        error=str(error) if error else None,
        event_id=str(event.get("EventId") or ""),
        refs=tuple(dict.fromkeys(refs)),
    )


# --- alerts on key misuse (KM-MON-001) ----------------------------------------------------------
#
# The same facts `keyplane.adapters.pulumi` builds from aws:cloudwatch resources, through the same
# readings (`keyplane.adapters.common`): what a filter or pattern matches, which metric an alarm
# watches, where it notifies.


def log_group_name_of(arn: str) -> str:
    """The name in a log group ARN (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`)."""
    return arn.split(":log-group:", 1)[-1].removesuffix(":*")


def metric_filter_facts(
    metric_filter: Mapping[str, Any], *, account: str, region: str
) -> LogMetric:
    """A CloudWatch Logs metric filter from `describe_metric_filters`' `metricFilters` entry.

    Metric filters have no ARN: keyplane names one
    `arn:aws:logs:<region>:<account>:log-group:<group>:metric-filter:<name>`, and refers to its
    group by the group's ARN, so that it is fed only by a trail delivering to that group.
    """
    name = str(metric_filter.get("filterName") or "")
    group = str(metric_filter.get("logGroupName") or "")
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    transformations = [t for t in as_list(metric_filter.get("metricTransformations")) if t]
    first = (
        transformations[0] if transformations and isinstance(transformations[0], Mapping) else {}
    )
    return LogMetric(
        urn=f"{group_arn}:metric-filter:{name}",
        name=name,
        type=METRIC_FILTER_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=MappingProxyType({}),
        ids=frozenset({name}),
        metric=aws_metric(first.get("metricNamespace"), first.get("metricName")),
        signals=text_signals(metric_filter.get("filterPattern"), Cloud.AWS),
        log_group=Ref(group_arn) if group else None,
    )


def alarm_facts(alarm: Mapping[str, Any]) -> Alert:
    """A CloudWatch metric alarm from `describe_alarms`' `MetricAlarms` entry: the metric it
    watches (`MetricName`/`Namespace`, or each `Metrics[].MetricStat.Metric` of a metric-math
    alarm), its SNS alarm actions, and whether actions are enabled (UNKNOWN when the answer
    does not say: never assumed on)."""
    arn = str(alarm.get("AlarmArn") or alarm.get("AlarmName"))
    name = str(alarm.get("AlarmName") or arn.rsplit(":", 1)[-1])
    watched: set[str] = set()
    stats = [q.get("MetricStat") for q in as_list(alarm.get("Metrics")) if isinstance(q, Mapping)]
    metrics = [s.get("Metric") for s in stats if isinstance(s, Mapping)]
    for where in [alarm, *[m for m in metrics if isinstance(m, Mapping)]]:
        metric = aws_metric(where.get("Namespace"), where.get("MetricName"))
        if isinstance(metric, str):
            watched.add(metric)
    enabled = alarm.get("ActionsEnabled")
    return Alert(
        urn=arn,
        name=name,
        type=ALARM_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=UNKNOWN,  # not read: no rule judges an alarm's tags
        ids=frozenset({arn, name}),
        metrics=frozenset(watched),
        destinations=alert_destinations(alarm.get("AlarmActions"), ":sns:"),
        enabled=enabled if isinstance(enabled, bool) else UNKNOWN,
    )


def event_rule_facts(rule: Mapping[str, Any]) -> Alert:
    """An EventBridge rule from `list_rules`' `Rules` entry: the signals its `EventPattern`
    matches and whether its `State` delivers events (UNKNOWN when the answer has no state);
    its targets are `event_target_facts`."""
    arn = str(rule.get("Arn") or rule.get("Name"))
    name = str(rule.get("Name") or arn.rsplit("/", 1)[-1])
    enabled = event_rule_enabled(rule.get("State"))
    return Alert(
        urn=arn,
        name=name,
        type=EVENT_RULE_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=UNKNOWN,  # not read: no rule judges an EventBridge rule's tags
        ids=frozenset({arn, name}),
        signals=event_rule_signals(rule.get("EventPattern"), rule.get("State")),
        destinations=(),
        enabled=UNKNOWN if enabled is None else enabled,
        targets_apart=True,
    )


def event_target_facts(rule: Alert, target: Mapping[str, Any]) -> AlertTarget:
    """A target of `rule` from `list_targets_by_rule`' `Targets` entry: a destination when its
    `Arn` is an SNS topic."""
    target_id = str(target.get("Id") or "")
    return AlertTarget(
        urn=f"{rule.urn}/target/{target_id}",
        name=f"{rule.name}/{target_id}",
        type=EVENT_TARGET_TYPE,
        cloud=Cloud.AWS,
        protect=UNKNOWN,
        tags=MappingProxyType({}),
        ids=frozenset(),
        rule=Ref(rule.urn),
        destination=sns_target(target.get("Arn")),
    )
