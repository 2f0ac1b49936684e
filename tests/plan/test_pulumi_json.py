"""Reading what the real CLI writes: preview digests and stack exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.config import ConfigError
from keyplane.pulumi_json import load_pulumi_json
from keyplane.wire import SECRET_SIG, SIG_KEY, UNKNOWN

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pulumi"


def test_stack_export() -> None:
    state = load_pulumi_json(FIXTURES / "stack-export.json")
    assert (state.kind, state.project, state.stack) == ("export", "payments", "prod")
    by_name = {r.name: r for r in state.resources}
    assert set(by_name) == {"default_7_0_0", "ledger", "ledger-alias", "api-token"}
    key = by_name["ledger"]
    assert key.custom and key.protect
    assert key.inputs["rotationPeriodInDays"] == 365
    assert by_name["ledger-alias"].property_dependencies == {
        "targetKeyId": ("urn:pulumi:prod::payments::aws:kms/key:Key::ledger",)
    }
    # ciphertext is never carried along: the secret stays a marked secret
    assert by_name["api-token"].inputs["secretString"] == {SIG_KEY: SECRET_SIG, "value": "[secret]"}
    assert "ZmFrZWNpcGhlcnRleHQ" not in json.dumps([r.inputs for r in state.resources])


def test_preview_digest() -> None:
    state = load_pulumi_json(FIXTURES / "preview.json")
    assert (state.kind, state.project, state.stack) == ("preview", "payments", "prod")
    assert [r.name for r in state.resources] == ["ledger", "api-token"]  # the deleted key is gone
    assert [r.name for r in state.old_resources] == ["ledger", "old-ledger"]
    assert state.operations["urn:pulumi:prod::payments::aws:kms/key:Key::old-ledger"] == "delete"
    ledger = state.resources[0]
    assert ledger.inputs["policy"] == UNKNOWN
    assert not ledger.protect
    assert state.resources[1].inputs["secretString"] == {SIG_KEY: SECRET_SIG, "value": "[secret]"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"steps": [',
            "not valid JSON: Expecting value at column 12 (the file looks truncated); pass the output of `pulumi preview --json` or `pulumi stack export`",
        ),
        (
            '{"version": 3}',
            "neither a preview (no 'steps' list) nor a stack export (no 'deployment.resources' list); pass the output of `pulumi preview --json` or `pulumi stack export`",
        ),
        (
            '{"steps": [{"op": "create", "newState": {"type": "aws:kms/key:Key"}}]}',
            "steps[0].newState.urn: missing or not a string (got nothing); pass the output of `pulumi preview --json` or `pulumi stack export`",
        ),
        (
            "[1, 2]",
            "neither a preview (no 'steps' list) nor a stack export (no 'deployment.resources' list); pass the output",
        ),
    ],
)
def test_broken_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_pulumi_json(path)
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{path}")
    assert message in str(problem)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found; check the path"):
        load_pulumi_json(tmp_path / "nope.json")
