"""The incident record of `keyplane respond --apply` (Policy §10 "document the incident"): what
was done, by whom, why, with what result, and what remains manual.

`Incident.to_json()` and `to_markdown()` are the two forms; `write_record` writes both into the
record directory at once (all or nothing, through `keyplane.output`). The record holds ARNs, key
IDs, event counts and a public key; never a secret value or private key material.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyplane.engines.audit.judge import AuditError
from keyplane.output import OutputError, write_outputs
from keyplane.reports.markup import cell, inline, line

if TYPE_CHECKING:
    from keyplane.respond.plan import Step

__all__ = [
    "TAG_INCIDENT",
    "TAG_REPLACED_BY",
    "TAG_REPLACES",
    "Incident",
    "RespondError",
    "Status",
    "StepHandler",
    "StepResult",
    "StepSkipped",
    "check_record_dir",
    "incident_id",
    "run_steps",
    "write_record",
]

#: Tags (AWS, Azure) and labels (GCP) the response leaves on keys: the incident that rotated a
#: key, and which key replaces which. They make a second run of the same incident a no-op.
TAG_INCIDENT = "keyplane-incident"
TAG_REPLACES = "keyplane-replaces"
TAG_REPLACED_BY = "keyplane-replaced-by"


class RespondError(AuditError):
    """The response cannot start (exit 2): wrong account, project, tenant or subscription, no
    credentials, the key or secret not deployed, the cloud unreachable. Nothing was changed."""


#: The record directory by default (`keyplane respond --record-dir`).
DEFAULT_RECORD_DIR = Path("incidents")


class Status(StrEnum):
    """A step's result: DONE now, ALREADY_DONE by an earlier run, MANUAL (the responder does it),
    FAILED (refused or broken: the command exits 1), SKIPPED (a step it needed failed)."""

    DONE = "done"
    ALREADY_DONE = "already done"
    MANUAL = "manual"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class StepResult:
    """One step as carried out: `id` and `action` from the plan, `status`, and `detail` (what
    happened, with identifiers; for FAILED the error code and call)."""

    id: str
    action: str
    status: Status
    detail: str


@dataclass
class Incident:
    """One run of the response to a compromised key or secret."""

    id: str
    environment: str
    cloud: str
    kind: str
    name: str
    reason: str
    started_at: datetime
    caller: str
    account: str
    region: str
    steps: list[StepResult] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)
    old_key: str | None = None
    new_key: str | None = None
    public_key_pem: str | None = None
    investigation: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return any(s.status is Status.FAILED for s in self.steps)

    def step_failed(self, step_id: str) -> bool:
        """Whether the step `step_id` has been carried out and failed."""
        return any(s.id == step_id and s.status is Status.FAILED for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data (the `.json` file)."""
        return {
            "kind": "incident-response",
            "id": self.id,
            "environment": self.environment,
            "cloud": self.cloud,
            "target": {"kind": self.kind, "name": self.name},
            "reason": self.reason,
            "started_at": self.started_at.isoformat(),
            "caller": self.caller,
            "account": self.account,
            "region": self.region,
            "old_key": self.old_key,
            "new_key": self.new_key,
            "public_key_pem": self.public_key_pem,
            "steps": [
                {"id": s.id, "action": s.action, "status": s.status.value, "detail": s.detail}
                for s in self.steps
            ],
            "investigation": self.investigation,
            "remaining_manual": list(self.manual),
            "result": "incomplete" if self.failed else "complete",
        }

    def to_markdown(self) -> str:
        """The record for people (the `.md` file)."""
        lines = [
            f"# Incident {_prose(self.id)}",
            "",
            f"- **{self.kind.capitalize()}:** {_prose(self.name)} in "
            f"{_prose(self.environment)} ({self.cloud}, account {self.account}, "
            f"{self.region})",
            f"- **Started:** {self.started_at.isoformat()}",
            f"- **Caller:** {_prose(self.caller)}",
            f"- **Reason:** {_prose(self.reason)}",
            f"- **Result:** {'incomplete: a step failed' if self.failed else 'complete'}",
        ]
        if self.old_key:
            lines.append(f"- **Old key (disabled, retained):** {_prose(self.old_key)}")
        if self.new_key:
            lines.append(f"- **New key:** {_prose(self.new_key)}")
        lines += [
            "",
            "## Steps",
            "",
            "| # | Action | Step | Result | Detail |",
            "|---|---|---|---|---|",
        ]
        for number, step in enumerate(self.steps, 1):
            lines.append(
                f"| {number} | {step.action} | {step.id} | {step.status.value} | "
                f"{cell(step.detail)} |"
            )
        if self.investigation is not None:
            lines += ["", "## Access log summary", ""]
            rows = self.investigation.get("by_principal_and_action") or []
            if rows:
                lines += ["| Principal | Action | Events | Failed |", "|---|---|---|---|"]
                lines += [
                    f"| {cell(r['principal'])} | {cell(r['action'])} | {r['events']} "
                    f"| {r['failed']} |"
                    for r in rows
                ]
            else:
                lines.append("No events in the period.")
        if self.public_key_pem:
            lines += ["", "## Public key to publish", "", "```", self.public_key_pem.strip(), "```"]
        lines += ["", "## Remaining manual steps", ""]
        lines += [f"- [ ] {_prose(item)}" for item in self.manual]
        return "\n".join(lines) + "\n"


