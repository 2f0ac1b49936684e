"""What every GCP component shares: labels, durations, IAM member checks and child names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

import pulumi

from keyplane.components._common import ComponentInputError, invalid, tags
from keyplane.standard import (
    TAG_ROTATE_BY,
    TAG_ROTATION_OWNER,
    KeyPurpose,
)

SECONDS_PER_DAY = 86_400

#: Members that would make a key or secret public (KM-ACC-001): keyplane never grants them.
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers", "*"})


_LABEL_INVALID = re.compile(r"[^a-z0-9_-]+")
_LABEL_MAX = 63


def label_value(value: str) -> str:
    """A GCP label value: lowercase letters, digits, `_` and `-`, at most 63 characters.

    https://cloud.google.com/resource-manager/docs/labels-overview#requirements
    """
    return _LABEL_INVALID.sub("-", value.lower()).strip("-")[:_LABEL_MAX]


def labels(
    environment: str,
    *,
    purpose: KeyPurpose | None = None,
    tenant: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The keyplane labels (DESIGN.md "Tags/labels"), values made valid for GCP."""
    result = tags(environment, purpose=purpose, tenant=tenant, extra=extra)
    return {key: label_value(value) for key, value in result.items()}


def rotation_plan_labels(owner: str, rotate_by: str) -> dict[str, str]:
    """The manual rotation plan of a key GCP cannot rotate (KM-ROT-004)."""
    return {TAG_ROTATION_OWNER: owner, TAG_ROTATE_BY: rotate_by}


def seconds(days: int) -> str:
    """A GCP duration (`"31536000s"`) of `days` days."""
    return f"{days * SECONDS_PER_DAY}s"


def digest(text: str, length: int = 8) -> str:
    """A short stable fingerprint, for child names that must not change when lists reorder."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def binding_name(resource: str, role: str, member: str) -> str:
    """Pulumi name of a non-authoritative IAM member: `<resource>-<role>-<hash of member>`."""
    short_role = role.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower()
    return f"{resource}-{short_role}-{digest(member)}"


def check_members(resource: str, field: str, members: Iterable[str]) -> None:
    """Refuse public principals before anything is registered (KM-ACC-001)."""
    for member in members:
        if member in PUBLIC_MEMBERS:
            raise invalid(
                field,
                f"{member!r} (on {resource!r}) is a public principal; keyplane never grants keys "
                "or secrets to everyone (KM-ACC-001): remove it",
            )


def after(resource: pulumi.Resource, value: str) -> pulumi.Output[str]:
    """`value` (known before `resource` exists) carrying a dependency on `resource`.

    GCP names its resources deterministically (`projects/P/locations/L/keyRings/R`), so their
    IDs are known at preview; passing them this way keeps them judgeable by policies at preview
    while still ordering creation after the resource.
    """
    return resource.urn.apply(lambda _: value)


__all__ = [
    "ComponentInputError",
    "after",
    "binding_name",
    "check_members",
    "digest",
    "invalid",
    "label_value",
    "labels",
    "rotation_plan_labels",
    "seconds",
    "tags",
]
