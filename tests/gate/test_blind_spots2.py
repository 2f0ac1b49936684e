"""No blind spots, second part (issue 14): KM-COV-001 and the coverage line of every format,
the shapes the checks assume (unparseable documents, org and folder sinks, logging rules per
stack, KM-ENV-001's scope, GCP durations, Azure soft delete), and KM-STO-001 as written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app

runner = CliRunner()
STACK = "urn:pulumi:prod::payments::pulumi:pulumi:Stack::payments-prod"
#: The tags every keyplane resource carries in prod (KM-ENV-001, KM-PUR-001).
TAGS = {"keyplane-environment": "prod", "keyplane-managed": "true"}


def resource(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::payments::{type_}::{name}",
        "custom": True,
        "type": type_,
        "inputs": inputs,
        "outputs": {},
        "parent": STACK,
        "id": name,
        **extra,
    }


def export(*resources: dict[str, Any]) -> dict[str, Any]:
    stack = {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack", "outputs": {}}
    return {"version": 3, "deployment": {"resources": [stack, *resources]}}


def scan(
    tmp_path: Path, document: dict[str, Any], *extra: str, format: str = "json"
) -> tuple[int, str]:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(document))
    result = runner.invoke(
        app,
        [
            "scan",
            str(path),
            "--env",
            "prod",
            "--no-checkov",
            "--format",
            format,
            "--as-of",
            "2026-11-29",
            "--estate",
            str(tmp_path / "no-estate"),
            *extra,
        ],
    )
    return result.exit_code, result.stdout


def findings(tmp_path: Path, document: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    code, out = scan(tmp_path, document)
    assert code in (0, 1), out
    return [f for f in json.loads(out)["findings"] if f["rule"] == rule]


def messages(tmp_path: Path, document: dict[str, Any], rule: str) -> list[str]:
    return sorted(f["message"] for f in findings(tmp_path, document, rule))


# --- KM-COV-001 --------------------------------------------------------------------------------

PROJECT_MEMBER = resource(
    "gcp:projects/iAMMember:IAMMember",
    "ops-kms-admin",
    {"project": "acme-prod", "role": "roles/cloudkms.admin", "member": "user:ops@acme.example"},
)
COV_MESSAGE = (
    "KM-COV-001 ops-kms-admin: keyplane cannot read resources of type "
    "gcp:projects/iAMMember:IAMMember, which holds or grants access to keys, secrets or "
    "certificates: its settings were not judged; review it by hand (and record the review as an "
    "exception) or write it with a type keyplane reads."
)
#: A resource keyplane does not read and that holds nothing: neither reported nor "not judged".
TOPIC = resource("gcp:pubsub/topic:Topic", "events", {"name": "events"})


def test_unread_key_bearing_type_is_reported(tmp_path: Path) -> None:
    found = findings(tmp_path, export(PROJECT_MEMBER, TOPIC), "KM-COV-001")
    assert [(f["message"], f["enforcement"], f["type"]) for f in found] == [
        (COV_MESSAGE, "advisory", "gcp:projects/iAMMember:IAMMember")
    ]


def test_read_and_harmless_types_are_not_reported(tmp_path: Path) -> None:
    alias = resource("aws:kms/alias:Alias", "orders", {"name": "alias/orders"})
    assert findings(tmp_path, export(TOPIC, alias), "KM-COV-001") == []


@pytest.mark.parametrize(
    ("format", "expected"),
    [
        (
            "table",
            r"PASS: 0 mandatory, 1 advisory on 1 resources \(1 resources judged, 1 not "
            r"judged: gcp:projects/iAMMember:IAMMember\)",
        ),
        ("markdown", r"1 resources judged, 1 not judged: gcp:projects/iAMMember:IAMMember"),
        (
            "junit",
            r'name="resources" value="1 resources judged, 1 not judged: '
            r'gcp:projects/iAMMember:IAMMember"',
        ),
        (
            "sarif",
            r'"summary": "1 resources judged, 1 not judged: '
            r'gcp:projects/iAMMember:IAMMember"',
        ),
        ("json", r'"not_judged_types": \[\s*"gcp:projects/iAMMember:IAMMember"\s*\]'),
    ],
)
def test_every_format_says_what_was_not_judged(tmp_path: Path, format: str, expected: str) -> None:
    code, out = scan(tmp_path, export(PROJECT_MEMBER, TOPIC), format=format)
    assert code == 0
    assert re.search(expected, out), out
    assert "KM-COV-001" in out


def test_json_summary_counts_judged_read_and_not_judged(tmp_path: Path) -> None:
    read_key = resource("aws:kms/key:Key", "shared", {}, external=True)
    _, out = scan(tmp_path, export(PROJECT_MEMBER, TOPIC, read_key))
    summary = json.loads(out)["summary"]
    assert (summary["judged"], summary["read"], summary["not_judged"]) == (1, 1, 1)
    assert summary["not_judged_types"] == ["gcp:projects/iAMMember:IAMMember"]
