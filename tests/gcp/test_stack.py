"""The stack program with stacks/Pulumi.prod-gcp.yaml, under the mock engine."""

from __future__ import annotations

import runpy
from typing import Any

import pytest
import yaml

from keyplane.components.gcp import ComponentInputError
from keyplane.render import RenderResult
from tests.gcp.helpers import REPO, of_type, run

PROGRAM = REPO / "stacks" / "__main__.py"


def stack_config() -> dict[str, str]:
    data: Any = yaml.safe_load((REPO / "stacks" / "Pulumi.prod-gcp.yaml").read_text())
    return {key: str(value) for key, value in data["config"].items()}


def run_program(config: dict[str, str]) -> RenderResult:
    return run(lambda: runpy.run_path(str(PROGRAM)), stack="prod-gcp", config=config)


def test_the_stack_config_names_the_environment_and_its_project() -> None:
    assert stack_config() == {
        "gcp:project": "acme-prod-kms",
        "gcp:region": "europe-west1",
        "keyplane:environment": "prod-gcp",
    }


def test_the_program_deploys_prod_gcp_and_exports_its_outputs() -> None:
    result = run_program(stack_config())
    assert list(of_type(result, "keyplane:gcp:Environment")) == ["prod-gcp"]
    assert set(result.outputs["key_ids"]) == {"acme-orders-db", "release-signing"}
    assert set(result.outputs["secret_ids"]) == {"acme-payments-api"}
    assert result.outputs["audit_bucket_name"] == "acme-prod-kms-prod-gcp-kms-audit"
    assert set(result.outputs) >= {"key_ring_ids", "secrets_key_id", "rotation_topic_id"}


def test_a_stack_pointed_at_another_project_is_refused() -> None:
    with pytest.raises(ComponentInputError) as caught:
        run_program({**stack_config(), "gcp:project": "acme-dev-kms"})
    assert str(caught.value) == (
        "stack config gcp:project: 'acme-dev-kms', but environment prod-gcp is in project "
        "acme-prod-kms; set gcp:project to acme-prod-kms"
    )
