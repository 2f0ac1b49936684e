"""What an auditor's report carries beyond the findings (the HTML report, issue 18 part 3).

A `Dossier` rides on a `Report` (`Report.dossier`): the environment's exceptions with their
expiry, the policy artefacts `keyplane docs` writes (Tenant-Isolation-Claim, Shared-Service-
Boundary-Register, rule traceability matrix, policy coverage matrix; their Markdown as it is,
never recomputed), the live audit's evidence when the report is an audit's, and what a
`--framework` view left out. Formats other than HTML ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from keyplane.config import Environment, Estate


@dataclass(frozen=True)
class ExceptionEntry:
    """One exception of the environment's register (Policy §15), as the report lists it.

    `days_left`: days from the report's day to `expires` (negative once expired: KM-EXC-002
    blocks the environment's deployment from the day after `expires`)."""

    id: str
    rule: str
    resource: str
    justification: str
    accepted_by: str
    accepted_on: date
    compensating_controls: tuple[str, ...]
    expires: date
    days_left: int

    @property
    def expired(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class Dossier:
    """The report's appendix: `documents` (title → Markdown, in a fixed order), `exceptions`,
    `evidence` (the audit's `evidence` object, as `keyplane audit --format json` writes it),
    `framework_note` (what `--framework` left out, or None) and `as_of` (the day dates were
    judged on)."""

    documents: Mapping[str, str] = field(default_factory=dict)
    exceptions: Sequence[ExceptionEntry] = ()
    evidence: Mapping[str, Any] | None = None
    framework: str | None = None
    framework_note: str | None = None
    as_of: date | None = None


#: The artefacts' titles, by the file name `keyplane docs` gives them (prefix match).
_TITLES = (
    ("tenant-isolation-claim-", "Tenant-Isolation-Claim"),
    ("shared-service-boundary-register-", "Shared-Service-Boundary-Register"),
    ("rule-traceability-matrix", "Rule traceability matrix"),
    ("policy-coverage-matrix", "Policy coverage matrix"),
)


def document_title(file_name: str) -> str:
    """The heading an artefact file gets in the report (its file name when unknown)."""
    return next((title for prefix, title in _TITLES if file_name.startswith(prefix)), file_name)


def exception_entries(estate: Estate, environment: str, as_of: date) -> tuple[ExceptionEntry, ...]:
    """The exceptions registered for `environment`, soonest expiry first."""
    entries = [
        ExceptionEntry(
            id=e.id,
            rule=e.rule,
            resource=e.resource,
            justification=e.justification,
            accepted_by=e.accepted_by,
            accepted_on=e.accepted_on,
            compensating_controls=tuple(e.compensating_controls),
            expires=e.expires,
            days_left=(e.expires - as_of).days,
        )
        for e in estate.exceptions
        if e.environment == environment
    ]
    return tuple(sorted(entries, key=lambda e: (e.expires, e.id)))


def dossier_of(
    estate: Estate,
    env: Environment,
    *,
    as_of: date,
    tests_dir: Path | None = None,
    evidence: Mapping[str, Any] | None = None,
    framework: str | None = None,
    framework_note: str | None = None,
) -> Dossier:
    """The dossier of `env`: its exceptions as of `as_of` and the documents `keyplane docs`
    writes for it (`keyplane.artefacts.artefacts`, with the tests found in `tests_dir`;
    default: the checkout's tests, as `keyplane docs` finds them)."""
    # Imported here: keyplane.artefacts uses the reports' Markdown helpers.
    from keyplane.artefacts import DEFAULT_TESTS_DIR, artefacts  # noqa: PLC0415

    documents = {
        document_title(name): text
        for name, text in artefacts(estate, env, tests_dir or DEFAULT_TESTS_DIR).items()
    }
    return Dossier(
        documents=documents,
        exceptions=exception_entries(estate, env.name, as_of),
        evidence=evidence,
        framework=framework,
        framework_note=framework_note,
        as_of=as_of,
    )
