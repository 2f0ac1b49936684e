"""Pulumi's wire format and resource records, without importing the SDK (it loads slowly).

The marks are those of sdk/go/common/resource/sig.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The key that marks a special value, and the signature of a secret.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
#: A value unknown during preview.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Registration:
    """One resource as the engine would register it."""

    urn: str
    type: str
    name: str
    custom: bool
    #: The parent's URN ("" for the stack itself).
    parent: str
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    provider: str
    #: Inputs in Pulumi's wire form (camelCase; secrets and unknowns marked with SIG_KEY).
    inputs: Mapping[str, Any]
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Read, not managed (`Key.get(...)`: `external: true` in an export, a `read` step in a
    #: preview): the engine sends no read resource to a policy pack, and its empty inputs say
    #: nothing of the resource.
    read: bool = False
    #: The inputs as the program sent them (a protobuf Struct), when rendered here: the
    #: analyzer is handed these rather than a re-encoding of `inputs`.
    wire: Any = field(default=None, compare=False, repr=False)
