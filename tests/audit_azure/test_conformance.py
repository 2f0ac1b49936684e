"""One fixture, two engines: prod-azure's resources judged by the pack (`keyplane scan` of a
stack export, CrossGuard through the analyzer protocol) and by the live audit (the same
resources deployed into the local Azure server). Every drift gives the same mandatory rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.engines.audit.azure import run_azure_audit
from keyplane.estate import load_estate
from keyplane.rules.catalog import Enforcement
from tests.audit_azure.conftest import Deploy
from tests.audit_azure.support import (
    AS_OF,
    CRYPTO_USER,
    ENV,
    ESTATE,
    SUBSCRIPTION_ID,
    FakeCredential,
    Resource,
    compliant,
    export,
    one,
    vault_id,
)

STRANGER = "f0e1d2c3-b4a5-4968-8776-655443322110"
Change = Callable[[list[Resource]], None]


def purge_protection_off(resources: list[Resource]) -> None:
    vault = one(resources, "azure-native:keyvault:Vault")
    vault.inputs["properties"]["enablePurgeProtection"] = False


def software_key(resources: list[Resource]) -> None:
    one(resources, "azure-native:keyvault:Key", "acme-orders-db").inputs["properties"]["kty"] = (
        "RSA"
    )


def rotation_policy_missing(resources: list[Resource]) -> None:
    key = one(resources, "azure-native:keyvault:Key", "acme-orders-db")
    del key.inputs["properties"]["rotationPolicy"]


def expired_secret(resources: list[Resource]) -> None:
    secret = one(resources, "azure-native:keyvault:Secret")
    secret.inputs["properties"]["attributes"]["expires"] = 1767225600


def unlocked_immutability(resources: list[Resource]) -> None:
    one(resources, "azure-native:storage:BlobContainerImmutabilityPolicy").inputs["state"] = (
        "Unlocked"
    )


def no_activity_log_alerts(resources: list[Resource]) -> None:
    resources[:] = [r for r in resources if r.type != "azure-native:monitor:ActivityLogAlert"]


def undeclared_user_at_vault(resources: list[Resource]) -> None:
    resources.append(
        Resource(
            "azure-native:authorization:RoleAssignment",
            "stranger-crypto-user",
            {
                "principalId": STRANGER,
                "principalType": "User",
                "roleAssignmentName": "0a0a0a0a-0000-4000-8000-000000000001",
                "roleDefinitionId": f"{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{CRYPTO_USER}",
                "scope": vault_id(resources),
            },
        )
    )


CHANGES: dict[str, Change | None] = {
    "compliant": None,
    "purge protection off": purge_protection_off,
    "a software key": software_key,
    "rotation policy missing": rotation_policy_missing,
    "an expired secret": expired_secret,
    "an unlocked immutability policy": unlocked_immutability,
    "no activity-log alerts": no_activity_log_alerts,
    "an undeclared user at the vault": undeclared_user_at_vault,
}


def scanned(resources: list[Resource], tmp_path: Path) -> set[str]:
    path = export(resources, tmp_path / "export.json")
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(path),
            "--env",
            ENV,
            "--estate",
            str(ESTATE),
            "--no-checkov",
            "--as-of",
            AS_OF.isoformat(),
            "-f",
            "json",
        ],
    )
    assert result.exit_code in (0, 1), result.stderr
    document = json.loads(result.stdout)
    return {f["rule"] for f in document["findings"] if f["enforcement"] == "mandatory"}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_pack_and_the_audit_agree(
    change: str, serve: Deploy, credential: FakeCredential, tmp_path: Path
) -> None:
    resources = compliant()
    mutate = CHANGES[change]
    if mutate is not None:
        mutate(resources)
    server = serve(resources)
    audited = run_azure_audit(
        load_estate(ESTATE),
        ENV,
        as_of=AS_OF,
        endpoint_url=server.url,
        credential=credential,
        timeout_seconds=180,
    )
    live = {f.rule for f in audited.findings if f.enforcement is Enforcement.MANDATORY}
    preview = scanned(resources, tmp_path)
    assert live == preview, (change, live, preview)
    assert (change == "compliant") == (not live)
