"""`keyplane audit` of an Azure environment: Azure's real client libraries against the local
server, prod-azure deployed compliant, then one drift at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keyplane.engines.audit.azure import AzureReader, run_azure_audit
from keyplane.engines.audit.judge import AuditError, AuditResult
from keyplane.estate import load_estate
from keyplane.rules.catalog import Enforcement
from tests.audit_azure.conftest import Deploy
from tests.audit_azure.server import AzureServer
from tests.audit_azure.support import (
    AS_OF,
    AUDITOR,
    CRYPTO_USER,
    ENV,
    ESTATE,
    OTHER_TENANT,
    OWNER,
    SUBSCRIPTION_ID,
    FakeCredential,
    compliant,
)


def audit(server: AzureServer, credential: Any = None, **kwargs: Any) -> AuditResult:
    kwargs.setdefault("timeout_seconds", 180)  # room for a loaded machine
    return run_azure_audit(
        load_estate(ESTATE),
        ENV,
        as_of=AS_OF,
        endpoint_url=server.url,
        credential=credential or FakeCredential(),
        **kwargs,
    )


def mandatory(result: AuditResult) -> list[tuple[str, str]]:
    return sorted(
        (f.rule, f.message) for f in result.findings if f.enforcement is Enforcement.MANDATORY
    )


def test_prod_azure_deployed_compliant_is_clean(azure: AzureServer) -> None:
    result = audit(azure)
    assert mandatory(result) == []
    # What a live audit cannot see is said, advisory: Pulumi's protect option.
    assert {(f.rule, f.enforcement) for f in result.findings} == {
        ("KM-DEL-001", Enforcement.ADVISORY)
    }
    evidence = result.evidence
    assert evidence.account == "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
    assert evidence.tenant == "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
    assert evidence.region == "westeurope"
    assert AUDITOR in evidence.caller_arn
    assert evidence.counts["keys"] == 2
    assert evidence.counts["immutability policies"] == 1
    assert evidence.inventory is not None
    assert evidence.inventory.text() == (
        "declared 3 (2 keys, 1 secret), found 3; 22 resources judged"
    )
    document = evidence.to_json()
    assert document["tenant"] == "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
    assert "Microsoft.KeyVault/vaults/keys/read" in document["permissions"]
    assert evidence.header_lines()[0].startswith(
        "Live audit evidence (SOC 2 CC6.1, CC6.7; OP-PROC-001 §5): subscription "
        "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab, tenant 0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f, "
        "region westeurope"
    )
    # Secret values are never asked for: the management plane lists attributes only.
    assert not any("/dp/" in p and "/secrets" in p for _, p in azure.calls)


Drift = Callable[[AzureServer], None]


def _vault_properties(server: AzureServer) -> dict[str, Any]:
    [vault] = server.state.vaults.values()
    properties: dict[str, Any] = vault["properties"]
    return properties


def purge_protection_off(server: AzureServer) -> None:
    _vault_properties(server)["enablePurgeProtection"] = False


def _assign(server: AzureServer, scope: str, role: str, principal: str, name: str) -> None:
    arm_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    server.state.assignments[arm_id] = {
        "id": arm_id,
        "name": name,
        "properties": {
            "scope": scope,
            "roleDefinitionId": f"{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{role}",
            "principalId": principal,
            "principalType": "User",
        },
    }


STRANGER = "f0e1d2c3-b4a5-4968-8776-655443322110"


def undeclared_user_at_vault(server: AzureServer) -> None:
    vault = next(iter(server.state.vaults.values()))
    _assign(server, vault["id"], CRYPTO_USER, STRANGER, "0a0a0a0a-0000-4000-8000-000000000001")


def owner_at_subscription(server: AzureServer) -> None:
    _assign(server, SUBSCRIPTION_ID, OWNER, STRANGER, "0a0a0a0a-0000-4000-8000-000000000002")


def software_key(server: AzureServer) -> None:
    for (_, name), versions in server.state.keys.items():
        if name == "acme-orders-db":
            versions[-1]["properties"]["kty"] = "RSA"


def rotation_policy_missing(server: AzureServer) -> None:
    for (_, name), versions in server.state.keys.items():
        if name == "acme-orders-db":
            versions[-1]["properties"].pop("rotationPolicy")


def expired_secret(server: AzureServer) -> None:
    [secret] = server.state.secrets.values()
    secret["properties"]["attributes"]["exp"] = 1767225600  # 2026-01-01, before AS_OF


def unlocked_immutability(server: AzureServer) -> None:
    [policy] = server.state.immutability.values()
    policy["properties"]["state"] = "Unlocked"


def no_activity_log_alert(server: AzureServer) -> None:
    server.state.activity_alerts.clear()


DRIFTS: dict[str, tuple[Drift, str]] = {
    "purge protection off": (
        purge_protection_off,
        "KM-DEL-001 prod-azure-641b3b: purge protection is off; set enablePurgeProtection to true.",
    ),
    "an undeclared user at the vault": (
        undeclared_user_at_vault,
        "KM-ACC-004 acme-orders-db: granted to principals environment prod-azure does not "
        f"declare: {STRANGER} (Key Vault Crypto User through "
        "azure-native:authorization:RoleAssignment 0a0a0a0a-0000-4000-8000-000000000001); remove "
        "the grants, or declare the principals in the environment file's access block.",
    ),
    "Owner at the subscription": (
        owner_at_subscription,
        f"KM-ACC-001 0a0a0a0a-0000-4000-8000-000000000002: grants Owner to {STRANGER}, who is "
        "not a declared key administrator; name the principals and grant only the actions they "
        "need.",
    ),
    "a software key in production": (
        software_key,
        "KM-HSM-001 acme-orders-db: production database-encryption key is software-protected "
        "(RSA); use an -HSM key type in a premium vault, or a Managed HSM.",
    ),
    "rotation policy missing": (
        rotation_policy_missing,
        "KM-ROT-001 acme-orders-db: automatic rotation is disabled on this azure Key Vault key; "
        "add a rotation policy with a rotate lifetime action.",
    ),
    "an expired secret": (
        expired_secret,
        "KM-ROT-003 acme-payments-api: the secret expired on 2026-01-01 and was not rotated; "
        "rotate it and set its next expiry within 90 days.",
    ),
    "an unlocked immutability policy": (
        unlocked_immutability,
        "KM-LOG-002 prodazurelogsbd47f32d: the audit-log store has an unlocked retention "
        "policy; lock an immutability policy of at least 400 days on the log storage.",
    ),
    "no activity-log alert": (
        no_activity_log_alert,
        "KM-MON-001 prod-azure: no azure alert notifying a declared destination covers a key "
        "disabled or scheduled for deletion, a key policy, IAM binding or role assignment "
        "changed; declare monitoring.notify in the environment file, or add activity-log and "
        "log-query alert rules on an action group.",
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_is_caught(
    serve: Deploy, credential: FakeCredential, drift: str, capsys: pytest.CaptureFixture[str]
) -> None:
    change, message = DRIFTS[drift]
    server = serve(compliant())
    change(server)
    found = mandatory(audit(server))
    assert (message[:10], message) in found, found


def test_throttling_is_retried_after_the_time_azure_asks(azure: AzureServer) -> None:
    azure.fail(r"/providers/Microsoft\.KeyVault/vaults$", 429, headers={"Retry-After": "2"})
    azure.fail(r"/keys/acme-orders-db$", 429, times=2, headers={"Retry-After": "1"})
    slept: list[float] = []
    result = audit(azure, reader=AzureReader(sleep=slept.append))
    assert mandatory(result) == []
    assert azure.count(r"/providers/Microsoft\.KeyVault/vaults$") == 2
    assert azure.count(r"/keys/acme-orders-db$") == 3
    assert sorted(slept)[-1] >= 2 and sum(1 for s in slept if s >= 1) == 3


def test_throttling_past_the_deadline_is_a_fault_not_a_pass(azure: AzureServer) -> None:
    azure.fail(r"/immutabilityPolicies/default$", 429, headers={"Retry-After": "3600"})
    result = audit(azure, reader=AzureReader(sleep=lambda _: None))
    assert mandatory(result) == [
        (
            "KM-LOG-002",
            "KM-LOG-002 prodazurelogsbd47f32d: unverifiable: the immutability policy of container "
            "insights-logs-auditevent could not be read (Blob Containers - Get Immutability "
            "Policy: TooManyRequests; the audit's 180-second deadline left no time to ask "
            "again); KM-LOG-002 is not judged on it: rerun the audit when the service answers "
            "(raise --timeout if the deadline passed).",
        )
    ]


def test_a_denied_read_is_unverifiable_and_the_audit_goes_on(azure: AzureServer) -> None:
    azure.fail(
        r"/providers/Microsoft\.Insights/diagnosticSettings$", 403, code="AuthorizationFailed"
    )
    result = audit(azure)
    assert mandatory(result) == []
    denied = [f for f in result.findings if "unverifiable" in f.message]
    assert [(f.rule, f.enforcement, f.message) for f in denied] == [
        (
            rule,
            Enforcement.ADVISORY,
            f"{rule} prod-azure-641b3b: unverifiable: the vault's diagnostic settings could not "
            "be read (AuthorizationFailed); grant the auditor "
            f"Microsoft.Insights/diagnosticSettings/read to judge {rule}.",
        )
        for rule in ("KM-LOG-001", "KM-LOG-002")
    ]
    # The rest was read and judged: keys, alerts, role assignments.
    assert result.evidence.counts["keys"] == 2
    assert result.evidence.counts["activity log alerts"] == 7


def test_every_page_is_read(serve: Deploy, credential: FakeCredential) -> None:
    server = serve(compliant(), page_size=1)
    result = audit(server)
    assert mandatory(result) == []
    assert server.count(r"/activityLogAlerts$") == 7
    assert server.count(r"/vaults/[^/]+/providers/Microsoft\.Authorization/roleAssignments$") == 5
    assert server.count(r"/vaults/[^/]+/keys$") == 2
    assert result.evidence.counts["activity log alerts"] == 7
    assert result.evidence.counts["role assignments"] == 5


def test_a_read_that_keeps_failing_is_a_fault_never_an_empty_list(azure: AzureServer) -> None:
    azure.state.activity_alerts.clear()
    original = azure.state.query_alerts
    assert original
    azure.fail(r"/activityLogAlerts$", 500, times=100)
    result = audit(azure, reader=AzureReader(sleep=lambda _: None))
    [finding] = [f for f in mandatory(result) if f[0] == "KM-MON-001"]
    assert "unverifiable" in finding[1] and "(after 6 attempts)" in finding[1]
    # No verdict over a partial set of alerts: only the unverifiable finding.
    assert "no azure alert" not in finding[1]


def test_a_token_of_another_tenant_is_refused(azure: AzureServer) -> None:
    with pytest.raises(AuditError) as refused:
        audit(azure, credential=FakeCredential(tenant=OTHER_TENANT))
    assert str(refused.value) == (
        f"the credentials are of tenant {OTHER_TENANT} (auditor@acme.example), not prod-azure's "
        "tenant 0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f; sign in to tenant "
        "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f (az login --tenant "
        "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f)"
    )
    assert azure.calls == []  # refused before any read


def test_a_subscription_the_credentials_cannot_see_is_refused(azure: AzureServer) -> None:
    azure.state.subscription = "99999999-9999-4999-8999-999999999999"
    with pytest.raises(AuditError) as refused:
        audit(azure)
    assert str(refused.value).startswith(
        "subscription 5f0c3a9e-1b2d-4c6e-8f00-0123456789ab of prod-azure is not visible to "
        "auditor@acme.example (object 8c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1) in tenant "
        "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f (ResourceNotFound); use credentials with the "
        "Reader role on it"
    )


def test_a_subscription_of_another_tenant_is_refused(azure: AzureServer) -> None:
    azure.state.tenant = OTHER_TENANT
    with pytest.raises(AuditError, match=f"belongs to tenant {OTHER_TENANT}, not prod-azure's"):
        audit(azure)


def test_a_disabled_key_is_retained_evidence_not_judged(azure: AzureServer) -> None:
    for (_, name), versions in azure.state.keys.items():
        if name == "acme-orders-db":
            versions[-1]["properties"]["attributes"]["enabled"] = False
            versions[-1]["properties"]["kty"] = "RSA"  # would fail KM-HSM-001 if judged
    result = audit(azure)
    assert mandatory(result) == []
    assert result.evidence.lifecycle is not None
    states = {k.name: k.state for k in result.evidence.lifecycle.keys}
    assert states == {"acme-orders-db": "disabled", "session-signing": "active"}


def test_a_declared_key_missing_from_the_vault_is_a_finding(azure: AzureServer) -> None:
    del azure.state.keys[(vault_name_of(azure), "session-signing")]
    assert [r for r, _ in mandatory(audit(azure))] == ["KM-DEL-001"]


def vault_name_of(server: AzureServer) -> str:
    [name] = server.state.vaults
    return name


def test_a_certificate_that_does_not_renew_is_caught(azure: AzureServer) -> None:
    name = vault_name_of(azure)
    azure.state.certificates[(name, "api-internal")] = {
        "attributes": {"enabled": True, "exp": 1830297600},
        "tags": {"keyplane-environment": "prod-azure"},
        "policy": {
            "key_props": {"exportable": False, "kty": "RSA", "key_size": 2048, "reuse_key": False},
            "issuer": {"name": "Self"},
            "lifetime_actions": [
                {"trigger": {"days_before_expiry": 30}, "action": {"action_type": "EmailContacts"}}
            ],
            "attributes": {"enabled": True},
        },
    }
    found = mandatory(audit(azure))
    assert [r for r, _ in found] == ["KM-CRT-001"], found
    assert "api-internal" in found[0][1]


def test_every_operation_the_collector_reads_with_is_mapped_to_rules() -> None:
    """The Azure collector names Azure operations only; the rules' side maps each one."""
    import re
    from pathlib import Path

    from keyplane.engines.audit import azure
    from keyplane.rules.audit_permissions import NOT_JUDGED_WITHOUT, UNVERIFIABLE_WITHOUT

    source = Path(azure.__file__).read_text()
    read_with = set(re.findall(r'permission="([^"]+)"', source)) | {
        "".join(parts) for parts in re.findall(r'permission=\(\s*"([^"]+)"\s*"([^"]+)"', source)
    }
    mapped = {p for p in UNVERIFIABLE_WITHOUT if p.startswith("Microsoft.")}
    assert read_with | {"Microsoft.Resources/subscriptions/read"} == mapped
    assert set(azure.PERMISSIONS) == mapped
    assert {p for p in NOT_JUDGED_WITHOUT if p.startswith("Microsoft.")} <= mapped
