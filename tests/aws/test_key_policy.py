"""Key policies as data: who may administer, use and read each key."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from keyplane.components.aws import ComponentInputError
from keyplane.components.aws.key_policy import ADMIN_ACTIONS, declared_key_policy, key_policy
from keyplane.standard import ALGORITHMS
from tests.aws.support import (
    CRYPTO_ACTIONS,
    allows,
    bundled,
    principals,
    resolved,
    statements,
)

PROD = "arn:aws:iam::111111111111:role"


def prod_policy(key: str) -> dict[str, dict[str, Any]]:
    return statements(declared_key_policy(resolved(bundled()["prod"], key)))


def test_a_database_key_separates_administration_use_and_audit() -> None:
    policy = prod_policy("acme-orders-db")

    assert list(policy) == ["KeyAdministration", "KeyUse", "KeyAudit"]
    admin, use, audit = policy["KeyAdministration"], policy["KeyUse"], policy["KeyAudit"]
    assert principals(admin) == [f"{PROD}/platform-key-admin"]
    assert principals(use) == [f"{PROD}/acme-orders-service"]
    assert principals(audit) == [f"{PROD}/security-audit"]
    assert use["Action"] == [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:DescribeKey",
    ]
    assert audit["Action"] == ["kms:Describe*", "kms:List*", "kms:Get*"]
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in policy.values())


def test_administrators_manage_but_never_touch_key_material() -> None:
    admin = prod_policy("acme-orders-db")["KeyAdministration"]

    assert admin["Action"] == list(ADMIN_ACTIONS)
    assert [a for a in CRYPTO_ACTIONS if allows(admin["Action"], a)] == []
    # KMS's lockout safety check: the administrators can still change the policy.
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"):
        assert allows(admin["Action"], action), action


def test_auditors_read_only() -> None:
    audit = prod_policy("acme-orders-db")["KeyAudit"]
    assert [a for a in CRYPTO_ACTIONS if allows(audit["Action"], a)] == []
    assert not allows(audit["Action"], "kms:PutKeyPolicy")
    assert not allows(audit["Action"], "kms:ScheduleKeyDeletion")


@pytest.mark.parametrize(
    ("key", "actions"),
    [
        ("session-signing", ["kms:Sign", "kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"]),
        ("webhook-hmac", ["kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey"]),
    ],
)
def test_users_get_only_their_keys_usage(key: str, actions: list[str]) -> None:
    use = prod_policy(key)["KeyUse"]
    assert principals(use) == [f"{PROD}/identity-service"]
    assert use["Action"] == actions


def test_asymmetric_encryption_keys_do_not_generate_data_keys() -> None:
    key = resolved(bundled()["prod"], "acme-orders-db")
    rsa = dataclasses.replace(key, algorithm=ALGORITHMS["RSA-3072"])
    use = statements(declared_key_policy(rsa))["KeyUse"]
    assert use["Action"] == [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GetPublicKey",
        "kms:DescribeKey",
    ]


def test_backup_keys_are_administered_by_the_backup_administrators() -> None:
    admin = prod_policy("platform-backup")["KeyAdministration"]
    assert principals(admin) == [f"{PROD}/backup-key-admin"]


def test_a_key_without_users_or_auditors_has_no_such_statements() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "search-index"), users=(), auditors=())
    assert list(statements(declared_key_policy(key))) == ["KeyAdministration"]


def test_no_statement_of_any_bundled_key_names_the_account_root_or_everyone() -> None:
    for env in bundled().values():
        if env.cloud.value != "aws":
            continue
        for key in env.resolved_keys():
            for statement in declared_key_policy(key)["Statement"]:
                for principal in principals(statement):
                    assert principal != "*", (env.name, key.name)
                    assert not principal.endswith(":root"), (env.name, key.name)
                assert statement["Action"] != "kms:*"


def test_service_principals_are_named_as_services() -> None:
    policy = statements(
        key_policy(
            admins=[f"{PROD}/platform-key-admin"],
            auditors=["config.amazonaws.com", f"{PROD}/security-audit"],
        )
    )
    assert policy["KeyAudit"]["Principal"] == {
        "AWS": [f"{PROD}/security-audit"],
        "Service": ["config.amazonaws.com"],
    }


def test_a_wildcard_user_is_refused() -> None:
    key = dataclasses.replace(resolved(bundled()["prod"], "acme-orders-db"), users=("*",))
    with pytest.raises(ComponentInputError) as raised:
        declared_key_policy(key)
    assert str(raised.value) == (
        'Invalid "keys[acme-orders-db].users" argument: KM-ACC-001: the wildcard principal '
        "'*' would grant every AWS account; name specific roles or users"
    )


def test_a_wildcard_account_principal_is_refused() -> None:
    with pytest.raises(ComponentInputError, match="KM-ACC-001: the wildcard principal"):
        key_policy(admins=["arn:aws:iam::*:role/admin"])


def test_a_key_without_administrators_is_refused() -> None:
    with pytest.raises(ComponentInputError) as raised:
        key_policy(admins=[])
    assert str(raised.value) == (
        'Invalid "admins" argument: a key without administrators cannot be managed, and KMS '
        "refuses such a policy; name at least one administrator"
    )


# --- one KMS vocabulary: the components write policies with what the rules read them with ------

FIXTURE = Path(__file__).parent.parent / "fixtures" / "aws" / "key-policies.json"


def rendered_policies() -> dict[str, Any]:
    """Every AWS key policy of the bundled estate, and each action list the policies use."""
    from keyplane.components.aws.key_policy import AUDIT_ACTIONS, use_actions
    from keyplane.standard import Cloud, Usage

    rendered: dict[str, Any] = {
        f"{env.name}/{key.name}": declared_key_policy(key)
        for env in bundled().values()
        if env.cloud is Cloud.AWS
        for key in env.resolved_keys()
    }
    rendered["_actions"] = {
        "admin": list(ADMIN_ACTIONS),
        "audit": list(AUDIT_ACTIONS),
        **{
            f"use/{usage.value}/{'symmetric' if symmetric else 'asymmetric'}": list(
                use_actions(usage, symmetric=symmetric)
            )
            for usage in Usage
            for symmetric in (True, False)
        },
    }
    return rendered


def test_the_rendered_key_policies_are_those_written_before_the_vocabulary_moved() -> None:
    """`tests/fixtures/aws/key-policies.json` was rendered before the components took their
    action lists from `keyplane.facts.access`: every statement, action and order is the same."""
    assert json.loads(json.dumps(rendered_policies())) == json.loads(FIXTURE.read_text())


def test_each_statement_grants_what_the_rules_read_it_as() -> None:
    """The administrators' patterns match administration and reading only, never a use of the
    material nor grant creation; the auditors' reading only; users' use and reading only."""
    from keyplane.components.aws.key_policy import AUDIT_ACTIONS, use_actions
    from keyplane.facts.access import (
        KMS_ADMIN_ACTIONS,
        Access,
        Target,
        aws_action_access,
        is_known_action,
    )
    from keyplane.standard import Usage

    admin = frozenset().union(*(aws_action_access(a, Target.KEY) for a in ADMIN_ACTIONS))
    assert admin == {Access.ADMIN, Access.READ}
    assert not any(
        fnmatch.fnmatchcase("kms:creategrant", pattern.lower()) for pattern in ADMIN_ACTIONS
    )
    assert {a for a in KMS_ADMIN_ACTIONS if a.startswith("kms:Revoke")} == {"kms:RevokeGrant"}
    audit = frozenset().union(*(aws_action_access(a, Target.KEY) for a in AUDIT_ACTIONS))
    assert audit == {Access.READ}
    for usage in Usage:
        for symmetric in (True, False):
            actions = use_actions(usage, symmetric=symmetric)
            assert all(is_known_action(a) for a in actions)
            granted = frozenset().union(*(aws_action_access(a) for a in actions))
            assert granted == {Access.USE, Access.READ}, (usage, symmetric)
