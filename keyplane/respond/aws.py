"""`keyplane respond --apply` on AWS: the runbook of `keyplane.respond.plan` through boto3.

The client set-up is the audit's (`keyplane.engines.audit.aws`: endpoint check, per-call
timeouts, jittered retries under a deadline, the caller's account checked first). Each step is
carried out on its own: a refusal (AccessDenied) or a failure is recorded as the step's result
and the next step runs; a step that needs one that failed is skipped.

Idempotency: the keys carry the incident (`incident_id`, one per key or secret and UTC day) in
tags. The new key is tagged `keyplane-incident` and `keyplane-replaces` (the old key's ID), the
old one `keyplane-incident` and `keyplane-replaced-by`; a second run finds them through the alias
and reports each step "already done". A secret's rotation uses a client request token derived
from the incident, so a second run finds that version.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from keyplane.adapters.boto3 import (
    aws_key_alias,
    aws_secret_name,
    event_principal,
    trail_event_detail,
)
from keyplane.config.model import Environment
from keyplane.engines.audit.aws import (
    CallFault,
    Deadline,
    Reader,
    error_code,
    is_denied,
    make_client,
    verify_account,
)
from keyplane.engines.audit.judge import AuditError
from keyplane.respond.incident import (
    TAG_INCIDENT,
    TAG_REPLACED_BY,
    TAG_REPLACES,
    Incident,
    RespondError,
    Status,
    StepHandler,
    StepSkipped,
    incident_id,
    run_steps,
)
from keyplane.respond.plan import Revocation, Target, manual_steps, plan_for, revocation

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "RespondError", "respond_aws"]

#: The whole response's deadline (seconds): it makes few calls, but CloudTrail pages slowly.
DEFAULT_TIMEOUT_SECONDS = 300.0
#: Tags a new key does not copy from the old one (they describe the old key's incident).
_OWN_TAGS = frozenset({TAG_INCIDENT, TAG_REPLACES, TAG_REPLACED_BY})


def _failure(_step: str, err: Exception) -> str | None:
    """A step's failure detail (`run_steps`): the refused or failed call and its error code."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    if isinstance(err, ClientError):
        code = error_code(err) or "error"
        operation = str(getattr(err, "operation_name", "the call"))
        kind = "refused" if is_denied(err) else "failed"
        return f"{operation} {kind}: {code}"
    if isinstance(err, CallFault | BotoCoreError):
        return str(err)
    return None


