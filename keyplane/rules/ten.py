"""KM-TEN: tenants use their own keys, or registered shared keys.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-TEN-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.facts.access import (
    Access,
    principal_key,
)
from keyplane.facts.grants import grants_on, role_principal
from keyplane.facts.model import (
    Key,
    Role,
    Secret,
    StackFacts,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    dedupe,
    keys_and_secrets,
)
from keyplane.rules.context import Context
from keyplane.rules.filecheck import KEY_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import (
    Observation,
    Scope,
    Transition,
    check,
    needs_estate,
    note,
    weakening,
)
from keyplane.rules.verdict import (
    Verdict,
    access_undecided,
    fail,
    not_applicable,
    unknown,
)
from keyplane.standard import (
    TAG_TENANT,
    Isolation,
)


def _role_tenants(stack: StackFacts) -> dict[str, str | None]:
    tenants: dict[str, str | None] = {}
    for role in stack.of(Role):
        tag = role.tenant_tag
        if isinstance(tag, Unknown):
            continue
        tenants[role_principal(role)] = tag
    return tenants


def tenant_problem(
    *,
    item: str,
    owner: str | None,
    tenant: str | None,
    principal: str,
    isolation: Isolation | None,
    registered: bool,
) -> str | None:
    """KM-TEN-001's decision for one principal granted use of `item`: what is wrong, or None.

    `owner` is the item's tenant (None: shared), `tenant` the principal's (None: outside any
    tenant), `isolation` the principal's tenant's, `registered` whether shared-services.yaml
    registers the item for that tenant. The one decision behind both the stack check (grants
    on the rendered resources) and the file check (`access.key_users`), so both say the same.
    """
    if owner and tenant != owner:
        who = f"tenant {tenant}'s principal" if tenant else "a principal outside any tenant"
        return (
            f"{item} belongs to tenant {owner} but is granted to {who} {principal}; remove the "
            "grant or give that principal a key of its own."
        )
    if owner or not tenant:
        return None
    if isolation is Isolation.DEDICATED:
        return (
            f"tenant {tenant} is dedicated but its principal {principal} is granted the shared "
            f"key {item}; give the tenant its own key or declare it shared."
        )
    if isolation is Isolation.SHARED and not registered:
        return (
            f"tenant {tenant} uses the shared key {item}, which is not registered for it in "
            "shared-services.yaml; register it with a justification and risk acceptance."
        )
    return None


@check("KM-TEN-001", points=(Point.CROSSGUARD,), scope=Scope.STACK)
def tenant_isolation(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-TEN-001 on the rendered stack: every grant of use on a key or secret
    (`tenant_problem`)."""
    rule = "KM-TEN-001"
    items = keys_and_secrets(stack)
    if not items:
        return [not_applicable(rule, "no keys or secrets")]
    role_tenants = _role_tenants(stack)
    platform = context.platform_principals
    verdicts: list[Verdict] = []
    reported: set[str] = set()  # the URNs of the verdicts so far
    for item in items:
        owner = item.tenant_tag
        if isinstance(owner, Unknown):
            verdicts.append(unknown(rule, item, f"the {TAG_TENANT} tag"))
            reported.add(item.urn)
            continue
        before = len(verdicts)
        grants = grants_on(stack, item)
        for grant in grants.applied:
            if Access.USE not in grant.access:
                continue
            key = principal_key(grant.principal)
            if key in platform:
                continue
            declared, tenant = context.tenant_of(grant.principal)
            if not declared and key in role_tenants:
                declared, tenant = True, role_tenants[key]
            if not declared:
                continue
            problem = tenant_problem(
                item=item.name,
                owner=owner or None,
                tenant=tenant or None,
                principal=grant.principal,
                isolation=context.tenants.get(tenant) if tenant else None,
                registered=bool(tenant)
                and tenant in context.shared_keys.get(item.name, frozenset()),
            )
            if problem is not None:
                verdicts.append(fail(rule, item, problem))
        reported.update(v.urn for v in verdicts[before:])
        if grants.undecided and item.urn not in reported:
            verdicts.append(access_undecided(rule, item, grants, "who is granted access"))
            reported.add(item.urn)
    return dedupe(verdicts)


@check("KM-TEN-001", points=(Point.VALIDATION,), scope=Scope.FILE)
def declared_tenant_access(files: FileContext) -> Iterator[FileFinding]:
    """KM-TEN-001 on the environment files: each `access.key_users` entry's keys
    (`tenant_problem`), located at the granted key's line."""
    estate = files.estate
    for env in estate.environments.values():
        doc = estate.documents[env.name]
        for u_index, user in enumerate(env.access.key_users):
            for k_index, name in enumerate(user.keys):
                item = env.key(name) or env.secret(name)
                if item is None:
                    continue
                tenant = env.tenant(user.tenant) if user.tenant is not None else None
                if item.tenant is None and user.tenant is not None and tenant is None:
                    continue  # an undeclared tenant is a form error of the file
                problem = tenant_problem(
                    item=name,
                    owner=item.tenant,
                    tenant=user.tenant,
                    principal=user.principal,
                    isolation=tenant.isolation if tenant else None,
                    registered=user.tenant in estate.shared_tenants(env.name, name),
                )
                if problem is None:
                    continue
                yield file_finding(
                    "KM-TEN-001",
                    name,
                    KEY_TYPE,
                    problem,
                    path=doc.path,
                    line=doc.line_of(("access", "key_users", u_index, "keys", k_index)),
                    environment=env.name,
                )


needs_estate("KM-TEN-001", "the tenants, their isolation and their key users")


@weakening("KM-TEN-001", kinds=(Key, Secret))
def tenant_tag_changed(change: Transition) -> Iterator[Observation]:
    """KM-TEN-001 in a change: a key or secret's tenant tag changed (a note: whose grants then
    cross tenants is the rule's to judge)."""
    before, after = change.before, change.after
    if before is None or after is None:
        return
    old, new = before.tenant_tag, after.tenant_tag
    if not isinstance(old, Unknown) and not isinstance(new, Unknown) and old != new:
        yield note(f"{after.name}: {TAG_TENANT} tag {old or 'none'} -> {new or 'none'}")
