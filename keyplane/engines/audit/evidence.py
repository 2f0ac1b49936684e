"""The evidence of a live audit (Proc §5, SOC 2 CC6.7): who audited what, when, against which
policy, and the resources as observed.

Cloud-neutral: a collector (`keyplane.engines.audit.aws`) fills `Evidence` with its account,
region, caller, the permissions it reads with and what it cannot see; the command files it with
the findings (an `evidence` object in JSON, a header in the table and Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from keyplane import __version__
from keyplane.facts.access import Grant
from keyplane.facts.model import Facts
from keyplane.facts.values import Ref, Unknown
from keyplane.standard import POLICY_VERSION, Algorithm
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

#: The control the evidence serves, as the procedure maps it.
CONTROL = "SOC 2 CC6.7 (OP-PROC-001 §5)"


@dataclass(frozen=True)
class Evidence:
    """Who audited what, when, against which policy: filed with the findings.

    `started_at`/`finished_at` are aware datetimes (rendered in UTC, to the second); `counts`
    maps a resource kind ("keys", "trails"...) to how many were read; `permissions` are the
    read-only permissions the auditor needs; `not_visible` says what a live audit cannot see.
    """

    environment: str
    account: str
    region: str
    caller_arn: str
    started_at: datetime
    finished_at: datetime
    as_of: date
    endpoint_url: str | None = None
    policy_version: str = POLICY_VERSION
    keyplane_version: str = __version__
    counts: Mapping[str, int] = field(default_factory=dict)
    permissions: tuple[str, ...] = ()
    not_visible: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "account": self.account,
            "region": self.region,
            "caller_arn": self.caller_arn,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "as_of": self.as_of.isoformat(),
            "endpoint_url": self.endpoint_url,
            "policy_version": self.policy_version,
            "keyplane_version": self.keyplane_version,
            "control": CONTROL,
            "resources": dict(self.counts),
            "not_visible": list(self.not_visible),
            "permissions": list(self.permissions),
        }

    def header_lines(self) -> list[str]:
        return [
            f"Live audit evidence (SOC 2 CC6.7, OP-PROC-001 §5): account {self.account}, "
            f"region {self.region}, environment {self.environment}",
            f"Collected {_iso(self.started_at)} to {_iso(self.finished_at)} by {self.caller_arn}"
            + (f" via {self.endpoint_url}" if self.endpoint_url else ""),
            f"Policy {self.policy_version}, keyplane {self.keyplane_version}, judged as of "
            f"{self.as_of.isoformat()}; "
            + ", ".join(f"{n} {kind}" for kind, n in self.counts.items()),
            "Not visible live: " + "; ".join(self.not_visible) + ".",
        ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LiveRecord:
    """A resource as observed (the report's `resources`): its facts, in plain values."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    parent: str = ""
    protect: bool = False


def observed(facts: Facts) -> dict[str, Any]:
    """A fact's values for the report: what the audit saw, UNKNOWN marked as unknown."""
    skip = {"urn", "name", "type", "cloud", "ids", "parent", "dependencies"}
    return {f.name: _plain(getattr(facts, f.name)) for f in fields(facts) if f.name not in skip}


def _plain(value: Any) -> Any:
    if isinstance(value, Unknown):
        return WIRE_UNKNOWN
    if isinstance(value, Algorithm):
        return value.name
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Ref):
        return _plain(value.value)
    if isinstance(value, Grant):
        return {
            "principal": _plain(value.principal),
            "actions": _plain(value.actions),
            "effect": value.effect.value,
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
