"""The live audit's GCP collection: Google's client libraries, Application Default Credentials,
read-only calls, and a record of what was read.

`run_audit` first resolves Application Default Credentials (none: exit 2 with how to
authenticate) and reads the environment's project (credentials that cannot reach it: exit 2).
`Collector` then reads one project and location: key rings, crypto keys and their versions, the
IAM policies of keys, rings, secrets and the project, the project's ancestry and the IAM policies
of its folders and organisation (they reach every key and secret of the project), the project's
audit configuration (Data Access logs of Cloud KMS and Secret Manager), Secret Manager secrets
(metadata, never values), log sinks and the Cloud Storage bucket each writes to (its locked
retention), log-based metrics and alert policies (KM-MON-001), Certificate Manager certificates
(KM-CRT-001), and the period's key lifecycle events from Cloud Audit Logs.
`keyplane.adapters.gcp_api` writes each answer as the pulumi-gcp resource that would declare it,
so the facts are the Pulumi adapter's own.

Clients: Cloud KMS, Secret Manager, Resource Manager and Certificate Manager through their
official libraries' REST transports; the Cloud Logging, Cloud Monitoring and Cloud Storage JSON
APIs through google-auth's `AuthorizedSession` (their libraries either lack a REST transport in
the versions that share protobuf 5 with pulumi-policy, or drop fields of the answers), and so is
Resource Manager v1's `projects.getAncestry` (v3, the library's, has no such call). At most
MAX_WORKERS calls run at once (`Reader`). `--endpoint-url`
sends every call to one URL (a local server answering as the REST APIs do). The libraries' own
retries are off: `keyplane.engines.audit.transport.retrying` retries throttling (429, honouring
Retry-After), 5xx answers, dropped connections, timeouts and answers that are not JSON objects,
under the audit's deadline. A 403 becomes UNKNOWN plus an advisory `Unverifiable` naming the
permission; a failure after retries, UNKNOWN plus a fault that keeps the rule's enforcement.

No rule is named here (`keyplane.rules.audit_permissions` maps permissions to rules). The client
libraries are imported inside functions: only an audit or `respond` of a GCP environment loads
them.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from keyplane.adapters import gcp_api
from keyplane.adapters.boto3 import TrailEvent
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
    MAX_WORKERS,
    READ_TIMEOUT_SECONDS,
    AuditReader,
    CallFault,
    Deadline,
    check_endpoint_url,
    retry_after_seconds,
    short,
)
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.context import Context
from keyplane.standard import Cloud
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

__all__ = [
    "AUTHENTICATE",
    "NOT_VISIBLE",
    "PERMISSIONS",
    "ROLES",
    "Collector",
    "Reader",
    "credentials",
    "declared_resources",
    "run_audit",
    "verify_project",
]

#: How to authenticate, said when Application Default Credentials are missing or refused.
AUTHENTICATE = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service account key file"
)
#: The OAuth scope of every call (read-only calls; IAM decides what the caller may do).
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
#: How many days of Cloud Audit Logs the evidence lists by default (Admin Activity logs are
#: kept 400 days; `--days` goes up to it).
EVENT_DAYS = 90
MAX_EVENT_DAYS = 400

#: Read-only IAM permissions the auditor needs (README "Live audit (GCP)").
PERMISSIONS = (
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.folders.getIamPolicy",
    "resourcemanager.organizations.getIamPolicy",
    "cloudkms.keyRings.list",
    "cloudkms.keyRings.getIamPolicy",
    "cloudkms.cryptoKeys.list",
    "cloudkms.cryptoKeys.getIamPolicy",
    "cloudkms.cryptoKeyVersions.list",
    "secretmanager.secrets.list",
    "secretmanager.secrets.getIamPolicy",
    "logging.sinks.list",
    "logging.logMetrics.list",
    "logging.logEntries.list",
    "storage.buckets.get",
    "monitoring.alertPolicies.list",
    "certificatemanager.certs.list",
)
#: Predefined roles that together hold PERMISSIONS (README "Live audit (GCP)"): on the project,
#: but roles/iam.securityReviewer on the organisation (it then covers the project, its folders
#: and the organisation's IAM policies) and the bucket reader on the audit-log bucket.
ROLES = (
    "roles/browser",
    "roles/iam.securityReviewer (on the organisation)",
    "roles/cloudkms.viewer",
    "roles/secretmanager.viewer",
    "roles/logging.viewer",
    "roles/monitoring.viewer",
    "roles/certificatemanager.viewer",
    "roles/storage.legacyBucketReader (on the audit-log bucket)",
)

NOT_VISIBLE = (
    "Pulumi's protect option lives in the stack state, not in the project: KM-DEL-001 reports "
    "it as not verifiable (resources[].protect is not evidence)",
)

_SERVICES = {
    "resourcemanager": "https://cloudresourcemanager.googleapis.com",
    "logging": "https://logging.googleapis.com",
    "monitoring": "https://monitoring.googleapis.com",
    "storage": "https://storage.googleapis.com",
}


# --- errors -----------------------------------------------------------------------------------


def _status(err: Exception) -> int:
    code = getattr(err, "code", None)
    return int(code) if isinstance(code, int) else 0


def retry_after(err: Exception) -> float | None:
    """The seconds a failed answer asks to wait (`Retry-After`), None when it asks nothing."""
    response = getattr(err, "response", None)
    return retry_after_seconds(getattr(response, "headers", None))


class BadAnswer(Exception):
    """An answer that is not what the API returns (not a JSON object, or without its result)."""


def _transient(err: Exception, operation: str) -> tuple[str, float | None] | None:
    """Whether a failed Google call is worth asking again, what failed, and the wait asked."""
    import requests  # noqa: PLC0415
    from google.auth.exceptions import TransportError  # noqa: PLC0415

    status = _status(err)
    if status == 429 or status >= 500:
        return f"{operation}: HTTP {status} {type(err).__name__}", retry_after(err)
    if isinstance(err, requests.RequestException | TransportError):
        return f"{operation}: {type(err).__name__}: {short(err)}", None
    if isinstance(err, BadAnswer | ValueError | TypeError | KeyError | AttributeError):
        # An answer the client libraries cannot read: the answer's fault, not keyplane's.
        return f"{operation}: {type(err).__name__}: {short(err)}", None
    return None


def _bad_credentials(err: Exception) -> bool:
    from google.auth.exceptions import RefreshError  # noqa: PLC0415

    return isinstance(err, RefreshError) or _status(err) == 401


# --- credentials and clients ------------------------------------------------------------------


def credentials() -> Any:
    """Application Default Credentials with the cloud-platform scope.

    Raises AuditError (exit 2) naming how to authenticate when there are none."""
    import google.auth  # noqa: PLC0415
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    try:
        found, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError:
        raise AuditError(
            f"no Google Cloud credentials (Application Default Credentials); {AUTHENTICATE}"
        ) from None
    return found


def caller_of(creds: Any) -> str:
    """Who the credentials are, as far as they say: a service account's or user's e-mail."""
    email_address = getattr(creds, "service_account_email", None)
    if isinstance(email_address, str) and "@" in email_address:
        return f"serviceAccount:{email_address}"
    account = getattr(creds, "account", None)
    if isinstance(account, str) and account:
        return f"user:{account}"
    return f"{type(creds).__name__} (the credentials name no e-mail)"


@dataclass
class Clients:
    """The clients of one audit (thread-safe; made before the pool runs)."""

    kms: Any
    secrets: Any
    projects: Any
    folders: Any
    organizations: Any
    certificates: Any
    session: Any
    endpoint_url: str | None
    timeout: tuple[float, float]

    def url(self, service: str, path: str) -> str:
        return (self.endpoint_url or _SERVICES[service]).rstrip("/") + path


def make_clients(
    creds: Any, endpoint_url: str | None, call_timeout_seconds: float | None = None
) -> Clients:
    """The REST clients, every call to `endpoint_url` when given; each call times out after
    `call_timeout_seconds` (default CONNECT_TIMEOUT_SECONDS to connect, READ_TIMEOUT_SECONDS to
    read)."""
    with warnings.catch_warnings():
        # google-api-core warns, on import, of its own support schedule for the running Python
        # (a FutureWarning per library): nothing an auditor can act on, and it would precede
        # every report on stderr.
        warnings.simplefilter("ignore", FutureWarning)
        from google.api_core.client_options import ClientOptions  # noqa: PLC0415
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415
        from google.cloud import (  # noqa: PLC0415
            certificate_manager_v1,
            kms_v1,
            resourcemanager_v3,
            secretmanager_v1,
        )

    options = ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None

    def make(cls: Any) -> Any:
        return cls(credentials=creds, transport="rest", client_options=options)

    return Clients(
        kms=make(kms_v1.KeyManagementServiceClient),
        secrets=make(secretmanager_v1.SecretManagerServiceClient),
        projects=make(resourcemanager_v3.ProjectsClient),
        folders=make(resourcemanager_v3.FoldersClient),
        organizations=make(resourcemanager_v3.OrganizationsClient),
        certificates=make(certificate_manager_v1.CertificateManagerClient),
        session=AuthorizedSession(creds),  # type: ignore[no-untyped-call]
        endpoint_url=endpoint_url,
        timeout=(
            call_timeout_seconds or CONNECT_TIMEOUT_SECONDS,
            call_timeout_seconds or READ_TIMEOUT_SECONDS,
        ),
    )


def as_json(message: Any) -> dict[str, Any]:
    """A client library's message as the REST API's JSON object (camelCase names, enums by
    name, durations as "<seconds>s", timestamps in RFC 3339)."""
    from google.protobuf.json_format import MessageToDict  # noqa: PLC0415

    raw = type(message).pb(message) if hasattr(type(message), "pb") else message
    result: dict[str, Any] = MessageToDict(raw, preserving_proto_field_name=False)
    return result


# --- reading ----------------------------------------------------------------------------------


class Reader(AuditReader):
    """Read calls with retries under the audit's deadline, at most `max_calls` at a time
    (however the collection nests its tasks); what cannot be read becomes UNKNOWN plus an
    `Unverifiable` record of why (a refused permission, or a fault naming the call)."""

    transient = staticmethod(_transient)

    def __init__(
        self,
        *,
        attempts: int = MAX_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,
        max_calls: int = MAX_WORKERS,
    ) -> None:
        super().__init__(
            attempts=attempts, backoff_seconds=backoff_seconds, sleep=sleep, deadline=deadline
        )
        self._slots = threading.BoundedSemaphore(max_calls)

    def retrying(self, call: Callable[[], Any], operation: str = "the call") -> Any:
        def limited() -> Any:
            with self._slots:  # held while the call (and its pages) run, not while backing off
                return call()

        return super().retrying(limited, operation)

    def read(
        self,
        call: Callable[[], Any],
        operation: str,
        *,
        subject: Subject,
        what: str,
        permission: str,
        absent_ok: bool = False,
    ) -> Any:
        """`call()`'s answer; None when it says the thing does not exist (404) and `absent_ok`;
        UNKNOWN when it cannot be read (recorded). Bad credentials stop the audit."""
        try:
            return self.retrying(call, operation)
        except CallFault as fault:
            self.record(Unverifiable(subject, what, permission, fault.reason, fault=True))
            return UNKNOWN
        except Exception as err:  # a final refusal, read below; anything else is a bug
            status = _status(err)
            if _bad_credentials(err):
                raise AuditError(
                    f"Google Cloud rejected the credentials ({short(err)}); {AUTHENTICATE}"
                ) from None
            if status == 403:
                self.record(Unverifiable(subject, what, permission, f"{operation}: HTTP 403"))
                return UNKNOWN
            if status == 404 and absent_ok:
                return None
            if status:
                reason = f"{operation}: HTTP {status} {type(err).__name__}"
                self.record(Unverifiable(subject, what, permission, reason, fault=True))
                return UNKNOWN
            raise


def _messages(pager: Any) -> list[dict[str, Any]]:
    """Every item of a client library's pager (it asks for the next pages itself)."""
    return [as_json(item) for item in pager]


