"""The restore test of a backup key (Policy §11, KM-BAK-002): a random canary encrypted with the
key and decrypted again proves the key can still recover what it protects.

`restore_test_aws` makes the round trip through KMS (the audit's client set-up, the caller's
account checked first) and returns the `RestoreTestRecord` that `keyplane.config.evidence`
reads. The caller encrypts; the canary is decrypted **as the declared backup role**
(`backup_role_of`: the IAM role the environment's `access.key_users` name for the key), through
STS AssumeRole, so the test proves that the principal that restores backups can decrypt them.
Where no role is declared, or AWS refuses the AssumeRole (the caller is not trusted by the
role), the caller decrypts and the record says so (`as_backup_role` false, `note` why). The
canary (`CANARY_BYTES` from `os.urandom`) lives only in memory: it is never printed, logged or
stored, and is compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from datetime import UTC, datetime
from typing import Any

from keyplane.adapters.boto3 import aws_key_alias
from keyplane.config.evidence import RestoreTestRecord
from keyplane.config.model import Environment, KeySpec
from keyplane.engines.audit.aws import (
    CallFault,
    Deadline,
    Reader,
    error_code,
    make_client,
    verify_account,
)
from keyplane.engines.audit.judge import AuditError
from keyplane.facts.access import is_aws_role_arn

__all__ = ["CANARY_BYTES", "RestoreTestError", "backup_role_of", "restore_test_aws"]

#: The canary's length in bytes (one AES-256 key's worth).
CANARY_BYTES = 32
#: The deadline of the whole test (seconds).
TIMEOUT_SECONDS = 60.0
#: The session name of the assumed backup role: CloudTrail shows the Decrypt under it.
SESSION_NAME = "keyplane-restore-test"
#: The assumed role's session lasts STS's minimum (seconds): long enough for one Decrypt.
SESSION_SECONDS = 900


class RestoreTestError(AuditError):
    """The test cannot start (exit 2): wrong account, AWS unreachable, the key not deployed."""


def backup_role_of(env: Environment, key: KeySpec) -> str | None:
    """The role the environment declares for the backup key's use: the first IAM role ARN
    among the key's users (`access.key_users[].keys`), in the file's order; None when none is
    a role (a user or a service cannot be assumed)."""
    return next((p for p in env.users_of(key.name) if is_aws_role_arn(p)), None)


def restore_test_aws(
    env: Environment,
    key: KeySpec,
    *,
    endpoint_url: str | None = None,
    session: Any = None,
    now: datetime | None = None,
) -> tuple[RestoreTestRecord, str]:
    """Encrypt a canary with `key` (by its alias), decrypt it, compare.

    The canary is decrypted as the declared backup role (`backup_role_of`) when AWS lets the
    caller assume it, else by the caller, and the record says which. Returns the record (result
    "passed" or "failed") and one line saying what happened and as whom (never the canary). Raises RestoreTestError when the caller's account is not the environment's, or
    AWS cannot be reached, or the key's alias is not in the account.
    """
    import boto3  # noqa: PLC0415 - only AWS tests need boto3
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from keyplane import __version__  # noqa: PLC0415

    assert env.aws is not None
    region = env.aws.region
    reader = Reader(deadline=Deadline(TIMEOUT_SECONDS))
    session = session or boto3.session.Session(region_name=region)
    try:
        caller = verify_account(
            session,
            environment=env.name,
            account=env.aws.account_id,
            region=region,
            endpoint_url=endpoint_url,
            reader=reader,
        )
    except AuditError as err:
        raise RestoreTestError(str(err)) from None
    except (ClientError, BotoCoreError) as err:
        raise RestoreTestError(f"cannot verify the caller with AWS: {err}") from None
    kms = make_client(session, "kms", region, endpoint_url)
    alias = aws_key_alias(env.name, key.name)
    try:
        metadata = reader.retrying(lambda: kms.describe_key(KeyId=alias), "DescribeKey")
    except ClientError as err:
        raise RestoreTestError(
            f"{alias}: cannot describe the key ({error_code(err) or 'error'}); deploy it, or "
            "check the environment and --endpoint-url"
        ) from None
    except (CallFault, BotoCoreError) as err:
        raise RestoreTestError(f"{alias}: cannot read the key ({err})") from None
    key_arn = str(metadata["KeyMetadata"]["Arn"])
    role = backup_role_of(env, key)
    opener, decrypted_by, as_backup_role, note = kms, caller, False, None
    if role is None:
        note = (
            "the environment declares no IAM role among the key's users (access.key_users), so "
            "the caller decrypted"
        )
    else:
        sts = make_client(session, "sts", region, endpoint_url)
        try:
            assumed = reader.retrying(
                lambda: sts.assume_role(
                    RoleArn=role, RoleSessionName=SESSION_NAME, DurationSeconds=SESSION_SECONDS
                ),
                "AssumeRole",
            )
            credentials = assumed["Credentials"]
            as_role = boto3.session.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
            opener = make_client(as_role, "kms", region, endpoint_url)
            decrypted_by = str(assumed["AssumedRoleUser"]["Arn"])
            as_backup_role = True
        except ClientError as err:
            note = (
                f"AWS refused to let the caller assume {role} ({error_code(err) or 'error'}), "
                "so the caller decrypted; trust the caller in the role to test as the role"
            )
        except (CallFault, BotoCoreError, KeyError, TypeError) as err:
            note = f"assuming {role} failed ({err}), so the caller decrypted"
    context = {"keyplane-restore-test": f"{env.name}/{key.name}"}
    canary = os.urandom(CANARY_BYTES)
    result, line = "failed", ""
    who = f"as {decrypted_by}"
    try:
        sealed = reader.retrying(
            lambda: kms.encrypt(KeyId=alias, Plaintext=canary, EncryptionContext=context),
            "Encrypt",
        )
        opened = reader.retrying(
            lambda: opener.decrypt(
                CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext=context, KeyId=key_arn
            ),
            "Decrypt",
        )
        if hmac.compare_digest(bytes(opened.get("Plaintext") or b""), canary):
            result = "passed"
            line = (
                f"{alias} ({key_arn}) encrypted a {CANARY_BYTES}-byte canary and decrypted it {who}"
            )
        else:
            line = f"{alias} ({key_arn}) decrypted the canary to different bytes {who}"
    except ClientError as err:
        operation = str(getattr(err, "operation_name", "the call"))
        line = f"{alias} ({key_arn}): {operation} refused {who}: {error_code(err) or 'error'}"
    except (CallFault, BotoCoreError) as err:
        line = f"{alias} ({key_arn}): {err}"
    record = RestoreTestRecord(
        kind="restore-test",
        environment=env.name,
        key=key.name,
        key_id=key_arn,
        tested_at=now or datetime.now(UTC),
        result=result,  # type: ignore[arg-type]
        caller=caller,
        keyplane_version=__version__,
        backup_role=role,
        decrypted_by=decrypted_by,
        as_backup_role=as_backup_role,
        note=note,
    )
    if note:
        line += f" ({note})"
    return record, line
