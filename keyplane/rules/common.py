"""Helpers several rule families share: a resource's declared purpose, its rotation limit, how
algorithms and actions are shown in messages."""

from __future__ import annotations

from collections.abc import Iterable

from keyplane.facts.access import action_label
from keyplane.facts.model import Key, Resource, Secret, StackFacts
from keyplane.facts.values import UNKNOWN, Unknown
from keyplane.rules.verdict import Verdict
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
