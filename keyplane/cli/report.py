"""`keyplane report ENV`: the auditor's HTML report of an environment (`keyplane.reports.html`).

Two sources, one page:

- by default, the offline gate (what `keyplane preview ENV` runs: render, CrossGuard pack,
  checkov, file-level rules), judged now;
- with `--audit-json FILE`, a live audit as it was filed: the JSON `keyplane audit ENV --format
  json` wrote, with its evidence, rendered without calling the cloud again (the file is checked,
  and refused with exit 2 when it is not such a document or its verdict contradicts its
  findings).

Either way the page adds the environment's exceptions with their expiry and the policy
artefacts `keyplane docs ENV` writes. Exit codes as the gate's: 1 when a mandatory finding is
reported (whatever `--framework` shows), 2 on bad input, 0 otherwise.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    AsOfOption,
    EstateOption,
    FrameworkOption,
    fail_bad_input,
    framework_view,
    load_estate_or_exit,
    parse_day,
)
from keyplane.config import ConfigError, Estate
from keyplane.findings import Finding, has_mandatory
from keyplane.reports.dossier import dossier_of
from keyplane.rules.catalog import Point, rules_at


@dataclass(frozen=True)
class _Judged:
    """What the page is rendered from, whichever the source."""

    command: str
    findings: list[Finding]
    resources: list[Any]
    checked_rules: tuple[str, ...]
    evidence: dict[str, Any] | None = None
    duration_seconds: float | None = None


def report(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    estate: EstateOption = DEFAULT_ESTATE,
    audit_json: Annotated[
        Path | None,
        typer.Option(
            "--audit-json",
            help="Render this saved `keyplane audit ENV --format json` document (with its "
            "evidence) instead of running the offline gate.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the HTML to FILE (atomically); default stdout."),
    ] = None,
    framework: FrameworkOption = None,
    no_checkov: Annotated[
        bool, typer.Option("--no-checkov", help="Offline gate without checkov.")
    ] = False,
    as_of: AsOfOption = None,
) -> None:
    """Write the auditor's HTML report of ENV: verdict, findings by rule and resource,
    exceptions, audit evidence, tenant isolation claim, shared-key register, traceability and
    policy coverage matrices."""
    began = time.monotonic()
    today = parse_day(as_of)
    loaded = load_estate_or_exit(estate)
    env = loaded.environments.get(environment)
    if env is None:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input(
            [
                f"{estate / (environment + '.yaml')}: no such environment (known: {known}); "
                "pass an environment of --estate"
            ]
        )
    if audit_json is not None:
        judged = _saved_audit(audit_json, environment)
    else:
        judged = _offline_gate(loaded, environment, today, run_checkov=not no_checkov)
    shown, note = framework_view(judged.findings, framework)
    from keyplane.reports import Report, html_report, summary_line, write_atomic  # noqa: PLC0415

    page = Report(
        findings=shown,
        resources=judged.resources,
        environment=environment,
        command=judged.command,
        checked_rules=judged.checked_rules,
        environment_file=str(estate / f"{environment}.yaml"),
        duration_seconds=(
            judged.duration_seconds
            if judged.duration_seconds is not None
            else time.monotonic() - began
        ),
        dossier=dossier_of(
            loaded,
            env,
            as_of=today,
            evidence=judged.evidence,
            framework=framework.value if framework else None,
            framework_note=note,
        ),
    )
    text = html_report(page)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(output, text)
        except OSError as err:
            fail_bad_input(
                [f"{err.filename or output}: cannot write: {err.strerror}; check the path"]
            )
        sys.stdout.write(f"{summary_line(page)} (report: {output})\n")
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(judged.findings) else EXIT_CLEAN)


def _saved_audit(path: Path, environment: str) -> _Judged:
    from keyplane.reports.saved_audit import load_saved_audit  # noqa: PLC0415

    try:
        saved = load_saved_audit(path)
    except ConfigError as err:
        fail_bad_input([str(p) for p in err.problems])
    if saved.environment != environment:
        fail_bad_input(
            [
                f"{path}: environment: the audit is of {saved.environment!r}, not "
                f"{environment!r}; pass the audit of {environment} or `keyplane report "
                f"{saved.environment}`"
            ]
        )
    return _Judged(
        command="audit",
        findings=list(saved.findings),
        resources=list(saved.records),
        checked_rules=tuple(r.id for r in rules_at(Point.AUDIT)),
        evidence=dict(saved.evidence),
        duration_seconds=saved.duration_seconds,
    )


def _offline_gate(estate: Estate, environment: str, today: date, *, run_checkov: bool) -> _Judged:
    from keyplane.engines.checkov.runner import CheckovError  # noqa: PLC0415
    from keyplane.engines.crossguard.harness import PackError  # noqa: PLC0415
    from keyplane.gate import RenderError, preview  # noqa: PLC0415 - loads the Pulumi SDK
    from keyplane.render_shards import ShardFailure  # noqa: PLC0415

    try:
        result = preview(estate, environment, today=today, run_checkov=run_checkov)
    except RenderError as err:
        fail_bad_input(str(err).splitlines())
    except (CheckovError, PackError, ShardFailure) as err:
        fail_bad_input([str(err)])
    return _Judged(
        command="preview",
        findings=list(result.findings),
        resources=list(result.resources),
        checked_rules=tuple(result.checked_rules),
    )
