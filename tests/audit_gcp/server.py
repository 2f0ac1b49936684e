"""A local server on 127.0.0.1 that answers as Google's REST APIs do, for the real client
libraries (no emulator of Cloud KMS exists).

It holds one project (`Cloud`) and answers the calls the GCP audit and `respond` make, with the
documented resource shapes (Cloud KMS v1, Secret Manager v1, Resource Manager v1 and v3, Logging
v2, Monitoring v3, Storage JSON v1, Certificate Manager v1) and their pagination (`pageToken`,
`nextPageToken`; PAGE_SIZE items a page, so every list of more than PAGE_SIZE items spans pages).
It also plays Google's OAuth token endpoint (`POST /token`), where the test credentials
(an `authorized_user` file whose `token_uri` points here) get their access token; an API call
without that token is refused with 401.

`Cloud.faults` injects answers: `fail("GET /v1/.../cryptoKeys", 429, times=1,
headers={"Retry-After": "1"})` answers the first matching call so, then the call goes through.
`Cloud.requests` logs every call ("METHOD path").
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_SIZE = 2
#: What GetPublicKey answers (a P-256 public key; no private material exists here).
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEuwQ9b0KmSg0Wn2LWQ3C9V1kR1r7n\n"
    "vQF8v6d9m0o3WQj6bq1o6V8l4jV1n4d7m1cGm3Kp0Q2bVt9s9e8JmA1zXw==\n"
    "-----END PUBLIC KEY-----\n"
)
TOKEN = "test-access-token"
#: The folder and organisation above the project by default (their IAM policies start empty).
FOLDER = "folders/1042"
ORGANIZATION = "organizations/123456789"


@dataclass
class Fault:
    match: str
    status: int
    times: int
    headers: dict[str, str]
    body: str | None = None


@dataclass
class Cloud:
    """One project's state, as the APIs expose it (JSON objects keyed by full name).

    `ancestry`: the folders and organisation above the project, nearest first (what
    `projects.getAncestry` answers after the project itself); their IAM policies are in
    `policies` like the others (`bind("folders/1042", ...)`)."""

    project: str
    number: str
    projects_readable: set[str] = field(default_factory=set)
    ancestry: list[str] = field(default_factory=lambda: [FOLDER, ORGANIZATION])
    rings: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: list[dict[str, Any]] = field(default_factory=list)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alert_policies: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self,
        match: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` calls whose "METHOD path" contains `match` with `status`."""
        self.faults.append(Fault(match, status, times, headers or {}, body))

    def policy(self, resource: str) -> dict[str, Any]:
        return self.policies.setdefault(self._canonical(resource), {"version": 1, "etag": "BwY="})

    def bind(self, resource: str, role: str, member: str) -> None:
        bindings = self.policy(resource).setdefault("bindings", [])
        for binding in bindings:
            if binding["role"] == role:
                if member not in binding["members"]:
                    binding["members"].append(member)
                return
        bindings.append({"role": role, "members": [member]})

    def _canonical(self, resource: str) -> str:
        # Secret Manager names secrets by project number; IAM is kept by project ID.
        return resource.replace(f"projects/{self.number}/", f"projects/{self.project}/")

    def snapshot(self) -> str:
        """Everything a write could change, for before/after comparisons."""
        return json.dumps(
            [self.keys, self.versions, self.policies, self.secrets], sort_keys=True, default=str
        )


