"""Values a fact can hold besides the plain ones: unknown-until-deployed, and references.

During `pulumi preview` a property computed from another resource's output (a new key's ARN, a
vault's ID) is not known yet. Facts carry `UNKNOWN` for it, so that a rule can answer "cannot
judge until deployed" instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias, TypeVar

T = TypeVar("T")


class Unknown(Enum):
    """The single value `UNKNOWN`: only known after deployment."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # `if facts.rotation_enabled:` on an unknown value is a bug in a rule, not a "no".
        raise TypeError("UNKNOWN has no truth value; compare with `is UNKNOWN` first")


UNKNOWN: Final = Unknown.UNKNOWN

#: A value of type T, or UNKNOWN during preview.
Maybe: TypeAlias = T | Unknown


@dataclass(frozen=True)
class Ref:
    """A reference to another resource: the literal value (name, ID, ARN, URI) and the URNs it
    was computed from.

    Either side may be missing: during preview the value of a new resource's ID is UNKNOWN but the
    engine still reports which resource it depends on; a hand-written ARN has a value and no URN.
    """

    value: str | Unknown | None
    urns: tuple[str, ...] = ()

    def candidates(self) -> frozenset[str]:
        """The value and its last path segment (`.../vaults/kv-prod` names `kv-prod`)."""
        if not isinstance(self.value, str) or not self.value:
            return frozenset()
        tail = self.value.rstrip("/").rsplit("/", 1)[-1]
        return frozenset({self.value, tail})

    @property
    def known(self) -> bool:
        return isinstance(self.value, str) or bool(self.urns)
