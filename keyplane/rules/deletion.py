"""KM-DEL: keys, vaults and HSM clusters are protected against deletion.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-DEL-001 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.facts.model import (
    Facts,
    HsmCluster,
    Key,
    KeyContainer,
    Vault,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.common import shortened, switched_off
from keyplane.rules.context import Context
from keyplane.rules.registry import Observation, Transition, check, weakening
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    AWS_DELETION_WINDOW_DAYS,
    AZURE_MIN_SOFT_DELETE_RETENTION_DAYS,
    GCP_MIN_DESTROY_SCHEDULED_DAYS,
    Cloud,
)


@check(
    "KM-DEL-001",
    points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT),
    kinds=(Key, Vault, HsmCluster),
)
def deletion_protection(facts: Facts, context: Context) -> Verdict:
    """KM-DEL-001 on a key, vault or HSM cluster: deletion windows and soft delete within the
    policy, purge protection, and Pulumi's protect in protected tiers."""
    rule = "KM-DEL-001"
    if not isinstance(facts, Key | Vault | HsmCluster):
        return not_applicable(rule, "not a key, vault or HSM cluster")
    problems: list[str] = []
    undecided: list[str] = []
    if isinstance(facts, Key):
        window = facts.deletion_window_days
        if isinstance(window, Unknown):
            undecided.append("the deletion window")
        elif window is not None:
            if facts.cloud is Cloud.AWS and window < AWS_DELETION_WINDOW_DAYS:
                problems.append(
                    f"deletion window {window} days is shorter than {AWS_DELETION_WINDOW_DAYS}; "
                    f"set deletion_window_days to {AWS_DELETION_WINDOW_DAYS}"
                )
            elif facts.cloud is Cloud.GCP and window < GCP_MIN_DESTROY_SCHEDULED_DAYS:
                problems.append(
                    f"destroy-scheduled duration {window} days is shorter than "
                    f"{GCP_MIN_DESTROY_SCHEDULED_DAYS}; set deletion_window_days to "
                    f"{GCP_MIN_DESTROY_SCHEDULED_DAYS} or more"
                )
    if isinstance(facts, Vault):
        if isinstance(facts.purge_protection, Unknown):
            undecided.append("purge protection")
        elif not facts.purge_protection:
            problems.append("purge protection is off; set enablePurgeProtection to true")
        soft = facts.soft_delete_days
        if isinstance(facts.soft_delete, Unknown):
            undecided.append("soft delete")
        elif not facts.soft_delete:
            # Without soft delete a deleted vault and its keys are gone at once.
            problems.append("soft delete is off; set enableSoftDelete to true")
        if isinstance(soft, Unknown):
            undecided.append("the soft-delete retention")
        elif soft is not None and soft < AZURE_MIN_SOFT_DELETE_RETENTION_DAYS:
            problems.append(
                f"soft-delete retention {soft} days is shorter than "
                f"{AZURE_MIN_SOFT_DELETE_RETENTION_DAYS}; set softDeleteRetentionInDays to "
                f"{AZURE_MIN_SOFT_DELETE_RETENTION_DAYS}"
            )
    protected_kind = isinstance(facts, Key | HsmCluster) or (
        isinstance(facts, Vault) and facts.managed_hsm
    )
    if protected_kind and context.protected:
        if isinstance(facts.protect, Unknown):
            undecided.append("the protect option")
        elif not facts.protect:
            tier = context.effective_tier.value
            declared = "" if context.tier else " (no tier declared: judged as production)"
            problems.append(
                f"the Pulumi protect option is not set in the {tier} environment "
                f"{context.environment}{declared}; set protect=True (or retain_on_delete)"
            )
    if problems:
        return fail(rule, facts, "; ".join(problems) + ".")
    if undecided:
        return unknown(rule, facts, " and ".join(undecided))
    return passed(rule, facts)


_HOLDERS = {Key: "key", HsmCluster: "HSM cluster", Vault: "vault", KeyContainer: "key ring"}


@weakening("KM-DEL-001", kinds=(Key, HsmCluster, Vault, KeyContainer))
def deletion_weakened(change: Transition) -> Iterator[Observation]:
    """KM-DEL-001 in a change: a key, or what holds keys, destroyed (deleted or replaced); its
    Pulumi protect removed; a deletion window or soft-delete retention shortened; purge
    protection turned off."""
    before, after = change.before, change.after
    if before is None:
        return
    name = before.name
    if after is None or change.replaced:
        what = _HOLDERS.get(type(before), "key holder")
        verb = "deleted" if after is None else "replaced (the old one is destroyed)"
        yield Observation(
            f"{name}: {what} {verb}: data encrypted under {'it' if what == 'key' else 'its keys'} "
            "becomes unrecoverable (Policy §11: loss of encryption keys is potential data loss); "
            "keep it, or re-encrypt the data first and record the change."
        )
    if after is None:
        return
    if before.protect is True and after.protect is False:
        yield Observation(
            f"{name}: Pulumi `protect` removed: a `pulumi destroy` or a refactor can now delete "
            "it; keep protect=True in staging and production."
        )
    if isinstance(before, Key) and isinstance(after, Key):
        was, now = before.deletion_window_days, after.deletion_window_days
        if shortened(was, now):
            yield Observation(
                f"{name}: deletion window shortened from {was} to {now} days; keep it at "
                f"{AWS_DELETION_WINDOW_DAYS}."
            )
    if isinstance(before, Vault) and isinstance(after, Vault):
        if switched_off(before.purge_protection, after.purge_protection):
            yield Observation(f"{name}: purge protection turned off.")
        if shortened(before.soft_delete_days, after.soft_delete_days):
            yield Observation(
                f"{name}: soft-delete retention shortened from {before.soft_delete_days} to "
                f"{after.soft_delete_days} days."
            )
