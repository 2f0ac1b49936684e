"""`keyplane audit ENV`: judge what is deployed in an environment's AWS account, GCP project or
Azure subscription and file the evidence (the engine is `keyplane.engines.audit`: `aws.py`, or,
imported only for an environment of their cloud, `gcp.py` and `azure.py`; rendering goes through
`keyplane.reports`).

Exit 1 on a mandatory finding, including a mandatory rule left unknown because a read failed
or the deadline (`--timeout`) passed, a declared key or secret missing from the account, or a key
pending deletion without a retirement record; 2 when the audit cannot run (invalid estate,
unknown environment or one of a cloud the audit does not read, an endpoint that is not an
http(s) URL, `--days` outside 1-90 (AWS) or 1-400 (GCP), credentials of another account, of
another Azure tenant, or that cannot reach the project or subscription, no GCP or Azure
credentials, the cloud unreachable).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from keyplane.adapters.boto3 import EVENT_HISTORY_DAYS
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
from keyplane.cli.reporting import (
    CheckOption,
    FailOnOption,
    HtmlOption,
    JsonOption,
    JunitOption,
    MarkdownOption,
    PolicyConfigOption,
    QuietOption,
    SarifOption,
    SkipCheckOption,
    SoftFailOption,
    emit,
    load_project_defaults,
    plan_destinations,
    resolve_estate,
    resolve_tuning,
)
from keyplane.config import Estate
from keyplane.engines.audit.aws import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    check_endpoint_url,
    check_event_days,
    run_audit,
)
from keyplane.engines.audit.judge import AuditError, AuditResult
from keyplane.locations import repository_root
from keyplane.reports import Report, json_document, render_report, summary_line
from keyplane.reports.dossier import Dossier, dossier_of
from keyplane.reports.formats import AuditFormat
from keyplane.reports.model import verdict
from keyplane.rules.catalog import Point, rules_at
from keyplane.rules.frameworks import Framework, rules_of, select_framework
from keyplane.standard import Cloud
from keyplane.tuning import Tuning


def audit_report(
    result: AuditResult,
    tuning: Tuning | None = None,
    *,
    framework: Framework | None = None,
    dossier: Dossier | None = None,
) -> Report:
    """The audit's findings as a `Report` (tuned: `--skip-check`, `--check`, `--fail-on`...;
    shown as `--framework` selects); its summary says what was declared, found and judged.
    `dossier`: the HTML report's exceptions and documents (the evidence is added here)."""
    evidence = result.evidence
    inventory = evidence.inventory
    tuning = tuning or Tuning()
    findings, skipped = tuning.apply(result.findings)
    checked = tuning.checked(r.id for r in rules_at(Point.AUDIT))
    if framework is not None:
        findings = list(select_framework(findings, framework).shown)
        checked = [r for r in checked if r in rules_of(framework)]
    return Report(
        findings=findings,
        resources=result.records,
        environment=evidence.environment,
        command="audit",
        checked_rules=checked,
        dossier=replace(dossier, evidence=evidence.to_json()) if dossier is not None else None,
        started_at=evidence.started_at,
        duration_seconds=(evidence.finished_at - evidence.started_at).total_seconds(),
        scope=inventory.text() if inventory is not None else None,
        source_root=str(repository_root()),
        working_directory=str(Path.cwd()),
        fail_on=tuning.fail_on,
        soft_fail=tuning.soft_fail,
        skipped=tuple(skipped),
        selected=tuning.only,
    )


def render(
    result: AuditResult,
    fmt: AuditFormat | str,
    *,
    color: bool = False,
    width: int | None = None,
    tuning: Tuning | None = None,
    framework: Framework | None = None,
    dossier: Dossier | None = None,
) -> str:
    """The report in `fmt`, with the evidence: an `evidence` object in JSON, a section in HTML,
    a header in the table and Markdown; the summary says what was declared, found and judged
    (JSON: `summary.declared`, `found`, `missing` beside the contract's counts). SARIF and JUnit
    are the findings report alone."""
    evidence = result.evidence
    inventory = evidence.inventory
    report = audit_report(result, tuning, framework=framework, dossier=dossier)
    if fmt == AuditFormat.JSON:
        document = json_document(report)
        if inventory is not None:
            document["summary"]["declared"] = sum(inventory.declared.values())
            document["summary"]["found"] = sum(inventory.found.values())
            document["summary"]["missing"] = len(inventory.missing)
        document["evidence"] = evidence.to_json()
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text = render_report(report, str(fmt), color=color, width=width)
    if fmt == AuditFormat.MARKDOWN:
        header = "".join(f"> {line}\n>\n" for line in evidence.header_lines()).rstrip(">\n")
        return f"{header}\n\n{text}"
    if fmt == AuditFormat.TABLE:
        return "".join(f"{line}\n" for line in evidence.header_lines()) + "\n" + text
    return text


