"""The rules enforced on the estate's files before anything is rendered (point V of RULES.md).

Form errors are `ConfigError`s (exit 2); these are policy findings on well-formed files, so an
exception can cover them (except KM-EXC-*), and they carry file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from keyplane.config.estate import EXCEPTIONS_FILE, Estate
from keyplane.config.model import Environment
from keyplane.findings import Engine, Finding, apply_exceptions
from keyplane.rules.catalog import RULES
from keyplane.standard import (
    POLICY_REVIEWED_ON,
    POLICY_VERSION,
    PURPOSES,
    Isolation,
    review_due_on,
)

KEY_TYPE = "keyplane:config:Key"
SECRET_TYPE = "keyplane:config:Secret"
ACCESS_TYPE = "keyplane:config:KeyUser"
EXCEPTION_TYPE = "keyplane:config:Exception"
POLICY_TYPE = "keyplane:config:Policy"


def config_findings(
    estate: Estate, today: date, reviewed_on: date = POLICY_REVIEWED_ON
) -> list[Finding]:
    """Every V-point finding of the estate, with exceptions applied per environment."""
    findings: list[Finding] = []
    for env in estate.environments.values():
        own = [*_manual_rotation(estate, env, today), *_tenant_isolation(estate, env)]
        findings.extend(apply_exceptions(own, estate.exception_scopes(), env.name, today))
    findings.extend(expired_exceptions(estate, today))
    findings.extend(_policy_review(today, reviewed_on))
    return findings


def _finding(
    rule: str, resource: str, type_: str, message: str, path: str, line: int | None
) -> Finding:
    return Finding(
        rule=rule,
        enforcement=RULES[rule].default_enforcement,
        resource=resource,
        type=type_,
        message=f"{rule} {resource}: {message}",
        engine=Engine.CONFIG,
        file=path,
        line=line,
    )


def _manual_rotation(estate: Estate, env: Environment, today: date) -> Iterator[Finding]:
    """KM-ROT-004: keys their cloud cannot rotate have an owner and a timely rotate-by date."""
    doc = estate.documents[env.name]
    for index, key in enumerate(env.keys):
        resolved = env.resolve(key)
        if resolved.rotation_days is not None:
            continue
        period = PURPOSES[key.purpose].max_rotation_days
        loc = ("keys", index)
        if key.rotation is None:
            yield _finding(
                "KM-ROT-004",
                key.name,
                KEY_TYPE,
                f"{env.cloud.value} cannot rotate {key.algorithm} keys automatically and no manual rotation "
                "plan is declared; add rotation: {owner, rotate_by} within "
                f"{period} days for {key.purpose.value} keys.",
                doc.path,
                doc.line_of(loc),
            )
            continue
        latest = today + timedelta(days=period)
        rotate_by = key.rotation.rotate_by
        if rotate_by < today:
            yield _finding(
                "KM-ROT-004",
                key.name,
                KEY_TYPE,
                f"manual rotation was due on {rotate_by.isoformat()} and is overdue; rotate the key, "
                "record the change and set the next rotate_by.",
                doc.path,
                doc.line_of((*loc, "rotation", "rotate_by")),
            )
        elif rotate_by > latest:
            yield _finding(
                "KM-ROT-004",
                key.name,
                KEY_TYPE,
                f"rotate_by {rotate_by.isoformat()} is more than {period} days away (at the latest "
                f"{latest.isoformat()} for {key.purpose.value} keys); bring rotate_by forward.",
                doc.path,
                doc.line_of((*loc, "rotation", "rotate_by")),
            )


def _tenant_isolation(estate: Estate, env: Environment) -> Iterator[Finding]:
    """KM-TEN-001: principals use their own tenant's keys, or registered shared keys."""
    doc = estate.documents[env.name]
    for u_index, user in enumerate(env.access.key_users):
        for k_index, name in enumerate(user.keys):
            item = env.key(name) or env.secret(name)
            if item is None:
                continue
            owner = item.tenant
            loc = ("access", "key_users", u_index, "keys", k_index)
            if owner is not None and owner != user.tenant:
                who = (
                    f"tenant {user.tenant}'s principal"
                    if user.tenant
                    else "a principal outside any tenant"
                )
                yield _finding(
                    "KM-TEN-001",
                    name,
                    KEY_TYPE,
                    f"{name} belongs to tenant {owner} but is granted to {who} {user.principal}; remove "
                    "the grant or give that principal a key of its own.",
                    doc.path,
                    doc.line_of(loc),
                )
            elif owner is None and user.tenant is not None:
                tenant = env.tenant(user.tenant)
                if tenant is None:
                    continue
                if tenant.isolation is Isolation.DEDICATED:
                    yield _finding(
                        "KM-TEN-001",
                        name,
                        KEY_TYPE,
                        f"tenant {tenant.name} is dedicated but its principal {user.principal} is granted "
                        f"the shared key {name}; give the tenant its own key or declare it shared.",
                        doc.path,
                        doc.line_of(loc),
                    )
                elif tenant.name not in estate.shared_tenants(env.name, name):
                    yield _finding(
                        "KM-TEN-001",
                        name,
                        KEY_TYPE,
                        f"tenant {tenant.name} uses the shared key {name}, which is not registered for it "
                        "in shared-services.yaml; register it with a justification and risk acceptance.",
                        doc.path,
                        doc.line_of(loc),
                    )


def expired_exceptions(
    estate: Estate, today: date, environment: str | None = None
) -> list[Finding]:
    """KM-EXC-002: an expired exception blocks deployment of its environment (never excepted)."""
    doc = estate.documents.get(EXCEPTIONS_FILE)
    findings = []
    for index, exc in enumerate(estate.exceptions):
        if exc.active_on(today) or (environment is not None and exc.environment != environment):
            continue
        findings.append(
            _finding(
                "KM-EXC-002",
                exc.id,
                EXCEPTION_TYPE,
                f"exception for {exc.rule} on {exc.environment}/{exc.resource} expired on "
                f"{exc.expires.isoformat()}; deployment of {exc.environment} is blocked until the "
                "deviation is fixed or the exception renewed.",
                doc.path if doc else EXCEPTIONS_FILE,
                doc.line_of(("exceptions", index, "expires")) if doc else None,
            )
        )
    return findings


def _policy_review(today: date, reviewed_on: date) -> Iterator[Finding]:
    """KM-REV-001: the enforced policy's review is at most 12 months old (advisory)."""
    due = review_due_on(reviewed_on)
    if today > due:
        yield _finding(
            "KM-REV-001",
            f"policy-v{POLICY_VERSION}",
            POLICY_TYPE,
            f"policy v{POLICY_VERSION} was last reviewed on {reviewed_on.isoformat()}, more than 12 months "
            f"ago (due {due.isoformat()}); review it and update POLICY_REVIEWED_ON.",
            "keyplane/standard.py",
            None,
        )