def _page(items: list[Any], query: dict[str, list[str]], field_name: str) -> dict[str, Any]:
    start = int((query.get("pageToken") or ["0"])[0] or 0)
    answer: dict[str, Any] = {field_name: items[start : start + PAGE_SIZE]}
    if start + PAGE_SIZE < len(items):
        answer["nextPageToken"] = str(start + PAGE_SIZE)
    if field_name in ("keyRings", "cryptoKeys", "cryptoKeyVersions", "secrets"):
        answer["totalSize"] = len(items)
    return answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        reason = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }.get(status, "UNKNOWN")
        self._send(
            status, {"error": {"code": status, "message": message, "status": reason}}, headers
        )

    def _answer(self, method: str) -> None:
        cloud = self.server.cloud
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        line = f"{method} {path}"
        if path == "/token":
            self._send(200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"})
            return
        if not _authorised(self.headers.get("Authorization") or ""):
            self._error(401, "Request had invalid authentication credentials.")
            return
        with cloud.lock:
            cloud.requests.append(line)
            fault = next((f for f in cloud.faults if f.match in line and f.times > 0), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            if fault.body is not None:
                self._send(fault.status, fault.body, fault.headers)
            else:
                self._error(fault.status, f"injected {fault.status}", fault.headers)
            return
        body = json.loads(raw) if raw.strip() else {}
        try:
            with cloud.lock:
                status, answer = _route(cloud, method, path, query, body)
        except KeyError as err:
            self._error(404, f"not found: {err}")
            return
        if status >= 400:
            self._error(status, str(answer))
        else:
            self._send(status, answer)


def _route(
    cloud: Cloud, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
) -> tuple[int, Any]:
    p = cloud.project
    # Resource Manager v1 (getAncestry) and v3
    if m := re.fullmatch(r"/v3/projects/([^/:]+)", path):
        wanted = m.group(1)
        if wanted not in (p, cloud.number) and wanted not in cloud.projects_readable:
            return 403, f"Permission 'resourcemanager.projects.get' denied on projects/{wanted}"
        if wanted not in (p, cloud.number):
            return 200, {"name": "projects/999", "projectId": wanted, "state": "ACTIVE"}
        return 200, {"name": f"projects/{cloud.number}", "projectId": p, "state": "ACTIVE"}
    if path == f"/v1/projects/{p}:getAncestry" and method == "POST":
        kinds = {"folders": "folder", "organizations": "organization"}
        return 200, {
            "ancestor": [
                {"resourceId": {"type": "project", "id": p}},
                *(
                    {"resourceId": {"type": kinds[a.split("/")[0]], "id": a.split("/")[1]}}
                    for a in cloud.ancestry
                ),
            ]
        }
    if m := re.fullmatch(r"/(?:v1|v3)/(.+):getIamPolicy", path):
        return 200, cloud.policy(m.group(1))
    if m := re.fullmatch(r"/v1/(.+):setIamPolicy", path):
        policy = dict(body["policy"])
        policy["etag"] = "BwZ="
        cloud.policies[cloud._canonical(m.group(1))] = policy
        cloud.writes.append(f"setIamPolicy {m.group(1)}")
        return 200, policy
    # Cloud KMS v1
    if m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/keyRings", path):
        rings = [r for n, r in sorted(cloud.rings.items()) if n.startswith(m.group(1) + "/")]
        return 200, _page(rings, query, "keyRings")
    if m := re.fullmatch(r"/v1/(projects/.+/keyRings/[^/]+)/cryptoKeys", path):
        keys = [k for n, k in sorted(cloud.keys.items()) if n.startswith(m.group(1) + "/")]
        return 200, _page([_with_primary(cloud, k) for k in keys], query, "cryptoKeys")
    if m := re.fullmatch(r"/v1/(projects/.+/cryptoKeys/[^/]+)/cryptoKeyVersions", path):
        key = m.group(1)
        versions = cloud.versions[key]
        if method == "GET":
            return 200, _page(versions, query, "cryptoKeyVersions")
        template = cloud.keys[key].get("versionTemplate", {})
        version = {
            "name": f"{key}/cryptoKeyVersions/{len(versions) + 1}",
            "state": "ENABLED",
            "createTime": "2026-11-30T08:00:00Z",
            **template,
        }
        versions.append(version)
        cloud.writes.append(f"createCryptoKeyVersion {key}")
        return 200, version
    if m := re.fullmatch(r"/v1/(projects/.+/cryptoKeys/[^/]+):updatePrimaryVersion", path):
        key = m.group(1)
        cloud.keys[key]["primary"] = f"{key}/cryptoKeyVersions/{body['cryptoKeyVersionId']}"
        cloud.writes.append(f"updatePrimaryVersion {key}")
        return 200, _with_primary(cloud, cloud.keys[key])
    if m := re.fullmatch(r"/v1/(projects/.+/cryptoKeys/[^/]+)", path):
        key = cloud.keys[m.group(1)]
        if method == "PATCH":
            for name in (query.get("updateMask") or [""])[0].split(","):
                key[name] = body[name]
            cloud.writes.append(f"updateCryptoKey {m.group(1)}")
        return 200, _with_primary(cloud, key)
    if m := re.fullmatch(r"/v1/(projects/.+/cryptoKeyVersions/[^/]+)/publicKey", path):
        return 200, {"pem": PUBLIC_KEY, "algorithm": "EC_SIGN_P256_SHA256", "name": m.group(1)}
    if method == "PATCH" and (
        m := re.fullmatch(r"/v1/((projects/.+/cryptoKeys/[^/]+)/cryptoKeyVersions/[^/]+)", path)
    ):
        version = next(v for v in cloud.versions[m.group(2)] if v["name"] == m.group(1))
        # The REST transports send enums as numbers (`$alt=json;enum-encoding=int`).
        version["state"] = _VERSION_STATES.get(body["state"], body["state"])
        cloud.writes.append(f"updateCryptoKeyVersion {m.group(1)} {body['state']}")
        return 200, version
    # Secret Manager v1
    if re.fullmatch(rf"/v1/projects/(?:{p}|{cloud.number})/secrets", path):
        return 200, _page(list(cloud.secrets.values()), query, "secrets")
    # Logging v2
    if path == f"/v2/projects/{p}/sinks":
        return 200, _page(cloud.sinks, query, "sinks")
    if path == f"/v2/projects/{p}/metrics":
        return 200, _page(cloud.metrics, query, "metrics")
    if path == "/v2/entries:list" and method == "POST":
        start = int(body.get("pageToken") or 0)
        entries = [e for e in cloud.entries if _matches(e, str(body.get("filter", "")))]
        answer: dict[str, Any] = {"entries": entries[start : start + PAGE_SIZE]}
        if start + PAGE_SIZE < len(entries):
            answer["nextPageToken"] = str(start + PAGE_SIZE)
        return 200, answer
    # Monitoring v3
    if path == f"/v3/projects/{p}/alertPolicies":
        return 200, _page(cloud.alert_policies, query, "alertPolicies")
    # Storage JSON v1
    if m := re.fullmatch(r"/storage/v1/b/([^/]+)", path):
        return 200, cloud.buckets[m.group(1)]
    # Certificate Manager v1
    if path == f"/v1/projects/{p}/locations/global/certificates":
        return 200, _page(cloud.certificates, query, "certificates")
    return 404, f"no such method: {method} {path}"


#: CryptoKeyVersion.CryptoKeyVersionState by number.
_VERSION_STATES = {1: "ENABLED", 2: "DISABLED", 3: "DESTROYED", 4: "DESTROY_SCHEDULED"}


def _matches(entry: dict[str, Any], text: str) -> bool:
    """The few parts of the Logging query language the callers use: the method names asked
    for, and failed calls only (`protoPayload.status.code!=0`)."""
    payload = entry.get("protoPayload", {})
    method = str(payload.get("methodName", "")).rsplit(".", 1)[-1]
    names = re.search(r"methodName:\(([^)]*)\)", text)
    if names and f'"{method}"' not in names.group(1):
        return False
    if "status.code!=0" in text and not (payload.get("status") or {}).get("code"):
        return False
    resource = re.search(r'resourceName:"([^"]+)"', text)
    return not resource or str(payload.get("resourceName", "")).startswith(resource.group(1))


def _with_primary(cloud: Cloud, key: dict[str, Any]) -> dict[str, Any]:
    """A CryptoKey as the API answers it: `primary` is the primary version's full object."""
    answer = {k: v for k, v in key.items() if k != "primary"}
    primary = key.get("primary")
    if primary:
        answer["primary"] = next(v for v in cloud.versions[key["name"]] if v["name"] == primary)
    return answer


def _authorised(header: str) -> bool:
    """The token from `/token`, or the self-signed JWT google-auth sends for a service account
    (the client libraries skip the token endpoint for it) issued by the test auditor."""
    token = header.removeprefix("Bearer ")
    if token == TOKEN:
        return True
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    return isinstance(claims, dict) and str(claims.get("iss", "")).endswith(
        ".iam.gserviceaccount.com"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cloud: Cloud


@contextmanager
def serve(cloud: Cloud) -> Iterator[str]:
    """Serve `cloud` on 127.0.0.1 (a free port) until the block ends; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.cloud = cloud
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
