"""KM-STO: secrets are stored in hardened vaults, never in plain text.

The checks of the family at every enforcement point, side by side; each is registered with
its rule, points and the fact kinds it judges (`keyplane.rules.registry`).

Rules: KM-STO-001, KM-STO-002 (title, policy clause, points and severity: the catalog, said once).
"""

from __future__ import annotations

from keyplane.facts.model import (
    Facts,
    Secret,
    SecretValue,
    Vault,
)
from keyplane.facts.values import Unknown
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.registry import check
from keyplane.rules.verdict import (
    Verdict,
    fail,
    not_applicable,
    passed,
    unknown,
)
from keyplane.standard import (
    Cloud,
)


@check("KM-STO-001", points=(Point.CROSSGUARD, Point.CHECKOV), kinds=(SecretValue,))
def no_plaintext_secrets(facts: Facts, context: Context) -> Verdict:
    """KM-STO-001 on a secret value written by the program: it is a Pulumi secret, never plain
    text."""
    rule = "KM-STO-001"
    if not isinstance(facts, SecretValue):
        return not_applicable(rule, "no secret value")
    if isinstance(facts.plaintext, Unknown):
        return unknown(rule, facts, f"whether {facts.field} is a secret")
    if not facts.plaintext:
        return passed(rule, facts)
    remedy = facts.remedy or (
        "pass it as a Pulumi secret (pulumi config set --secret, pulumi.Output.secret) and "
        "remove it from the code and its history"
    )
    return fail(
        rule, facts, f"{facts.field} holds a plain-text value in the {facts.location}; {remedy}."
    )


_AWS_MANAGED_KEYS = ("alias/aws/", "aws/")


@check("KM-STO-002", points=(Point.CROSSGUARD, Point.CHECKOV, Point.AUDIT), kinds=(Secret, Vault))
def hardened_vaults(facts: Facts, context: Context) -> Verdict:
    """KM-STO-002 on a secret or vault: encrypted with the environment's own key; a vault with
    purge protection, RBAC and no public network access."""
    rule = "KM-STO-002"
    if isinstance(facts, Secret):
        if facts.cloud is Cloud.AZURE:
            return not_applicable(rule, "Key Vault secrets are judged with their vault")
        key = facts.kms_key
        if isinstance(key, Unknown):
            return unknown(rule, facts, "the secret's encryption key")
        fix = (
            "set kmsKeyId to the environment's customer-managed key"
            if facts.cloud is Cloud.AWS
            else "set replication's customerManagedEncryption.kmsKeyName to the environment's key"
        )
        if not key or key.startswith(_AWS_MANAGED_KEYS):
            return fail(rule, facts, f"the secret is encrypted with the provider's own key; {fix}.")
        account = _kms_arn_account(key)
        if account and context.scope and account != context.scope:
            return fail(
                rule,
                facts,
                f"the secret is encrypted with a key of account {account}, not the "
                f"environment's ({context.scope}); {fix}.",
            )
        return passed(rule, facts)
    if isinstance(facts, Vault):
        problems: list[str] = []
        undecided: list[str] = []
        for value, what, fix in (
            (facts.purge_protection, "purge protection", "set enablePurgeProtection to true"),
            (
                facts.rbac_authorization,
                "RBAC authorization",
                "set enableRbacAuthorization to true",
            ),
        ):
            if isinstance(value, Unknown):
                undecided.append(what)
            elif not value:
                problems.append(f"{what} is off; {fix}")
        public = facts.public_network_access
        if isinstance(public, Unknown):
            undecided.append("public network access")
        elif public:
            problems.append("public network access is enabled; set publicNetworkAccess to Disabled")
        if problems:
            return fail(rule, facts, "; ".join(problems) + ".")
        if undecided:
            return unknown(rule, facts, " and ".join(undecided))
        return passed(rule, facts)
    return not_applicable(rule, "not a secret or vault")


def _kms_arn_account(value: str) -> str | None:
    parts = value.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms" and parts[4].isdigit():
        return parts[4]
    return None


def oversized_repository_file(file: str, size: int, limit: int, setting: str) -> tuple[str, str]:
    """KM-STO-001 on a file of the repository larger than the secrets scanner reads (`size` and
    `limit` in bytes; `setting`: what raises the limit): (rule ID, message). Not judged, so
    never reported as clean."""
    rule = "KM-STO-001"
    return rule, (
        f"{rule} {file}: cannot judge: the file is larger than the secrets scan reads ({size:,} "
        f"bytes, above {limit:,}), so key material in it would go unseen; set {setting} to 0 "
        "(no limit) or above its size to scan it, or remove the file."
    )


def committed_key_material(file: str, line: int, kind: str) -> tuple[str, str]:
    """KM-STO-001 ("no key material is in the repository") on key material a secrets scanner
    found committed in `file` at `line` (`kind`: what the scanner took it for, `Private Key`):
    (rule ID, message). The message names the file, the line and the kind, never the value."""
    rule = "KM-STO-001"
    return rule, (
        f"{rule} {file}:{line}: {kind} committed to the repository; remove it from the file and "
        "from the history, rotate it, and keep it in a vault or as a Pulumi secret."
    )


def committed_key_file(file: str, kind: str) -> tuple[str, str]:
    """KM-STO-001 on a binary file that is key material as a whole (`kind`: `a DER-encoded
    private key`, `a PKCS#12 key store`...; `keyplane.engines.checkov.key_files`): (rule ID,
    message). The message names the file and the kind, never the content."""
    rule = "KM-STO-001"
    return rule, (
        f"{rule} {file}: {kind} committed to the repository; remove the file and its history, "
        "rotate the keys it holds, and keep them in a vault or as a Pulumi secret."
    )


def unread_repository_file(file: str) -> tuple[str, str]:
    """KM-STO-001 on a file of the repository that the secrets scanner could not read (a
    dangling link, a file removed or unreadable while it ran): (rule ID, message). Not judged,
    so never reported as clean."""
    rule = "KM-STO-001"
    return rule, (
        f"{rule} {file}: cannot judge: the secrets scan could not read the file, so key material "
        "in it would go unseen; make it a readable file (or remove it) and run again."
    )


def special_repository_file(file: str, kind: str) -> tuple[str, str]:
    """KM-STO-001 on a file of the repository that is not a regular file (`kind`: what it is, `a
    named pipe`, `a character device`, `a socket`, `a link to a named pipe`...): (rule ID,
    message). The secrets scanner is not let open it (a named pipe or a device can block the
    reader for ever), so it is not judged, and never reported as clean."""
    rule = "KM-STO-001"
    return rule, (
        f"{rule} {file}: cannot judge: the file is not a regular file ({kind}), so the secrets "
        "scan did not read it and key material in it would go unseen; remove it from the "
        "repository or the scanned folder."
    )
