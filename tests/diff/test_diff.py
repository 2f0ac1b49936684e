"""`keyplane diff`: each change kind of two hand-written exports, a preview, and bad input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from keyplane.cli.diff import diff
from keyplane.diff import Action, diff_resources, markdown_text
from keyplane.pulumi_json import load_pulumi_json
from keyplane.wire import Registration
from tests.conftest import BUNDLED_ESTATE, REPO

FIXTURES = REPO / "tests" / "fixtures" / "diff"
BEFORE, AFTER, PREVIEW = (
    FIXTURES / "before.json",
    FIXTURES / "after.json",
    FIXTURES / "preview.json",
)

app = typer.Typer()


@app.callback()
def _main() -> None:
    """The command as `keyplane` registers it."""


app.command()(diff)
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def changes_of(*args: str) -> dict[str, tuple[str, list[str]]]:
    code, out, _ = run(*args, "--format", "json")
    assert code == 0, out
    return {
        c["name"]: (c["action"], [r["rule"] for r in c["risks"]])
        for c in json.loads(out)["changes"]
    }


def test_every_change_kind_of_two_exports_is_named_with_its_rules() -> None:
    assert changes_of(str(BEFORE), str(AFTER)) == {
        "rotation-off": ("update", ["KM-ROT-001"]),
        "rotation-longer": ("update", ["KM-ROT-002"]),
        "unprotected": ("update", ["KM-DEL-001"]),
        "short-window": ("update", ["KM-DEL-001"]),
        "deleted": ("delete", ["KM-DEL-001"]),
        "recreated": ("replace", ["KM-DEL-001"]),
        # The rules the after-state newly breaks come first, with the rule's own message.
        "weak-algorithm": ("replace", ["KM-ALG-001", "KM-DEL-001"]),
        "stronger-algorithm": ("replace", ["KM-DEL-001"]),
        "duties": ("update", ["KM-ACC-002"]),
        "root-wildcard": ("update", ["KM-ACC-001", "KM-ACC-002"]),
        "orders-policy": ("update", ["KM-ENV-002"]),
        "public-decrypter": ("create", ["KM-ACC-001"]),
        # KM-LOG-001 now fails on the trail: its message names all three settings.
        "audit-trail": ("update", ["KM-LOG-001"]),
        "audit-logs-lock": ("update", ["KM-LOG-002", "KM-LOG-002"]),
        "api-token-rotation": ("update", ["KM-ROT-003"]),
        "llm-key-rotation": ("delete", ["KM-ROT-003"]),
        "created": ("create", []),
    }


def test_json_names_resources_severity_and_summary() -> None:
    code, out, _ = run(str(BEFORE), str(AFTER), "--format", "json")
    assert code == 0
    document = json.loads(out)
    by_name = {c["name"]: c for c in document["changes"]}
    change = by_name["short-window"]
    assert change["urn"] == "urn:pulumi:prod::payments::aws:kms/key:Key::short-window"
    assert change["type"] == "aws:kms/key:Key"
    assert change["risks"] == [
        {
            "rule": "KM-DEL-001",
            "severity": "high",
            "message": "KM-DEL-001 short-window: deletion window 7 days is shorter than 30; set "
            "deletion_window_days to 30.",
        }
    ]
    assert change["properties"] == ["deletionWindowInDays"]
    assert by_name["orders-policy"]["risks"][0]["severity"] == "critical"
    assert "222222222222" in by_name["orders-policy"]["risks"][0]["message"]
    # Failures present before and after are noted, never risks.
    notes = by_name["stronger-algorithm"]["notes"]
    assert "stronger-algorithm: algorithm changed from RSA-2048 to RSA-4096 (approved)" in notes
    assert any(n.startswith("still fails (no risk): KM-ROT-004 stronger-algorithm:") for n in notes)
    assert by_name["duties"]["notes"][0] == (
        "duties: arn:aws:iam::111111111111:role/orders-service no longer granted (use)"
    )
    summary = document["summary"]
    assert (summary["create"], summary["update"], summary["replace"], summary["delete"]) == (
        2,
        10,
        3,
        2,
    )
    assert summary["risks"] == 19  # the trail's three settings are one KM-LOG-001 failure
    assert summary["by_rule"]["KM-DEL-001"] == 6
    assert "unchanged" not in by_name


def test_a_preview_is_diffed_alone_from_its_steps() -> None:
    assert changes_of(str(PREVIEW)) == {
        "tokens": ("replace", ["KM-ROT-002", "KM-DEL-001", "KM-DEL-001"]),
        # The key ring names project payments-prod; the member is from payments-dev-4711.
        "partner": ("create", ["KM-ENV-002"]),
        "kms-audit": ("delete", ["KM-LOG-001"]),
    }


def test_env_sets_the_home_account() -> None:
    changes = changes_of(str(PREVIEW), "--env", "prod-gcp", "--estate", str(BUNDLED_ESTATE))
    assert changes["partner"] == ("create", ["KM-ENV-002"])
    _, out, _ = run(
        str(PREVIEW), "--env", "prod-gcp", "--estate", str(BUNDLED_ESTATE), "-f", "json"
    )
    assert "acme-prod-kms" in json.loads(out)["changes"][1]["risks"][0]["message"]


def test_the_bundled_pulumi_preview_fixture() -> None:
    changes = changes_of(str(REPO / "tests" / "fixtures" / "pulumi" / "preview.json"))
    assert changes == {
        "ledger": ("update", ["KM-ROT-001", "KM-DEL-001"]),
        "old-ledger": ("delete", ["KM-DEL-001"]),
        "api-token": ("create", []),
    }


def test_same_export_twice_has_no_changes() -> None:
    code, out, _ = run(str(BEFORE), str(BEFORE))
    assert code == 0
    assert "No changes." in out


def test_fail_on_risk_exits_1_only_with_risks(tmp_path: Path) -> None:
    assert run(str(BEFORE), str(AFTER), "--fail-on-risk")[0] == 1
    assert run(str(BEFORE), str(BEFORE), "--fail-on-risk")[0] == 0
    assert run(str(BEFORE), str(AFTER))[0] == 0


def test_markdown_is_a_pull_request_comment(tmp_path: Path) -> None:
    output = tmp_path / "diff.md"
    code, out, _ = run(str(BEFORE), str(AFTER), "--output", str(output))
    # The comment is in the file; the console keeps the one summary line (issue 18).
    assert code == 0
    assert out == (
        "17 changed resources (2 created, 10 updated, 3 replaced, 2 deleted); 19 risks "
        f"(19 of mandatory rules) (report: {output})\n"
    )
    text = output.read_text()
    assert text.startswith("## keyplane diff\n")
    assert "| `weak-algorithm` | `aws:kms/key:Key` | replace | KM-ALG-001, KM-DEL-001 |" in text
    assert (
        "- **KM-ROT-001** (high): KM-ROT-001 rotation-off: automatic rotation is disabled" in text
    )
    # Risky changes come first in the table; a change with no risk or note has no details.
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows[-1].startswith("| `created` |")
    assert "#### `created`" not in text


def test_markdown_escapes_pipes_and_stays_under_the_comment_limit() -> None:
    old = [_key(f"key-{i}|x", rotation=True) for i in range(3000)]
    new = [_key(f"key-{i}|x", rotation=False) for i in range(3000)]
    result = diff_resources(old, new)
    assert len(result.changes) == 3000
    assert all(c.action is Action.UPDATE for c in result.changes)
    text = markdown_text(result)
    assert len(text) < 65_536
    assert "`key-0\\|x`" in text
    assert "_Truncated to fit a comment:" in text


def _resource(type_: str, name: str, inputs: dict[str, object], *, protect: bool) -> Registration:
    return Registration(
        urn=f"urn:pulumi:prod::p::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent="",
        dependencies=(),
        protect=protect,
        retain_on_delete=False,
        provider="",
        inputs=inputs,
    )


def _key(name: str, *, rotation: bool) -> Registration:
    return _resource("aws:kms/key:Key", name, {"enableKeyRotation": rotation}, protect=True)


def test_pure_diff_of_registrations_reports_rotation_disabled() -> None:
    result = diff_resources([_key("k", rotation=True)], [_key("k", rotation=False)])
    [change] = result.changes
    assert [r.rule for r in change.risks] == ["KM-ROT-001"]
    assert result.has_mandatory_risk()


HOME_ADMIN = "arn:aws:iam::111111111111:role/platform-key-admin"
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def _role(*trusted: str, condition: Mapping[str, object] | None = None) -> Registration:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": list(trusted)},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return _resource(
        "aws:iam/role:Role",
        "key-admin",
        {"name": "prod-key-admin", "assumeRolePolicy": json.dumps(policy)},
        protect=False,
    )


def test_who_may_assume_a_role_is_compared() -> None:
    """Whoever may assume a role holds what it is granted: its trust policy is judged as a grant
    (KM-ACC-003: specific principals, MFA kept; KM-ENV-002: this environment's)."""
    foreign = "arn:aws:iam::999999999999:role/ops"
    [change] = diff_resources([_role(HOME_ADMIN)], [_role(HOME_ADMIN, foreign)]).changes
    assert [r.rule for r in change.risks] == ["KM-ENV-002"]
    assert "999999999999 (the stack's: 111111111111) may assume the role" in change.risks[0].message
    assert change.notes[-1] == f"key-admin: {foreign} may assume the role"

    [change] = diff_resources([_role(HOME_ADMIN)], [_role("*")]).changes
    assert [r.rule for r in change.risks] == ["KM-ACC-003"]
    assert change.notes[-2:] == (
        f"key-admin: {HOME_ADMIN} may no longer assume the role",
        "key-admin: * may assume the role",
    )

    account = "arn:aws:iam::111111111111:root"
    [change] = diff_resources([_role(HOME_ADMIN)], [_role(HOME_ADMIN, account)]).changes
    assert [(r.rule, r.message) for r in change.risks] == [
        (
            "KM-ACC-003",
            "KM-ACC-003 key-admin: the trust policy lets every principal of account 111111111111 "
            "assume the role; name the trusted principals and require aws:MultiFactorAuthPresent "
            "(or a named identity provider) for administrator roles.",
        )
    ]

    [change] = diff_resources([_role(HOME_ADMIN, condition=MFA)], [_role(HOME_ADMIN)]).changes
    assert [r.rule for r in change.risks] == ["KM-ACC-003"]
    assert "may now assume the role without MFA" in change.risks[0].message
    [change] = diff_resources([_role(HOME_ADMIN)], [_role(HOME_ADMIN, condition=MFA)]).changes
    assert change.risks == ()
    assert all(n.startswith("still fails (no risk): ") for n in change.notes)
    # A second statement letting the same principal in without MFA drops it as well.
    with_mfa, without = _role(HOME_ADMIN, condition=MFA), _role(HOME_ADMIN)
    both = json.loads(str(without.inputs["assumeRolePolicy"]))
    both["Statement"] += json.loads(str(with_mfa.inputs["assumeRolePolicy"]))["Statement"]
    two = replace(with_mfa, inputs={**with_mfa.inputs, "assumeRolePolicy": json.dumps(both)})
    [change] = diff_resources([with_mfa], [two]).changes
    assert [r.rule for r in change.risks] == ["KM-ACC-003"]


def _tagged(**tags: str) -> Registration:
    keyplane_tags = {f"keyplane-{k}": v for k, v in tags.items()}
    return _resource("aws:kms/key:Key", "orders-db", {"tags": keyplane_tags}, protect=True)


def test_tags_the_rules_read_are_compared() -> None:
    """The environment and purpose tags (KM-ENV-001, KM-PUR-001) removed or changed; a tenant
    tag changed is a note."""
    was = _tagged(environment="prod", purpose="database-encryption", tenant="acme")
    [change] = diff_resources(
        [was], [_tagged(environment="dev", purpose="database-encryption", tenant="globex")]
    ).changes
    assert [(r.rule, r.message) for r in change.risks] == [
        (
            "KM-ENV-001",
            "KM-ENV-001 orders-db: keyplane-environment is 'dev', not the stack's environment "
            "'prod'; deploy it from its own environment's stack or correct the tag.",
        )
    ]
    assert change.notes[-1] == "orders-db: keyplane-tenant tag acme -> globex"
    [change] = diff_resources([was], [_tagged(environment="prod", tenant="acme")]).changes
    assert [(r.rule, r.message.split(";")[0]) for r in change.risks] == [
        ("KM-PUR-001", "KM-PUR-001 orders-db: no keyplane-purpose tag")
    ]
    [change] = diff_resources([_tagged()], [was]).changes  # tags added: nothing weakened
    assert (change.risks, change.notes[-1]) == ((), "orders-db: keyplane-tenant tag none -> acme")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"foo": 1}', "neither a preview"),
        (
            '{"version": 3, "deployment": {"resources": [{"urn": 3}]}}',
            "deployment.resources[0].urn: missing or not a string (got 3)",
        ),
    ],
)
def test_malformed_input_exits_2_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run(str(bad), str(AFTER))
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert message in err
    assert err.startswith(str(bad))


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    code, _, err = run(str(BEFORE))
    assert code == 2
    assert err.splitlines() == [
        f"{BEFORE}: a stack export alone has nothing to compare; pass OLD and NEW exports, "
        "or one `pulumi preview --json` file"
    ]
    code, _, err = run(str(PREVIEW), str(AFTER))
    assert code == 2
    assert len(err.splitlines()) == 1
    code, _, err = run(str(tmp_path / "missing.json"), str(AFTER))
    assert code == 2
    assert "file not found" in err
    code, _, err = run(str(PREVIEW), "--env", "nope", "--estate", str(BUNDLED_ESTATE))
    assert code == 2
    assert err.startswith("--env: unknown environment 'nope'")


