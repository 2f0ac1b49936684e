"""Point V of RULES.md: the rules judged on the estate's files before anything is rendered.

Form errors are `ConfigError`s raised by the loader (exit 2); the checks here judge well-formed
files, so their findings carry file and line and an exception can cover them (except KM-EXC-*).
Each file check is registered in its family module with `scope=Scope.FILE` and takes a
`FileContext`; where a rule is also judged on the rendered resources (point G), the file check
and the resource check call the same decision function, so the two give the same message and
the gate merges them (`merge_twins`).

Nothing here imports `keyplane.config` at run time: checkov's environment imports the rules
without keyplane's dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from keyplane.findings import Engine, Finding, apply_exceptions
from keyplane.rules.catalog import RULES, Point
from keyplane.rules.filecheck import FileContext, FileFinding
from keyplane.rules.registry import Scope, checks_at
from keyplane.standard import POLICY_REVIEWED_ON

if TYPE_CHECKING:
    from keyplane.config import Estate


def config_findings(
    estate: Estate,
    today: date,
    reviewed_on: date = POLICY_REVIEWED_ON,
    environment: str | None = None,
) -> list[Finding]:
    """Every V-point finding of the estate (or of `environment` and the estate-wide ones), with
    each environment's exceptions applied.

    Order: each environment's own file in turn (rules in catalog order), then the findings on
    the registers and the policy itself.
    """
    files = FileContext(estate, today, reviewed_on)
    found: list[FileFinding] = [
        located
        for registered in checks_at(Point.VALIDATION, Scope.FILE)
        for located in registered.function(files)
    ]
    if environment is not None:
        found = [f for f in found if f.environment in (None, environment)]
    scopes = estate.exception_scopes()
    own_files = {
        document.path: position
        for position, name in enumerate(estate.environments)
        if (document := estate.documents.get(name)) is not None
    }
    found.sort(key=lambda f: own_files.get(f.path, len(own_files)))
    findings: list[Finding] = []
    for located in found:
        finding = _finding(located)
        if located.environment is None:
            findings.append(finding)
        else:
            findings += apply_exceptions([finding], scopes, located.environment, today)
    return findings


def _finding(located: FileFinding) -> Finding:
    return Finding(
        rule=located.rule,
        enforcement=RULES[located.rule].default_enforcement,
        resource=located.subject,
        type=located.type,
        message=located.message,
        engine=Engine.CONFIG,
        file=located.path,
        line=located.line,
    )


def merge_twins(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per rule and message across engines: a later finding with the same rule and
    message as an earlier one of another engine (a V check and its G twin; a stack-level
    verdict checkov reports on each resource it concerns) folds into the earlier one, which
    gains the later one's file location when it has none. Order is kept."""
    first: dict[tuple[str, str], int] = {}
    result: list[Finding] = []
    for finding in findings:
        key = (finding.rule, finding.message)
        position = first.get(key)
        if position is None:
            first[key] = len(result)
            result.append(finding)
            continue
        kept = result[position]
        if kept.engine is finding.engine:
            result.append(finding)
            continue
        kept = kept.merged_with(finding)
        if kept.file is None and finding.file is not None:
            kept = replace(kept, file=finding.file, line=finding.line)
        result[position] = kept
    return result
