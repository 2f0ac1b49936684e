"""`keyplane diff`: the security-relevant differences of two stack exports, or of one preview
(`keyplane.diff` classifies; exit 1 with `--fail-on-risk` when a change weakens a mandatory rule).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    EstateOption,
    fail_bad_input,
    load_estate_or_exit,
)
from keyplane.cli.reporting import (
    JsonOption,
    MarkdownOption,
    QuietOption,
    emit,
    plan_destinations,
)
from keyplane.config import ConfigError
from keyplane.diff import StackDiff, diff_resources, json_text, markdown_text, summary_text
from keyplane.pulumi_json import PulumiState, load_pulumi_json
from keyplane.reports.formats import DiffFormat
from keyplane.rules.context import Context


def _load(path: Path) -> PulumiState:
    try:
        return load_pulumi_json(path)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])


def compute_diff(
    old: Path,
    new: Path | None,
    home_scopes: frozenset[str] | None,
    context: Context | None = None,
    *,
    allow_different_stacks: bool = False,
) -> StackDiff:
    """The diff of two exports, or of one preview, judged with `context` (the environment's;
    None: derived from the states); exits 2 on bad input, and on exports of two different
    stacks (project or stack name differ) unless `allow_different_stacks`."""
    before = _load(old)
    if new is None:
        if before.kind != "preview":
            fail_bad_input(
                [
                    f"{old}: a stack export alone has nothing to compare; pass OLD and NEW "
                    "exports, or one `pulumi preview --json` file"
                ]
            )
        return diff_resources(
            before.old_resources,
            before.resources,
            operations=before.operations,
            home_scopes=home_scopes,
            context=context,
        )
    after = _load(new)
    for path, state in ((old, before), (new, after)):
        if state.kind != "export":
            fail_bad_input(
                [
                    f"{path}: a preview cannot be compared with another file; pass it alone "
                    "(`keyplane diff PREVIEW`) or pass two `pulumi stack export` files"
                ]
            )
    if not allow_different_stacks and (before.project, before.stack) != (
        after.project,
        after.stack,
    ):
        fail_bad_input(
            [
                f"{new}: stack {_stack_name(after)} is not {old}'s stack "
                f"{_stack_name(before)}; compare two exports of one stack, or pass "
                "--allow-different-stacks"
            ]
        )
    return diff_resources(
        before.resources,
        after.resources,
        old_ids=before.ids,
        new_ids=after.ids,
        home_scopes=home_scopes,
        context=context,
    )


def _stack_name(state: PulumiState) -> str:
    return f"{state.project or '?'}/{state.stack or '?'}"


def diff(
    old: Annotated[
        Path,
        typer.Argument(
            help="The older `pulumi stack export` file, or a `pulumi preview --json` file alone.",
            show_default=False,
        ),
    ],
    new: Annotated[
        Path | None,
        typer.Argument(help="The newer `pulumi stack export` file.", show_default=False),
    ] = None,
    format: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="Output format.")
    ] = DiffFormat.MARKDOWN,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    json_file: JsonOption = None,
    markdown: MarkdownOption = None,
    quiet: QuietOption = False,
    fail_on_risk: Annotated[
        bool,
        typer.Option("--fail-on-risk", help="Exit 1 when a change weakens a mandatory rule."),
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="The environment of the stack: the rules are judged with its estate (its "
            "account/project is the home of principals). Default: a context derived from the "
            "states; the rules that need the estate are then named in the summary, not judged.",
        ),
    ] = None,
    estate: EstateOption = DEFAULT_ESTATE,
    allow_different_stacks: Annotated[
        bool,
        typer.Option(
            "--allow-different-stacks",
            help="Compare exports of two different stacks (project or stack name differ), "
            "e.g. staging against production.",
        ),
    ] = False,
) -> None:
    """Security-relevant differences of two stack exports (or of a preview), rule by rule."""
    destinations = plan_destinations(
        console=format.value,
        output=output,
        quiet=quiet,
        files={"json": json_file, "markdown": markdown},
    )
    home_scopes: frozenset[str] | None = None
    context: Context | None = None
    if env is not None:
        loaded = load_estate_or_exit(estate)
        environment = loaded.environments.get(env)
        if environment is None:
            known = ", ".join(sorted(loaded.environments))
            fail_bad_input([f"--env: unknown environment {env!r} (known: {known})"])
        home_scopes = frozenset({environment.scope_id})
        context = Context.from_estate(loaded, env, date.today())
    result = compute_diff(
        old, new, home_scopes, context, allow_different_stacks=allow_different_stacks
    )
    emit(
        destinations,
        lambda fmt, _color, _width: json_text(result) if fmt == "json" else markdown_text(result),
        summary_text(result),
    )
    raise typer.Exit(
        EXIT_VIOLATIONS if fail_on_risk and result.has_mandatory_risk() else EXIT_CLEAN
    )
