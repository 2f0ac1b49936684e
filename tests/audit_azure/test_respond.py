"""`keyplane respond prod-azure --key NAME [--apply]`: Key Vault's real clients against the local
server; the dry run changes nothing, apply does the work, a second apply is a no-op."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.audit_azure.server import AzureServer
from tests.audit_azure.support import ENV, ESTATE

ORDERS_USER = "9d3e4f50-6172-8394-a5b6-c7d8e9f0a1b2"
SIGNING_USER = "ae4f5061-7283-94a5-b6c7-d8e9f0a1b2c3"
STRANGER = "f0e1d2c3-b4a5-4968-8776-655443322110"


def respond(server: AzureServer, key: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [
            "respond",
            ENV,
            "--key",
            key,
            "--estate",
            str(ESTATE),
            "--endpoint-url",
            server.url,
            "--reason",
            "leaked in a build log",
            *args,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def versions(server: AzureServer, key: str) -> list[dict[str, Any]]:
    [found] = [v for (_, name), v in server.state.keys.items() if name == key]
    return found


def principals_on(server: AzureServer, key: str) -> set[str]:
    return {
        a["properties"]["principalId"]
        for a in server.state.assignments.values()
        if a["properties"]["scope"].endswith(f"/keys/{key}")
    }


def test_the_dry_run_changes_nothing(azure: AzureServer) -> None:
    before = azure.state.snapshot()
    code, out, err = respond(azure, "acme-orders-db")
    assert code == 0, err
    assert "Dry run: nothing was changed. Run again with --apply to carry it out." in out
    assert azure.state.snapshot() == before
    assert azure.calls == []


def test_apply_rotates_disables_the_old_version_and_removes_the_users(
    azure: AzureServer, tmp_path: Path
) -> None:
    # An undeclared assignment on the key: revoked with the users' (retire-grants).
    [(arm_id, assignment)] = [
        (k, a) for k, a in azure.state.assignments.items() if k.count("/keys/acme-orders-db/")
    ]
    stranger = json.loads(json.dumps(assignment))
    stranger["properties"]["principalId"] = STRANGER
    stranger["id"] = arm_id.rsplit("/", 1)[0] + "/0a0a0a0a-0000-4000-8000-000000000009"
    azure.state.assignments[stranger["id"]] = stranger
    records = tmp_path / "incidents"
    code, out, err = respond(azure, "acme-orders-db", "--apply", "--record-dir", str(records))
    assert code == 0, err + out
    old, new = versions(azure, "acme-orders-db")
    assert old["properties"]["attributes"]["enabled"] is False  # retained, disabled
    assert new["properties"]["attributes"]["enabled"] is True
    assert (
        new["tags"]["keyplane-replaces"]
        == old["properties"]["keyUriWithVersion"].rsplit("/", 1)[-1]
    )
    assert principals_on(azure, "acme-orders-db") == set()
    assert ORDERS_USER in out and STRANGER in out
    [record] = sorted(records.glob("*.json"))
    document = json.loads(record.read_text())
    assert document["result"] == "complete"
    assert [(s["id"], s["status"]) for s in document["steps"]] == [
        ("retire-grants", "done"),
        ("revoke-users", "done"),
        ("new-key", "done"),
        ("retain-old-key", "done"),
        ("investigate", "manual"),
        ("document", "done"),
    ]
    assert document["cloud"] == "azure"
    assert document["account"] == "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"

    # The second run finds the work done.
    code, out, err = respond(azure, "acme-orders-db", "--apply", "--record-dir", str(records))
    assert code == 0, err + out
    assert "Every change was already made by an earlier run: nothing changed now." in out
    assert len(versions(azure, "acme-orders-db")) == 2


def test_a_signing_key_stops_at_once_and_its_public_key_is_published(
    azure: AzureServer, tmp_path: Path
) -> None:
    code, out, err = respond(azure, "session-signing", "--apply", "--record-dir", str(tmp_path))
    assert code == 0, err + out
    old, new = versions(azure, "session-signing")
    assert old["properties"]["attributes"]["enabled"] is False
    assert new["properties"]["attributes"]["enabled"] is True
    [record] = sorted(tmp_path.glob("*.json"))
    document = json.loads(record.read_text())
    assert document["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    steps = {s["id"]: s for s in document["steps"]}
    assert steps["revoke-users"]["status"] == "done"
    assert "disabled version" in steps["revoke-users"]["detail"]
    # The old version was disabled by revoke-users already: retain-old-key finds it done.
    assert steps["retain-old-key"]["status"] == "already done"
    assert SIGNING_USER in principals_on(azure, "session-signing")  # the users keep the key


def test_a_denied_step_is_recorded_and_the_rest_goes_on(azure: AzureServer, tmp_path: Path) -> None:
    azure.fail(r"/roleAssignments/[^/]+$", 403, method="DELETE", times=10)
    code, out, err = respond(azure, "acme-orders-db", "--apply", "--record-dir", str(tmp_path))
    assert code == 1
    assert err == (
        "keyplane respond: step(s) failed: revoke-users; see the record, fix and run again\n"
    )
    assert "[failed] revoke/revoke-users: revoke-users refused: AuthorizationFailed" in out
    old, new = versions(azure, "acme-orders-db")
    assert old["properties"]["attributes"]["enabled"] is False
    assert new["properties"]["attributes"]["enabled"] is True


def test_an_undeployed_key_is_refused_with_nothing_changed(
    azure: AzureServer, tmp_path: Path
) -> None:
    del azure.state.keys[next(k for k in azure.state.keys if k[1] == "acme-orders-db")]
    before = azure.state.snapshot()
    code, out, err = respond(azure, "acme-orders-db", "--apply", "--record-dir", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        "keyplane respond: no vault of resource group kms-prod holds key acme-orders-db; deploy "
        "the key, or check the environment and --endpoint-url\n"
    )
    assert azure.state.snapshot() == before
    assert not list(tmp_path.iterdir())
