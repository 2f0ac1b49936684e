"""The rules judged over several resources (KM-ROT-003, KM-LOG-001, KM-LOG-002) give the same
verdicts through checkov, with keyplane's checks reading the whole plan, as the CrossGuard rules
give in process on the same stack.

Each scenario is one stack (a stack rule judges the stack as a whole, so mutations cannot share
a plan), so each runs checkov once. A verdict about no single resource ("no trail") is reported
by checkov on every key, secret and vault of the plan (policy-packs/checkov/keyplane_checks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from keyplane.adapters.pulumi import PulumiResource, stack_facts
from keyplane.facts.model import AccessBinding, Key, Secret, StackFacts, Vault
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.judge import check_stack
from keyplane.rules.registry import Scope, checks_at
from keyplane.rules.verdict import Outcome
from keyplane.terraform.to_plan import terraform_type
from tests.checkov.support import registration, scan
from tests.policy.stacks import (
    aws_context,
    aws_stack,
    gcp_context,
    gcp_stack,
    mutate,
    res,
    without,
)
from tests.policy.test_hierarchy_access import OPS, hierarchy_member

STACK_RULES = tuple(c.rule for c in checks_at(Point.CHECKOV, Scope.STACK))

#: (label, stack, context, what must fail: (rule, resource name) in checkov's report)
SCENARIOS: Sequence[
    tuple[str, Callable[[], list[PulumiResource]], Callable[[], Context], set[tuple[str, str]]]
] = (
    ("aws-baseline", aws_stack, aws_context, set()),
    (
        "aws-three-rules",
        lambda: mutate(
            mutate(
                mutate(
                    aws_stack(),
                    "acme-payments-api-rotation",
                    ["rotationRules", "automaticallyAfterDays"],
                    120.0,
                ),
                "audit-trail",
                ["isMultiRegionTrail"],
                False,
            ),
            "audit-logs-lock",
            ["rule", "defaultRetention", "mode"],
            "GOVERNANCE",
        ),
        aws_context,
        {
            ("KM-ROT-003", "acme-payments-api"),
            ("KM-LOG-001", "audit-trail"),
            ("KM-LOG-002", "audit-logs"),
        },
    ),
    ("aws-no-trail", lambda: without(aws_stack(), "audit-trail"), aws_context, set()),
    (
        "gcp-admin-read-only",
        lambda: mutate(gcp_stack(), "kms-audit", ["auditLogConfigs"], [{"logType": "ADMIN_READ"}]),
        gcp_context,
        set(),
    ),
    (
        "aws-wrong-environment-tag",
        lambda: mutate(aws_stack(), "acme-orders-db", ["tags", "keyplane-environment"], "dev"),
        aws_context,
        {("KM-ENV-001", "acme-orders-db")},
    ),
    (
        # A bucket nothing logs to is not a log sink: KM-ENV-001 does not ask it for a tag.
        "aws-untagged-plain-bucket",
        lambda: [*aws_stack(), res("aws:s3/bucketV2:BucketV2", "assets", {"bucket": "assets"})],
        aws_context,
        set(),
    ),
    (
        # IAM on the organisation reaches every key and secret below it (issue 13).
        "gcp-organisation-owner",
        lambda: [
            *gcp_stack(),
            hierarchy_member("organization", "org-owner", "123456789", "roles/owner", OPS),
        ],
        gcp_context,
        {
            ("KM-ACC-004", item)
            for item in (
                "acme-orders-db",
                "platform-backup",
                "release-signing",
                "acme-payments-api",
            )
        },
    ),
)


def _renamed(stack: StackFacts, names: dict[str, str]) -> StackFacts:
    """The facts as checkov's form names them: Terraform names, and Terraform types for the
    bindings a message names as a path (`google_organization_iam_member org_owner`)."""
    return StackFacts(
        tuple(
            replace(
                f,
                name=names.get(f.urn, f.name),
                type=terraform_type(f.type) or f.type if isinstance(f, AccessBinding) else f.type,
            )
            for f in stack.resources
        )
    )


def _in_process(
    resources: list[PulumiResource], context: Context, names: dict[str, str]
) -> dict[tuple[str, str], set[str]]:
    """(rule, URN) → messages of the stack rules' failures in process, a verdict about no
    resource placed on every key, secret and vault (as keyplane's checkov checks place it)."""
    stack = _renamed(stack_facts(resources), names)
    unlogged = [f.urn for f in stack.resources if isinstance(f, Key | Secret | Vault)]
    found: dict[tuple[str, str], set[str]] = {}
    for rule in STACK_RULES:
        for verdict in check_stack(rule, stack, context):
            if verdict.outcome is Outcome.FAIL:
                for urn in [verdict.urn] if verdict.urn else unlogged:
                    found.setdefault((rule, urn), set()).add(verdict.message)
    return found


@pytest.mark.parametrize(
    ("label", "stack", "context", "failing"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_stack_rules_give_the_same_verdicts_through_checkov_and_crossguard(
    label: str,
    stack: Callable[[], list[PulumiResource]],
    context: Callable[[], Context],
    failing: set[tuple[str, str]],
) -> None:
    resources = stack()
    plan, run = scan([registration(r) for r in resources], context())
    names = {urn: address.split(".", 1)[1] for address, urn in plan.urn_by_address.items()}
    reported: dict[tuple[str, str], set[str]] = {}
    for finding in run.findings:
        if finding.rule in STACK_RULES:
            reported.setdefault((finding.rule, finding.resource), set()).add(finding.message)
    expected = _in_process(resources, context(), names)
    # checkov reports one message per check and resource (the first failure).
    assert set(reported) == set(expected)
    for where, messages in reported.items():
        assert messages <= expected[where]
    by_name = {urn.rsplit("::", 1)[-1] for _, urn in reported}
    if failing:
        assert {(rule, urn.rsplit("::", 1)[-1]) for rule, urn in reported} == failing
    elif label in ("aws-baseline", "aws-untagged-plain-bucket"):
        assert reported == {}
    else:
        # A verdict about the whole stack: every key, secret and vault carries it.
        keys = {r.name for r in resources if r.type.endswith((":Key", ":CryptoKey", ":Secret"))}
        assert keys <= by_name
        assert {rule for rule, _ in reported} == {"KM-LOG-001"}