def test_fixtures_are_exports_and_a_preview() -> None:
    assert load_pulumi_json(BEFORE).kind == "export"
    assert load_pulumi_json(PREVIEW).kind == "preview"


REAL_WORLD = FIXTURES / "real-world"


@pytest.mark.parametrize(
    ("case", "rule", "resource"),
    [
        # A key administrator gains use through an identity policy (no effect until the key
        # policy delegates to IAM: a latent risk of the rule).
        ("admin-use", "KM-ACC-002", "ops-use"),
        # The condition that confined "AWS": "*" removed: read from the statements' conditions.
        ("condition", "KM-ACC-001", "ledger"),
        ("user-policy", "KM-ACC-001", "ci-deployer-kms"),
        ("secret-cron", "KM-ROT-003", "payments-api-rotation"),
    ],
)
def test_real_world_diffs_give_their_risks(case: str, rule: str, resource: str) -> None:
    before, after = REAL_WORLD / f"{case}-diff-before.json", REAL_WORLD / f"{case}-diff-after.json"
    code, out, _ = run(str(before), str(after), "--format", "json", "--fail-on-risk")
    assert code == 1
    risks = {(c["name"], r["rule"]) for c in json.loads(out)["changes"] for r in c["risks"]}
    assert (resource, rule) in risks
    assert run(str(before), str(before), "--fail-on-risk")[0] == 0


