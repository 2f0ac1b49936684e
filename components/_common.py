"""What the components of every cloud share: the input error and the keyplane tags."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from keyplane.standard import TAG_ENVIRONMENT, TAG_MANAGED, TAG_PURPOSE, TAG_TENANT, KeyPurpose


class ComponentInputError(pulumi.RunError, ValueError):
    """An argument a component cannot provision; raised before anything is registered.

    A `pulumi.RunError`, so that `pulumi up` prints the one-line message without a traceback,
    and a `ValueError`, which is what it is.
    """


def invalid(field: str, detail: str) -> ComponentInputError:
    """`Invalid "field" argument: detail` (the message form of STYLE.md)."""
    return ComponentInputError(f'Invalid "{field}" argument: {detail}')


def tags(
    environment: str,
    *,
    purpose: KeyPurpose | None = None,
    tenant: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The keyplane tags (DESIGN.md "Tags/labels") of a resource of `environment`."""
    result = {TAG_ENVIRONMENT: environment, TAG_MANAGED: "true"}
    if purpose is not None:
        result[TAG_PURPOSE] = purpose.value
    if tenant is not None:
        result[TAG_TENANT] = tenant
    result.update(extra or {})
    return result
