"""KM-CRT: TLS certificates and the TLS versions endpoints accept.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-CRT-001, KM-CRT-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from datetime import date, timedelta

from keyplane.facts.model import Certificate, Facts, StackFacts, TlsEndpoint
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.registry import Scope, check
from keyplane.rules.verdict import Verdict, cannot_judge, fail, not_applicable, passed, unknown
from keyplane.standard import (
    CERTIFICATE_ALGORITHMS,
    CERTIFICATE_MAX_VALIDITY_DAYS,
    TAG_RENEW_BY,
    TAG_RENEWAL_OWNER,
    TLS_MINIMUM_VERSION,
)


def renewal_plan_problem(
    *,
    owner: str | None,
    renew_by: date | str | None,
    not_after: date | None,
    as_of: date,
) -> str | None:
    """KM-CRT-001's decision for a certificate that does not renew automatically: what is wrong
    with its manual renewal plan (`owner`, `renew_by`), or None when the plan is timely.

    `renew_by` must not have passed (`as_of`) and must come before the certificate expires
    (`not_after`, known from the audit) or, when the expiry is not known, within the longest
    validity of a public certificate (`CERTIFICATE_MAX_VALIDITY_DAYS`).
    """
    if not owner or renew_by is None:
        return (
            "no manual renewal plan is declared; tag "
            f"{TAG_RENEWAL_OWNER} and {TAG_RENEW_BY} (renewal: manual with owner and renew_by "
            "in the environment file), or use a managed certificate that renews automatically."
        )
    if not isinstance(renew_by, date):
        return (
            f"tag {TAG_RENEW_BY} {renew_by!r} is not a date YYYY-MM-DD; write the date the "
            "certificate must be renewed by."
        )
    if renew_by < as_of:
        return (
            f"manual renewal was due on {renew_by.isoformat()} and is overdue; renew the "
            "certificate and set the next renew_by."
        )
    if not_after is not None and renew_by >= not_after:
        return (
            f"renew_by {renew_by.isoformat()} is not before the certificate expires "
            f"({not_after.isoformat()}); bring renew_by forward."
        )
    latest = as_of + timedelta(days=CERTIFICATE_MAX_VALIDITY_DAYS)
    if not_after is None and renew_by > latest:
        return (
            f"renew_by {renew_by.isoformat()} is more than {CERTIFICATE_MAX_VALIDITY_DAYS} days "
            f"away, longer than a public certificate is valid (at the latest {latest.isoformat()}); "
            "bring renew_by forward."
        )
    return None


@check(
    "KM-CRT-001",
    points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT),
    kinds=(Certificate,),
    permissions=("acm:ListCertificates", "acm:DescribeCertificate", "acm:ListTagsForCertificate"),
)
def managed_certificates(facts: Facts, context: Context) -> Verdict:
    """KM-CRT-001 on a certificate: no private key in plain text, an approved key
    (`CERTIFICATE_ALGORITHMS`), and automatic renewal or a timely manual plan
    (`renewal_plan_problem`)."""
    rule = "KM-CRT-001"
    if not isinstance(facts, Certificate):
        return not_applicable(rule, "not a certificate")
    problems: list[str] = []
    undecided: list[str] = []
    if isinstance(facts.private_key_plaintext, Unknown):
        undecided.append(f"whether {facts.private_key_field} is a secret")
    elif facts.private_key_plaintext:
        problems.append(
            f"the private key is in plain text in {facts.private_key_field}; pass it as a Pulumi "
            "secret (or use a managed certificate) and remove it from the code and its history"
        )
    algorithm = facts.algorithm
    if facts.algorithm_problem is not None:
        undecided.append(facts.algorithm_problem)
    elif isinstance(algorithm, Unknown):
        undecided.append("the certificate's key algorithm")
    elif algorithm is not None and algorithm not in CERTIFICATE_ALGORITHMS:
        written = f" ({facts.algorithm_field})" if facts.algorithm_field else ""
        problems.append(
            f"key algorithm {algorithm}{written} is not approved for certificates; use one of "
            f"{', '.join(CERTIFICATE_ALGORITHMS)}"
        )
    renews = facts.renews_automatically
    if isinstance(renews, Unknown):
        undecided.append("whether the certificate renews automatically")
    elif not renews:
        owner, renew_by = facts.renewal_owner, facts.renew_by
        if isinstance(owner, Unknown) or isinstance(renew_by, Unknown):
            undecided.append("the manual renewal plan's tags")
        else:
            plan = renewal_plan_problem(
                owner=owner, renew_by=renew_by, not_after=facts.not_after, as_of=context.as_of
            )
            if plan is not None:
                problems.append(
                    f"it does not renew automatically ({facts.renewal_setting}) and {plan}"
                    if plan.startswith("no manual")
                    else f"it does not renew automatically ({facts.renewal_setting}): {plan}"
                )
    if problems:
        return fail(rule, facts, "; ".join(p.rstrip(".") for p in problems) + ".")
    if undecided:
        reasons = [u for u in undecided if u == facts.algorithm_problem]
        if reasons:
            return cannot_judge(rule, facts, reasons[0])
        return unknown(rule, facts, " and ".join(undecided))
    return passed(rule, facts)


def _version(version: tuple[int, int]) -> str:
    major, minor = version
    return f"TLS {major}.{minor}" if major >= 1 else "SSL 3.0"


@check("KM-CRT-002", points=(Point.CROSSGUARD, Point.CHECKOV), scope=Scope.STACK)
def tls_minimum_versions(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-CRT-002 over the stack: every TLS endpoint setting (`tls_minimum_version`), and each
    endpoint that leaves the versions to a policy resource (a GCP target proxy's `sslPolicy`)
    has that policy in the stack; a policy that lives elsewhere is "cannot judge" naming it,
    never a pass."""
    rule = "KM-CRT-002"
    endpoints = stack.of(TlsEndpoint)
    if not endpoints:
        return [not_applicable(rule, "no TLS endpoints")]
    verdicts: list[Verdict] = []
    for endpoint in endpoints:
        policy = endpoint.policy
        if policy is None or endpoint.problem is not None or endpoint.minimum is not None:
            verdicts.append(tls_minimum_version(endpoint, context))
        elif not any(
            isinstance(f, TlsEndpoint) for f in stack.resolve(policy) if f is not endpoint
        ):
            if isinstance(policy.value, Unknown) or (not policy.value and not policy.urns):
                verdicts.append(unknown(rule, endpoint, f"the SSL policy ({endpoint.field})"))
            else:
                name = policy.value or ", ".join(policy.urns)
                verdicts.append(
                    cannot_judge(
                        rule,
                        endpoint,
                        f"the SSL policy {name} is not in this stack; judge its minimum TLS "
                        "version with the stack that manages it",
                    )
                )
        else:
            verdicts.append(tls_minimum_version(endpoint, context))
    return verdicts


def tls_minimum_version(facts: Facts, context: Context) -> Verdict:
    """KM-CRT-002 on one TLS endpoint setting: the oldest version it accepts is
    `TLS_MINIMUM_VERSION` (TLS 1.2) or later; a setting keyplane cannot read is reported."""
    rule = "KM-CRT-002"
    if not isinstance(facts, TlsEndpoint):
        return not_applicable(rule, "not a TLS endpoint")
    if facts.problem is not None:
        return cannot_judge(rule, facts, facts.problem)
    minimum = facts.minimum
    if isinstance(minimum, Unknown):
        return unknown(rule, facts, f"{facts.field}")
    if minimum is None:
        if facts.policy is not None:
            return not_applicable(rule, "its SSL policy decides (judged as a resource)", facts)
        return not_applicable(rule, f"no TLS terminated here ({facts.setting})", facts)
    if minimum >= TLS_MINIMUM_VERSION:
        return passed(rule, facts)
    return fail(
        rule,
        facts,
        f"{facts.setting} accepts {_version(minimum)}, older than "
        f"{_version(TLS_MINIMUM_VERSION)}; set {facts.field} to one that accepts "
        f"{_version(TLS_MINIMUM_VERSION)} or later only.",
    )
