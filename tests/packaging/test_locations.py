"""Where keyplane finds its pack and checks, and a user's stack config (keyplane.locations)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from keyplane import __version__
from keyplane.estate import load_estate
from keyplane.gate import stack_config
from keyplane.locations import (
    checkout_root,
    checkov_checks_dir,
    pack_default_estate,
    policy_pack_dir,
    stack_config_file,
)
from tests.packaging.support import REPO


def test_a_checkout_uses_its_own_folders() -> None:
    assert checkout_root() == REPO
    assert policy_pack_dir() == REPO / "policy-packs" / "keyplane"
    assert checkov_checks_dir() == REPO / "policy-packs" / "checkov"
    assert pack_default_estate(policy_pack_dir()) == REPO / "environments"


def test_another_copy_of_the_pack_has_no_default_estate(tmp_path: Path) -> None:
    assert pack_default_estate(tmp_path / "packs" / "keyplane") is None


def test_the_pack_s_version_is_keyplane_s() -> None:
    manifest = (policy_pack_dir() / "PulumiPolicy.yaml").read_text()
    assert f"\nversion: {__version__}\n" in manifest


def test_stack_config_comes_from_the_estate_s_project_only(tmp_path: Path) -> None:
    project = tmp_path / "acme"
    shutil.copytree(REPO / "environments", project / "environments")
    env = load_estate(project / "environments").environments["prod"]
    # No stack file in the user's project: keyplane's own stacks/Pulumi.prod.yaml is not read.
    assert stack_config_file(project / "environments", "prod") is None
    config, _ = stack_config(env, project / "environments")
    assert config["aws:allowedAccountIds"] == json.dumps([env.aws.account_id])  # type: ignore[union-attr]

    (project / "stacks").mkdir()
    (project / "stacks" / "Pulumi.prod.yaml").write_text(
        'config:\n  aws:allowedAccountIds: ["999999999999"]\n'
    )
    assert stack_config_file(project / "environments", "prod") == (
        project / "stacks" / "Pulumi.prod.yaml"
    )
    config, _ = stack_config(env, project / "environments")
    assert config["aws:allowedAccountIds"] == '["999999999999"]'

    (project / "Pulumi.yaml").write_text("name: acme\nruntime: python\nstackConfigDir: config\n")
    assert stack_config_file(project / "environments", "prod") is None
