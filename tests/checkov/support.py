"""Shared by the checkov tests: Pulumi resources through checkov with keyplane's checks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import pytest

from keyplane.adapters.pulumi import PulumiResource, facts_from_resource
from keyplane.engines.checkov.runner import CheckovRun, run_checkov
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context, settings_from_context
from keyplane.rules.registry import resource_checks
from keyplane.rules.verdict import Outcome
from keyplane.terraform.to_plan import TerraformPlan, to_terraform_plan
from keyplane.wire import Registration

#: The resource checks checkov runs as keyplane's custom checks, by rule.
CHECKOV_CHECKS = resource_checks(Point.CHECKOV)
CHECKOV_RULES = tuple(CHECKOV_CHECKS)


def registration(resource: PulumiResource) -> Registration:
    return Registration(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        custom=True,
        parent="",
        dependencies=(),
        protect=resource.protect,
        retain_on_delete=False,
        provider="",
        inputs=resource.inputs,
        property_dependencies=dict(resource.property_dependencies),
    )


def scan(
    registrations: Sequence[Registration], context: Context
) -> tuple[TerraformPlan, CheckovRun]:
    """The registrations' Terraform-plan form through checkov, judged in `context`."""
    converted = to_terraform_plan(registrations)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEYPLANE_SETTINGS", json.dumps(settings_from_context(context)))
        run = run_checkov(converted.plan, converted.urn_by_address, environment=context.environment)
    return converted, run


def checkov_failures(run: CheckovRun) -> dict[tuple[str, str], str]:
    """(URN, rule) → message of every failure of a resource-level keyplane rule checkov
    reported (the rules judged over the whole plan are compared in test_stack_conformance)."""
    return {(f.resource, f.rule): f.message for f in run.findings if f.rule in CHECKOV_RULES}


def in_process_failures(
    resources: Iterable[PulumiResource], context: Context, names: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """(URN, rule) → message of the same rules judged in process on the Pulumi form.

    `names` (URN → Terraform resource name) gives messages the name checkov's reports use.
    """
    result: dict[tuple[str, str], str] = {}
    for resource in resources:
        for native in facts_from_resource(resource):
            facts = replace(native, name=names.get(resource.urn, native.name))
            for rule in CHECKOV_RULES:
                verdict = CHECKOV_CHECKS[rule](facts, context)
                if verdict.outcome is Outcome.FAIL:
                    result.setdefault((resource.urn, rule), verdict.message)
    return result