def _delegating(source: Path, target: Path) -> Path:
    """`source` with its keys' policies also delegating to the account (the root principal)."""
    document = json.loads(source.read_text())
    for resource in document["deployment"]["resources"]:
        if resource["type"] != "aws:kms/key:Key":
            continue
        for side in ("inputs", "outputs"):
            policy = json.loads(resource[side]["policy"])
            policy["Statement"].append(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            )
            resource[side]["policy"] = json.dumps(policy)
    target.write_text(json.dumps(document))
    return target


def test_administrator_gaining_use_through_an_identity_policy_is_a_risk(tmp_path: Path) -> None:
    """KM-ACC-002 in a change: a key administrator (key policy) gains Decrypt through a role
    policy, on a key whose policy delegates to IAM."""
    before = _delegating(REAL_WORLD / "admin-use-diff-before.json", tmp_path / "before.json")
    after = _delegating(REAL_WORLD / "admin-use-diff-after.json", tmp_path / "after.json")
    code, out, _ = run(str(before), str(after), "--format", "json", "--fail-on-risk")
    assert code == 1
    risks = {(c["name"], r["rule"]) for c in json.loads(out)["changes"] for r in c["risks"]}
    assert ("ops-use", "KM-ACC-002") in risks


def test_identity_policy_on_a_key_that_does_not_delegate_is_a_latent_risk() -> None:
    """On AWS an identity policy reaches a KMS key only when the key policy delegates to the
    account. The shared case's key policy does not: the role policy gives no use today (scan of
    the after-state reports no KM-ACC-002), but the change is a risk of KM-ACC-002 that says it
    takes effect the day the key policy delegates."""
    before = REAL_WORLD / "admin-use-diff-before.json"
    after = REAL_WORLD / "admin-use-diff-after.json"
    code, out, _ = run(str(before), str(after), "--format", "json", "--fail-on-risk")
    assert code == 1
    risks = [
        (c["name"], r["rule"], r["message"]) for c in json.loads(out)["changes"] for r in c["risks"]
    ]
    assert [(name, rule) for name, rule, _ in risks] == [("ops-use", "KM-ACC-002")]
    assert risks[0][2].endswith(
        "(no effect yet: the key policy does not delegate to IAM; it takes effect the day it does)."
    )
    assert ("KM-ACC-002", "orders") not in _mandatory_failures(after)


