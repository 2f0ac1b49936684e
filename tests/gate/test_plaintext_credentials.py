"""KM-STO-001 as written on credentials (issue 14): an IAM access key whose secret is kept in
clear (no `pgpKey`) and database passwords in clear, in the pack, through `scan`, through checkov
(the Terraform types `aws_iam_access_key`, `aws_db_instance`, `aws_rds_cluster`), and redacted in
every output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource
from keyplane.adapters.terraform import facts_from_plan
from keyplane.facts.model import SecretValue
from tests.checkov.support import checkov_failures, in_process_failures, registration, scan
from tests.gate.test_blind_spots2 import export, resource
from tests.gate.test_blind_spots2 import scan as scan_document
from tests.policy.stacks import UNKNOWN_WIRE, aws_context, res, secret

PASSWORD = "pw-Zq81-marker"
ACCESS_KEY_MESSAGE = (
    "KM-STO-001 ci-deployer: secret holds a plain-text value in the stack state, as does "
    "sesSmtpPasswordV4 (the access key has no pgpKey); set pgpKey to a PGP public key (or "
    "keybase:<user>) so that only the encrypted secret is kept, or give the workload a role "
    "instead of an access key."
)


def db_message(name: str, field: str) -> str:
    return (
        f"KM-STO-001 {name}: {field} holds a plain-text value in the resource inputs; pass it as "
        "a Pulumi secret (pulumi config set --secret, pulumi.Output.secret) and remove it from "
        "the code and its history."
    )


ACCESS_KEY = "aws:iam/accessKey:AccessKey"
INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
PGP = "keybase:ci-team"

# (label, type, name, inputs, expected KM-STO-001 messages)
CASES: list[tuple[str, str, str, dict[str, Any], set[str]]] = [
    ("key-without-pgp", ACCESS_KEY, "ci-deployer", {"user": "ci-deployer"}, {ACCESS_KEY_MESSAGE}),
    ("key-with-pgp", ACCESS_KEY, "ci-deployer", {"user": "ci-deployer", "pgpKey": PGP}, set()),
    (
        "instance-in-clear",
        INSTANCE,
        "orders-db",
        {"engine": "postgres", "username": "app", "password": PASSWORD},
        {db_message("orders-db", "password")},
    ),
    (
        "instance-secret",
        INSTANCE,
        "orders-db",
        {"engine": "postgres", "username": "app", "password": secret(PASSWORD)},
        set(),
    ),
    (
        "instance-managed",
        INSTANCE,
        "orders-db",
        {"engine": "postgres", "username": "app", "manageMasterUserPassword": True},
        set(),
    ),
    (
        "cluster-in-clear",
        CLUSTER,
        "orders-cluster",
        {"engine": "aurora-postgresql", "masterUsername": "app", "masterPassword": PASSWORD},
        {db_message("orders-cluster", "masterPassword")},
    ),
    (
        "cluster-secret",
        CLUSTER,
        "orders-cluster",
        {"engine": "aurora-postgresql", "masterPassword": secret(PASSWORD)},
        set(),
    ),
]


def _sto(findings: list[dict[str, Any]]) -> set[str]:
    return {f["message"] for f in findings if f["rule"] == "KM-STO-001"}


@pytest.mark.parametrize(
    ("label", "type_", "name", "inputs", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_scan_reports_credentials_in_clear(
    tmp_path: Path, label: str, type_: str, name: str, inputs: dict[str, Any], expected: set[str]
) -> None:
    code, out = scan_document(tmp_path, export(resource(type_, name, inputs)))
    document = json.loads(out)
    assert _sto(document["findings"]) == expected
    assert code == (1 if expected else 0), label
    assert PASSWORD not in out


def test_an_access_key_whose_pgp_key_is_unknown_cannot_be_judged() -> None:
    [value] = facts_from_resource(
        res(ACCESS_KEY, "ci-deployer", {"user": "ci-deployer", "pgpKey": UNKNOWN_WIRE})
    )
    assert isinstance(value, SecretValue) and value.plaintext is not True


@pytest.mark.parametrize("format", ["json", "sarif", "junit", "markdown", "table"])
def test_no_output_copies_a_password_in_clear(tmp_path: Path, format: str) -> None:
    document = export(
        resource(INSTANCE, "orders-db", {"engine": "postgres", "password": PASSWORD}),
        resource(CLUSTER, "orders-cluster", {"masterPassword": PASSWORD}),
    )
    plan = tmp_path / "plan.json"
    code, out = scan_document(tmp_path, document, "--emit-plan", str(plan), format=format)
    assert code == 1
    assert PASSWORD not in out
    assert PASSWORD not in plan.read_text()


def _pulumi(label: str, type_: str, name: str, inputs: dict[str, Any]) -> PulumiResource:
    return res(type_, f"{name}-{label}", inputs)


def test_checkov_reports_the_same_credentials_in_clear() -> None:
    resources = [_pulumi(*case[:4]) for case in CASES]
    plan, run = scan([registration(r) for r in resources], aws_context())
    names = {urn: address.split(".", 1)[1] for address, urn in plan.urn_by_address.items()}
    failures = {k: v for k, v in checkov_failures(run).items() if k[1] == "KM-STO-001"}
    assert failures == {
        k: v
        for k, v in in_process_failures(resources, aws_context(), names).items()
        if k[1] == "KM-STO-001"
    }
    assert {urn.rsplit("::", 1)[-1] for urn, _ in failures} == {
        f"{name}-{label}" for label, _, name, _, expected in CASES if expected
    }
    assert {address.split(".")[0] for address in plan.urn_by_address} == {
        "aws_iam_access_key",
        "aws_db_instance",
        "aws_rds_cluster",
    }


def test_a_terraform_plan_keeps_a_sensitive_password_in_clear() -> None:
    """Terraform marks `password` sensitive (`after_sensitive`) but still writes it into the plan
    and the state in clear: only a value the plan does not hold (write-only `password_wo`, or
    `manage_master_user_password`) keeps it out."""
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_db_instance.orders",
                        "mode": "managed",
                        "type": "aws_db_instance",
                        "name": "orders",
                        "values": {"engine": "postgres", "password": PASSWORD},
                        "sensitive_values": {"password": True},
                    },
                    {
                        "address": "aws_rds_cluster.managed",
                        "mode": "managed",
                        "type": "aws_rds_cluster",
                        "name": "managed",
                        "values": {
                            "engine": "aurora-postgresql",
                            "manage_master_user_password": True,
                        },
                        "sensitive_values": {},
                    },
                    {
                        "address": "aws_iam_access_key.ci",
                        "mode": "managed",
                        "type": "aws_iam_access_key",
                        "name": "ci",
                        "values": {"user": "ci", "pgp_key": PGP},
                        "sensitive_values": {},
                    },
                ]
            }
        },
        "resource_changes": [
            {
                "address": "aws_db_instance.orders",
                "change": {"after_sensitive": {"password": True}, "after_unknown": {}},
            }
        ],
    }
    values = [f for f in facts_from_plan(plan).resources if isinstance(f, SecretValue)]
    assert [(v.name, v.field, v.plaintext) for v in values] == [
        ("orders", "password", True),
        ("ci", "secret", False),
    ]
