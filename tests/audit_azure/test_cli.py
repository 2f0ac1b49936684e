"""`keyplane audit prod-azure` end to end: the command through typer, the local Azure server,
exit codes and output lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane.cli.app import app
from tests.audit_azure.server import AzureServer
from tests.audit_azure.support import AS_OF, ENV, ESTATE, OTHER_TENANT, FakeCredential

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["audit", ENV, "--estate", str(ESTATE), "--as-of", AS_OF.isoformat(), *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_compliant_subscription_exits_0_with_evidence(azure: AzureServer) -> None:
    code, out, err = run("--endpoint-url", azure.url, "-f", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["verdict"] == "pass"
    assert {f["engine"] for f in document["findings"]} == {"audit"}
    assert document["summary"]["declared"] == 3
    assert document["summary"]["found"] == 3
    evidence = document["evidence"]
    assert evidence["account"] == "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab"
    assert evidence["tenant"] == "0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f"
    assert evidence["region"] == "westeurope"
    assert evidence["endpoint_url"] == azure.url


def test_a_drift_exits_1_and_names_it(azure: AzureServer) -> None:
    [vault] = azure.state.vaults.values()
    vault["properties"]["enablePurgeProtection"] = False
    code, out, _ = run("--endpoint-url", azure.url)
    assert code == 1
    assert "KM-DEL-001" in out and "KM-STO-002" in out
    assert "\nFAIL: 2 mandatory, 2 advisory · declared 3 (2 keys, 1 secret), found 3; 22 " in out
    assert out.startswith(
        "Live audit evidence (SOC 2 CC6.1, CC6.7; OP-PROC-001 §5): subscription "
        "5f0c3a9e-1b2d-4c6e-8f00-0123456789ab, tenant 0d9e8f7a-6b5c-4d3e-2f1a-0a1b2c3d4e5f, "
        "region westeurope, environment prod-azure\n"
    )


def test_another_tenant_exits_2_with_one_line(
    azure: AzureServer, credential: FakeCredential
) -> None:
    credential.tenant = OTHER_TENANT
    code, out, err = run("--endpoint-url", azure.url)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"keyplane audit: the credentials are of tenant {OTHER_TENANT}")


def test_without_a_credential_exits_2_saying_how_to_authenticate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real default chain, with nothing to find: no environment variables, no Azure CLI,
    no token cache, and the managed identity endpoint on a closed loopback port."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9",
        "AZURE_CONFIG_DIR": str(tmp_path / "az"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "keyplane.cli", "audit", ENV, "--estate", str(ESTATE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("keyplane audit: no Azure credential could sign in (")
    assert line.endswith(
        "authenticate with `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
        "AZURE_CLIENT_SECRET (a service principal), or run where a managed identity is assigned"
    )


def test_commands_that_do_not_audit_azure_do_not_import_its_libraries(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from keyplane.cli.app import app\n"
        "runner = CliRunner()\n"
        f"assert runner.invoke(app, ['rules']).exit_code == 0\n"
        f"assert runner.invoke(app, ['validate', '--estate', {str(ESTATE)!r}]).exit_code == 0\n"
        # The AWS audit, up to its first call (nothing listens on port 9).
        f"r = runner.invoke(app, ['audit', 'prod', '--estate', {str(ESTATE)!r}, "
        "'--endpoint-url', 'http://127.0.0.1:9', '--timeout', '2'])\n"
        "assert r.exit_code == 2, r.output\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'msal', 'jwt'))\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
