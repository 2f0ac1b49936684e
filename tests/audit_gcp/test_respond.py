"""`keyplane respond prod-gcp --key NAME [--apply]`: Cloud KMS's client library against the local
server holding the deployed prod-gcp project, the command through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.audit_gcp.server import PUBLIC_KEY, Cloud
from tests.audit_gcp.support import AUDITOR, ENV, PROJECT, RING

ORDERS = f"{RING}/cryptoKeys/acme-orders-db"
SIGNING = f"{RING}/cryptoKeys/release-signing"
ADMINS = "group:kms-admins@acme.example"
ORDERS_USER = "serviceAccount:orders@acme-prod-apps.iam.gserviceaccount.com"


def respond(estate: Path, endpoint: str, records: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [
            "respond",
            ENV,
            "--estate",
            str(estate),
            "--endpoint-url",
            endpoint,
            "--record-dir",
            str(records),
            "--reason",
            "key material seen in a public paste",
            *args,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def states(cloud: Cloud, key: str) -> dict[str, str]:
    return {v["name"].rsplit("/", 1)[-1]: v["state"] for v in cloud.versions[key]}


def members(cloud: Cloud, resource: str) -> set[str]:
    return {m for b in cloud.policy(resource).get("bindings", []) for m in b["members"]}


def _log(cloud: Cloud) -> None:
    for n, (who, method, code) in enumerate(
        [
            ("mallory@evil.example", "Decrypt", 7),
            ("mallory@evil.example", "Decrypt", 7),
            ("orders@acme-prod-apps.iam.gserviceaccount.com", "Encrypt", 0),
        ]
    ):
        cloud.entries.append(
            {
                "insertId": f"e{n}",
                "timestamp": "2026-11-29T10:00:00Z",
                "protoPayload": {
                    "methodName": method,
                    "resourceName": ORDERS,
                    "authenticationInfo": {"principalEmail": who},
                    **({"status": {"code": code, "message": "denied"}} if code else {}),
                },
            }
        )


def test_the_dry_run_prints_the_plan_and_changes_nothing(
    cloud: Cloud, endpoint: str, estate: Path, tmp_path: Path
) -> None:
    before = cloud.snapshot()
    code, out, err = respond(estate, endpoint, tmp_path / "incidents", "--key", "acme-orders-db")
    assert code == 0, err
    assert "create a new key (same spec, usage, tags and policy) as the key's new primary" in out
    assert "Dry run: nothing was changed. Run again with --apply to carry it out." in out
    assert cloud.snapshot() == before
    assert cloud.writes == []
    assert not (tmp_path / "incidents").exists()


def test_apply_rotates_revokes_investigates_and_a_second_run_is_a_no_op(
    cloud: Cloud, endpoint: str, estate: Path, tmp_path: Path
) -> None:
    _log(cloud)
    records = tmp_path / "incidents"
    code, out, err = respond(estate, endpoint, records, "--key", "acme-orders-db", "--apply")
    assert code == 0, err
    # The key's users are off it; its administrators keep it (to re-encrypt).
    assert members(cloud, ORDERS) == set()
    assert ORDERS_USER not in members(cloud, ORDERS)
    assert ADMINS in members(cloud, RING)
    # A new primary version; the old one disabled, retained.
    assert cloud.keys[ORDERS]["primary"] == f"{ORDERS}/cryptoKeyVersions/2"
    assert states(cloud, ORDERS) == {"1": "DISABLED", "2": "ENABLED"}
    assert (
        cloud.keys[ORDERS]["labels"]["keyplane-incident"]
        == "prod-gcp--acme-orders-db--"
        + (cloud.keys[ORDERS]["labels"]["keyplane-incident"].rsplit("--", 1)[-1])
    )
    [record] = records.glob("*.json")
    incident = json.loads(record.read_text())
    assert incident["caller"] == f"serviceAccount:{AUDITOR}"
    assert [(s["id"], s["status"]) for s in incident["steps"]] == [
        ("retire-grants", "done"),
        ("revoke-users", "already done"),
        ("new-key", "done"),
        ("retain-old-key", "done"),
        ("investigate", "done"),
        ("document", "done"),
    ]
    assert incident["investigation"]["by_principal_and_action"][0] == {
        "principal": "mallory@evil.example",
        "action": "Decrypt",
        "events": 2,
        "failed": 2,
    }
    assert f"removed {ORDERS_USER} (roles/cloudkms.cryptoKeyEncrypterDecrypter)" in out

    writes = list(cloud.writes)
    code, out, err = respond(estate, endpoint, records, "--key", "acme-orders-db", "--apply")
    assert code == 0, err
    assert cloud.writes == writes  # nothing changed
    assert "Every change was already made by an earlier run: nothing changed now." in out
    assert states(cloud, ORDERS) == {"1": "DISABLED", "2": "ENABLED"}


def test_a_signing_key_stops_at_once_and_its_new_public_key_is_recorded(
    cloud: Cloud, endpoint: str, estate: Path, tmp_path: Path
) -> None:
    records = tmp_path / "incidents"
    code, _, err = respond(estate, endpoint, records, "--key", "release-signing", "--apply")
    assert code == 0, err
    assert states(cloud, SIGNING) == {"1": "DISABLED", "2": "ENABLED"}
    assert "primary" not in cloud.keys[SIGNING]  # asymmetric keys have no primary version
    [record] = records.glob("*.json")
    incident = json.loads(record.read_text())
    assert incident["public_key_pem"] == PUBLIC_KEY
    assert [(s["id"], s["status"]) for s in incident["steps"]][:5] == [
        ("retire-grants", "done"),
        ("revoke-users", "done"),
        ("new-key", "done"),
        ("publish-public-key", "done"),
        ("retain-old-key", "already done"),
    ]


def test_a_denied_step_is_recorded_and_the_rest_goes_on(
    cloud: Cloud, endpoint: str, estate: Path, tmp_path: Path
) -> None:
    cloud.fail("acme-orders-db:setIamPolicy", 403, times=10)
    records = tmp_path / "incidents"
    code, _, err = respond(estate, endpoint, records, "--key", "acme-orders-db", "--apply")
    assert code == 1
    assert "step(s) failed: retire-grants, revoke-users" in err
    [record] = records.glob("*.json")
    steps = {s["id"]: s for s in json.loads(record.read_text())["steps"]}
    assert steps["retire-grants"]["detail"] == "SetIamPolicy refused: HTTP 403"
    assert steps["new-key"]["status"] == "done"
    assert steps["retain-old-key"]["status"] == "done"
    assert ORDERS_USER in members(cloud, ORDERS)  # the refused change was not made
    assert states(cloud, ORDERS) == {"1": "DISABLED", "2": "ENABLED"}


def test_a_secret_is_rotated_by_hand_on_gcp(endpoint: str, estate: Path, tmp_path: Path) -> None:
    code, out, err = respond(
        estate, endpoint, tmp_path / "incidents", "--secret", "acme-payments-api", "--apply"
    )
    assert code == 0, err
    assert (
        f"[manual] rotate/rotate-secret: add a version with a new value to projects/{PROJECT}/"
        "secrets/acme-payments-api" in out
    )
