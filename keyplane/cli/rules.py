"""`keyplane rules`: the rule catalog as enforced (`keyplane.reports.catalog`)."""

from __future__ import annotations

from typing import Annotated

import typer

from keyplane.cli.prelude import stdout
from keyplane.reports.catalog import rules_json, rules_markdown, rules_table
from keyplane.reports.formats import RulesFormat


def rules(
    format: Annotated[
        RulesFormat, typer.Option("--format", "-f", help="Output format.")
    ] = RulesFormat.TABLE,
) -> None:
    """Print the rule catalog as enforced."""
    if format is RulesFormat.JSON:
        print(rules_json())
    elif format is RulesFormat.MARKDOWN:
        print(rules_markdown(), end="")
    else:
        stdout.print(rules_table())