def rest_pages(
    clients: Clients,
    service: str,
    path: str,
    field_name: str,
    *,
    body: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Every item of a paginated JSON API list (GET, or POST with `body`): `nextPageToken`."""
    items: list[Any] = []
    token: str | None = None
    while True:
        if body is None:
            answer = rest_call(
                clients, "GET", service, path, params={"pageToken": token} if token else None
            )
        else:
            answer = rest_call(
                clients,
                "POST",
                service,
                path,
                body={**body, **({"pageToken": token} if token else {})},
            )
        found = answer.get(field_name, [])
        if not isinstance(found, list):
            raise BadAnswer(f"{field_name!r} is not a list")
        items.extend(found)
        token = answer.get("nextPageToken") or None
        if not token:
            return items


def rest_call(
    clients: Clients,
    method: str,
    service: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One JSON API call; a refusal raises the client libraries' own exception for its status
    (`google.api_core.exceptions.from_http_response`), an answer that is not a JSON object
    raises BadAnswer."""
    from google.api_core.exceptions import from_http_response  # noqa: PLC0415

    response = clients.session.request(
        method, clients.url(service, path), params=params, json=body, timeout=clients.timeout
    )
    if response.status_code >= 400:
        raise from_http_response(response)  # type: ignore[no-untyped-call]
    if not response.content.strip():
        return {}
    try:
        answer = response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "unknown")
        raise BadAnswer(
            f"HTTP {response.status_code} answer of type {content_type}, not the API's JSON"
        ) from None
    if not isinstance(answer, dict):
        raise BadAnswer(f"HTTP {response.status_code} answer is not a JSON object")
    return answer


