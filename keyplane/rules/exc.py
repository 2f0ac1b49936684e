"""KM-EXC: exceptions are complete (the loader, KM-EXC-001), and an expired one blocks
deployment of its environment (KM-EXC-002, judged on the register and by the pack alike).

The checks of the family at every enforcement point, side by side; each is registered with its
rule and points (`keyplane.rules.registry`).

Rules: KM-EXC-001, KM-EXC-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from keyplane.facts.model import StackFacts
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.filecheck import EXCEPTION_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import Scope, check, enforced_by_loader
from keyplane.rules.verdict import Verdict, not_applicable, stack_fail

#: The exceptions register's file name (`keyplane.config.estate.EXCEPTIONS_FILE`).
EXCEPTIONS_FILE = "exceptions.yaml"

enforced_by_loader(
    "KM-EXC-001",
    points=(Point.VALIDATION,),
    where="keyplane.config.estate: an incomplete exception, an unknown rule or environment, or "
    "an expiry more than 365 days after acceptance is a form error of exceptions.yaml (exit 2)",
)


def expired(expires: date, as_of: date) -> bool:
    """KM-EXC-002's decision: an exception is valid through its expiry day."""
    return expires < as_of


def expired_text(rule: str, environment: str, resource: str, expires: date) -> str:
    """What KM-EXC-002 says of an expired exception (the register's check and the pack's)."""
    return (
        f"exception for {rule} on {environment}/{resource} expired on {expires.isoformat()}; "
        f"deployment of {environment} is blocked until the deviation is fixed or the exception "
        "renewed."
    )


@check("KM-EXC-002", points=(Point.CROSSGUARD,), scope=Scope.STACK)
def expired_exceptions(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-EXC-002 in the pack: the stack's environment has no expired exception."""
    rule = "KM-EXC-002"
    env = context.environment
    found = [
        e for e in context.exceptions if e.environment == env and expired(e.expires, context.as_of)
    ]
    if not found:
        return [not_applicable(rule, "no expired exception for this environment")]
    return [
        stack_fail(
            rule,
            exc.id,
            expired_text(exc.rule, env, exc.resource, exc.expires),
            type_=EXCEPTION_TYPE,
        )
        for exc in found
    ]


@check("KM-EXC-002", points=(Point.VALIDATION,), scope=Scope.FILE)
def expired_in_register(files: FileContext) -> Iterator[FileFinding]:
    """KM-EXC-002 on exceptions.yaml: every expired exception, located at its `expires`."""
    doc = files.estate.documents.get(EXCEPTIONS_FILE)
    for index, exc in enumerate(files.estate.exceptions):
        if not expired(exc.expires, files.today):
            continue
        yield file_finding(
            "KM-EXC-002",
            exc.id,
            EXCEPTION_TYPE,
            expired_text(exc.rule, exc.environment, exc.resource, exc.expires),
            path=doc.path if doc else EXCEPTIONS_FILE,
            line=doc.line_of(("exceptions", index, "expires")) if doc else None,
            environment=exc.environment,
        )
