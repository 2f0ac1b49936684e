"""The evidence of a live audit (Proc §5; SOC 2 CC6.1 and CC6.7): who audited what, when, against
which policy, what the environment declares against what the account holds and what was judged
(`Inventory`), and each key's lifecycle in the period (`KeyLifecycle`: its state, and its
CloudTrail lifecycle events).

Cloud-neutral: a collector (`keyplane.engines.audit.aws`) fills `Evidence` with its account,
region, caller, the permissions it reads with and what it cannot see; the command files it with
the findings (an `evidence` object in JSON, a header in the table and Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from keyplane import __version__
from keyplane.adapters.boto3 import TrailEvent
from keyplane.facts.access import Grant
from keyplane.facts.model import Facts
from keyplane.facts.values import Ref, Unknown
from keyplane.standard import POLICY_VERSION, Algorithm
from keyplane.wire import UNKNOWN as WIRE_UNKNOWN

#: The controls the evidence serves: CC6.1 (logical access security over protected information
#: assets: the keys' protection, Policy §4-§7) and CC6.7 (OP-PROC-001 §5 maps the key lifecycle
#: procedure to it).
CONTROLS = (
    "SOC 2 CC6.1 (protection of keys: logical access security)",
    "SOC 2 CC6.7 (OP-PROC-001 §5: key lifecycle)",
)
#: The controls in one line, as headers and the JSON's `control` show them.
CONTROL = "SOC 2 CC6.1, CC6.7; OP-PROC-001 §5"


@dataclass(frozen=True)
class Inventory:
    """What the environment file declares against what the account holds, and what was judged.

    `declared` and `found` map a kind ("keys", "secrets") to a count (`found`: declared ones the
    account has, in any state); `missing` names the declared ones it lacks (cloud names, e.g.
    `alias/prod/orders-db`); `judged` counts the resources the rules judged; `unknown` names the
    kinds whose presence could not be read (their list call was refused or failed).
    """

    declared: Mapping[str, int] = field(default_factory=dict)
    found: Mapping[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    judged: int = 0
    unknown: tuple[str, ...] = ()

    def text(self) -> str:
        """`declared 3 (2 keys, 1 secret), found 2, missing 1 (alias/prod/x); 5 resources judged`."""
        declared = sum(self.declared.values())
        parts = ", ".join(f"{n} {_kind(kind, n)}" for kind, n in self.declared.items())
        text = f"declared {declared}" + (f" ({parts})" if parts else "")
        text += f", found {sum(self.found.values())}"
        if self.missing:
            text += f", missing {len(self.missing)} ({', '.join(self.missing)})"
        if self.unknown:
            text += f", presence not verifiable for {' and '.join(self.unknown)}"
        return f"{text}; {self.judged} {'resource' if self.judged == 1 else 'resources'} judged"

    def to_json(self) -> dict[str, Any]:
        return {
            "declared": dict(self.declared),
            "found": dict(self.found),
            "missing": list(self.missing),
            "judged": self.judged,
            "not_verifiable": list(self.unknown),
        }


def _kind(kind: str, n: int) -> str:
    return kind.removesuffix("s") if n == 1 else kind


@dataclass(frozen=True)
class KeyLifecycle:
    """One key's lifecycle as the audit saw it: `name` (declared name, alias or key ID),
    `resource` (ARN, or the cloud name of a declared key the account lacks), `state` (active,
    disabled, pending deletion, missing, not in the account), `evidence` (what that means under
    Proc 4.4/4.5, in words), and the period's lifecycle `events`, oldest first."""

    name: str
    resource: str
    state: str
    evidence: str
    events: tuple[TrailEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "resource": self.resource,
            "state": self.state,
            "evidence": self.evidence,
            "events": [
                {
                    "time": _iso(e.time),
                    "event": e.name,
                    "principal": e.principal,
                    "error": e.error,
                }
                for e in self.events
            ],
        }

    def line(self) -> str:
        events = "; ".join(
            f"{_iso(e.time)} {e.name} by {e.principal}"
            + (f" (failed: {e.error})" if e.error else "")
            for e in self.events
        )
        return f"Key {self.name}: {self.evidence}" + (f"; events: {events}" if events else "")


@dataclass(frozen=True)
class Lifecycle:
    """The keys' lifecycle in the period: `days` back from the audit (CloudTrail LookupEvents),
    each key's state and events, and `unverifiable`: why the events could not be read (None when
    they were; never an empty list standing for a refused read)."""

    days: int
    keys: Sequence[KeyLifecycle] = ()
    unverifiable: str | None = None
    #: Where the events come from (CloudTrail on AWS, Cloud Audit Logs on GCP, Azure's
    #: activity log).
    source: str = "CloudTrail"

    def to_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "events_read": self.unverifiable is None,
            "unverifiable": self.unverifiable,
            "keys": [k.to_json() for k in self.keys],
        }

    def lines(self) -> list[str]:
        head = f"Key lifecycle, last {self.days} days ({self.source}): "
        if self.unverifiable is not None:
            head += f"events unverifiable: {self.unverifiable}"
        else:
            count = sum(len(k.events) for k in self.keys)
            head += f"{count} lifecycle event{'s' if count != 1 else ''}"
        return [head, *(k.line() for k in self.keys)]


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
    inventory: Inventory | None = None
    lifecycle: Lifecycle | None = None
    #: Azure: the tenant the subscription (`account`) belongs to.
    tenant: str | None = None
    #: What `account` is called on its cloud ("subscription" on Azure).
    account_label: str = "account"

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "account": self.account,
            **({"tenant": self.tenant} if self.tenant is not None else {}),
            "region": self.region,
            "caller_arn": self.caller_arn,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "as_of": self.as_of.isoformat(),
            "endpoint_url": self.endpoint_url,
            "policy_version": self.policy_version,
            "keyplane_version": self.keyplane_version,
            "control": CONTROL,
            "controls": list(CONTROLS),
            "resources": dict(self.counts),
            "inventory": None if self.inventory is None else self.inventory.to_json(),
            "lifecycle": None if self.lifecycle is None else self.lifecycle.to_json(),
            "not_visible": list(self.not_visible),
            "permissions": list(self.permissions),
        }

    def header_lines(self) -> list[str]:
        return [
            f"Live audit evidence ({CONTROL}): {self.account_label} {self.account}, "
            + (f"tenant {self.tenant}, " if self.tenant is not None else "")
            + f"region {self.region}, environment {self.environment}",
            f"Collected {_iso(self.started_at)} to {_iso(self.finished_at)} by {self.caller_arn}"
            + (f" via {self.endpoint_url}" if self.endpoint_url else ""),
            f"Policy {self.policy_version}, keyplane {self.keyplane_version}, judged as of "
            f"{self.as_of.isoformat()}; "
            + ", ".join(f"{n} {kind}" for kind, n in self.counts.items()),
            *([f"Inventory: {self.inventory.text()}"] if self.inventory else []),
            *(self.lifecycle.lines() if self.lifecycle else []),
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
