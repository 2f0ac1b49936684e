"""What every adapter needs whatever its source: IAM policy documents, durations, numbers.

AWS key policies and IAM policies are the same JSON in a Pulumi property, a Terraform-plan value
and a boto3 `get_key_policy` answer, so they are parsed once, here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from keyplane.facts.access import Condition, Effect, Grant, normalize_aws_principal
from keyplane.facts.schedule import SchedulePeriod, schedule_period
from keyplane.facts.signals import (
    COMPUTED_DESTINATION,
    Signal,
    aws_event_pattern_signals,
    signals_in,
)
from keyplane.facts.values import UNKNOWN, Maybe, Ref, Unknown
from keyplane.standard import Cloud


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _strings(value: Any) -> tuple[str, ...] | Unknown:
    items = as_list(value)
    if any(item is UNKNOWN for item in items):
        return UNKNOWN
    return tuple(str(item) for item in items)


def _principals(statement: Mapping[str, Any], field: str = "Principal") -> list[str] | Unknown:
    if field == "Principal" and "NotPrincipal" in statement:
        # Everyone but the listed principals (`Grant.except_principals`): a wildcard.
        return ["*"]
    raw = statement.get(field)
    if raw is None:
        return []
    if isinstance(raw, Unknown):
        return UNKNOWN
    if isinstance(raw, str):
        return ["*" if raw == "*" else normalize_aws_principal(raw)]
    if isinstance(raw, Sequence):
        # A bare list (`"Principal": ["x", "*"]`) is not IAM's grammar, but a wildcard in it must
        # not be missed: read it as a list of principals written like `"Principal": "x"`.
        if any(isinstance(item, Unknown) for item in raw):
            return UNKNOWN
        return ["*" if str(v) == "*" else normalize_aws_principal(str(v)) for v in raw]
    if not isinstance(raw, Mapping):
        return [str(raw)]
    result: list[str] = []
    for kind, values in raw.items():
        for value in as_list(values):
            if isinstance(value, Unknown):
                return UNKNOWN
            text = str(value)
            if kind == "AWS":
                result.append("*" if text == "*" else normalize_aws_principal(text))
            elif text == "*":
                result.append("*")
            else:
                result.append(f"{kind.lower()}:{text}")
    return result


def _conditions(raw: Any) -> tuple[Condition, ...]:
    if not isinstance(raw, Mapping):
        return ()
    result = []
    for operator, tests in raw.items():
        if not isinstance(tests, Mapping):
            continue
        for key, values in tests.items():
            result.append(
                Condition(str(operator), str(key), tuple(str(v) for v in as_list(values)))
            )
    return tuple(result)


def policy_document(value: Any) -> Maybe[Mapping[str, Any] | None]:
    """A policy document from a JSON string or an already parsed mapping."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def policy_problem(value: Any) -> str | None:
    """Why a policy document written as text cannot be read (`is not valid JSON: ...`), or None
    when it can (or is a mapping, unknown or absent). `policy_grants` reads such a document as
    granting nothing: callers report the problem so that it never passes as "no grants"."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError as err:
        return f"is not valid JSON: {err}"
    return None if isinstance(parsed, Mapping) else "is not a JSON object"


def policy_grants(value: Any, principal: str | Unknown | None = None) -> Maybe[tuple[Grant, ...]]:
    """The statements of an IAM policy document as grants.

    Resource policies (key policies, secret policies, trust policies) name their principals; for
    identity policies pass the identity as `principal`.
    """
    if isinstance(value, str) and (principal is None or isinstance(principal, str)):
        return _text_policy_grants(value, principal)
    return _policy_grants(value, principal)


# A document written as text reads the same every time: the CrossGuard pack reads each key's
# policy in Analyze and again in AnalyzeStack (3,301 keys at 9,919 resources). Grants are
# immutable, so the readings are shared.
@lru_cache(maxsize=2048)
def _text_policy_grants(text: str, principal: str | None) -> Maybe[tuple[Grant, ...]]:
    return _policy_grants(text, principal)


def _policy_grants(value: Any, principal: str | Unknown | None) -> Maybe[tuple[Grant, ...]]:
    doc = policy_document(value)
    if isinstance(doc, Unknown):
        return UNKNOWN
    if doc is None:
        return ()
    statements = doc.get("Statement")
    if isinstance(statements, Unknown):
        return UNKNOWN
    grants: list[Grant] = []
    for position, statement in enumerate(as_list(statements), start=1):
        if isinstance(statement, Unknown):
            return UNKNOWN
        if not isinstance(statement, Mapping):
            continue
        effect = Effect.DENY if statement.get("Effect") == "Deny" else Effect.ALLOW
        actions = ("*",) if "NotAction" in statement else _strings(statement.get("Action"))
        except_actions = _strings(statement.get("NotAction")) if "NotAction" in statement else ()
        except_principals = (
            _principals(statement, "NotPrincipal") if "NotPrincipal" in statement else []
        )
        if isinstance(except_actions, Unknown) or isinstance(except_principals, Unknown):
            return UNKNOWN
        resources = ("*",) if "NotResource" in statement else _strings(statement.get("Resource"))
        conditions = _conditions(statement.get("Condition"))
        sid = statement.get("Sid")
        label = repr(sid) if isinstance(sid, str) and sid else f"#{position}"
        principals: list[str | Unknown] | Unknown
        if principal is not None:
            principals = [principal]
        else:
            found = _principals(statement)
            principals = UNKNOWN if found is UNKNOWN else list(found)
        if principals is UNKNOWN:
            grants.append(Grant(UNKNOWN, actions, effect, conditions, resources, label=label))
            continue
        grants.extend(
            Grant(
                p,
                actions,
                effect,
                conditions,
                resources,
                label=label,
                except_principals=tuple(except_principals),
                except_actions=except_actions,
            )
            for p in principals
        )
    return tuple(grants)


# --- numbers and durations ------------------------------------------------------------------


def as_int(value: Any) -> Maybe[int | None]:
    """Whole numbers arrive as floats on the wire (`395.0`)."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return math.ceil(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.0*)?\s*", value):
        return int(float(value))
    return None


