"""`keyplane restore-test ENV --key NAME [--apply]`: prove that a backup key still decrypts what
it protects (Policy §11, KM-BAK-002) and file the evidence `validate` reads
(`keyplane.config.evidence`).

Only backup-encryption keys; only AWS for now. The canary is decrypted as the declared backup
role where AWS allows (`keyplane.respond.restore`). Without `--apply` it says what it would do
and calls nothing. With it: exit 0 and a "passed" record; exit 1 and a "failed" record when the
round trip fails; exit 2, nothing written, when the input is wrong or the test cannot start.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keyplane.adapters.boto3 import aws_key_alias
from keyplane.cli.prelude import (
    DEFAULT_ESTATE,
    EXIT_CLEAN,
    EXIT_VIOLATIONS,
    EstateOption,
    fail_bad_input,
    load_estate_or_exit,
)
from keyplane.config.evidence import restore_record_path
from keyplane.engines.audit.aws import check_endpoint_url
from keyplane.engines.audit.judge import AuditError
from keyplane.output import OutputError, check_destination, write_output
from keyplane.respond.restore import CANARY_BYTES, backup_role_of
from keyplane.standard import Cloud, KeyPurpose


def restore_test(
    environment: Annotated[str, typer.Argument(help="Environment name: DIR/ENV.yaml.")],
    key: Annotated[str, typer.Option("--key", help="The backup-encryption key to test.")],
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Run the test and write the evidence (else: say what)."),
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="Send every AWS call to this URL (an emulator)."),
    ] = None,
    estate: EstateOption = DEFAULT_ESTATE,
) -> None:
    """Restore-test a backup key: canary round trip, evidence for KM-BAK-002 (Policy §11)."""
    command = "keyplane restore-test"
    try:
        check_endpoint_url(endpoint_url)
    except AuditError as err:
        fail_bad_input([f"{command}: {err}"])
    loaded = load_estate_or_exit(estate)
    env_file = loaded.root / f"{environment}.yaml"
    env = loaded.environments.get(environment)
    if env is None:
        known = ", ".join(sorted(loaded.environments))
        fail_bad_input([f"{command}: {env_file}: no such environment (known: {known})"])
    spec = env.key(key)
    backups = [k.name for k in env.keys if k.purpose is KeyPurpose.BACKUP_ENCRYPTION]
    if spec is None:
        fail_bad_input(
            [
                f"{command}: {env_file}: no key {key!r} in {environment} (backup keys: "
                f"{', '.join(backups) or 'none'})"
            ]
        )
    if spec.purpose is not KeyPurpose.BACKUP_ENCRYPTION:
        fail_bad_input(
            [
                f"{command}: {env_file}: {key} is a {spec.purpose.value} key; restore tests are "
                f"for backup-encryption keys (here: {', '.join(backups) or 'none'})"
            ]
        )
    if env.cloud is not Cloud.AWS:
        fail_bad_input(
            [
                f"{command}: not yet automated on {env.cloud.value}: restore a backup by hand "
                "and record the day as restore_tested_on in the environment file"
            ]
        )
    path = restore_record_path(loaded.root, environment, key)
    if not apply:
        role = backup_role_of(env, spec)
        who = (
            f"as the declared backup role {role} (STS AssumeRole; as the caller if AWS refuses)"
            if role
            else "as the caller (no IAM role is declared among the key's users)"
        )
        print(
            f"Would encrypt a random {CANARY_BYTES}-byte canary with {aws_key_alias(environment, key)}, "
            f"decrypt it {who}, compare, and write the evidence to {path}."
        )
        print("Dry run: nothing was called or written. Run again with --apply.")
        raise typer.Exit(EXIT_CLEAN)
    try:
        path.parent.mkdir(exist_ok=True)
        check_destination(path)
    except OSError as err:
        fail_bad_input([f"{command}: {err}; nothing was tested"])
    from keyplane.respond.restore import RestoreTestError, restore_test_aws  # noqa: PLC0415

    try:
        record, line = restore_test_aws(env, spec, endpoint_url=endpoint_url)
    except RestoreTestError as err:
        fail_bad_input([f"{command}: {err}"])
    try:
        write_output(path, json.dumps(record.model_dump(mode="json"), indent=2) + "\n")
    except OutputError as err:
        fail_bad_input([f"{command}: {err}"])
    print(f"Restore test {record.result}: {line}.")
    print(f"Evidence: {path}")
    raise typer.Exit(EXIT_CLEAN if record.result == "passed" else EXIT_VIOLATIONS)