# --- the collector ----------------------------------------------------------------------------


class Collector:
    """Reads one project and location: KMS, Secret Manager, IAM, audit logging, alerts,
    certificates and the key lifecycle events."""

    def __init__(
        self,
        clients: Clients,
        *,
        project: str,
        location: str,
        reader: Reader | None = None,
        max_workers: int = MAX_WORKERS,
        event_days: int = EVENT_DAYS,
        now: datetime | None = None,
    ) -> None:
        self.clients = clients
        self.project = project
        self.location = location
        self.reader = reader or Reader()
        self.max_workers = max_workers
        self.event_days = event_days
        self.now = now or datetime.now(UTC)
        self.project_subject = Subject(
            f"projects/{project}", f"{project}/{location}", gcp_api.PROJECT_TYPE
        )
        self.timeout = clients.timeout[1]

    def _run(self, tasks: Iterable[Callable[[], None]]) -> None:
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for future in [pool.submit(task) for task in tasks]:
                future.result()

    def collect(self) -> Collected:
        out = Collected(self.project_subject, cloud="GCP")
        out.key_names, out.secret_names = {}, {}
        self._run(
            [
                lambda: self._keys(out),
                lambda: self._secrets(out),
                lambda: self._project_policy(out),
                lambda: self._ancestor_policies(out),
                lambda: self._sinks(out),
                lambda: self._alerts(out),
                lambda: self._certificates(out),
                lambda: self._events(out),
            ]
        )
        out.facts.sort(key=lambda f: (f.type, f.name, f.urn))
        out.keys_seen.sort(key=lambda k: k.key.urn)
        return out

    # --- Cloud KMS ---------------------------------------------------------------------------

    def _keys(self, out: Collected) -> None:
        kms, read = self.clients.kms, self.reader
        parent = f"projects/{self.project}/locations/{self.location}"
        rings = read.read(
            lambda: _messages(
                kms.list_key_rings(request={"parent": parent}, retry=None, timeout=self.timeout)
            ),
            "ListKeyRings",
            subject=self.project_subject,
            what="the project's key rings",
            permission="cloudkms.keyRings.list",
        )
        if isinstance(rings, Unknown):
            out.key_names, out.keys_listed = UNKNOWN, False
            return
        for ring in rings:
            out.add(*gcp_api.key_ring_facts(ring))
        self._run(partial(self._ring, r, out) for r in rings)

    def _ring(self, ring: Mapping[str, Any], out: Collected) -> None:
        kms, read = self.clients.kms, self.reader
        name = str(ring.get("name"))
        subject = Subject(name, gcp_api.short_name(name), gcp_api.KEY_RING_TYPE)
        self._policy(
            out,
            kms,
            name,
            subject,
            gcp_api.KEY_RING_IAM_TYPE,
            "keyRingId",
            what="the key ring's IAM policy",
            permission="cloudkms.keyRings.getIamPolicy",
        )
        keys = read.read(
            lambda: _messages(
                kms.list_crypto_keys(
                    request={"parent": name, "version_view": "FULL"},
                    retry=None,
                    timeout=self.timeout,
                )
            ),
            "ListCryptoKeys",
            subject=subject,
            what="the key ring's crypto keys",
            permission="cloudkms.cryptoKeys.list",
        )
        if isinstance(keys, Unknown):
            with out.lock:
                out.key_names, out.keys_listed = UNKNOWN, False
            return
        self._run(partial(self._key, k, out) for k in keys)

    def _key(self, key: Mapping[str, Any], out: Collected) -> None:
        kms, read = self.clients.kms, self.reader
        name = str(key.get("name"))
        subject = Subject(name, gcp_api.short_name(name), gcp_api.KEY_TYPE)
        with out.lock:
            out.key_refs[name] = name
        versions = read.read(
            lambda: _messages(
                kms.list_crypto_key_versions(
                    request={"parent": name}, retry=None, timeout=self.timeout
                )
            ),
            "ListCryptoKeyVersions",
            subject=subject,
            what="the key's versions (their state and destruction schedule)",
            permission="cloudkms.cryptoKeyVersions.list",
        )
        state = gcp_api.key_state(key, [] if isinstance(versions, Unknown) else versions)
        with out.lock:
            # A key whose every version is destroyed is gone (GCP never deletes the key
            # itself): a declared one is reported missing, as a deleted AWS key is.
            if not isinstance(out.key_names, Unknown) and state.state != "Destroyed":
                out.key_names[name] = name
            out.keys_seen.append(KeySeen(subject, state.state))
            if state.scheduled:
                out.pending.append(
                    PendingDeletion(subject, state.destroy_time, versions=state.scheduled)
                    if state.state != "PendingDeletion"
                    else PendingDeletion(subject, state.destroy_time)
                )
        if state.state != "Enabled":
            return  # disabled (retained) or being destroyed: evidence, not an active key
        facts = gcp_api.key_facts(key)
        out.add(*facts)
        self._policy(
            out,
            kms,
            name,
            subject,
            gcp_api.KEY_IAM_TYPE,
            "cryptoKeyId",
            what="the key's IAM policy",
            permission="cloudkms.cryptoKeys.getIamPolicy",
        )
        from keyplane.facts.model import Key  # noqa: PLC0415

        for fact in facts:
            if isinstance(fact, Key) and fact.rotation_enabled is True:
                with out.lock:
                    out.material_changes.append((fact, state.material_created))

    def _policy(
        self,
        out: Collected,
        client: Any,
        resource: str,
        subject: Subject,
        type_: str,
        target_field: str,
        *,
        what: str,
        permission: str,
        target: str | None = None,
    ) -> Any:
        """A resource's IAM policy as facts (`target`: the policy resource's target field, by
        default `resource`); an unread one is an unknown policy, never none."""
        answer = self.reader.read(
            lambda: as_json(
                client.get_iam_policy(
                    # Version 3: conditional bindings come back as written, not mangled.
                    request={"resource": resource, "options": {"requested_policy_version": 3}},
                    retry=None,
                    timeout=self.timeout,
                )
            ),
            "GetIamPolicy",
            subject=subject,
            what=what,
            permission=permission,
        )
        policy = WIRE_UNKNOWN if isinstance(answer, Unknown) else answer
        out.add(*gcp_api.iam_policy_facts(type_, target_field, target or resource, policy))
        return answer

    # --- Secret Manager, the project ---------------------------------------------------------

    def _secrets(self, out: Collected) -> None:
        client, read = self.clients.secrets, self.reader
        secrets = read.read(
            lambda: _messages(
                client.list_secrets(
                    request={"parent": f"projects/{self.project}"},
                    retry=None,
                    timeout=self.timeout,
                )
            ),
            "ListSecrets",
            subject=self.project_subject,
            what="the project's secrets",
            permission="secretmanager.secrets.list",
        )
        if isinstance(secrets, Unknown):
            out.secret_names = UNKNOWN
            return
        names = out.secret_names if isinstance(out.secret_names, dict) else {}
        for secret in secrets:
            secret_id = gcp_api.short_name(str(secret.get("name")))
            native = gcp_api.gcp_secret_name(self.project, secret_id)
            names[native] = native
            facts = gcp_api.secret_facts(secret, self.project)
            out.add(*facts)

        def policy(secret: Mapping[str, Any]) -> None:
            full = str(secret.get("name"))
            native = gcp_api.gcp_secret_name(self.project, gcp_api.short_name(full))
            subject = Subject(native, gcp_api.short_name(full), gcp_api.SECRET_TYPE)
            self._policy(
                out,
                client,
                full,
                subject,
                gcp_api.SECRET_IAM_TYPE,
                "secretId",
                what="the secret's IAM policy",
                permission="secretmanager.secrets.getIamPolicy",
            )

        self._run(partial(policy, s) for s in secrets)

    def _project_policy(self, out: Collected) -> None:
        answer = self._policy(
            out,
            self.clients.projects,
            f"projects/{self.project}",
            self.project_subject,
            gcp_api.PROJECT_IAM_TYPE,
            "project",
            what="the project's IAM policy and audit configuration",
            permission="resourcemanager.projects.getIamPolicy",
        )
        if isinstance(answer, dict):
            out.add(*gcp_api.audit_config_facts(self.project, answer))

    def _ancestor_policies(self, out: Collected) -> None:
        """The IAM policies of the project's folders and organisation: their bindings reach
        every key and secret of the project. An ancestry that cannot be read leaves what is
        granted above the project unknown (an unknown organisation policy), never empty."""
        answer = self.reader.read(
            lambda: gcp_api.ancestors(
                rest_call(
                    self.clients,
                    "POST",
                    "resourcemanager",
                    f"/v1/projects/{self.project}:getAncestry",
                    body={},
                )
            ),
            "getAncestry",
            subject=self.project_subject,
            what="the project's ancestry (its folders and organisation)",
            permission="resourcemanager.projects.get",
        )
        if isinstance(answer, Unknown):
            out.add(*gcp_api.ancestors_unknown_facts(self.project))
            return
        self._run(partial(self._ancestor_policy, kind, ident, out) for kind, ident in answer)

    def _ancestor_policy(self, kind: str, ident: str, out: Collected) -> None:
        if kind == "folder":
            self._policy(
                out,
                self.clients.folders,
                f"folders/{ident}",
                Subject(f"folders/{ident}", f"folders/{ident}", gcp_api.FOLDER_TYPE),
                gcp_api.FOLDER_IAM_TYPE,
                "folder",
                what="the folder's IAM policy",
                permission="resourcemanager.folders.getIamPolicy",
            )
        else:
            self._policy(
                out,
                self.clients.organizations,
                f"organizations/{ident}",
                Subject(
                    f"organizations/{ident}",
                    f"organizations/{ident}",
                    gcp_api.ORGANIZATION_IAM_TYPE,
                ),
                gcp_api.ORGANIZATION_IAM_TYPE,
                "orgId",
                what="the organisation's IAM policy",
                permission="resourcemanager.organizations.getIamPolicy",
                target=ident,
            )

    # --- logging, alerts, certificates -------------------------------------------------------

    def _sinks(self, out: Collected) -> None:
        read = self.reader
        sinks = read.read(
            lambda: rest_pages(
                self.clients, "logging", f"/v2/projects/{self.project}/sinks", "sinks"
            ),
            "sinks.list",
            subject=self.project_subject,
            what="the project's log sinks",
            permission="logging.sinks.list",
        )
        if isinstance(sinks, Unknown):
            return
        buckets: set[str] = set()
        for sink in sinks:
            out.add(*gcp_api.sink_facts(sink, self.project))
            destination = str(sink.get("destination") or "")
            if destination.startswith("storage.googleapis.com/"):
                buckets.add(destination.removeprefix("storage.googleapis.com/"))
        self._run(partial(self._bucket, b, out) for b in sorted(buckets))

    def _bucket(self, name: str, out: Collected) -> None:
        subject = Subject(f"projects/_/buckets/{name}", name, gcp_api.BUCKET_TYPE)
        bucket = self.reader.read(
            lambda: rest_call(self.clients, "GET", "storage", f"/storage/v1/b/{name}"),
            "buckets.get",
            subject=subject,
            what="the log bucket's retention policy",
            permission="storage.buckets.get",
            absent_ok=True,
        )
        if isinstance(bucket, Unknown):
            out.add(*gcp_api.bucket_facts({"name": name, "retentionPolicy": WIRE_UNKNOWN}))
        elif bucket is not None:
            out.add(*gcp_api.bucket_facts(bucket))

    def _alerts(self, out: Collected) -> None:
        read = self.reader
        metrics = read.read(
            lambda: rest_pages(
                self.clients, "logging", f"/v2/projects/{self.project}/metrics", "metrics"
            ),
            "metrics.list",
            subject=self.project_subject,
            what="the project's log-based metrics",
            permission="logging.logMetrics.list",
        )
        if not isinstance(metrics, Unknown):
            for metric in metrics:
                out.add(*gcp_api.log_metric_facts(metric, self.project))
        policies = read.read(
            lambda: rest_pages(
                self.clients,
                "monitoring",
                f"/v3/projects/{self.project}/alertPolicies",
                "alertPolicies",
            ),
            "alertPolicies.list",
            subject=self.project_subject,
            what="the project's alert policies",
            permission="monitoring.alertPolicies.list",
        )
        if not isinstance(policies, Unknown):
            for policy in policies:
                out.add(*gcp_api.alert_policy_facts(policy))

    def _certificates(self, out: Collected) -> None:
        client = self.clients.certificates
        found = self.reader.read(
            lambda: _messages(
                client.list_certificates(
                    request={"parent": f"projects/{self.project}/locations/global"},
                    retry=None,
                    timeout=self.timeout,
                )
            ),
            "ListCertificates",
            subject=self.project_subject,
            what="the project's Certificate Manager certificates",
            permission="certificatemanager.certs.list",
        )
        if not isinstance(found, Unknown):
            for certificate in found:
                out.add(*gcp_api.certificate_facts(certificate))

    def _events(self, out: Collected) -> None:
        """The period's key lifecycle events (Cloud Audit Logs, Admin Activity), UNKNOWN when
        they cannot be read (the evidence says why)."""
        answer = self.reader.read(
            lambda: lifecycle_entries(self.clients, self.project, self.now, self.event_days),
            "entries.list",
            subject=self.project_subject,
            what=f"the key lifecycle events of the last {self.event_days} days",
            permission="logging.logEntries.list",
        )
        if not isinstance(answer, Unknown):
            events = [e for e in (audit_event(entry) for entry in answer) if e is not None]
            out.events = sorted(events, key=lambda e: (e.time, e.name))


