"""Findings: what every engine reports, in one shape (the findings-JSON contract of DESIGN.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from keyplane.rules.catalog import RULES, Enforcement


class Engine(StrEnum):
    CROSSGUARD = "crossguard"
    CHECKOV = "checkov"
    AUDIT = "audit"
    CONFIG = "config"


@dataclass(frozen=True)
class Finding:
    #: A keyplane rule ID (KM-ROT-002) or a checkov built-in ID (CKV_AWS_7).
    rule: str
    enforcement: Enforcement
    #: URN, Pulumi resource name, ARN or declared name of what was judged.
    resource: str
    #: Resource type (Pulumi type token, Terraform type, AWS resource kind or keyplane:config:*).
    type: str
    message: str
    engine: Engine
    #: ID of the exception that downgraded the finding, if any.
    exception: str | None = None
    #: Where the finding points in a file, when it comes from one.
    file: str | None = None
    line: int | None = None
    #: Every engine that reported it, when findings of several engines were merged into this
    #: one (`engine` is the one whose wording is kept); empty when only `engine` reported it.
    engines: tuple[Engine, ...] = ()

    @property
    def severity(self) -> str | None:
        """The rule's severity (`critical`, `high`, `medium`, `low`); None for checkov's own
        checks, whose severity checkov does not report offline."""
        rule = RULES.get(self.rule)
        return rule.severity.value if rule is not None else None

    def merged_with(self, other: Finding) -> Finding:
        """This finding, noting that `other` (another engine's report of it) was merged in."""
        engines = tuple(
            dict.fromkeys((*(self.engines or (self.engine,)), *(other.engines or (other.engine,))))
        )
        return replace(self, engines=engines) if len(engines) > 1 else self

    def to_json(self) -> dict[str, Any]:
        """The findings-JSON object: rule, enforcement, resource, type, message, engine,
        exception, severity, and where known `engines`, `location` {file, line} (with `file`
        and `line` also at the top level, as before)."""
        data = asdict(self)
        data["enforcement"] = self.enforcement.value
        data["engine"] = self.engine.value
        data["severity"] = self.severity
        data["engines"] = [e.value for e in self.engines] or None
        if self.file is not None:
            data["location"] = {"file": self.file, "line": self.line}
        return {k: v for k, v in data.items() if v is not None or k in ("exception", "severity")}


def summarize(findings: Sequence[Finding]) -> dict[str, Any]:
    by_enforcement = Counter(f.enforcement.value for f in findings)
    return {
        "total": len(findings),
        "mandatory": by_enforcement.get(Enforcement.MANDATORY.value, 0),
        "advisory": by_enforcement.get(Enforcement.ADVISORY.value, 0),
        "excepted": sum(1 for f in findings if f.exception),
        "by_rule": dict(sorted(Counter(f.rule for f in findings).items())),
        "by_engine": dict(sorted(Counter(f.engine.value for f in findings).items())),
    }


def has_mandatory(findings: Iterable[Finding]) -> bool:
    return any(f.enforcement is Enforcement.MANDATORY for f in findings)


@dataclass(frozen=True)
class ExceptionScope:
    """What an exception covers; the register's entries reduce to this for matching."""

    id: str
    rule: str
    environment: str
    resource: str
    expires: date


def resource_matches(scope_resource: str, finding_resource: str) -> bool:
    """An exception names a resource by URN or by name; a URN's name is its last `::` part."""
    if scope_resource == finding_resource:
        return True
    return finding_resource.rsplit("::", 1)[-1] == scope_resource


def covering_exception(
    finding: Finding, scopes: Iterable[ExceptionScope], environment: str, today: date
) -> ExceptionScope | None:
    rule = RULES.get(finding.rule)
    if rule is not None and not rule.exceptable:
        return None
    for scope in scopes:
        if (
            scope.rule == finding.rule
            and scope.environment == environment
            and today <= scope.expires
            and resource_matches(scope.resource, finding.resource)
        ):
            return scope
    return None


def apply_exceptions(
    findings: Iterable[Finding], scopes: Sequence[ExceptionScope], environment: str, today: date
) -> list[Finding]:
    """Downgrade findings covered by a valid, unexpired exception to advisory, labelled with its ID."""
    result = []
    for finding in findings:
        scope = covering_exception(finding, scopes, environment, today)
        if scope is None:
            result.append(finding)
        else:
            result.append(
                replace(
                    finding,
                    enforcement=Enforcement.ADVISORY,
                    exception=scope.id,
                    message=f"{finding.message} [excepted by {scope.id} until {scope.expires.isoformat()}]",
                )
            )
    return result