def test_rules_needing_the_estate_are_named_without_env() -> None:
    code, out, _ = run(str(BEFORE), str(AFTER), "--format", "json")
    assert code == 0
    assert "KM-ENV-002" in json.loads(out)["summary"]["not_judged"]
    code, out, _ = run(
        str(PREVIEW), "--env", "prod-gcp", "--estate", str(BUNDLED_ESTATE), "-f", "json"
    )
    assert json.loads(out)["summary"]["not_judged"] == {}


def _mandatory_failures(path: Path) -> set[tuple[str, str]]:
    """(rule, resource name) of the mandatory failures the rules give on a state, judged as
    `scan` judges it (the same checks, in process, with the context the diff derives)."""
    from datetime import date

    from keyplane.adapters.pulumi import stack_facts
    from keyplane.rules.catalog import RULES, Enforcement, Point, rules_at
    from keyplane.rules.context import Context
    from keyplane.rules.judge import evaluate
    from keyplane.rules.registry import estate_needs
    from keyplane.rules.verdict import Outcome

    state = load_pulumi_json(path)
    wanted = [r.id for r in rules_at(Point.CROSSGUARD) if r.id not in estate_needs()]
    context = Context(environment=state.stack, as_of=date.today())
    return {
        (v.rule, v.name)
        for v in evaluate(stack_facts(state.resources).resources, context, wanted)
        if v.outcome is Outcome.FAIL and RULES[v.rule].default_enforcement is Enforcement.MANDATORY
    }


@pytest.mark.parametrize("case", ["admin-use", "condition", "user-policy", "secret-cron"])
def test_diff_agrees_with_the_rules_on_each_mutation(case: str) -> None:
    """Every mandatory failure the after-state gives and the before-state does not is a diff
    risk of the same rule."""
    before, after = REAL_WORLD / f"{case}-diff-before.json", REAL_WORLD / f"{case}-diff-after.json"
    new = _mandatory_failures(after) - _mandatory_failures(before)
    _, out, _ = run(str(before), str(after), "--format", "json")
    rules = {r["rule"] for c in json.loads(out)["changes"] for r in c["risks"]}
    assert {rule for rule, _ in new} <= rules
