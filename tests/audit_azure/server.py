"""A local Azure REST server for the audit and respond tests: Resource Manager and Key Vault's
data plane over TLS on 127.0.0.1, answering with the documented resource shapes.

No emulator of Resource Manager or Key Vault exists, so the tests run Azure's real client
libraries against this server: the management clients through `base_url` (`--endpoint-url`), the
data-plane clients through the vault URI each vault reports (`https://127.0.0.1:<its port>/`).
azure-core refuses bearer tokens over plain HTTP, so the server speaks TLS with a certificate made
for the run (`cryptography`), which the clients trust through `REQUESTS_CA_BUNDLE`.

What it answers (REST reference, api-version ignored):
- `GET /subscriptions/{s}`: the subscription and its `tenantId`;
- lists (`value` and `nextLink`, `page_size` items a page) and gets of vaults, Managed HSMs,
  keys, secrets, role assignments for a scope (at, above and below it), diagnostic settings of
  a resource, activity log alerts, scheduled query rules;
- gets of role definitions, storage accounts, container immutability policies;
- the data plane, behind Key Vault's 401 challenge: certificates and their policies, keys'
  versions, `POST .../rotate`, `PATCH` of a key version's attributes;
- `DELETE` of a role assignment.
`fail(...)` makes the next matching calls answer an error (403, 429 with `Retry-After`, 500);
`calls` records every request (method, path) for assertions.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    code: str = ""


@dataclass
class State:
    """What is "deployed": ARM resources in REST form, keyed as the server looks them up."""

    subscription: str
    tenant: str
    vaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    hsms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: (vault, key) -> versions, oldest first (each a management-plane key in REST form).
    keys: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: resource URI (lower case) -> its diagnostic settings.
    diagnostics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    storage: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: storage account name -> the audit container's immutability policy.
    immutability: dict[str, dict[str, Any]] = field(default_factory=dict)
    activity_alerts: list[dict[str, Any]] = field(default_factory=list)
    query_alerts: list[dict[str, Any]] = field(default_factory=list)
    #: (vault, certificate) -> {"attributes", "tags", "policy"} (data plane, REST form).
    certificates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def snapshot(self) -> str:
        """Everything deployed, as text (to compare before and after a dry run)."""
        return json.dumps(
            {
                k: {str(i): x for i, x in v.items()} if isinstance(v, dict) else v
                for k, v in vars(self).items()
            },
            sort_keys=True,
            default=lambda o: sorted(o) if isinstance(o, set) else str(o),
        )


class AzureServer:
    """The server; `url` is its Resource Manager endpoint (`--endpoint-url`)."""

    def __init__(self, state: State, cert: Path, key: Path, page_size: int = 100) -> None:
        self.state = state
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.httpd = self._listen(None)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        #: Key Vault's data plane: one listener per vault, whose URI is a host root as Azure's
        #: are (the clients parse `https://<vault host>/keys/<name>/<version>`).
        self.planes: dict[str, ThreadingHTTPServer] = {}
        self.threads: list[threading.Thread] = []
        self.started = False

    def _listen(self, vault: str | None) -> ThreadingHTTPServer:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, vault))
        httpd.daemon_threads = True
        # The handshake happens in each request's thread, not in the accepting one.
        httpd.socket = self.context.wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        return httpd

    def _serve(self, httpd: ThreadingHTTPServer) -> None:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start(self) -> AzureServer:
        self.started = True
        for httpd in (self.httpd, *self.planes.values()):
            self._serve(httpd)
        return self

    def stop(self) -> None:
        for httpd in (self.httpd, *self.planes.values()):
            httpd.shutdown()
            httpd.server_close()
        for thread in self.threads:
            thread.join(timeout=5)

    def vault_uri(self, vault: str) -> str:
        """The data-plane URI of `vault` (`https://127.0.0.1:<its port>/`)."""
        if vault not in self.planes:
            self.planes[vault] = self._listen(vault)
            if self.started:
                self._serve(self.planes[vault])
        return f"https://127.0.0.1:{self.planes[vault].server_address[1]}/"

    def fail(
        self,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        code: str = "",
    ) -> None:
        """The next `times` calls whose path matches `path_regex` answer `status`."""
        with self.lock:
            self.faults.append(
                Fault(method, re.compile(path_regex, re.I), status, times, headers or {}, code)
            )

    def count(self, path_regex: str, method: str = "GET") -> int:
        pattern = re.compile(path_regex, re.I)
        return sum(1 for m, p in self.calls if m == method and pattern.search(p))

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None


_ERROR_CODES = {
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def _handler(server: AzureServer, vault: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(
            self, status: int, code: str = "", headers: dict[str, str] | None = None
        ) -> None:
            code = code or _ERROR_CODES.get(status, "Error")
            self._send(
                status, {"error": {"code": code, "message": f"{code} (local server)"}}, headers
            )

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw.strip() else None

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/")
            if vault is not None:  # a vault's data plane
                path = f"/dp/{vault}{path}"
            query = parse_qs(parts.query)
            body = self._body()
            with server.lock:
                server.calls.append((method, path))
            if path.startswith("/dp/"):
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    # Key Vault's challenge: where to get a token, and for which resource.
                    self._send(
                        401,
                        {"error": {"code": "Unauthorized", "message": "no token"}},
                        {
                            "WWW-Authenticate": "Bearer authorization="
                            f'"https://login.microsoftonline.com/{server.state.tenant}", '
                            'resource="https://vault.azure.net"'
                        },
                    )
                    return
            elif not self.headers.get("Authorization", "").startswith("Bearer "):
                self._error(401, "AuthenticationFailed")
                return
            fault = server._fault(method, path)
            if fault is not None:
                self._error(fault.status, fault.code, fault.headers)
                return
            try:
                answer = route(server, method, path, query, body)
            except (KeyError, StopIteration):
                self._error(404)
                return
            if isinstance(answer, tuple):
                self._send(*answer)
            else:
                self._send(200, answer)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _page(server: AzureServer, path: str, query: dict[str, list[str]], items: list[Any]) -> Any:
    start = int((query.get("$skiptoken") or ["0"])[0])
    end = start + server.page_size
    page: dict[str, Any] = {"value": items[start:end]}
    if end < len(items):
        if path.startswith("/dp/"):
            vault, rest = path[4:].split("/", 1)
            link = f"{server.vault_uri(vault).rstrip('/')}/{rest}"
        else:
            link = f"{server.url}{path}"
        page["nextLink"] = f"{link}?api-version=x&$skiptoken={end}"
    return page


_PROVIDER = re.compile(r"/providers/microsoft\.authorization/", re.I)


def _under(scope: str, target: str) -> bool:
    """Whether an assignment at `scope` reaches `target` or lies below it."""
    scope, target = scope.lower().rstrip("/"), target.lower().rstrip("/")
    return target.startswith(scope + "/") or target == scope or scope.startswith(target + "/")


def route(
    server: AzureServer, method: str, path: str, query: dict[str, list[str]], body: Any
) -> Any:
    state = server.state
    low = path.lower()
    if low.startswith("/dp/"):
        return _data_plane(server, method, path, query, body)
    if method == "GET" and low == f"/subscriptions/{state.subscription}".lower():
        return {
            "id": f"/subscriptions/{state.subscription}",
            "subscriptionId": state.subscription,
            "tenantId": state.tenant,
            "displayName": "local",
            "state": "Enabled",
        }
    if not low.startswith(f"/subscriptions/{state.subscription}".lower()):
        raise KeyError(path)
    if "/providers/microsoft.authorization/roleassignments" in low:
        scope = _PROVIDER.split(path)[0]
        if method == "DELETE":
            found = [k for k in state.assignments if k.lower() == low]
            if not found:
                return (204, None)
            return state.assignments.pop(found[0])
        if low.endswith("/roleassignments"):
            items = [
                a for a in state.assignments.values() if _under(a["properties"]["scope"], scope)
            ]
            return _page(server, path, query, items)
        return next(a for k, a in state.assignments.items() if k.lower() == low)
    if "/providers/microsoft.authorization/roledefinitions/" in low:
        return next(d for k, d in state.definitions.items() if k.lower() == low)
    if low.endswith("/providers/microsoft.insights/diagnosticsettings"):
        uri = low.rsplit("/providers/microsoft.insights/", 1)[0]
        return _page(server, path, query, state.diagnostics.get(uri, []))
    if low.endswith("/providers/microsoft.insights/activitylogalerts"):
        return _page(server, path, query, state.activity_alerts)
    if low.endswith("/providers/microsoft.insights/scheduledqueryrules"):
        return _page(server, path, query, state.query_alerts)
    match = re.search(r"/providers/microsoft\.keyvault/(vaults|managedhsms)(?:/([^/]+))?(.*)$", low)
    if match:
        kind, name, rest = match.groups()
        pool = state.vaults if kind == "vaults" else state.hsms
        if name is None:
            return _page(server, path, query, list(pool.values()))
        vault = next(k for k in pool if k.lower() == name)
        if not rest:
            return pool[vault]
        sub = re.fullmatch(r"/(keys|secrets)(?:/([^/]+))?(?:/versions)?", rest)
        if not sub:
            raise KeyError(path)
        what, item = sub.groups()
        if what == "keys":
            keys = {k: v for (v_, k), v in state.keys.items() if v_ == vault}
            if item is None:
                return _page(server, path, query, [_listed(v[-1]) for v in keys.values()])
            name_ = next(k for k in keys if k.lower() == item)
            return keys[name_][-1]
        secrets = {k: v for (v_, k), v in state.secrets.items() if v_ == vault}
        if item is None:
            return _page(server, path, query, list(secrets.values()))
        return secrets[next(k for k in secrets if k.lower() == item)]
    match = re.search(r"/providers/microsoft\.storage/storageaccounts/([^/]+)(.*)$", low)
    if match:
        account, rest = match.groups()
        name = next(k for k in state.storage if k.lower() == account)
        if not rest:
            return state.storage[name]
        if rest.endswith("/immutabilitypolicies/default"):
            return state.immutability[name]
    raise KeyError(path)


def _listed(key: dict[str, Any]) -> dict[str, Any]:
    """A key as Keys - List shows it: without its rotation policy (read with Keys - Get)."""
    listed = copy.deepcopy(key)
    listed.get("properties", {}).pop("rotationPolicy", None)
    return listed


def _now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def _data_plane(
    server: AzureServer, method: str, path: str, query: dict[str, list[str]], body: Any
) -> Any:
    state = server.state
    parts = path.split("/")[2:]  # [vault, collection, name, ...]
    vault = parts[0]
    base = server.vault_uri(vault).rstrip("/")
    if parts[1:] == ["certificates"]:
        items = [
            {
                "id": f"{base}/certificates/{name}",
                "attributes": c["attributes"],
                "tags": c.get("tags"),
            }
            for (v, name), c in state.certificates.items()
            if v == vault
        ]
        return _page(server, path, query, items)
    if len(parts) == 4 and parts[1] == "certificates" and parts[3] == "policy":
        certificate = state.certificates[(vault, parts[2])]
        return {"id": f"{base}/certificates/{parts[2]}/policy", **certificate["policy"]}
    if len(parts) >= 3 and parts[1] == "keys":
        versions = state.keys[(vault, parts[2])]
        rest = parts[3:]
        if rest == ["rotate"] and method == "POST":
            current = versions[-1]
            new = copy.deepcopy(current)
            new.pop("public", None)
            version = uuid.uuid4().hex
            new["properties"]["keyUriWithVersion"] = f"{new['properties']['keyUri']}/{version}"
            new["properties"]["attributes"].update(
                {"enabled": True, "created": _now(), "updated": _now()}
            )
            versions.append(new)
            return _data_key(new, base, parts[2])
        if rest == ["versions"]:
            items = [
                {"kid": f"{base}/keys/{parts[2]}/{_version(v)}", "attributes": _attributes(v)}
                for v in versions
            ]
            return _page(server, path, query, items)
        if len(rest) <= 1:
            version = rest[0] if rest else ""
            found = next(
                (v for v in versions if _version(v) == version),
                versions[-1] if not version else None,
            )
            if found is None:
                raise KeyError(path)
            if method == "PATCH":
                attributes = (body or {}).get("attributes") or {}
                if "enabled" in attributes:
                    found["properties"]["attributes"]["enabled"] = attributes["enabled"]
                    found["properties"]["attributes"]["updated"] = _now()
                if isinstance((body or {}).get("tags"), dict):
                    found["tags"] = body["tags"]
            return _data_key(found, base, parts[2])
    raise KeyError(path)


def _version(key: dict[str, Any]) -> str:
    return str(key["properties"]["keyUriWithVersion"]).rsplit("/", 1)[-1]


def _attributes(key: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(key["properties"].get("attributes") or {})
    return {
        k: v for k, v in attributes.items() if k in ("enabled", "created", "updated", "exp", "nbf")
    }


def _data_key(key: dict[str, Any], base: str, name: str) -> dict[str, Any]:
    """A key version as the data plane answers (`key.kid`, `kty`, `key_ops`, `attributes`)."""
    properties = key["properties"]
    jwk: dict[str, Any] = {
        "kid": f"{base}/keys/{name}/{_version(key)}",
        "kty": properties["kty"],
        "key_ops": properties.get("keyOps") or [],
        **key.setdefault("public", _public(str(properties["kty"]), properties.get("curveName"))),
    }
    return {"key": jwk, "attributes": _attributes(key), "tags": key.get("tags") or {}}


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public(kty: str, curve: str | None) -> dict[str, Any]:
    """Real public key material for a new version (the JWK's public members)."""
    if kty.startswith("RSA"):
        numbers = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
        return {"n": _b64(numbers.n), "e": _b64(numbers.e)}
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    point = ec.generate_private_key(curves[curve or "P-256"]).public_key().public_numbers()
    return {"crv": curve, "x": _b64(point.x), "y": _b64(point.y)}


def iter_keys(state: State) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for (vault, name), versions in state.keys.items():
        yield vault, name, versions[-1]