class _AwsResponse:
    def __init__(
        self,
        session: Any,
        target: Target,
        *,
        reason: str,
        days: int,
        endpoint_url: str | None,
        reader: Reader,
        now: datetime,
    ) -> None:
        env = target.environment
        assert env.aws is not None
        self.env: Environment = env
        self.target = target
        self.days = days
        self.reader = reader
        self.now = now
        region = env.aws.region

        def client(service: str) -> Any:
            return make_client(session, service, region, endpoint_url)

        self.kms = client("kms")
        self.sm = client("secretsmanager")
        self.trail = client("cloudtrail")
        self.incident = Incident(
            id=incident_id(env.name, target.name, now),
            environment=env.name,
            cloud=env.cloud.value,
            kind=target.kind,
            name=target.name,
            reason=reason,
            started_at=now,
            caller="",
            account=env.aws.account_id,
            region=region,
            manual=manual_steps(target),
        )
        self.old: dict[str, Any] = {}
        self.new: dict[str, Any] | None = None
        self.policy_before: str | None = None
        self.secret_arn = ""

    # --- calls -----------------------------------------------------------------------------

    def call(self, client: Any, operation: str, **kwargs: Any) -> Any:
        name = "".join(part.capitalize() for part in operation.split("_"))
        return self.reader.retrying(lambda: getattr(client, operation)(**kwargs), name)

    # --- before any change -----------------------------------------------------------------

    def locate(self) -> None:
        """Find the key (through its alias) or the secret; RespondError when it is not there."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        env, target = self.env, self.target
        try:
            if target.key is not None:
                alias = aws_key_alias(env.name, target.name)
                try:
                    current = self.call(self.kms, "describe_key", KeyId=alias)["KeyMetadata"]
                except ClientError as err:
                    if error_code(err) == "NotFoundException":
                        raise RespondError(
                            f"{alias} is not in account {self.incident.account} "
                            f"({self.incident.region}); deploy the key, or check the "
                            "environment and --endpoint-url"
                        ) from None
                    raise
                tags = self.tags(current["KeyId"])
                if tags.get(TAG_INCIDENT) == self.incident.id and tags.get(TAG_REPLACES):
                    self.new = current
                    self.old = self.call(self.kms, "describe_key", KeyId=tags[TAG_REPLACES])[
                        "KeyMetadata"
                    ]
                else:
                    self.old = current
                    replaced_by = tags.get(TAG_REPLACED_BY)
                    if tags.get(TAG_INCIDENT) == self.incident.id and replaced_by:
                        self.new = self.call(self.kms, "describe_key", KeyId=replaced_by)[
                            "KeyMetadata"
                        ]
                self.incident.old_key = str(self.old["Arn"])
                if self.new is not None:
                    self.incident.new_key = str(self.new["Arn"])
            else:
                name = aws_secret_name(env.name, target.name)
                try:
                    described = self.call(self.sm, "describe_secret", SecretId=name)
                except ClientError as err:
                    if error_code(err) == "ResourceNotFoundException":
                        raise RespondError(
                            f"secret {name} is not in account {self.incident.account} "
                            f"({self.incident.region}); deploy it, or check the environment "
                            "and --endpoint-url"
                        ) from None
                    raise
                self.secret_arn = str(described["ARN"])
        except ClientError as err:
            raise RespondError(
                f"AWS refused to describe the {target.kind} ({error_code(err) or 'error'}); "
                "nothing was changed"
            ) from None
        except (CallFault, BotoCoreError) as err:
            raise RespondError(
                f"cannot read the {target.kind} from AWS ({err}); nothing was changed"
            ) from None

    def tags(self, key_id: str) -> dict[str, str]:
        listed = self.call(self.kms, "list_resource_tags", KeyId=key_id)
        return {str(t["TagKey"]): str(t.get("TagValue", "")) for t in listed.get("Tags") or ()}

    # --- the steps -------------------------------------------------------------------------

    def run(self) -> Incident:
        handlers: Mapping[str, StepHandler] = {
            "retire-grants": self.retire_grants,
            "revoke-users": self.revoke_users,
            "new-key": self.new_key,
            "publish-public-key": self.publish_public_key,
            "retain-old-key": self.retain_old_key,
            "rotate-secret": self.rotate_secret,
            "investigate": self.investigate,
        }
        run_steps(self.incident, plan_for(self.target, days=self.days), handlers, _failure)
        return self.incident

    def retire_grants(self) -> tuple[Status, str]:
        key_id = self.old["KeyId"]
        grants = self.pages(self.kms, "list_grants", "Grants", KeyId=key_id)
        if not grants:
            return Status.ALREADY_DONE, f"no grants on {key_id}"
        for grant in grants:
            self.call(self.kms, "revoke_grant", KeyId=key_id, GrantId=grant["GrantId"])
        grantees = sorted({str(g.get("GranteePrincipal")) for g in grants})
        return Status.DONE, f"revoked {len(grants)} grant(s) on {key_id} (grantees: " + (
            ", ".join(grantees) + ")"
        )

    def revoke_users(self) -> tuple[Status, str]:
        assert self.target.key is not None
        key_id = self.old["KeyId"]
        method = revocation(self.env, self.target.key)
        # The new key gets the policy as it was (its users keep working on the new key).
        self.policy_before = self.call(
            self.kms, "get_key_policy", KeyId=key_id, PolicyName="default"
        )["Policy"]
        if method is Revocation.DISABLE:
            return self.disable(key_id, why="signing must stop now")
        users = set(self.env.resolve(self.target.key).users)
        assert self.policy_before is not None
        document = json.loads(self.policy_before)
        kept, removed = _without_principals(document, users)
        if not removed:
            return Status.ALREADY_DONE, f"no statement of {key_id}'s policy names its users"
        self.call(
            self.kms,
            "put_key_policy",
            KeyId=key_id,
            PolicyName="default",
            Policy=json.dumps(kept),
        )
        return Status.DONE, (
            f"removed {', '.join(sorted(removed))} from {key_id}'s key policy (the key stays "
            "enabled for its administrators until the rotation disables it)"
        )

    def new_key(self) -> tuple[Status, str]:
        alias = aws_key_alias(self.env.name, self.target.name)
        old_id = self.old["KeyId"]
        if self.new is None:
            old_tags = self.tags(old_id)
            tags = [{"TagKey": k, "TagValue": v} for k, v in old_tags.items() if k not in _OWN_TAGS]
            tags += [
                {"TagKey": TAG_INCIDENT, "TagValue": self.incident.id},
                {"TagKey": TAG_REPLACES, "TagValue": old_id},
            ]
            policy = (
                self.policy_before
                or self.call(self.kms, "get_key_policy", KeyId=old_id, PolicyName="default")[
                    "Policy"
                ]
            )
            arguments: dict[str, Any] = {
                "Policy": policy,
                "KeySpec": self.old["KeySpec"],
                "KeyUsage": self.old["KeyUsage"],
                "Tags": tags,
                "Description": f"replaces {old_id} (incident {self.incident.id})",
            }
            if self.old.get("CustomKeyStoreId"):
                arguments["CustomKeyStoreId"] = self.old["CustomKeyStoreId"]
                arguments["Origin"] = "AWS_CLOUDHSM"
            # Not retried: a second CreateKey after a lost answer would make a second key.
            self.new = self.kms.create_key(**arguments)["KeyMetadata"]
            new_id = self.new["KeyId"]
            self.incident.new_key = str(self.new["Arn"])
            self.call(
                self.kms,
                "tag_resource",
                KeyId=old_id,
                Tags=[
                    {"TagKey": TAG_INCIDENT, "TagValue": self.incident.id},
                    {"TagKey": TAG_REPLACED_BY, "TagValue": new_id},
                ],
            )
            rotation = self.automatic_rotation(old_id)
            if rotation is not None:
                self.call(
                    self.kms, "enable_key_rotation", KeyId=new_id, RotationPeriodInDays=rotation
                )
            self.call(self.kms, "update_alias", AliasName=alias, TargetKeyId=new_id)
            return Status.DONE, f"created {new_id} and moved {alias} to it"
        new_id = self.new["KeyId"]
        current = self.call(self.kms, "describe_key", KeyId=alias)["KeyMetadata"]["KeyId"]
        if current != new_id:
            self.call(self.kms, "update_alias", AliasName=alias, TargetKeyId=new_id)
            return Status.DONE, f"{new_id} existed; moved {alias} to it"
        return Status.ALREADY_DONE, f"{alias} is on the new key {new_id}"

    def automatic_rotation(self, key_id: str) -> int | None:
        """The old key's automatic rotation period in days (None: it had none)."""
        if self.old.get("KeySpec") != "SYMMETRIC_DEFAULT" or self.old.get("CustomKeyStoreId"):
            return None
        status = self.call(self.kms, "get_key_rotation_status", KeyId=key_id)
        if not status.get("KeyRotationEnabled"):
            return None
        return int(status.get("RotationPeriodInDays") or 365)

    def publish_public_key(self) -> tuple[Status, str]:
        if self.new is None:
            raise StepSkipped("no new key (new-key did not succeed)")
        answer = self.call(self.kms, "get_public_key", KeyId=self.new["KeyId"])
        der = answer["PublicKey"]
        body = base64.encodebytes(der if isinstance(der, bytes) else base64.b64decode(der))
        pem = "-----BEGIN PUBLIC KEY-----\n" + body.decode("ascii") + "-----END PUBLIC KEY-----\n"
        self.incident.public_key_pem = pem
        return Status.DONE, f"public key of {self.new['KeyId']} written to the record"

    def retain_old_key(self) -> tuple[Status, str]:
        if self.new is None:
            raise StepSkipped(
                "no new key (new-key did not succeed): the alias still names the old key, so "
                "it is left enabled for its administrators"
            )
        return self.disable(self.old["KeyId"], why="retained, not deleted (Proc 4.4 step 3)")

    def disable(self, key_id: str, *, why: str) -> tuple[Status, str]:
        state = self.call(self.kms, "describe_key", KeyId=key_id)["KeyMetadata"]["KeyState"]
        if state == "Disabled":
            return Status.ALREADY_DONE, f"{key_id} is disabled"
        self.call(self.kms, "disable_key", KeyId=key_id)
        return Status.DONE, f"disabled {key_id}: {why}"

    def rotate_secret(self) -> tuple[Status, str]:
        arn = self.secret_arn
        # This incident's version first: a second run finds it whatever the secret says now.
        token = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyplane:{self.incident.id}"))
        versions = self.pages(
            self.sm, "list_secret_version_ids", "Versions", SecretId=arn, IncludeDeprecated=True
        )
        ours = next((v for v in versions if v.get("VersionId") == token), None)
        if ours is not None and "AWSCURRENT" in (ours.get("VersionStages") or ()):
            return Status.ALREADY_DONE, f"{arn} was rotated to version {token}"
        described = self.call(self.sm, "describe_secret", SecretId=arn)
        function = described.get("RotationLambdaARN")
        if ours is not None:
            return Status.FAILED, (
                f"the rotation to version {token} started but did not finish; read "
                f"{function or 'the rotation function'}'s logs, finish or cancel it "
                "(CancelRotateSecret), and run again"
            )
        if not function:
            return Status.MANUAL, (
                f"{arn} has no rotation function: rotate it by hand now (make a new value at "
                "its issuer, PutSecretValue, then revoke the old value at the issuer)"
            )
        self.call(self.sm, "rotate_secret", SecretId=arn, ClientRequestToken=token)
        return Status.DONE, f"rotated {arn} with {function} (new version {token})"

    def investigate(self) -> tuple[Status, str]:
        resource = self.incident.old_key if self.target.key is not None else self.secret_arn
        assert resource
        end = self.now
        start = end - timedelta(days=self.days)
        events = self.pages(
            self.trail,
            "lookup_events",
            "Events",
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": resource}],
            StartTime=start,
            EndTime=end,
        )
        rows = summarise_events(events)
        failed = sum(r["failed"] for r in rows)
        self.incident.investigation = {
            "resource": resource,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "events": len(events),
            "failed": failed,
            "by_principal_and_action": rows,
        }
        principals = len({r["principal"] for r in rows})
        return Status.DONE, (
            f"{len(events)} CloudTrail event(s) in {self.days} days, {failed} failed, "
            f"{principals} principal(s)"
        )

    def pages(self, client: Any, operation: str, field: str, **kwargs: Any) -> list[Any]:
        name = "".join(part.capitalize() for part in operation.split("_"))

        def collect() -> list[Any]:
            items: list[Any] = []
            token: str | None = None
            while True:  # ListSecretVersionIds has NextToken but no botocore paginator
                page = getattr(client, operation)(
                    **kwargs, **({"NextToken": token} if token else {})
                )
                items.extend(page.get(field) or ())
                token = page.get("NextToken")
                if not token:
                    return items

        result: list[Any] = self.reader.retrying(collect, name)
        return result


