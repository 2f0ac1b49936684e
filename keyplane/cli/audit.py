"""`keyplane audit ENV`: judge what is deployed in an environment's AWS account or Azure
subscription and file the evidence (the engine is `keyplane.engines.audit`: `aws.py`, `azure.py`;
rendering goes through `keyplane.reports`).

Exit 1 on a mandatory finding, including a mandatory rule left unknown because a read failed
or the deadline (`--timeout`) passed, a declared key or secret missing from the account, or a key
pending deletion without a retirement record; 2 when the audit cannot run (invalid estate,
unknown environment or one of a cloud not audited, an endpoint that is not an http(s) URL,
`--days` outside 1-90, credentials of another account, or of another Azure tenant or without
access to the subscription, no Azure credential, the cloud unreachable).
"""

from __future__ import annotations

import json
import sys
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
    console_style,
    fail_bad_input,
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
from keyplane.findings import has_mandatory
from keyplane.reports import Report, json_document, render_report, write_atomic
from keyplane.reports.formats import AuditFormat
from keyplane.rules.catalog import Point, rules_at
from keyplane.standard import Cloud


def render(result: AuditResult, fmt: AuditFormat, *, color: bool = False) -> str:
    """The report in `fmt`, with the evidence: an `evidence` object in JSON, a header else; the
    summary says what was declared, found and judged (JSON: `summary.declared`, `found`,
    `missing` beside the contract's counts)."""
    evidence = result.evidence
    inventory = evidence.inventory
    report = Report(
        findings=result.findings,
        resources=result.records,
        environment=evidence.environment,
        command="audit",
        checked_rules=[r.id for r in rules_at(Point.AUDIT)],
        started_at=evidence.started_at,
        duration_seconds=(evidence.finished_at - evidence.started_at).total_seconds(),
        scope=inventory.text() if inventory is not None else None,
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
) -> AuditResult | None:
    """The audit of an Azure environment (None for other clouds: the AWS audit says)."""
    env = estate.environments.get(environment)
    if env is None or env.cloud is not Cloud.AZURE:
        return None
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
        str, typer.Argument(help="Environment name: DIR/ENV.yaml (AWS or Azure).")
    ],
    estate: EstateOption = DEFAULT_ESTATE,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Send every AWS call, or every Azure Resource Manager call, to this URL (a "
            "local emulator or server).",
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
            help=f"List each key's lifecycle events of the last N days (1 to "
            f"{EVENT_HISTORY_DAYS}: CloudTrail's event history).",
        ),
    ] = EVENT_HISTORY_DAYS,
) -> None:
    """Audit the deployed keys, logs and secrets of an AWS or Azure environment; file the
    evidence."""
    today = parse_day(as_of)
    try:
        check_endpoint_url(endpoint_url)
        check_event_days(days)
    except AuditError as err:
        fail_bad_input([f"keyplane audit: {err}"])
    loaded = load_estate_or_exit(estate)
    try:
        result = _audit_azure(loaded, environment, today, endpoint_url, timeout, call_timeout)
        result = result or run_audit(
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
    text = render(result, format, color=output is None and console_style()[0])
    if output is not None:
        try:
            write_atomic(output, render(result, format))
        except OSError as err:
            fail_bad_input([f"{err.filename}: cannot write: {err.strerror}; check the path"])
    else:
        sys.stdout.write(text)
    raise typer.Exit(EXIT_VIOLATIONS if has_mandatory(result.findings) else EXIT_CLEAN)
