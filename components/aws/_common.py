"""What every AWS component shares: the input error, tags, partitions and IAM policy documents."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from keyplane.components._common import ComponentInputError, invalid
from keyplane.components._common import tags as keyplane_tags
from keyplane.standard import KeyPurpose

#: An IAM policy statement or document, as plain data (tests assert them as such).
Statement: TypeAlias = dict[str, Any]
PolicyDocument: TypeAlias = dict[str, Any]

POLICY_VERSION = "2012-10-17"


# https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions
_TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]{0,256}")


def tags(
    environment: str,
    *,
    purpose: KeyPurpose | None = None,
    tenant: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The keyplane tags of a resource of `environment`, checked against what AWS accepts."""
    result = keyplane_tags(environment, purpose=purpose, tenant=tenant, extra=extra)
    for key, value in result.items():
        if not _TAG_VALUE.fullmatch(value):
            raise invalid(
                "tags",
                f"AWS does not accept {value!r} as the value of tag {key!r} (letters, digits, "
                "spaces and _ . : / = + - @, at most 256 characters); change the value",
            )
    return result


# --- ARNs and principals ------------------------------------------------------------------------


def partition(region: str) -> str:
    """The ARN partition of `region` (`aws`, `aws-cn`, `aws-us-gov`, ...)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


_WILDCARD_ACCOUNT = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\*:")


def principal_block(principals: Iterable[str], *, field: str) -> dict[str, list[str]]:
    """An IAM `Principal` naming `principals`: AWS principals, and services (`*.amazonaws.com`).

    keyplane never grants anything to everyone (KM-ACC-001): a wildcard principal is refused
    here, before anything is registered.
    """
    aws: list[str] = []
    services: list[str] = []
    for principal in dict.fromkeys(principals):
        if principal == "*" or _WILDCARD_ACCOUNT.match(principal):
            raise invalid(
                field,
                f"KM-ACC-001: the wildcard principal {principal!r} would grant every AWS "
                "account; name specific roles or users",
            )
        (services if principal.endswith(".amazonaws.com") else aws).append(principal)
    block: dict[str, list[str]] = {}
    if aws:
        block["AWS"] = aws
    if services:
        block["Service"] = services
    return block


def document(statements: Sequence[Statement]) -> PolicyDocument:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def to_json(policy: PolicyDocument) -> str:
    return json.dumps(policy, indent=2)


def sid(*words: str) -> str:
    """An IAM statement ID (letters and digits only) from words and dashed names."""
    return "".join(part.capitalize() for word in words for part in re.split(r"[^A-Za-z0-9]+", word))


__all__ = ["ComponentInputError", "invalid", "tags"]
