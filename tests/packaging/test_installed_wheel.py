"""The built wheel, installed in a fresh virtualenv and run from a folder that is not the
checkout: every command works, with the stack program, the pack and the checkov checks it
carries; the components import as `keyplane.components` and nothing installs a top-level
`components` or `stacks` package.

One wheel and one virtualenv per test run (`shared_build`); uv's cache makes the install fast.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from keyplane import __version__
from keyplane.rules.catalog import RULES
from tests.packaging.support import REPO, run, shared_build, uv, venv_python

pytestmark = pytest.mark.slow

AS_OF = "2026-11-23"


class Installed:
    def __init__(self, folder: Path, work: Path) -> None:
        self.wheel = next((folder / "dist").glob("keyplane-*.whl"))
        self.bin = venv_python(folder / "venv").parent
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "keyplane"), *args],
            cwd=self.work,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    def python(self, code: str) -> str:
        return run([self.bin / "python", "-c", code], cwd=self.work, env=self.env).stdout


def build_and_install(folder: Path) -> None:
    # `uv build` makes the sdist and builds the wheel from it, as a release does: the wheel
    # must not depend on anything (such as the checkout's symlink) the sdist drops.
    run([uv(), "build", "-q", "-o", folder / "dist", REPO])
    wheel = next((folder / "dist").glob("keyplane-*.whl"))
    run([uv(), "venv", "-q", "--python", sys.executable, folder / "venv"])
    run([uv(), "pip", "install", "-q", "--python", venv_python(folder / "venv"), wheel])


@pytest.fixture(scope="module")
def keyplane(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    folder = shared_build(tmp_path_factory, "installed-wheel", build_and_install)
    work = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(REPO / "environments", work / "environments")
    return Installed(folder, work)


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_wheel_carries_the_program_the_pack_and_the_checks(keyplane: Installed) -> None:
    names = set(zipfile.ZipFile(keyplane.wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    assert tops == {"keyplane", f"keyplane-{__version__}.dist-info"}
    assert {
        "keyplane/components/__init__.py",
        "keyplane/components/aws/environment.py",
        "keyplane/components/gcp/environment.py",
        "keyplane/components/azure/environment.py",
        "keyplane/program.py",
        "keyplane/_bundled/policy-pack/PulumiPolicy.yaml",
        "keyplane/_bundled/policy-pack/__main__.py",
        "keyplane/_bundled/checkov/__init__.py",
        "keyplane/_bundled/checkov/keyplane_checks.py",
    } <= names
    assert not any("__pycache__" in n or "/venv/" in n for n in names)


def test_the_components_import_under_keyplane_only(keyplane: Installed) -> None:
    found = keyplane.python(
        "import importlib.util as u, keyplane.components as c; "
        "print(c.deploy_environment.__module__, u.find_spec('components'), u.find_spec('stacks'))"
    )
    assert found.split() == ["keyplane.components.environment", "None", "None"]


def test_version(keyplane: Installed) -> None:
    result = keyplane("--version")
    assert (result.returncode, result.stdout) == (0, f"keyplane {__version__}\n")


def test_rules_and_validate(keyplane: Installed) -> None:
    result = keyplane("rules", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["rules"]) == len(RULES)
    result = keyplane("validate", "--estate", "environments", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr


def test_preview_renders_with_the_bundled_program_and_pack(keyplane: Installed) -> None:
    result = keyplane(
        "preview", "dev", "--estate", "environments", "--no-checkov", "--format", "json",
        "--as-of", AS_OF,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed = report(result)
    types = {r["type"] for r in parsed["resources"]}
    assert {"keyplane:aws:Environment", "aws:kms/key:Key"} <= types
    assert not [f for f in parsed["findings"] if f["enforcement"] == "mandatory"]


def test_preview_with_checkov_runs_keyplane_s_checks_from_the_wheel(keyplane: Installed) -> None:
    estate = keyplane.work / "rotation-400"
    shutil.copytree(keyplane.work / "environments", estate)
    dev = estate / "dev.yaml"
    text = dev.read_text()
    declared = "    purpose: database-encryption\n"
    assert declared in text
    dev.write_text(text.replace(declared, declared + "    rotation_days: 400\n", 1))

    result = keyplane(
        "preview", "dev", "--estate", str(estate), "--format", "json", "--as-of", AS_OF
    )
    assert result.returncode == 1, result.stderr
    assert "KM-ROT-002" in {f["rule"] for f in report(result)["findings"]}


#: Run by the installed python: checkov with the checks the wheel carries, on a raw KMS key.
CHECKOV_ON_A_KEY = """
import pulumi_aws as aws
from keyplane.engines.checkov.runner import CUSTOM_CHECKS_DIR, run_checkov
from keyplane.render import render
from keyplane.terraform.to_plan import to_terraform_plan

def program():
    aws.kms.Key("ledger", enable_key_rotation=False, deletion_window_in_days=30)

plan = to_terraform_plan(render(program, project="acme", stack="dev").resources)
run = run_checkov(plan.plan, plan.urn_by_address, environment="dev")
print(CUSTOM_CHECKS_DIR)
print(sorted({f.rule for f in run.findings if f.rule.startswith("KM-")}))
"""


def test_checkov_loads_keyplane_s_checks_from_the_wheel(keyplane: Installed) -> None:
    checks_dir, rules = keyplane.python(CHECKOV_ON_A_KEY).splitlines()
    assert checks_dir.endswith("site-packages/keyplane/_bundled/checkov")
    assert "KM-ROT-001" in rules


def test_scan_and_diff(keyplane: Installed) -> None:
    fixtures = REPO / "tests" / "fixtures"
    result = keyplane(
        "scan", str(fixtures / "pulumi" / "preview.json"), "--no-checkov", "--format", "json",
        "--as-of", AS_OF,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "KM-ROT-001" in {f["rule"] for f in report(result)["findings"]}
    result = keyplane(
        "diff", str(fixtures / "diff" / "before.json"), str(fixtures / "diff" / "after.json"),
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert report(result)


def test_audit_reaches_its_endpoint(keyplane: Installed) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = keyplane(
        "audit", "prod", "--estate", "environments", "--endpoint-url", f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("keyplane audit: cannot reach AWS at http://127.0.0.1:")


def test_docs(keyplane: Installed) -> None:
    result = keyplane("docs", "dev", "--estate", "environments")
    assert result.returncode == 0, result.stderr
    assert "# Tenant-Isolation-Claim: dev" in result.stdout


def test_pack_build(keyplane: Installed) -> None:
    result = keyplane("pack", "build", "built-pack")
    assert result.returncode == 0, result.stderr
    pack = keyplane.work / "built-pack"
    assert (pack / "keyplane" / "engines" / "crossguard" / "pack.py").is_file()
    assert not (pack / "keyplane" / "components").exists()