def lifecycle_entries(
    clients: Clients,
    project: str,
    now: datetime,
    days: int,
    *,
    methods: Iterable[str] = gcp_api.KEY_LIFECYCLE_METHODS,
    failed_only: bool = False,
) -> list[Any]:
    """Cloud Audit Logs entries of Cloud KMS calls named `methods` in the `days` before `now`
    (entries.list, oldest first)."""
    since = (now - timedelta(days=days)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    names = " OR ".join(f'"{m}"' for m in methods)
    text = (
        'protoPayload.serviceName="cloudkms.googleapis.com" AND '
        f'protoPayload.methodName:({names}) AND timestamp>="{since}"'
    )
    if failed_only:
        text += " AND protoPayload.status.code!=0"
    return rest_pages(
        clients,
        "logging",
        "/v2/entries:list",
        "entries",
        body={"resourceNames": [f"projects/{project}"], "filter": text, "orderBy": "timestamp asc"},
    )


def audit_event(entry: Any) -> TrailEvent | None:
    """A Cloud Audit Logs entry (`LogEntry` with an `AuditLog` payload) as a lifecycle event;
    None when it is not one."""
    if not isinstance(entry, Mapping):
        return None
    payload = entry.get("protoPayload")
    moment = gcp_api.timestamp(entry.get("timestamp"))
    if not isinstance(payload, Mapping) or moment is None:
        return None
    method = str(payload.get("methodName") or "").rsplit(".", 1)[-1]
    who = (payload.get("authenticationInfo") or {}).get("principalEmail") or "unknown caller"
    status = payload.get("status") or {}
    error = None
    if isinstance(status, Mapping) and status.get("code"):
        error = str(status.get("message") or f"code {status.get('code')}")
    resource = str(payload.get("resourceName") or "")
    # A version's events belong to its key.
    key = resource.split("/cryptoKeyVersions/", 1)[0]
    return TrailEvent(
        name=method,
        time=moment,
        principal=str(who),
        error=error,
        event_id=str(entry.get("insertId") or ""),
        refs=(key,) if key else (),
    )


# --- the run ----------------------------------------------------------------------------------


def verify_project(clients: Clients, project: str, environment: str, reader: Reader) -> str:
    """The project's number once the credentials reach `environment`'s `project`.

    Raises AuditError (exit 2) when they cannot (refused, not found: another project's
    credentials) or Google Cloud cannot be reached."""
    try:
        answer = reader.retrying(
            lambda: as_json(
                clients.projects.get_project(
                    request={"name": f"projects/{project}"}, retry=None, timeout=clients.timeout[1]
                )
            ),
            "GetProject",
        )
    except CallFault as fault:
        where = f" at {clients.endpoint_url}" if clients.endpoint_url else ""
        raise AuditError(
            f"cannot reach Google Cloud{where} to read project {project} ({fault.reason}); "
            "check the endpoint and the network, or raise --timeout"
        ) from None
    except Exception as err:
        if _bad_credentials(err):
            raise AuditError(
                f"Google Cloud rejected the credentials ({short(err)}); {AUTHENTICATE}"
            ) from None
        if _status(err) in (403, 404):
            raise AuditError(
                f"the credentials cannot reach {environment}'s project {project} (HTTP "
                f"{_status(err)}); use credentials granted roles/browser (or "
                "resourcemanager.projects.get) on it, or correct gcp.project"
            ) from None
        raise
    found = str(answer.get("projectId") or project)
    if found != project:
        raise AuditError(
            f"the credentials reached project {found}, not {environment}'s project {project}; "
            "use credentials for it"
        )
    return str(answer.get("name") or "").removeprefix("projects/")


def check_event_days(days: int) -> int:
    """`days` when it is 1 to MAX_EVENT_DAYS; AuditError (exit 2) otherwise."""
    if not 1 <= days <= MAX_EVENT_DAYS:
        raise AuditError(
            f"--days: must be 1 to {MAX_EVENT_DAYS} for GCP (Admin Activity audit logs are kept "
            f"{MAX_EVENT_DAYS} days; got {days}); pass a number of days in that range"
        )
    return days


def declared_resources(env: Environment) -> list[Declared]:
    """The keys and secrets `env` declares, with the full names keyplane gives them on GCP."""
    assert env.gcp is not None
    project, location = env.gcp.project, env.gcp.location
    return [
        *(
            Declared(
                k.name,
                gcp_api.gcp_key_name(project, location, env.name, k.name, k.purpose),
                gcp_api.KEY_TYPE,
                key=True,
                retired=Retired(k.retired.on, k.retired.reason) if k.retired else None,
            )
            for k in env.keys
        ),
        *(
            Declared(
                s.name, gcp_api.gcp_secret_name(project, s.name), gcp_api.SECRET_TYPE, key=False
            )
            for s in env.secrets
        ),
    ]


def run_audit(
    estate: Estate,
    environment: str,
    *,
    as_of: date,
    endpoint_url: str | None = None,
    creds: Any = None,
    reader: Reader | None = None,
    max_workers: int = MAX_WORKERS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    call_timeout_seconds: float | None = None,
    event_days: int = EVENT_DAYS,
) -> AuditResult:
    """Audit `environment`'s GCP project within `timeout_seconds` (what is not read by then is
    reported unverifiable). `creds`: Google credentials (default: Application Default
    Credentials).

    Raises AuditError when it cannot run: a non-GCP environment, an endpoint that is not an
    http(s) URL, `event_days` out of range, no credentials, credentials that cannot reach the
    project, Google Cloud unreachable.
    """
    check_endpoint_url(endpoint_url)
    check_event_days(event_days)
    env = estate.environments[environment]
    if env.cloud is not Cloud.GCP or env.gcp is None:
        raise AuditError(f"{environment}: cloud is {env.cloud.value}, not gcp")
    started = datetime.now(UTC)
    project, location = env.gcp.project, env.gcp.location
    reader = reader or Reader()
    if reader.deadline is None:
        reader.deadline = Deadline(timeout_seconds)
    creds = creds or credentials()
    clients = make_clients(creds, endpoint_url, call_timeout_seconds)
    project_number = verify_project(clients, project, environment, reader)
    collector = Collector(
        clients,
        project=project,
        location=location,
        reader=reader,
        max_workers=max_workers,
        event_days=event_days,
        now=started,
    )
    collected = collector.collect()
    collected.unverifiable = list(reader.unverifiable)
    context = Context.from_estate(estate, environment, as_of)
    declared = declared_resources(env)
    findings = judge_collected(collected, context, declared)
    counts: dict[str, int] = {}
    for fact in collected.facts:
        kind = _KINDS.get(fact.type)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    if pending := sum(1 for p in collected.pending if not p.versions):
        counts["keys pending destruction"] = pending
    if disabled := sum(1 for k in collected.keys_seen if k.state == "Disabled"):
        counts["keys deactivated (retained)"] = disabled
    if faults := sum(1 for u in collected.unverifiable if u.fault):
        counts["reads failed (unverifiable)"] = faults
    evidence = Evidence(
        environment=environment,
        account=f"{project} (number {project_number})" if project_number else project,
        region=location,
        caller_arn=caller_of(creds),
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
            lifecycle_of(collected, declared, as_of),
            unverifiable=_events_problem(collected),
            source="Cloud Audit Logs",
        ),
    )
    return AuditResult(findings, collected.facts, evidence)


def _events_problem(collected: Collected) -> str | None:
    if not isinstance(collected.events, Unknown):
        return None
    reasons = [u for u in collected.unverifiable if u.permission == "logging.logEntries.list"]
    if not reasons:
        return "not read (the collection stopped before them)"
    first = reasons[0]
    if first.fault:
        return f"not read ({first.code}); rerun the audit when Cloud Logging answers"
    return f"refused ({first.code}); grant the auditor logging.logEntries.list"


_KINDS = {
    gcp_api.KEY_RING_TYPE: "key rings",
    gcp_api.KEY_TYPE: "keys",
    gcp_api.SECRET_TYPE: "secrets",
    gcp_api.AUDIT_CONFIG_TYPE: "audit configs",
    gcp_api.SINK_TYPE: "log sinks",
    gcp_api.BUCKET_TYPE: "buckets",
    gcp_api.LOG_METRIC_TYPE: "log-based metrics",
    gcp_api.ALERT_POLICY_TYPE: "alert policies",
    gcp_api.CERTIFICATE_TYPE: "certificates",
}