class StepSkipped(Exception):
    """Raised by a step that cannot run because one it needs did not succeed (the message says
    which): the step is SKIPPED."""


#: A step's handler: it carries the step out and says its status and what happened.
StepHandler = Callable[[], tuple[Status, str]]


def run_steps(
    incident: Incident,
    steps: Iterable[Step],
    handlers: Mapping[str, StepHandler],
    failure: Callable[[str, Exception], str | None],
) -> None:
    """Carry out `steps` in order (Policy §10, Proc: revoke and rotate), each by its handler
    (`handlers` by step ID; a step without one, `document`, is the caller's), appending each
    result to `incident.steps` as it ends, so that a later step can ask whether one it needs
    failed (`Incident.step_failed`).

    A handler that raises StepSkipped leaves its step SKIPPED; an error `failure(step_id, err)`
    describes (a refused or failed cloud call: its detail) leaves it FAILED and the next step
    runs. Any other exception propagates (an internal error, never a step's result).
    """
    for step in steps:
        handler = handlers.get(step.id)
        if handler is None:
            continue
        try:
            status, detail = handler()
        except StepSkipped as skip:
            status, detail = Status.SKIPPED, str(skip)
        except Exception as err:
            described = failure(step.id, err)
            if described is None:
                raise
            status, detail = Status.FAILED, described
        incident.steps.append(StepResult(step.id, step.action.value, status, detail))


def incident_id(environment: str, name: str, day: datetime) -> str:
    """`<env>--<name>--<YYYY-MM-DD>`: the incident a run belongs to. Runs on the same day for
    the same key or secret continue one incident (the idempotency tag on the keys)."""
    return f"{environment}--{name}--{day.date().isoformat()}"


def check_record_dir(directory: Path) -> None:
    """Refuse, before any change, a record directory the record could not be written to.

    Raises OutputError when `directory` is a symbolic link (the record would land wherever the
    link points when it is written: name the directory itself); when it, or the nearest
    existing parent it would be created in, is not a directory (a regular file, a dangling
    link); or when that directory refuses a new file. The last is tried with an anonymous
    temporary file, gone when closed: `os.access` answers yes to root even on read-only and
    virtual file systems.
    """
    if directory.is_symlink():
        raise OutputError(directory, "is a symbolic link; name the directory itself")
    probe = directory
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        what = "a dangling symbolic link" if probe.is_symlink() else "not a directory"
        raise OutputError(directory, f"{probe} is {what}")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        raise OutputError(
            directory, f"directory {probe} is not writable ({err.strerror or err})"
        ) from None


def write_record(directory: Path, incident: Incident) -> list[Path]:
    """Write `<id>--<UTC time>.json` and `.md` into `directory` (created when missing); each
    run keeps its own record. Returns the paths; raises OutputError."""
    stem = f"{incident.id}--{incident.started_at.strftime('%H%M%SZ')}"
    text = json.dumps(incident.to_json(), indent=2, ensure_ascii=False) + "\n"
    return write_outputs(directory, {f"{stem}.json": text, f"{stem}.md": incident.to_markdown()})


def _prose(text: str) -> str:
    return line(inline(text))
