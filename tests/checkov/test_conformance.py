"""The same resources judged by the CrossGuard rules in process and by checkov with keyplane's
custom checks give the same failures with the same messages.

One plan holds the compliant baselines of every cloud and, beside them, one copy of a resource
per one-field mutation (resource-level rules judge each resource alone), so checkov runs once.
The rules judged over the whole plan see the copies as extra resources of one odd stack; they
are compared on stacks of their own in test_stack_conformance.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from keyplane.adapters.pulumi import PulumiResource
from keyplane.engines.checkov.runner import CheckovRun
from keyplane.terraform.to_plan import TerraformPlan
from tests.checkov.support import (
    CHECKOV_RULES,
    checkov_failures,
    in_process_failures,
    registration,
    scan,
)
from tests.policy.stacks import (
    DELETE,
    STACKS,
    UNKNOWN_WIRE,
    aws_context,
    key_policy,
    statement,
    trust,
)

# (label, cloud, resource, input path, value, rules that must fail)
MUTATIONS: Sequence[tuple[str, str, str, tuple[str | int, ...], Any, set[str]]] = (
    ("rotation-off", "aws", "acme-orders-db", ("enableKeyRotation",), False, {"KM-ROT-001"}),
    ("rotation-400", "aws", "acme-orders-db", ("rotationPeriodInDays",), 400.0, {"KM-ROT-002"}),
    ("window-7", "aws", "acme-orders-db", ("deletionWindowInDays",), 7.0, {"KM-DEL-001"}),
    (
        "secp256k1",
        "aws",
        "session-signing",
        ("customerMasterKeySpec",),
        "ECC_SECG_P256K1",
        {"KM-ALG-001"},
    ),
    (
        "no-purpose",
        "aws",
        "acme-orders-db",
        ("tags", "keyplane-purpose"),
        DELETE,
        {"KM-PUR-001", "KM-ROT-002"},
    ),
    # KM-ENV-001 is judged over the stack (which buckets are log sinks): test_stack_conformance.
    ("wrong-env", "aws", "acme-orders-db", ("tags", "keyplane-environment"), "dev", set()),
    (
        "wildcard",
        "aws",
        "acme-orders-db",
        ("policy",),
        key_policy(statement("*", ["kms:Decrypt"])),
        {"KM-ACC-001"},
    ),
    ("rotation-unknown", "aws", "acme-orders-db", ("enableKeyRotation",), UNKNOWN_WIRE, set()),
    ("anyone", "aws", "acme-orders-service", ("assumeRolePolicy",), trust("*"), {"KM-ACC-003"}),
    ("provider-key", "aws", "acme-payments-api", ("kmsKeyId",), DELETE, {"KM-STO-002"}),
    ("plaintext", "aws", "acme-payments-api-value", ("secretString",), "hunter2", {"KM-STO-001"}),
    (
        "software",
        "gcp",
        "acme-orders-db",
        ("versionTemplate", "protectionLevel"),
        "SOFTWARE",
        {"KM-HSM-001"},
    ),
    ("rotation-400", "gcp", "acme-orders-db", ("rotationPeriod",), "34560000s", {"KM-ROT-002"}),
    (
        "destroy-1d",
        "gcp",
        "acme-orders-db",
        ("destroyScheduledDuration",),
        "86400s",
        {"KM-DEL-001"},
    ),
    ("no-rotation", "gcp", "acme-orders-db", ("rotationPeriod",), DELETE, {"KM-ROT-001"}),
    (
        "level-unknown",
        "gcp",
        "acme-orders-db",
        ("versionTemplate", "protectionLevel"),
        UNKNOWN_WIRE,
        set(),
    ),
    (
        "no-purge",
        "azure",
        "primary-vault",
        ("properties", "enablePurgeProtection"),
        False,
        {"KM-DEL-001", "KM-STO-002"},
    ),
    (
        "public",
        "azure",
        "primary-vault",
        ("properties", "publicNetworkAccess"),
        "Enabled",
        {"KM-STO-002"},
    ),
    (
        "no-rotation",
        "azure",
        "acme-orders-db",
        ("properties", "rotationPolicy"),
        DELETE,
        {"KM-ROT-001"},
    ),
    ("rsa-1024", "azure", "acme-orders-db", ("properties", "keySize"), 1024.0, {"KM-ALG-001"}),
    ("software", "azure", "acme-orders-db", ("properties", "kty"), "RSA", {"KM-HSM-001"}),
    (
        # A legacy access policy giving every key permission to an unknown object (issue 13).
        "legacy-access-policy",
        "azure",
        "primary-vault",
        ("properties",),
        {
            "sku": {"family": "A", "name": "premium"},
            "tenantId": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
            "enablePurgeProtection": True,
            "enableRbacAuthorization": False,
            "publicNetworkAccess": "Disabled",
            "softDeleteRetentionInDays": 90.0,
            "accessPolicies": [
                {
                    "tenantId": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
                    "objectId": "deadbeef-0000-4000-8000-000000000000",
                    "permissions": {"keys": ["all"], "secrets": []},
                }
            ],
        },
        {"KM-ACC-001", "KM-STO-002"},
    ),
)


def _set(inputs: dict[str, Any], path: Sequence[str | int], value: Any) -> None:
    node: Any = inputs
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def mutated(
    cloud: str, name: str, label: str, path: Sequence[str | int], value: Any
) -> PulumiResource:
    """A copy of the baseline's resource `name`, renamed after the mutation, one input changed."""
    [resource] = [r for r in STACKS[cloud][0]() if r.name == name]
    inputs = copy.deepcopy(dict(resource.inputs))
    _set(inputs, path, value)
    new_name = f"{name}-{label}"
    return replace(
        resource,
        name=new_name,
        urn=resource.urn.replace(f"::{name}", f"::{new_name}"),
        inputs=inputs,
    )


