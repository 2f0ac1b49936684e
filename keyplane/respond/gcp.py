"""`keyplane respond --apply` on GCP: the runbook of `keyplane.respond.plan` through Cloud KMS's
client library and Cloud Audit Logs.

The set-up is the GCP audit's (`keyplane.engines.audit.gcp`: Application Default Credentials,
the project checked first, REST clients, jittered retries under a deadline). Each step runs on
its own: a refusal (403) or a failure is recorded as the step's result and the next step runs; a
step that needs one that failed is skipped.

- revoke: every IAM member of the key that is not a declared administrator or auditor is removed
  (`retire-grants`: on GCP the key's IAM bindings are its grants); then, by purpose, an
  encryption key's declared users are taken off it (already so once the grants are gone: the key
  stays usable by its administrators to re-encrypt) or a signing key's enabled versions are
  disabled at once;
- rotate: a new key version, made primary for a symmetric key (an asymmetric key has no
  primary: its users pick the version, and the new public key goes into the record); every
  other enabled version is disabled, never destroyed (Proc 4.4 step 3);
- investigate: the key's Cloud Audit Logs entries of the period (Admin Activity and, where Data
  Access logging is on, every use), by principal and method, failed attempts first.

Idempotency: the key carries the incident in labels (`keyplane-incident`, the version it made in
`keyplane-incident-version`); a second run finds them and reports each change "already done". A
secret's new value cannot be made by keyplane on GCP (Secret Manager has no rotation function):
the step is manual.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from keyplane.adapters import gcp_api
from keyplane.config.model import Environment
from keyplane.engines.audit.gcp import (
    Clients,
    Reader,
    as_json,
    caller_of,
    credentials,
    make_clients,
    rest_pages,
    verify_project,
)
from keyplane.engines.audit.judge import AuditError
from keyplane.engines.audit.transport import CallFault, Deadline
from keyplane.respond.incident import (
    TAG_INCIDENT,
    Incident,
    RespondError,
    Status,
    StepHandler,
    StepSkipped,
    incident_id,
    run_steps,
)
from keyplane.respond.plan import Revocation, Target, manual_steps, plan_for, revocation

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "respond_gcp"]

DEFAULT_TIMEOUT_SECONDS = 300.0
LABEL_INCIDENT = TAG_INCIDENT
LABEL_VERSION = "keyplane-incident-version"


class _Refused(Exception):
    """A call answered with an error status: `operation` and the HTTP `status`."""

    def __init__(self, operation: str, status: int) -> None:
        super().__init__(f"{operation}: HTTP {status}")
        self.operation = operation
        self.status = status


def _failure(_step: str, err: Exception) -> str | None:
    """A step's failure detail (`run_steps`): the refused or failed call and its HTTP status."""
    if isinstance(err, CallFault):
        return err.reason
    if isinstance(err, _Refused):
        kind = "refused" if err.status == 403 else "failed"
        return f"{err.operation} {kind}: HTTP {err.status}"
    return None


