"""`keyplane respond ENV (--key NAME | --secret NAME)`: the revoke-and-rotate runbook of Policy
§10 for a compromised key or secret (the plan is `keyplane.respond.plan`, AWS's execution
`keyplane.respond.aws`).

Without `--apply` it prints the plan and calls nothing. With it, every input is checked before
the first change: the estate, the environment, the key or secret (declared here, not in another
environment), `--endpoint-url`, the record directory, the caller's account and the key or secret
in it; any of them wrong is one line on stderr and exit 2, nothing changed. Then each step runs;
a refused or failed step is recorded and the rest go on (exit 1). The incident record is written
(JSON and Markdown) into `--record-dir`. Azure keys: `keyplane.respond.azure`; Azure secrets
and GCP: the plan only, for now.
"""

from __future__ import annotations

import sys
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
from keyplane.config import Estate
from keyplane.engines.audit.aws import check_endpoint_url
from keyplane.engines.audit.judge import AuditError
from keyplane.output import OutputError
from keyplane.respond.incident import (
    DEFAULT_RECORD_DIR,
    Incident,
    Status,
    StepResult,
    check_record_dir,
    write_record,
)
from keyplane.respond.plan import Target, manual_steps, plan_for
from keyplane.standard import Cloud

#: How far back the investigation reads the access logs by default (days).
DEFAULT_DAYS = 30
#: CloudTrail's event history keeps 90 days (LookupEvents reads no further).
MAX_DAYS = 90


def find_target(estate: Estate, environment: str, key: str | None, secret: str | None) -> Target:
    """The declared key or secret `environment` responds on; exits 2 naming the fix when the
    environment is unknown, the name is not declared there (naming the environment that
    declares it, if another does), or not exactly one of `key` and `secret` is given."""
    command = "keyplane respond"
    if (key is None) == (secret is None):
        fail_bad_input([f"{command}: pass exactly one of --key NAME and --secret NAME"])
    env = estate.environments.get(environment)
    if env is None:
        known = ", ".join(sorted(estate.environments))
        fail_bad_input(
            [
                f"{command}: {estate.root / (environment + '.yaml')}: no such environment "
                f"(known: {known}); pass an environment of --estate"
            ]
        )
    kind, name = ("key", key) if key is not None else ("secret", secret)
    assert name is not None
    found = env.key(name) if kind == "key" else env.secret(name)
    if found is None:
        elsewhere = sorted(
            other.name
            for other in estate.environments.values()
            if other.name != env.name
            and (other.key(name) if kind == "key" else other.secret(name)) is not None
        )
        declared = [k.name for k in env.keys] if kind == "key" else [s.name for s in env.secrets]
        where = (
            f"; it is declared in {', '.join(elsewhere)}: pass that environment"
            if elsewhere
            else ""
        )
        fail_bad_input(
            [
                f"{command}: {estate.root / (environment + '.yaml')}: no {kind} {name!r} in "
                f"{environment} (declared: {', '.join(declared) or 'none'}){where}"
            ]
        )
    if kind == "key":
        return Target(env, key=env.key(name))
    return Target(env, secret=env.secret(name))


