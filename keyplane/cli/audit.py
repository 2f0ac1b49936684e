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
import sys
from collections.abc import Sequence
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
    console_style,
    fail_bad_input,
    framework_view,
    load_estate_or_exit,
    parse_day,
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
from keyplane.findings import Finding, has_mandatory
from keyplane.reports import Report, json_document, render_report, write_atomic
from keyplane.reports.dossier import Dossier, dossier_of
from keyplane.reports.formats import AuditFormat
from keyplane.rules.catalog import Point, rules_at
from keyplane.standard import Cloud


def render(
    result: AuditResult,
    fmt: AuditFormat,
    *,
    color: bool = False,
    findings: Sequence[Finding] | None = None,
    dossier: Dossier | None = None,
) -> str:
    """The report in `fmt`, with the evidence: an `evidence` object in JSON, a section in HTML,
    a header else; the summary says what was declared, found and judged (JSON:
    `summary.declared`, `found`, `missing` beside the contract's counts). `findings`: those to
    show (`--framework`; default all); `dossier`: the HTML report's exceptions and artefacts."""
    evidence = result.evidence
    inventory = evidence.inventory
    if fmt is AuditFormat.HTML and dossier is not None:
        dossier = replace(dossier, evidence=evidence.to_json())
    report = Report(
        findings=result.findings if findings is None else findings,
        resources=result.records,
        environment=evidence.environment,
        command="audit",
        checked_rules=[r.id for r in rules_at(Point.AUDIT)],
        started_at=evidence.started_at,
        duration_seconds=(evidence.finished_at - evidence.started_at).total_seconds(),
        scope=inventory.text() if inventory is not None else None,
        dossier=dossier,
    )
    if fmt is AuditFormat.JSON:
        document = json_document(report)
        if inventory is not None:
            document["summary"]["declared"] = sum(inventory.declared.values())
            document["summary"]["found"] = sum(inventory.found.values())
            document["summary"]["missing"] = len(inventory.missing)
        document["evidence"] = evidence.to_json()
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text = render_report(report, fmt.value, color=color)
    if fmt is AuditFormat.HTML:
        return text
    if fmt is AuditFormat.MARKDOWN:
        header = "".join(f"> {line}\n>\n" for line in evidence.header_lines()).rstrip(">\n")
        return f"{header}\n\n{text}"
    return "".join(f"{line}\n" for line in evidence.header_lines()) + "\n" + text


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
        typer.Option("--output", "-o", help="Write the report to FILE (atomically)."),
    ] = None,
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
            "Logs' Admin Activity retention).",
        ),
    ] = EVENT_HISTORY_DAYS,
    framework: FrameworkOption = None,
) -> None:
    """Audit the deployed keys, logs, alerts and secrets of an AWS, GCP or Azure environment;
    file the evidence."""
    today = parse_day(as_of)
    try:
        check_endpoint_url(endpoint_url)
    except AuditError as err:
        fail_bad_input([f"keyplane audit: {err}"])
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
    shown, note = framework_view(result.findings, framework)
    dossier = None
    if format is AuditFormat.HTML:
        dossier = dossier_of(
            loaded,
            loaded.environments[environment],
            as_of=today,
            framework=framework.value if framework else None,
            framework_note=note,
        )
    text = render(
        result,
        format,
        color=output is None and console_style()[0],
        findings=shown,
        dossier=dossier,
    )
    if output is not None:
        try:
            write_atomic(output, render(result, format, findings=shown, dossier=dossier))
        except OSError as err:
            fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
    else:
        sys.stdout.write(text)
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(result.findings) else EXIT_CLEAN)
