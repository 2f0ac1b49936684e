"""Helpers several rule families share: a resource's declared purpose, its rotation limit, how
algorithms and actions are shown in messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from keyplane.facts.access import Effect, action_label, requires_mfa
from keyplane.facts.model import Key, Resource, Role, Secret, StackFacts
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.verdict import Verdict

if TYPE_CHECKING:
    from keyplane.rules.registry import AccessChange
from keyplane.standard import PURPOSES, STRICTEST_ROTATION_DAYS, Algorithm, Cloud, KeyPurpose


def purpose_of(facts: Resource) -> KeyPurpose | Unknown | None:
    """The declared purpose; None when the tag is missing or not one of the policy's."""
    tag = facts.purpose_tag
    if isinstance(tag, Unknown):
        return UNKNOWN
    try:
        return KeyPurpose(tag) if tag else None
    except ValueError:
        return None


def rotation_limit(purpose: KeyPurpose | None) -> int:
    """The purpose's maximum period in days, or the strictest one when no purpose is declared
    (Policy §7, the rotation table of `keyplane.standard`)."""
    return PURPOSES[purpose].max_rotation_days if purpose else STRICTEST_ROTATION_DAYS


def key_kind(facts: Key) -> str:
    """What the cloud calls a key: `KMS key`, `crypto key`, `Key Vault key`."""
    return {Cloud.AWS: "KMS key", Cloud.GCP: "crypto key", Cloud.AZURE: "Key Vault key"}[
        facts.cloud
    ]


def algorithm_name(algorithm: Algorithm | str) -> str:
    """The algorithm as the policy names it (`RSA_2048`), or as written when it is not one."""
    return algorithm.name if isinstance(algorithm, Algorithm) else algorithm


def unique(items: Iterable[str]) -> list[str]:
    """`items` without repeats, in order."""
    return list(dict.fromkeys(items))


def keys_and_secrets(stack: StackFacts) -> list[Key | Secret]:
    return [f for f in stack.resources if isinstance(f, Key | Secret)]


def shown(actions: Iterable[str]) -> str:
    """Actions as messages show them."""
    return ", ".join(action_label(a) for a in actions)


def dedupe(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """One verdict per (resource, message), the first kept."""
    seen: dict[tuple[str, str], Verdict] = {}
    for verdict in verdicts:
        seen.setdefault((verdict.urn, verdict.message), verdict)
    return list(seen.values())


# --- comparing a value before and after a change (the families' `@weakening`s) --------------


def lengthened(was: object, now: object) -> bool:
    """Both known whole numbers, and the new one larger."""
    return isinstance(was, int) and isinstance(now, int) and now > was


def shortened(was: object, now: object) -> bool:
    """Both known whole numbers, and the new one smaller."""
    return isinstance(was, int) and isinstance(now, int) and now < was


def switched_off(was: object, now: object) -> bool:
    """A setting switched off: True before, False or absent now."""
    return was is True and (now is False or now is None)


def lost(before: object, after: object) -> str:
    """The members of a known set that a known set no longer has, comma-separated."""
    if isinstance(before, frozenset) and isinstance(after, frozenset):
        return ", ".join(sorted(str(x) for x in before - after))
    return ""


def changed_tag(tag: str, before: Resource | None, after: Resource | None) -> str | None:
    """How a tag a rule reads was removed or changed ("changed from 'a' to 'b'", "removed (was
    'a')"), or None when it was not (added or still unknown is not a weakening)."""
    if before is None or after is None:
        return None
    old, new = before.tag(tag), after.tag(tag)
    if not isinstance(old, str) or not old or isinstance(new, Unknown) or new == old:
        return None
    return f"changed from {old!r} to {new!r}" if new else f"removed (was {old!r})"


def access_text(change: AccessChange) -> str:
    """What was newly granted, as messages show it: the new actions, else the access gained."""
    if change.new_actions:
        return shown(change.new_actions)
    return "+".join(sorted(a.value for a in change.gained)) or "no key rights"


def trusted(role: object) -> dict[str, bool]:
    """Principals a role's trust policy allows, each with whether every statement that lets it
    in requires MFA (empty for anything else, or a trust policy not known yet)."""
    result: dict[str, bool] = {}
    if not isinstance(role, Role) or isinstance(role.trust, Unknown):
        return result
    for grant in role.trust:
        if grant.effect is Effect.ALLOW and isinstance(grant.principal, str):
            result[grant.principal] = result.get(grant.principal, True) and requires_mfa(grant)
    return result
