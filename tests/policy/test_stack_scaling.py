"""The stack rules' joins stay linear in the size of the stack (counted in calls, not seconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from keyplane.facts import grants
from keyplane.facts.access import Grant
from keyplane.facts.model import AccessBinding, Key, KeyOrigin, Resource, StackFacts
from keyplane.facts.values import Ref
from keyplane.rules.catalog import Point
from keyplane.rules.context import Context
from keyplane.rules.judge import check_stack
from keyplane.rules.registry import stack_checks
from keyplane.standard import Cloud

ARN = "arn:aws:kms:eu-west-1:111111111111:key/"


def _estate(tenants: int) -> StackFacts:
    """Per tenant a key and its key policy; one administrator policy naming every key's ARN."""
    facts: list[Key | AccessBinding] = []
    for i in range(tenants):
        urn = f"urn:pulumi:bench::keyplane::aws:kms/key:Key::t{i}"
        facts.append(
            Key(
                urn=urn,
                name=f"t{i}",
                type="aws:kms/key:Key",
                cloud=Cloud.AWS,
                ids=frozenset({f"t{i}", ARN + f"t{i}"}),
                algorithm="AES-256",
                usage=None,
                can_rotate_automatically=True,
                rotation_enabled=True,
                rotation_days=365,
                deletion_window_days=30,
                origin=KeyOrigin.CLOUD_HSM,
                protection="HSM",
            )
        )
        facts.append(
            AccessBinding(
                urn=f"urn:pulumi:bench::keyplane::aws:kms/keyPolicy:KeyPolicy::t{i}",
                name=f"t{i}-policy",
                type="aws:kms/keyPolicy:KeyPolicy",
                cloud=Cloud.AWS,
                grants=(Grant(f"arn:aws:iam::111111111111:role/t{i}-service", ("kms:Decrypt",)),),
                target=Ref(ARN + f"t{i}", (urn,)),
            )
        )
    facts.append(
        AccessBinding(
            urn="urn:pulumi:bench::keyplane::aws:iam/rolePolicy:RolePolicy::admin",
            name="admin",
            type="aws:iam/rolePolicy:RolePolicy",
            cloud=Cloud.AWS,
            grants=(
                Grant(
                    "arn:aws:iam::111111111111:role/key-admin",
                    ("kms:Describe*", "kms:Put*"),
                    resources=tuple(ARN + f"t{i}" for i in range(tenants)),
                ),
            ),
            identity=True,
        )
    )
    return StackFacts(tuple(facts))


def _calls(tenants: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Calls of the per-pair predicates while every stack rule judges the estate."""
    count = 0

    def counting(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            return original(*args, **kwargs)

        return call

    with monkeypatch.context() as patch:
        patch.setattr(Resource, "matches", counting(Resource.matches))
        patch.setattr(grants, "binding_applies", counting(grants.binding_applies))
        patch.setattr(grants, "identity_applies", counting(grants.identity_applies))
        stack = _estate(tenants)
        context = Context(environment="bench", as_of=date(2026, 1, 1))
        for rule_id in stack_checks(Point.CROSSGUARD):
            check_stack(rule_id, stack, context)
    return count


def test_stack_rules_scale_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = _calls(20, monkeypatch), _calls(200, monkeypatch)
    assert small > 0
    assert large <= 11 * small