def _without_principals(
    document: dict[str, Any], principals: set[str]
) -> tuple[dict[str, Any], set[str]]:
    """The key policy without `principals` in its Allow statements (a statement left with no
    principal is dropped), and the principals removed."""
    removed: set[str] = set()
    statements = []
    for statement in _statements(document):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, dict):
            statements.append(statement)
            continue
        aws = principal.get("AWS")
        if aws is None:
            statements.append(statement)
            continue
        names = [aws] if isinstance(aws, str) else list(aws)
        kept = [n for n in names if n not in principals]
        removed.update(n for n in names if n in principals)
        if not kept:
            continue
        if len(kept) != len(names):
            statements.append({**statement, "Principal": {**principal, "AWS": kept}})
        else:
            statements.append(statement)
    return {**document, "Statement": statements}, removed


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement") or []
    return [found] if isinstance(found, dict) else list(found)


def summarise_events(events: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """CloudTrail events grouped by principal and action: `principal`, `action`, `events`,
    `failed` (events with an errorCode), failed attempts first, then the most frequent."""
    counts: dict[tuple[str, str], list[int]] = {}
    for event in events:
        detail = trail_event_detail(event)
        principal = event_principal(event, detail)
        action = str(event.get("EventName") or detail.get("eventName") or "unknown")
        tally = counts.setdefault((principal, action), [0, 0])
        tally[0] += 1
        tally[1] += 1 if detail.get("errorCode") else 0

    def order(item: tuple[tuple[str, str], list[int]]) -> tuple[int, int, tuple[str, str]]:
        names, (seen, failed) = item
        return -failed, -seen, names

    return [
        {"principal": p, "action": a, "events": n, "failed": f}
        for (p, a), (n, f) in sorted(counts.items(), key=order)
    ]


def respond_aws(
    target: Target,
    *,
    reason: str,
    days: int,
    endpoint_url: str | None = None,
    session: Any = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    now: datetime | None = None,
) -> tuple[Incident, Callable[[], Incident]]:
    """Check the caller's account and find the key or secret (RespondError, nothing changed,
    when either fails); returns the incident so far and the function that carries the steps
    out and returns the finished incident (each step's result in `Incident.steps`).

    The caller checks everything else (the record directory) between the two, so that bad
    input never follows a change.
    """
    env = target.environment
    assert env.aws is not None
    import boto3  # noqa: PLC0415 - only AWS responses need boto3
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    reader = Reader(deadline=Deadline(timeout_seconds))
    session = session or boto3.session.Session(region_name=env.aws.region)
    response = _AwsResponse(
        session,
        target,
        reason=reason,
        days=days,
        endpoint_url=endpoint_url,
        reader=reader,
        now=now or datetime.now(UTC),
    )
    try:
        caller = verify_account(
            session,
            environment=env.name,
            account=env.aws.account_id,
            region=env.aws.region,
            endpoint_url=endpoint_url,
            reader=reader,
        )
    except AuditError as err:
        raise RespondError(str(err)) from None
    except ClientError as err:
        raise RespondError(f"AWS refused the caller ({error_code(err) or 'error'})") from None
    except BotoCoreError as err:
        raise RespondError(f"cannot reach AWS: {err}") from None
    response.incident.caller = caller
    response.locate()
    return response.incident, response.run
