"""KM-REV: the enforced policy carries its version and review date; a review older than 12
months is reported (Policy §16, advisory).

The checks of the family at every enforcement point, side by side (`keyplane.rules.registry`).

Rules: KM-REV-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.rules.catalog import Point
from keyplane.rules.filecheck import POLICY_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import Scope, check
from keyplane.standard import POLICY_VERSION, review_due_on


@check("KM-REV-001", points=(Point.VALIDATION,), scope=Scope.FILE)
def policy_review(files: FileContext) -> Iterator[FileFinding]:
    """KM-REV-001: one finding about the policy itself (no environment) once its review is due."""
    due = review_due_on(files.reviewed_on)
    if files.today > due:
        yield file_finding(
            "KM-REV-001",
            f"policy-v{POLICY_VERSION}",
            POLICY_TYPE,
            f"policy v{POLICY_VERSION} was last reviewed on {files.reviewed_on.isoformat()}, "
            f"more than 12 months ago (due {due.isoformat()}); review it and update "
            "POLICY_REVIEWED_ON.",
            path="keyplane/standard.py",
            line=None,
            environment=None,
        )
