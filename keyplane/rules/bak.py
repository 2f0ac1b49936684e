"""KM-BAK: backup keys are administered apart from primary keys and tested for restoration.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-BAK-001, KM-BAK-002 (restore tests: points V and A, one decision,
`restore_test_problem`) (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from keyplane.facts.access import (
    Access,
    is_wildcard_principal,
    principal_key,
)
from keyplane.facts.grants import grants_on, same_ref
from keyplane.facts.model import (
    Key,
    StackFacts,
)
from keyplane.rules.catalog import Point
from keyplane.rules.common import (
    purpose_of,
)
from keyplane.rules.context import Context
from keyplane.rules.filecheck import KEY_TYPE, FileContext, FileFinding, file_finding
from keyplane.rules.registry import Scope, check
from keyplane.rules.verdict import (
    Verdict,
    cannot_judge,
    fail,
    not_applicable,
    unknown,
)
from keyplane.standard import (
    RESTORE_TEST_MAX_AGE_DAYS,
    Cloud,
    KeyPurpose,
)

if TYPE_CHECKING:
    from keyplane.rules.context import RestoreTest


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
    unreadable: list[str] = []
    for key in keys:
        grants = grants_on(stack, key)
        admins[key.urn] = {
            principal_key(g.principal): g.principal
            for g in grants.applied
            if Access.ADMIN in g.access and not is_wildcard_principal(g.principal)
        }
        if grants.undecided:
            undecided.add(key.urn)
            unreadable.extend(grants.unreadable)
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
        elif unreadable and (backup.urn in undecided or primary_undecided):
            verdicts.append(cannot_judge(rule, backup, "; ".join(dict.fromkeys(unreadable))))
        elif backup.urn in undecided or primary_undecided:
            verdicts.append(unknown(rule, backup, "who administers the keys"))
    return verdicts


def restore_test_problem(
    test: RestoreTest | None,
    as_of: date,
    *,
    key: str,
    environment: str,
    live: Key | None = None,
) -> str | None:
    """KM-BAK-002's decision, shared by the file check (V) and the audit (A): what is wrong with
    a backup key's restore test that counts (`keyplane.config.evidence.latest_restore_test`:
    the later of `restore_tested_on` and the `keyplane restore-test` record), or None when it
    passed no more than `RESTORE_TEST_MAX_AGE_DAYS` days before `as_of`. With `live` (the
    audit: the key in the account), a test older than the key, or a record of another key ID,
    tested the key this one replaced (`keyplane respond` replaces a suspected key) and does not
    count."""
    run = f"keyplane restore-test {environment} --key {key} --apply"
    if test is None:
        return (
            "no restore test is on record for this backup key; run "
            f"`{run}` or record the date of a successful test in restore_tested_on."
        )
    if test.on > as_of:
        return (
            f"the restore test is dated {test.on.isoformat()}, after the judging day "
            f"{as_of.isoformat()}; record the day the test was done."
        )
    if live is not None and live.created is not None and test.on < live.created.date():
        return (
            f"the restore test on record ({test.on.isoformat()}, {test.source}) is older than "
            f"this key, created {live.created.date().isoformat()}: it tested the key this one "
            f"replaced; run `{run}`."
        )
    if live is not None and test.key_id is not None and test.key_id not in live.ids:
        return (
            f"the restore test on record ({test.on.isoformat()}, {test.source}) is of key "
            f"{test.key_id}, not of this one: it tested the key this one replaced; run `{run}`."
        )
    if not test.passed:
        return (
            f"the last restore test, on {test.on.isoformat()}, failed ({test.source}): the key "
            f"may not recover its backups; find why, fix it and run `{run}`."
        )
    age = (as_of - test.on).days
    if age > RESTORE_TEST_MAX_AGE_DAYS:
        return (
            f"the last restore test was on {test.on.isoformat()}, {age} days ago (more than "
            f"{RESTORE_TEST_MAX_AGE_DAYS}); run `{run}` and record it."
        )
    return None


@check("KM-BAK-002", points=(Point.VALIDATION,), scope=Scope.FILE)
def restore_tested(files: FileContext) -> Iterator[FileFinding]:
    """KM-BAK-002 on the environment files: every backup-encryption key that is not being
    retired has a restore test no older than a year (`restore_test_problem`)."""
    estate = files.estate
    for env in estate.environments.values():
        doc = estate.documents[env.name]
        for index, key in enumerate(env.keys):
            if key.purpose is not KeyPurpose.BACKUP_ENCRYPTION or key.retired is not None:
                continue
            problem = restore_test_problem(
                estate.restore_test(env.name, key.name),
                files.today,
                key=key.name,
                environment=env.name,
            )
            if problem is None:
                continue
            loc = ("keys", index, "restore_tested_on")
            yield file_finding(
                "KM-BAK-002",
                key.name,
                KEY_TYPE,
                problem,
                path=doc.path,
                line=doc.line_of(loc),
                environment=env.name,
            )


@check(
    "KM-BAK-002",
    points=(Point.AUDIT,),
    scope=Scope.STACK,
    permissions=("kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:ListResourceTags"),
)
def restore_tested_live(stack: StackFacts, context: Context) -> list[Verdict]:
    """KM-BAK-002 over a live account: every active backup key (declared as one, or tagged
    `backup-encryption` without being declared) has a restore test that counts
    (`Context.restore_tests`, judged by `restore_test_problem` as of `context.as_of`). Keys the
    environment declares for another purpose, or retires, are not judged here."""
    rule = "KM-BAK-002"
    verdicts: list[Verdict] = []
    for key in stack.keys:
        if key.name in context.restore_tests:
            problem = restore_test_problem(
                context.restore_tests[key.name],
                context.as_of,
                key=key.name,
                environment=context.environment,
                live=key,
            )
        elif key.name in context.declared_keys:
            continue
        elif purpose_of(key) is KeyPurpose.BACKUP_ENCRYPTION:
            problem = (
                f"this key is tagged {KeyPurpose.BACKUP_ENCRYPTION.value} but environment "
                f"{context.environment} does not declare it, so no restore test can be on "
                "record; declare it under keys[] and run `keyplane restore-test "
                f"{context.environment} --key <name> --apply`."
            )
        else:
            continue
        if problem is not None:
            verdicts.append(fail(rule, key, problem))
    return verdicts or [not_applicable(rule, "no active backup key without a recent restore test")]