MUTATED = {
    (cloud, name, label): mutated(cloud, name, label, path, value)
    for label, cloud, name, path, value, _ in MUTATIONS
}
RESOURCES: list[PulumiResource] = [
    *(r for stack, _ in STACKS.values() for r in stack()),
    *MUTATED.values(),
]
#: Every cloud's declared administrators, so that one context judges the three baselines.
CONTEXT = aws_context(
    key_admins=frozenset().union(*(context().key_admins for _, context in STACKS.values())),
    backup_key_admins=frozenset().union(
        *(context().backup_key_admins for _, context in STACKS.values())
    ),
)


@pytest.fixture(scope="module")
def scanned() -> tuple[TerraformPlan, CheckovRun]:
    return scan([registration(r) for r in RESOURCES], CONTEXT)


def _names(plan: TerraformPlan) -> dict[str, str]:
    return {urn: address.split(".", 1)[1] for address, urn in plan.urn_by_address.items()}


def test_checkov_and_crossguard_rules_fail_the_same_resources_with_the_same_messages(
    scanned: tuple[TerraformPlan, CheckovRun],
) -> None:
    plan, run = scanned
    assert checkov_failures(run) == in_process_failures(RESOURCES, CONTEXT, _names(plan))


def test_the_baselines_pass_every_keyplane_check(scanned: tuple[TerraformPlan, CheckovRun]) -> None:
    _, run = scanned
    baseline = {r.urn for stack, _ in STACKS.values() for r in stack()}
    assert [
        f.message for f in run.findings if f.rule in CHECKOV_RULES and f.resource in baseline
    ] == []


@pytest.mark.parametrize(
    ("label", "cloud", "name", "rules"),
    [(label, cloud, name, rules) for label, cloud, name, _, _, rules in MUTATIONS],
    ids=[f"{cloud}-{name}-{label}" for label, cloud, name, *_ in MUTATIONS],
)
def test_each_mutation_fails_exactly_its_rules_in_checkov(
    scanned: tuple[TerraformPlan, CheckovRun], label: str, cloud: str, name: str, rules: set[str]
) -> None:
    _, run = scanned
    resource = MUTATED[cloud, name, label]
    failed = {
        f.rule for f in run.findings if f.resource == resource.urn and f.rule in CHECKOV_RULES
    }
    assert failed == set(rules)