def _audit_azure(
    estate: Estate,
    environment: str,
    today: date,
    endpoint_url: str | None,
    timeout: float,
    call_timeout: float | None,
) -> AuditResult:
    """The audit of an Azure environment (Azure's activity log is not read: `--days` does not
    apply)."""
    from keyplane.engines.audit.azure import run_azure_audit  # noqa: PLC0415 - Azure only

    return run_azure_audit(
        estate,
        environment,
        as_of=today,
        endpoint_url=endpoint_url,
        timeout_seconds=timeout,
        call_timeout_seconds=call_timeout,
    )


def audit(
    ctx: typer.Context,
    environment: Annotated[
        str, typer.Argument(help="Environment name: DIR/ENV.yaml (AWS, GCP or Azure).")
    ],
    estate: EstateOption = DEFAULT_ESTATE,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Send every cloud call to this URL (moto_server, or a local server answering "
            "as Google's REST APIs or Azure Resource Manager do).",
        ),
    ] = None,
    format: Annotated[
        AuditFormat, typer.Option("--format", "-f", help="Report format.")
    ] = AuditFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the console report to FILE instead (atomically)."
        ),
    ] = None,
    json_file: JsonOption = None,
    sarif: SarifOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    html: HtmlOption = None,
    quiet: QuietOption = False,
    as_of: AsOfOption = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            help="Overall deadline in seconds: what is not read by then is reported "
            "unverifiable (exit 1 when a mandatory rule is left unknown).",
        ),
    ] = DEFAULT_TIMEOUT_SECONDS,
    call_timeout: Annotated[
        float | None,
        typer.Option(
            "--call-timeout",
            min=0.1,
            help=f"Seconds to connect and to wait for each answer (default "
            f"{CONNECT_TIMEOUT_SECONDS:g} to connect, {READ_TIMEOUT_SECONDS:g} to read); a call "
            "that times out is retried within the deadline.",
        ),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            help=f"List each key's lifecycle events of the last N days (AWS: 1 to "
            f"{EVENT_HISTORY_DAYS}, CloudTrail's event history; GCP: 1 to 400, Cloud Audit "
            "Logs' Admin Activity retention; not read on Azure).",
        ),
    ] = EVENT_HISTORY_DAYS,
    policy_config: PolicyConfigOption = None,
    skip_check: SkipCheckOption = None,
    check: CheckOption = None,
    fail_on: FailOnOption = None,
    soft_fail: SoftFailOption = False,
    framework: FrameworkOption = None,
) -> None:
    """Audit the deployed keys, logs, alerts and secrets of an AWS, GCP or Azure environment;
    file the evidence."""
    today = parse_day(as_of)
    try:
        check_endpoint_url(endpoint_url)
    except AuditError as err:
        fail_bad_input([f"keyplane audit: {err}"])
    defaults = load_project_defaults()
    estate = resolve_estate(ctx, estate, defaults)
    tuning = resolve_tuning(
        ctx,
        defaults,
        policy_config=policy_config,
        skip_check=skip_check,
        check=check,
        fail_on=fail_on,
        soft_fail=soft_fail,
    )
    destinations = plan_destinations(
        console=format.value,
        output=output,
        quiet=quiet,
        files={
            "json": json_file,
            "sarif": sarif,
            "junit": junit,
            "markdown": markdown,
            "html": html,
        },
    )
    loaded = load_estate_or_exit(estate)
    env = loaded.environments.get(environment)
    try:
        if env is not None and env.cloud is Cloud.GCP:
            from keyplane.engines.audit import gcp  # noqa: PLC0415 - Google's libraries

            result = gcp.run_audit(
                loaded,
                environment,
                as_of=today,
                endpoint_url=endpoint_url,
                timeout_seconds=timeout,
                call_timeout_seconds=call_timeout,
                event_days=days,
            )
        elif env is not None and env.cloud is Cloud.AZURE:
            result = _audit_azure(loaded, environment, today, endpoint_url, timeout, call_timeout)
        else:
            check_event_days(days)
            result = run_audit(
                loaded,
                environment,
                as_of=today,
                endpoint_url=endpoint_url,
                timeout_seconds=timeout,
                call_timeout_seconds=call_timeout,
                event_days=days,
            )
    except AuditError as err:
        fail_bad_input([f"keyplane audit: {err}"])
    tuned, _ = tuning.apply(result.findings)
    _, note = framework_view(tuned, framework)  # prints the note once
    dossier = None
    wants_html = destinations.console == AuditFormat.HTML.value or any(
        fmt == AuditFormat.HTML.value for fmt, _ in destinations.files
    )
    if wants_html and env is not None:
        dossier = dossier_of(
            loaded,
            env,
            as_of=today,
            framework=framework.value if framework else None,
            framework_note=note,
        )
    report = audit_report(result, tuning, framework=framework, dossier=dossier)
    emit(
        destinations,
        lambda fmt, color, width: render(
            result,
            fmt,
            color=color,
            width=width,
            tuning=tuning,
            framework=framework,
            dossier=dossier,
        ),
        summary_line(report),
    )
    # The verdict is the tuned findings', never the framework view's.
    failed = verdict(tuned, tuning.fail_on) == "FAIL"
    raise typer.Exit(EXIT_VIOLATIONS if failed and not tuning.soft_fail else EXIT_CLEAN)
