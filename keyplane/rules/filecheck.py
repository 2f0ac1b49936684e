"""What a file check (point V) works with: the estate it reads and the findings it yields.

Kept apart from `keyplane.rules.files` (which turns them into keyplane findings) so that the
family modules import nothing beyond the rules' own pure modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from keyplane.standard import POLICY_REVIEWED_ON

if TYPE_CHECKING:
    from keyplane.config import Estate

KEY_TYPE = "keyplane:config:Key"
SECRET_TYPE = "keyplane:config:Secret"
ACCESS_TYPE = "keyplane:config:KeyUser"
EXCEPTION_TYPE = "keyplane:config:Exception"
POLICY_TYPE = "keyplane:config:Policy"


@dataclass(frozen=True)
class FileContext:
    """What a file check reads: the loaded estate, the day it judges on, the policy's review."""

    estate: Estate
    today: date
    reviewed_on: date = POLICY_REVIEWED_ON


@dataclass(frozen=True)
class FileFinding:
    """A violation found in a file: `message` is `<rule> <subject>: <text>`."""

    rule: str
    subject: str
    type: str
    message: str
    path: str
    line: int | None
    #: The environment whose exceptions may cover it and whose gate reports it; None for a
    #: finding about the estate as a whole (the policy's review).
    environment: str | None


def file_finding(
    rule: str,
    subject: str,
    type_: str,
    text: str,
    *,
    path: str,
    line: int | None,
    environment: str | None,
) -> FileFinding:
    """`<rule> <subject>: <text>`, located in `path` at `line`."""
    return FileFinding(rule, subject, type_, f"{rule} {subject}: {text}", path, line, environment)
