"""The live audit's cloud-neutral transport: one deadline, retries with jittered backoff, limits.

Every collector (`aws.py`, `gcp.py`) reads under one `Deadline` (`keyplane audit --timeout`) and
retries through `retrying`: the collector says which failures are transient (throttling, 5xx
answers, dropped connections, timeouts, answers that are not the API's) and, where the cloud
sends one, how long it asks to wait (HTTP Retry-After); `retrying` backs off 1, 2, 4...
`backoff_seconds` with jitter (or the wait asked, when longer), never sleeping past the deadline,
and gives up with a `CallFault` naming the call. A fault becomes UNKNOWN plus an `Unverifiable`
record in the judge (`keyplane.engines.audit.judge`): a mandatory rule left unknown keeps its
enforcement.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from keyplane.engines.audit.judge import AuditError, Unverifiable

#: Concurrent read calls: enough to hide latency, few enough to stay under the clouds' quotas.
MAX_WORKERS = 8
#: Attempts per call (keyplane's own, with backoff; the SDKs' own retries are off).
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 0.5
#: The longest single backoff sleep (seconds), before jitter; a longer Retry-After is honoured
#: as long as the deadline allows it.
MAX_BACKOFF_SECONDS = 20.0
#: The audit's overall deadline by default (seconds): `keyplane audit --timeout`.
DEFAULT_TIMEOUT_SECONDS = 300.0
#: Per-call socket timeouts by default (seconds): `keyplane audit --call-timeout` sets both.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 30.0


def check_endpoint_url(url: str | None) -> str | None:
    """`url` when it is an http(s) URL with a host (or None); AuditError (exit 2) otherwise."""
    if url is None:
        return None
    from urllib.parse import urlsplit  # noqa: PLC0415

    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise AuditError(
            f"--endpoint-url: not an http(s) URL (got {url!r}); pass one such as "
            "http://127.0.0.1:5000"
        )
    return url


class Deadline:
    """The audit's overall time budget: `seconds` from creation (monotonic clock)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self._ends - self._clock())

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class CallFault(Exception):
    """A call that failed for a reason other than the auditor's permissions: `reason` names the
    call and why (e.g. "ListKeys: ThrottlingException (after 6 attempts)")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: A collector's judgement of a failed call: None when the failure is final (the exception is
#: raised again for the collector to read), else (what failed, in words naming the call; the
#: seconds the service asked to wait, or None).
Transient = Callable[[Exception, str], "tuple[str, float | None] | None"]


def retry_after_seconds(headers: Any, millisecond_headers: Sequence[str] = ()) -> float | None:
    """The seconds an answer's headers ask the caller to wait before asking again, None when
    they ask nothing: the first of `millisecond_headers` present (Azure's `retry-after-ms`),
    else HTTP `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3; a date in the
    past is 0). A value of another form is ignored, never a crash. `headers`: any mapping with
    `get` (requests' and azure-core's case-insensitive ones included)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for name in millisecond_headers:
        value = get(name)
        if value is not None and str(value).strip().isdigit():
            return int(str(value).strip()) / 1000
    value = get("Retry-After")
    if not value:
        return None
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an obsolete date form without a zone: HTTP dates are in GMT
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def backoff_delay(attempt: int, backoff_seconds: float, retry_after: float | None = None) -> float:
    """The sleep before attempt `attempt + 1`: `backoff_seconds` * 2**attempt (at most
    MAX_BACKOFF_SECONDS) with up to 50 % jitter, or the service's Retry-After when longer."""
    delay = min(backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
    delay *= 1 + random.random() / 2  # noqa: S311 - jitter, not secrecy
    return float(max(delay, retry_after or 0.0))


def retrying(
    call: Callable[[], Any],
    operation: str,
    *,
    transient: Transient,
    attempts: int = MAX_ATTEMPTS,
    backoff_seconds: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    deadline: Deadline | None = None,
) -> Any:
    """`call()`, asked again while `transient` calls its failure transient, never sleeping past
    `deadline`. Raises the final failure itself when `transient` says it is not transient, or
    `CallFault` naming `operation` when it gave up (attempts spent, or no time left)."""
    for attempt in range(attempts):
        if deadline is not None and deadline.passed:
            raise CallFault(
                f"{operation}: not read before the audit's {deadline.seconds:g}-second deadline"
            )
        try:
            return call()
        except Exception as err:  # `transient` decides; the rest is raised again
            verdict = transient(err, operation)
            if verdict is None:
                raise
            failure, retry_after = verdict
        if attempt + 1 >= attempts:
            raise CallFault(f"{failure} (after {attempts} attempts)")
        delay = backoff_delay(attempt, backoff_seconds, retry_after)
        if deadline is not None and delay >= deadline.remaining():
            raise CallFault(
                f"{failure}; the audit's {deadline.seconds:g}-second deadline left no time to "
                "ask again"
            )
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class AuditReader:
    """The calls of one audit: retried under its deadline (`retrying`), and what could not be
    read recorded (`record`, `unverifiable`), from several threads. Each cloud's reader sets
    `transient`: which of its failures are worth asking again."""

    #: The cloud's classifier of failures (a static method of the subclass).
    transient: Transient

    def __init__(
        self,
        *,
        attempts: int = MAX_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,
    ) -> None:
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.deadline = deadline
        self.unverifiable: list[Unverifiable] = []
        self._lock = threading.Lock()

    def retrying(self, call: Callable[[], Any], operation: str = "the call") -> Any:
        """`call()`, again while `transient` calls its failure transient, never sleeping past
        the deadline (`retrying`). Raises the final refusal itself, or `CallFault` naming
        `operation` when it gave up."""
        return retrying(
            call,
            operation,
            transient=type(self).transient,
            attempts=self.attempts,
            backoff_seconds=self.backoff_seconds,
            sleep=self.sleep,
            deadline=self.deadline,
        )

    def record(self, item: Unverifiable) -> None:
        with self._lock:
            self.unverifiable.append(item)


def short(err: BaseException) -> str:
    """An exception's text on one line, at most 120 characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= 120 else text[:119] + "…"