def respond(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    key: Annotated[
        str | None, typer.Option("--key", help="The compromised key (its declared name).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The compromised secret (its declared name).")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why: goes into the incident record.")
    ] = "suspected compromise",
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Carry the plan out (without it: print it, change nothing)."),
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="Send every cloud call to this URL (an emulator, or a local server answering "
            "as Google's REST APIs or Azure Resource Manager do).",
        ),
    ] = None,
    record_dir: Annotated[
        Path, typer.Option("--record-dir", help="Where the incident record is written.")
    ] = DEFAULT_RECORD_DIR,
    estate: EstateOption = DEFAULT_ESTATE,
    days: Annotated[
        int,
        typer.Option(
            "--days", min=1, max=MAX_DAYS, help="Days of access logs to investigate (at most 90)."
        ),
    ] = DEFAULT_DAYS,
) -> None:
    """Revoke and rotate a compromised key or secret, investigate, document (Policy §10)."""
    try:
        check_endpoint_url(endpoint_url)
    except AuditError as err:
        fail_bad_input([f"keyplane respond: {err}"])
    loaded = load_estate_or_exit(estate)
    target = find_target(loaded, environment, key, secret)
    steps = plan_for(target, days=days)
    cloud = target.cloud
    if not apply:
        item = target.key or target.secret
        assert item is not None
        print(
            f"Plan for the compromised {target.kind} {target.name} in {environment} "
            f"({_cloud_name(cloud)}, {item.purpose.value}):"
        )
        for number, step in enumerate(steps, 1):
            print(f"  {number}. {step.action.value}: {step.what}")
            print(f"     why: {step.why}")
        print("Then by hand:")
        for manual in manual_steps(target):
            print(f"  - {manual}")
        if _automated(target):
            print("Dry run: nothing was changed. Run again with --apply to carry it out.")
        else:
            print(
                f"Dry run: nothing was changed. Not yet automated on {_cloud_name(cloud)}: do "
                "these steps by hand."
            )
        raise typer.Exit(EXIT_CLEAN)
    if not _automated(target):
        what = "secrets on Azure" if cloud is Cloud.AZURE else _cloud_name(cloud)
        fail_bad_input(
            [
                f"keyplane respond: --apply is not yet automated on {what}: do the "
                "steps of the plan (run without --apply) by hand; nothing was changed"
            ]
        )
    try:
        check_record_dir(record_dir)
    except OutputError as err:
        fail_bad_input([f"keyplane respond: --record-dir {err}; nothing was changed"])
    try:
        if cloud is Cloud.GCP:
            from keyplane.respond.gcp import respond_gcp  # noqa: PLC0415 - Google's libraries

            _, carry_out = respond_gcp(target, reason=reason, days=days, endpoint_url=endpoint_url)
        elif cloud is Cloud.AZURE:
            from keyplane.respond.azure import respond_azure  # noqa: PLC0415 - Azure only

            _, carry_out = respond_azure(
                target, reason=reason, days=days, endpoint_url=endpoint_url
            )
        else:
            from keyplane.respond.aws import respond_aws  # noqa: PLC0415 - boto3

            _, carry_out = respond_aws(target, reason=reason, days=days, endpoint_url=endpoint_url)
    except AuditError as err:  # RespondError of every cloud: nothing was changed
        fail_bad_input([f"keyplane respond: {err}"])
    incident = carry_out()
    code = _report(incident, record_dir)
    raise typer.Exit(code)


def _report(incident: Incident, record_dir: Path) -> int:
    """Write the record, print the steps' results; the exit code."""
    document = StepResult(
        "document", "document", Status.DONE, f"incident record written to {record_dir}"
    )
    incident.steps.append(document)
    try:
        paths = write_record(record_dir, incident)
    except OutputError as err:
        document.status, document.detail = Status.FAILED, str(err)
        paths = []
    print(f"Incident {incident.id} ({incident.kind} {incident.name}), caller {incident.caller}:")
    for number, step in enumerate(incident.steps, 1):
        print(f"  {number}. [{step.status.value}] {step.action}/{step.id}: {step.detail}")
    changes = [s for s in incident.steps if s.id not in ("investigate", "document")]
    if changes and all(s.status is Status.ALREADY_DONE for s in changes):
        print("Every change was already made by an earlier run: nothing changed now.")
    print("Remaining manual steps:")
    for item in incident.manual:
        print(f"  - {item}")
    if paths:
        print("Record: " + ", ".join(str(p) for p in paths))
    if incident.failed:
        failed = ", ".join(s.id for s in incident.steps if s.status is Status.FAILED)
        sys.stderr.write(
            f"keyplane respond: step(s) failed: {failed}; see the record, fix and run again\n"
        )
        return EXIT_VIOLATIONS
    return EXIT_CLEAN


def _automated(target: Target) -> bool:
    """Whether `--apply` carries the plan out for `target` (AWS, GCP; Azure keys)."""
    return target.cloud in (Cloud.AWS, Cloud.GCP) or (
        target.cloud is Cloud.AZURE and target.key is not None
    )


def _cloud_name(cloud: Cloud) -> str:
    return {Cloud.AWS: "AWS", Cloud.GCP: "GCP", Cloud.AZURE: "Azure"}[cloud]