def label_value(text: str) -> str:
    """`text` as a GCP label value: lowercase letters, digits, `-` and `_`, at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


class _GcpResponse:
    def __init__(
        self,
        clients: Clients,
        target: Target,
        *,
        reason: str,
        days: int,
        reader: Reader,
        now: datetime,
    ) -> None:
        env = target.environment
        assert env.gcp is not None
        self.env: Environment = env
        self.target = target
        self.clients = clients
        self.kms = clients.kms
        self.days = days
        self.reader = reader
        self.now = now
        self.timeout = clients.timeout[1]
        self.incident = Incident(
            id=incident_id(env.name, target.name, now),
            environment=env.name,
            cloud=env.cloud.value,
            kind=target.kind,
            name=target.name,
            reason=reason,
            started_at=now,
            caller="",
            account=env.gcp.project,
            region=env.gcp.location,
            manual=manual_steps(target),
        )
        self.label = label_value(self.incident.id)
        self.key: dict[str, Any] = {}
        self.new_version: str | None = None

    # --- calls -------------------------------------------------------------------------------

    def call(self, operation: str, call: Callable[[], Any]) -> Any:
        """`call()` with retries; an error answer raises `_Refused` naming `operation`."""
        try:
            return self.reader.retrying(call, operation)
        except CallFault:
            raise
        except Exception as err:
            status = getattr(err, "code", None)
            if isinstance(status, int):
                raise _Refused(operation, status) from err
            raise

    def get_key(self, name: str) -> dict[str, Any]:
        return as_json(
            self.call(
                "GetCryptoKey",
                lambda: self.kms.get_crypto_key(
                    request={"name": name}, retry=None, timeout=self.timeout
                ),
            )
        )

    def versions(self) -> list[dict[str, Any]]:
        name = self.key["name"]
        return [
            as_json(v)
            for v in self.call(
                "ListCryptoKeyVersions",
                lambda: list(
                    self.kms.list_crypto_key_versions(
                        request={"parent": name}, retry=None, timeout=self.timeout
                    )
                ),
            )
        ]

    def set_state(self, version: str, state: str) -> None:
        self.call(
            "UpdateCryptoKeyVersion",
            lambda: self.kms.update_crypto_key_version(
                request={
                    "crypto_key_version": {"name": version, "state": state},
                    "update_mask": {"paths": ["state"]},
                },
                retry=None,
                timeout=self.timeout,
            ),
        )

    # --- before any change -------------------------------------------------------------------

    def locate(self) -> None:
        """Find the key by the name keyplane gives it; RespondError when it is not there."""
        env, target = self.env, self.target
        assert env.gcp is not None
        if target.key is None:
            return  # a secret's step is manual on GCP: nothing to find before it
        name = gcp_api.gcp_key_name(
            env.gcp.project, env.gcp.location, env.name, target.key.name, target.key.purpose
        )
        try:
            self.key = self.get_key(name)
        except CallFault as fault:
            raise RespondError(
                f"cannot read the key from GCP ({fault.reason}); nothing was changed"
            ) from None
        except _Refused as err:
            status = err.status
            if status == 404:
                raise RespondError(
                    f"{name} is not in project {env.gcp.project}; deploy the key, or check the "
                    "environment and --endpoint-url"
                ) from None
            raise RespondError(
                f"GCP refused to read the key (HTTP {status}); nothing was changed"
            ) from None
        self.incident.old_key = name
        labels = self.key.get("labels") or {}
        if labels.get(LABEL_INCIDENT) == self.label and labels.get(LABEL_VERSION):
            self.new_version = f"{name}/cryptoKeyVersions/{labels[LABEL_VERSION]}"
            self.incident.new_key = self.new_version

    # --- the steps ---------------------------------------------------------------------------

    def run(self) -> Incident:
        handlers: Mapping[str, StepHandler] = {
            "retire-grants": self.retire_grants,
            "revoke-users": self.revoke_users,
            "new-key": self.new_key,
            "publish-public-key": self.publish_public_key,
            "retain-old-key": self.retain_old_versions,
            "rotate-secret": self.rotate_secret,
            "investigate": self.investigate,
        }
        run_steps(self.incident, plan_for(self.target, days=self.days), handlers, _failure)
        return self.incident

    def _members_kept(self, keep: Callable[[str], bool]) -> tuple[str, list[str]]:
        """Remove the key's IAM members `keep` refuses; (what happened, members removed)."""
        name = self.key["name"]
        policy = as_json(
            self.call(
                "GetIamPolicy",
                lambda: self.kms.get_iam_policy(
                    request={"resource": name}, retry=None, timeout=self.timeout
                ),
            )
        )
        removed: list[str] = []
        bindings = []
        for binding in policy.get("bindings") or []:
            members = [m for m in binding.get("members") or [] if keep(m)]
            removed += [
                f"{m} ({binding.get('role')})" for m in binding.get("members") or [] if not keep(m)
            ]
            if members:
                bindings.append({**binding, "members": members})
        if removed:
            from google.iam.v1 import policy_pb2  # noqa: PLC0415
            from google.protobuf.json_format import ParseDict  # noqa: PLC0415

            new = ParseDict({**policy, "bindings": bindings}, policy_pb2.Policy())
            self.call(
                "SetIamPolicy",
                lambda: self.kms.set_iam_policy(
                    request={"resource": name, "policy": new}, retry=None, timeout=self.timeout
                ),
            )
        return name, removed

    def retire_grants(self) -> tuple[Status, str]:
        access = self.env.access
        platform = {*access.key_admins, *access.backup_key_admins, *access.auditors}
        name, removed = self._members_kept(lambda m: m in platform)
        if not removed:
            return (
                Status.ALREADY_DONE,
                f"no member of {name}'s IAM policy is not an administrator or auditor",
            )
        return Status.DONE, f"removed {', '.join(removed)} from {name}'s IAM policy"

    def revoke_users(self) -> tuple[Status, str]:
        assert self.target.key is not None
        method = revocation(self.env, self.target.key)
        if method is Revocation.DISABLE:
            enabled = [
                v["name"]
                for v in self.versions()
                if v.get("state") == gcp_api.ENABLED and v["name"] != self.new_version
            ]
            if not enabled:
                return Status.ALREADY_DONE, "no version of the key is enabled"
            for version in enabled:
                self.set_state(version, gcp_api.DISABLED)
            return Status.DONE, (f"disabled {', '.join(enabled)}: signing must stop now")
        users = set(self.env.resolve(self.target.key).users)
        name, removed = self._members_kept(lambda m: m not in users)
        if not removed:
            return Status.ALREADY_DONE, f"no binding of {name} names its users"
        return Status.DONE, (
            f"removed {', '.join(removed)} from {name}'s IAM policy (the key stays enabled for "
            "its administrators until the rotation disables its old versions)"
        )

    def new_key(self) -> tuple[Status, str]:
        name = self.key["name"]
        if self.new_version is not None:
            return (
                Status.ALREADY_DONE,
                f"{self.new_version} was made by this incident's earlier run",
            )
        version = as_json(
            self.call(
                "CreateCryptoKeyVersion",
                lambda: self.kms.create_crypto_key_version(
                    request={"parent": name, "crypto_key_version": {}},
                    retry=None,
                    timeout=self.timeout,
                ),
            )
        )
        self.new_version = str(version["name"])
        self.incident.new_key = self.new_version
        number = gcp_api.short_name(self.new_version)
        labels = {
            **(self.key.get("labels") or {}),
            LABEL_INCIDENT: self.label,
            LABEL_VERSION: number,
        }
        self.call(
            "UpdateCryptoKey",
            lambda: self.kms.update_crypto_key(
                request={
                    "crypto_key": {"name": name, "labels": labels},
                    "update_mask": {"paths": ["labels"]},
                },
                retry=None,
                timeout=self.timeout,
            ),
        )
        detail = f"created {self.new_version}"
        if self.key.get("purpose") == "ENCRYPT_DECRYPT":
            self.call(
                "UpdateCryptoKeyPrimaryVersion",
                lambda: self.kms.update_crypto_key_primary_version(
                    request={"name": name, "crypto_key_version_id": number},
                    retry=None,
                    timeout=self.timeout,
                ),
            )
            detail += " and made it the primary version"
        return Status.DONE, detail

    def publish_public_key(self) -> tuple[Status, str]:
        if self.new_version is None or self.incident.step_failed("new-key"):
            raise StepSkipped("no new version to publish (new-key did not succeed)")
        version = self.new_version
        answer = as_json(
            self.call(
                "GetPublicKey",
                lambda: self.kms.get_public_key(
                    request={"name": version}, retry=None, timeout=self.timeout
                ),
            )
        )
        self.incident.public_key_pem = str(answer.get("pem") or "")
        return Status.DONE, f"public key of {version} written to the record, to publish"

    def retain_old_versions(self) -> tuple[Status, str]:
        if self.new_version is None or self.incident.step_failed("new-key"):
            raise StepSkipped(
                "the old versions stay enabled until a new one exists (new-key failed)"
            )
        old = [
            v["name"]
            for v in self.versions()
            if v.get("state") == gcp_api.ENABLED and v["name"] != self.new_version
        ]
        if not old:
            return (
                Status.ALREADY_DONE,
                f"no version of {self.key['name']} but {self.new_version} is enabled",
            )
        for version in old:
            self.set_state(version, gcp_api.DISABLED)
        return Status.DONE, f"disabled {', '.join(old)} (retained, not destroyed)"

    def rotate_secret(self) -> tuple[Status, str]:
        assert self.env.gcp is not None
        name = gcp_api.gcp_secret_name(self.env.gcp.project, self.target.name)
        return Status.MANUAL, (
            f"add a version with a new value to {name} (gcloud secrets versions add), then "
            "disable the old versions: keyplane cannot make the new value"
        )

    def investigate(self) -> tuple[Status, str]:
        assert self.env.gcp is not None
        if self.target.key is not None:
            resource = self.key["name"]
        else:
            resource = gcp_api.gcp_secret_name(self.env.gcp.project, self.target.name)
        project = self.env.gcp.project
        start = self.now - timedelta(days=self.days)
        since = start.astimezone(UTC).isoformat().replace("+00:00", "Z")
        entries = self.call(
            "entries.list",
            lambda: rest_pages(
                self.clients,
                "logging",
                "/v2/entries:list",
                "entries",
                body={
                    "resourceNames": [f"projects/{project}"],
                    "filter": f'protoPayload.resourceName:"{resource}" AND timestamp>="{since}"',
                    "orderBy": "timestamp asc",
                },
            ),
        )
        rows = summarise_entries(entries)
        failed = sum(r["failed"] for r in rows)
        self.incident.investigation = {
            "resource": resource,
            "from": start.isoformat(),
            "to": self.now.isoformat(),
            "events": len(entries),
            "failed": failed,
            "by_principal_and_action": rows,
        }
        principals = len({r["principal"] for r in rows})
        return Status.DONE, (
            f"{len(entries)} Cloud Audit Logs entr{'y' if len(entries) == 1 else 'ies'} in "
            f"{self.days} days, {failed} failed, {principals} principal(s)"
        )


