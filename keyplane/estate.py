"""Loading the estate as the commands and engines need it: `keyplane.config`'s loader with the
rule catalog passed in (`config` sits below `rules` and does not import it)."""

from __future__ import annotations

from pathlib import Path

from keyplane.config import Estate
from keyplane.config import load_estate as load_estate_with
from keyplane.rules.catalog import RULES


def load_estate(directory: Path) -> Estate:
    """Read and check every file of the estate in `directory`, the exceptions register against
    the rule catalog (KM-EXC-001); raise `keyplane.config.ConfigError` listing every problem."""
    return load_estate_with(directory, rules=RULES)
