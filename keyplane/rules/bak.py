"""KM-BAK: backup keys are administered apart from primary keys.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-BAK-001, KM-BAK-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections import defaultdict

from keyplane.facts.access import (
    Access,
    is_wildcard_principal,
    principal_key,
)
from keyplane.facts.grants import grants_on, same_ref
from keyplane.facts.model import (
    StackFacts,
)
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    purpose_of,
)
from keyplane.rules.context import Context
from keyplane.rules.registry import Scope, check
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    unknown,
)
from keyplane.standard import (
    Cloud,
    KeyPurpose,
)


@check("KM-BAK-001", points=(Point.CROSSGUARD,), scope=Scope.STACK)
def backup_separation(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-BAK-001 over the stack: backup keys share no administrator and no key ring or vault with
    primary keys."""
    rule = "KM-BAK-001"
    keys = stack.keys
    backups = [k for k in keys if purpose_of(k) is KeyPurpose.BACKUP_ENCRYPTION]
    primaries = [k for k in keys if purpose_of(k) is not KeyPurpose.BACKUP_ENCRYPTION]
    if not backups or not primaries:
        return [not_applicable(rule, "no backup keys beside primary keys")]
    admins: dict[str, dict[str, str]] = {}
    undecided: set[str] = set()
    for key in keys:
        grants = grants_on(stack, key)
        admins[key.urn] = {
            principal_key(g.principal): g.principal
            for g in grants.applied
            if Access.ADMIN in g.access and not is_wildcard_principal(g.principal)
        }
        if grants.undecided:
            undecided.add(key.urn)
    # The primaries a backup key may share something with: by administrator, and by the URNs and
    # identifiers of their key ring or vault (`same_ref`).
    primaries_by: dict[str, list[int]] = defaultdict(list)
    for position, primary in enumerate(primaries):
        for who in admins[primary.urn]:
            primaries_by[f"admin:{who}"].append(position)
        if primary.container is not None:
            for reference in {*primary.container.urns, *primary.container.candidates()}:
                primaries_by[f"container:{reference}"].append(position)
    primary_undecided = any(p.urn in undecided for p in primaries)
    verdicts = []
    for backup in backups:
        lookups = [f"admin:{who}" for who in admins[backup.urn]]
        if backup.container is not None:
            lookups += [
                f"container:{r}" for r in {*backup.container.urns, *backup.container.candidates()}
            ]
        problems = []
        for position in sorted({p for lookup in lookups for p in primaries_by.get(lookup, ())}):
            primary = primaries[position]
            shared = sorted(set(admins[backup.urn]) & set(admins[primary.urn]))
            if shared:
                names = ", ".join(admins[backup.urn][s] for s in shared)
                problems.append(f"shares administrators {names} with primary key {primary.name}")
            if backup.container is not None and same_ref(backup.container, primary.container):
                where = "key ring" if backup.cloud is Cloud.GCP else "vault"
                problems.append(f"lives in the same {where} as primary key {primary.name}")
        if problems:
            verdicts.append(
                fail(
                    rule,
                    backup,
                    "backup key "
                    + "; ".join(dict.fromkeys(problems))
                    + "; declare access.backup_key_admins distinct from key_admins and keep "
                    "backup keys in their own key policy, key ring or vault.",
                )
            )
        elif backup.urn in undecided or primary_undecided:
            verdicts.append(unknown(rule, backup, "who administers the keys"))
    return verdicts