def summarise_entries(entries: list[Any]) -> list[dict[str, Any]]:
    """Cloud Audit Logs entries grouped by principal and method: `principal`, `action`,
    `events`, `failed` (a non-zero status), failed attempts first, then the most frequent."""
    from keyplane.engines.audit.gcp import audit_event  # noqa: PLC0415

    counts: dict[tuple[str, str], list[int]] = {}
    for entry in entries:
        event = audit_event(entry)
        if event is None:
            continue
        tally = counts.setdefault((event.principal, event.name), [0, 0])
        tally[0] += 1
        tally[1] += 1 if event.error else 0
    ordered = sorted(counts.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    return [{"principal": p, "action": a, "events": n, "failed": f} for (p, a), (n, f) in ordered]


def respond_gcp(
    target: Target,
    *,
    reason: str,
    days: int,
    endpoint_url: str | None = None,
    creds: Any = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    now: datetime | None = None,
) -> tuple[Incident, Callable[[], Incident]]:
    """Check the credentials reach the project and find the key (RespondError, nothing changed,
    when either fails); returns the incident so far and the function that carries the steps
    out and returns the finished incident."""
    env = target.environment
    assert env.gcp is not None
    reader = Reader(deadline=Deadline(timeout_seconds))
    try:
        creds = creds or credentials()
        clients = make_clients(creds, endpoint_url)
        verify_project(clients, env.gcp.project, env.name, reader)
    except AuditError as err:
        raise RespondError(str(err)) from None
    response = _GcpResponse(
        clients, target, reason=reason, days=days, reader=reader, now=now or datetime.now(UTC)
    )
    response.incident.caller = caller_of(creds)
    response.locate()
    return response.incident, response.run
