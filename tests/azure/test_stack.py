"""The stack program with stacks/Pulumi.prod-azure.yaml, under the mock engine."""

from __future__ import annotations

import runpy
from typing import Any

import pytest
import yaml

from keyplane.components.azure import ComponentInputError
from keyplane.render import RenderResult
from keyplane.wire import SECRET_SIG, SIG_KEY
from tests.azure.helpers import REPO, SUBSCRIPTION, of_type, run

PROGRAM = REPO / "stacks" / "__main__.py"


def stack_config() -> dict[str, str]:
    data: Any = yaml.safe_load((REPO / "stacks" / "Pulumi.prod-azure.yaml").read_text())
    return {key: str(value) for key, value in data["config"].items()}


def run_program(config: dict[str, str]) -> RenderResult:
    return run(lambda: runpy.run_path(str(PROGRAM)), stack="prod-azure", config=config)


def test_the_stack_config_names_the_environment_its_subscription_and_tenant() -> None:
    assert stack_config() == {
        "azure-native:location": "westeurope",
        "azure-native:subscriptionId": SUBSCRIPTION,
        "azure-native:tenantId": "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
        "keyplane:environment": "prod-azure",
    }


def test_the_program_deploys_prod_azure_with_secret_values_from_secret_config() -> None:
    result = run_program({**stack_config(), "keyplane:secret-acme-payments-api": "from-config"})
    assert list(of_type(result, "keyplane:azure:Environment")) == ["prod-azure"]
    secret = of_type(result, "azure-native:keyvault:Secret")["acme-payments-api"]
    assert secret.inputs["properties"]["value"][SIG_KEY] == SECRET_SIG
    assert set(result.outputs["key_ids"]) == {"acme-orders-db", "session-signing"}
    assert set(result.outputs["secret_ids"]) == {"acme-payments-api"}
    assert set(result.outputs) >= {
        "vault_ids",
        "audit_storage_account_id",
        "audit_workspace_id",
        "immutability_state",
        "lock_command",
    }


def test_without_a_configured_value_the_secret_waits() -> None:
    result = run_program(stack_config())
    assert not of_type(result, "azure-native:keyvault:Secret")
    assert result.outputs["secret_ids"] == {}


@pytest.mark.parametrize(
    ("key", "value", "what", "expected"),
    [
        ("subscriptionId", "00000000-0000-0000-0000-000000000000", "subscription", SUBSCRIPTION),
        (
            "tenantId",
            "00000000-0000-0000-0000-000000000000",
            "tenant",
            "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f",
        ),
    ],
)
def test_a_stack_pointed_at_another_subscription_or_tenant_is_refused(
    key: str, value: str, what: str, expected: str
) -> None:
    with pytest.raises(ComponentInputError) as caught:
        run_program({**stack_config(), f"azure-native:{key}": value})
    assert str(caught.value) == (
        f"stack config azure-native:{key}: '{value}', but environment prod-azure is in "
        f"{what} {expected}; set azure-native:{key} to {expected}"
    )
