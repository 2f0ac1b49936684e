"""A small misbehaving HTTP proxy on 127.0.0.1 in front of the moto server: it forwards each
request, or answers it the way a faulty network or service does (throttling, a slow answer, an
HTML page with status 200, a reset connection, a body of its own).

`Proxy.faults` maps an AWS operation name (`ListKeys`, `GetKeyPolicy`, ...; "*" for every
operation but STS's) to a fault; `Proxy.seen` counts the requests per operation.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HTML = b"<html><head><title>Sign in</title></head><body>Captive portal</body></html>"

#: STS's answer to an AssumeRole the role's trust policy does not allow (query protocol: XML).
STS_DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
    b"</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: "
    b"sts:AssumeRole</Message></Error><RequestId>keyplane-test</RequestId></ErrorResponse>"
)


@dataclass
class Fault:
    """What to do instead of forwarding: `kind` is throttle, too-many, slow, html, reset,
    denied (400 AccessDeniedException), sts-denied (403 AccessDenied in STS's XML) or body
    (answer 200 with `body` as JSON); `seconds` for slow."""

    kind: str
    seconds: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults: dict[str, Fault] = {}
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = _operation(self.headers, self.path, self.command, body)
                with proxy._lock:
                    proxy.seen[operation] += 1
                fault = proxy.faults.get(operation)
                if fault is None and not operation.startswith("sts."):
                    fault = proxy.faults.get("*")
                if fault is not None and fault.kind != "slow":
                    self._fault(fault)
                    return
                if fault is not None:
                    time.sleep(fault.seconds)
                self._forward(body)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

            def _fault(self, fault: Fault) -> None:
                if fault.kind == "reset":
                    # SO_LINGER 0: close() sends a TCP reset, as a dropped connection does.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault.kind == "html":
                    self._send(200, "text/html; charset=utf-8", HTML)
                elif fault.kind == "body":
                    self._send(200, "application/x-amz-json-1.1", json.dumps(fault.body).encode())
                elif fault.kind == "sts-denied":
                    self._send(403, "text/xml", STS_DENIED, "AccessDenied")
                elif fault.kind == "denied":
                    error = json.dumps(
                        {"__type": "AccessDeniedException", "message": "not authorized"}
                    ).encode()
                    self._send(400, "application/x-amz-json-1.1", error, "AccessDeniedException")
                else:
                    status, code = (
                        (429, "TooManyRequestsException")
                        if fault.kind == "too-many"
                        else (400, "ThrottlingException")
                    )
                    error = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
                    self._send(status, "application/x-amz-json-1.1", error, code)

            def _send(self, status: int, content_type: str, body: bytes, code: str = "") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if code:
                    self.send_header("x-amzn-ErrorType", code)
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream.netloc
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"

    @contextmanager
    def running(self) -> Iterator[Proxy]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _operation(headers: Any, path: str, method: str, body: bytes) -> str:
    """The AWS operation of a request: the JSON protocols' X-Amz-Target, the query protocol's
    Action (as `sts.<Action>`), or the S3 sub-resource."""
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    fields = urllib.parse.parse_qs(body.decode(errors="replace"))
    if "Action" in fields:
        return f"sts.{fields['Action'][0]}"
    query = urllib.parse.urlsplit(path).query
    return f"s3.{method}.{query or path}"
