"""Rendering part of an estate's tenants: the offline gate's sharded render.

Under the Pulumi CLI (and in every render that sets no shard) nothing here changes what a
component registers. The offline gate (`keyplane.render_shards`) renders a large estate in several
processes, each with a `TenantShard`: a component then registers the resources of the shard's
tenants and every resource no tenant owns (roles, the audit trail, shared keys), and stands in
for another shard's resources where a shared resource needs their outputs (the key ARNs a role's
policy names). A stand-in has the value the mock engine gives the real resource, so every shared
resource is registered with the same inputs in every shard; the gate checks that, and joins the
dependencies the shards record (README, "Speed and memory").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TenantShard:
    """The tenants whose resources this render registers.

    Attributes:
        tenants: tenant names of the shard.
        outputs: the outputs the render's mock engine gives a resource, from its type token and
            Pulumi name (`{"arn": ...}`): what a stand-in holds.
    """

    tenants: frozenset[str]
    outputs: Callable[[str, str], dict[str, Any]]


_current: TenantShard | None = None


@contextmanager
def rendering(shard: TenantShard) -> Iterator[None]:
    """Render only `shard`'s tenants within the block (one render at a time per process)."""
    global _current  # noqa: PLW0603 - the program's components read it, as they read stack config
    previous, _current = _current, shard
    try:
        yield
    finally:
        _current = previous


def renders(tenant: str | None) -> bool:
    """Whether this render registers the resources of `tenant` (None: the platform's own)."""
    return _current is None or tenant is None or tenant in _current.tenants


def stand_in(type_token: str, name: str, output: str) -> Any:
    """The output `output` of the resource `name` of `type_token` that another shard registers:
    the plain value the mock engine gives it (an input wherever the resource's output would
    be; a plain value costs the SDK less than an `Output`, and a shard stands in for every
    other shard's resources).

    Raises LookupError when the mock engine gives that resource no such output.
    """
    if _current is None:
        raise LookupError(f"{type_token} {name}: a stand-in outside a sharded render")
    value = _current.outputs(type_token, name).get(output)
    if value is None:
        raise LookupError(f"{type_token} {name}: the mock engine gives no {output!r} output")
    return value
