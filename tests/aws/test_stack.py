"""The stack program (stacks/__main__.py) and the stack config files, under the mock engine."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from typer.testing import CliRunner

from keyplane.cli.app import app
from keyplane.render import RenderResult
from tests.aws.support import HSM_READY, KEY, REPO, bundled, names, one, run

PROGRAM = REPO / "stacks" / "__main__.py"


def run_program(stack: str, config: dict[str, str]) -> RenderResult:
    return run(lambda: runpy.run_path(str(PROGRAM)), stack=stack, config=config)


def program_error(stack: str, config: dict[str, str]) -> pulumi.RunError:
    with pytest.raises(pulumi.RunError) as raised:
        run_program(stack, config)
    return raised.value


def test_the_program_deploys_the_configured_environment_and_exports_its_outputs() -> None:
    result = run_program("production", {"keyplane:environment": "prod", **HSM_READY})

    one(result, "keyplane:aws:Environment", "prod")
    assert names(result, KEY) >= {k.name for k in bundled()["prod"].keys}
    outputs = result.outputs
    assert set(outputs["key_arns"]) == {k.name for k in bundled()["prod"].keys}
    assert outputs["key_arns"]["acme-orders-db"].endswith(":key/acme-orders-db")
    for name in (
        "trail_arn",
        "audit_bucket_name",
        "key_admin_role_arn",
        "auditor_role_arn",
        "hsm_cluster_id",
        "secret_arns",
        "custom_key_store_id",
    ):
        assert name in outputs, name


def test_the_environment_defaults_to_the_stack_name() -> None:
    result = run_program("dev", {})
    one(result, "keyplane:aws:Environment", "dev")
    assert "hsm_cluster_id" not in result.outputs


def test_a_broken_environment_file_stops_the_program_with_validates_lines(tmp_path: Path) -> None:
    broken = (
        (REPO / "environments" / "dev.yaml")
        .read_text()
        .replace("retention_days: 90", "retention_days: 0")
    )
    (tmp_path / "dev.yaml").write_text(broken)

    error = program_error("dev", {"keyplane:estate": str(tmp_path)})

    validate = CliRunner().invoke(app, ["validate", "--estate", str(tmp_path)])
    assert validate.exit_code == 2
    assert str(error).splitlines() == validate.stderr.splitlines()
    assert str(error) == (
        f"{tmp_path}/dev.yaml:12: logging.retention_days: must be at least 1 (got 0); change the value"
    )
    # A RunError without a chained exception: the engine prints the lines, no traceback.
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_paths_are_shown_as_configured() -> None:
    error = program_error("qa", {"keyplane:estate": "environments"})
    assert str(error) == "environments/qa.yaml: file not found; check the path or --estate"


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    text = (REPO / "environments" / "dev.yaml").read_text()
    text = text.replace("retention_days: 90", "retention_days: 0").replace(
        "tier: development", "tier: experimental"
    )
    (tmp_path / "dev.yaml").write_text(text)
    lines = str(program_error("dev", {"keyplane:estate": str(tmp_path)})).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{tmp_path}/dev.yaml:") for line in lines)


# --- stacks/Pulumi.<env>.yaml -----------------------------------------------------------------


def stack_config(env_name: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{env_name}.yaml").read_text())
    config: dict[str, Any] = document["config"]
    return config


@pytest.mark.parametrize("env_name", ["prod", "staging", "dev"])
def test_each_stack_file_points_at_its_environment_account_and_region(env_name: str) -> None:
    env = bundled()[env_name]
    assert env.aws is not None
    config = stack_config(env_name)

    assert config["keyplane:environment"] == env_name
    assert config["aws:region"] == env.aws.region
    assert config["aws:allowedAccountIds"] == [env.aws.account_id]
    # No secret is committed, not even encrypted.
    assert not [key for key in config if "password" in key.lower()]


@pytest.mark.parametrize("env_name", ["prod", "staging", "dev"])
def test_the_program_runs_with_each_stack_file(env_name: str) -> None:
    config = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in stack_config(env_name).items()
    }
    if env_name == "prod":
        config.update(HSM_READY)
    result = run_program(env_name, config)
    one(result, "keyplane:aws:Environment", env_name)


def test_the_prod_stack_file_documents_the_kmsuser_password() -> None:
    text = (REPO / "stacks" / "Pulumi.prod.yaml").read_text()
    assert "pulumi config set --secret keyplane:cloudhsmKmsuserPassword" in text