def seconds(value: Any) -> Maybe[float | None]:
    """GCP durations: `"7776000s"`, `"7776000.5s"`, or a bare number of seconds."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s?\s*", value)
        if match:
            return float(match.group(1))
    return None


def days_from_seconds(value: Any, *, round_up: bool) -> Maybe[int | None]:
    """Whole days of a duration: rounded up for maximums (a day and a second exceeds a day),
    down for minimums (29.9 days is not 30)."""
    secs = seconds(value)
    if secs is None or secs is UNKNOWN:
        return secs
    days = secs / 86400
    return math.ceil(days - 1e-9) if round_up else math.floor(days + 1e-9)


_GCP_DURATION = re.compile(r"\s*(\d+(?:\.\d{1,9})?)s\s*")


def gcp_duration_days(
    value: Any, *, field: str, round_up: bool
) -> tuple[Maybe[int | None], str | None]:
    """(whole days, problem) of a GCP duration as the provider takes it: seconds with up to nine
    fractional digits, terminated by 's' (`"7776000s"`; https://registry.terraform.io/providers/
    hashicorp/google/latest/docs/resources/kms_crypto_key#rotation_period).

    A value without the unit (`90`, `"90"`) is not a number of seconds the provider would take
    (it rejects it), and nothing says whether days were meant: the problem names `field` and the
    value, for a "cannot judge" verdict, rather than reading it as 90 seconds.
    """
    if value is None or value is UNKNOWN:
        return value, None
    if isinstance(value, str) and _GCP_DURATION.fullmatch(value):
        return days_from_seconds(value, round_up=round_up), None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # numbers arrive as floats on the wire
    return None, (
        f"{field} {value!r} is not a duration in seconds ending in 's' (such as '7776000s' for "
        "90 days), as the provider requires"
    )


_ISO_DURATION = re.compile(
    r"P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<min>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def iso_duration_days(value: Any) -> Maybe[int | None]:
    """Azure rotation policies use ISO 8601 durations (`P90D`, `P3M`, `P1Y`); months count 30
    days and years 365, as Azure documents."""
    if value is None or value is UNKNOWN:
        return value
    if not isinstance(value, str):
        return None
    match = _ISO_DURATION.fullmatch(value.strip().upper())
    if not match or value.strip().upper() in ("P", "PT"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    total = (
        parts.get("y", 0) * 365
        + parts.get("m", 0) * 30
        + parts.get("w", 0) * 7
        + parts.get("d", 0)
        + (parts.get("h", 0) * 3600 + parts.get("min", 0) * 60 + parts.get("s", 0)) / 86400
    )
    return math.ceil(total - 1e-9)


def rotation_rules_days(
    after_days: Any, expression: Any, *, field: str
) -> tuple[Maybe[int | None], str | None]:
    """(period in days, problem) of Secrets Manager rotation rules: `AutomaticallyAfterDays` or a
    `ScheduleExpression` (`rate(...)`/`cron(...)`, whose period is the longest interval between
    two runs, `keyplane.facts.schedule`).

    The expression wins when both are given (AWS derives the days from it). The problem, when
    the expression gives no period, names `field` and the value, for a "cannot judge" verdict.
    """
    if expression is UNKNOWN:
        return UNKNOWN, None
    if isinstance(expression, str) and expression.strip():
        found = schedule_period(expression)
        if isinstance(found, SchedulePeriod):
            return found.days, None
        return None, f"{field} {found.text}"
    return as_int(after_days), None


def ref(value: Any, urns: Sequence[str] = ()) -> Ref:
    if value is UNKNOWN:
        return Ref(UNKNOWN, tuple(urns))
    return Ref(str(value) if value is not None else None, tuple(urns))


def advanced_selector_logs_kms(selector: Any) -> bool:
    """A CloudTrail advanced event selector logs KMS management events when it selects the
    Management category and does not filter kms.amazonaws.com out.

    Reads both spellings: the API's (`FieldSelectors`, `Field`, `Equals`) and Pulumi's
    (`fieldSelectors`, `field`, `equals`).
    """
    if not isinstance(selector, Mapping):
        return False

    def get(mapping: Mapping[str, Any], name: str) -> Any:
        return mapping.get(name, mapping.get(name[:1].upper() + name[1:]))

    fields = [f for f in as_list(get(selector, "fieldSelectors")) if isinstance(f, Mapping)]
    category = next((f for f in fields if get(f, "field") == "eventCategory"), None)
    if category is None or "Management" not in as_list(get(category, "equals")):
        return False
    for f in fields:
        if get(f, "field") == "eventSource":
            if "kms.amazonaws.com" in as_list(get(f, "notEquals")):
                return False
            equals = as_list(get(f, "equals"))
            if equals and "kms.amazonaws.com" not in equals:
                return False
    return True


# --- alerts on key misuse (KM-MON-001) ------------------------------------------------------
#
# The same CloudWatch metric filters, alarms and EventBridge rules reach keyplane as Pulumi
# properties and as boto3 answers: what they match, watch and notify is read here, once.


def alert_destinations(values: Any, kind: str) -> Maybe[tuple[str, ...]]:
    """The alert destinations among `values` (a list, or one value) that are of `kind` (`:sns:`,
    `notificationChannels`, `actionGroups`, matched case-insensitively); an UNKNOWN entry counts
    as `COMPUTED_DESTINATION` (an output of a resource of the stack); UNKNOWN when the whole list
    is."""
    if isinstance(values, Unknown):
        return UNKNOWN
    found: list[str] = []
    for value in as_list(values):
        if value is UNKNOWN:
            found.append(COMPUTED_DESTINATION)
        elif isinstance(value, str) and kind.lower() in value.lower():
            found.append(value)
    return tuple(found)


def text_signals(value: Any, cloud: Cloud) -> Maybe[frozenset[Signal]]:
    """The misuse signals a filter pattern or query (`value`, text) of `cloud` matches
    (`keyplane.facts.signals.signals_in`); none for a missing value, UNKNOWN for an unknown
    one."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if not isinstance(value, str):
        return frozenset()
    return signals_in(value, cloud)


def aws_metric(namespace: Any, name: Any) -> Maybe[str | None]:
    """`<namespace>/<name>`: a CloudWatch metric as `LogMetric.metric` and `Alert.metrics` name
    it (a metric filter's transformation, an alarm's metric); UNKNOWN when either part is, None
    when either is missing."""
    if isinstance(namespace, Unknown) or isinstance(name, Unknown):
        return UNKNOWN
    return f"{namespace}/{name}" if name and namespace else None


#: The EventBridge rule state under which CloudTrail's read-only management events reach it.
ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def event_rule_signals(pattern: Any, state: Any = None) -> Maybe[frozenset[Signal]]:
    """The signals an EventBridge rule's `EventPattern` (JSON text, or already parsed) matches
    under its `State`; none when it has no pattern (a scheduled rule) or the pattern is not a
    JSON object.

    The use of a key (Decrypt, Encrypt, GenerateDataKey, Sign...) is a read-only management
    event, and a rule receives read-only management events from CloudTrail only in the state
    `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail-management.html):
    in any other state (`ENABLED`, the default) the rule never sees a failed use of a key, so
    it does not signal one (KM-MON-001)."""
    if isinstance(pattern, Unknown):
        return UNKNOWN
    try:
        parsed = json.loads(pattern) if isinstance(pattern, str) else pattern
    except ValueError:
        parsed = None
    signals = aws_event_pattern_signals(parsed) if isinstance(parsed, dict) else frozenset()
    if isinstance(state, Unknown) or (
        isinstance(state, str) and state.upper() == ALL_MANAGEMENT_EVENTS
    ):
        # A state known only after deployment leaves the rule undecided (`event_rule_enabled`).
        return signals
    return signals - {Signal.FAILED_USE}


def event_rule_enabled(state: Any) -> Maybe[bool | None]:
    """Whether an EventBridge rule's `State` delivers events: `ENABLED` and
    `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS` do, `DISABLED` does not; None when no state
    is given (the caller knows the default)."""
    if isinstance(state, Unknown):
        return UNKNOWN
    if not isinstance(state, str):
        return None
    return state.upper().startswith("ENABLED")


def sns_target(arn: Any) -> str | None:
    """An EventBridge target's ARN when it is an SNS topic (a notification), else None."""
    return arn if isinstance(arn, str) and ":sns:" in arn else None
