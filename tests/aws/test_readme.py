"""The README's "AWS components" section names what the code provides."""

from __future__ import annotations

import types

import pytest

from keyplane.components.aws import access, audit, environment, hsm, keyring, vault
from keyplane.config.stack import KEY_STORE_CONNECTED, KMSUSER_PASSWORD, TRUST_ANCHOR_CERTIFICATE
from tests.aws.support import HSM_READY, REPO, bundled, run


def section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("## AWS components", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("module", [access, audit, environment, hsm, keyring, vault])
def test_every_component_type_token_is_documented(module: types.ModuleType) -> None:
    assert f"`{module.TYPE}`" in section()


def test_every_stack_output_and_config_key_is_documented() -> None:
    components: list[environment.AwsEnvironment] = []
    env = bundled()["prod"]
    run(lambda: components.append(environment.AwsEnvironment("prod", env)), config=HSM_READY)
    for name in components[0].stack_outputs:
        assert f"`{name}`" in section(), name
    for key in (KMSUSER_PASSWORD, TRUST_ANCHOR_CERTIFICATE, KEY_STORE_CONNECTED):
        assert f"`keyplane:{key}`" in section(), key
