"""`keyplane audit` end to end: a moto server on 127.0.0.1, the command through typer."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from keyplane.cli.audit import audit
from tests.audit.support import ACCOUNT, ENV, REGION, build_account, client, write_estate

app = typer.Typer()
app.command()(audit)
# A second command keeps typer from collapsing the app into its only command.
app.command("noop")(lambda: None)


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends are process-wide: every test starts from an empty account.
    reset(url)
    try:
        yield url
    finally:
        reset(url)
        server.stop()


def reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["audit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_compliant_account_exits_0_with_findings_and_evidence(
    endpoint: str, tmp_path: Path
) -> None:
    build_account(endpoint)
    estate = write_estate(tmp_path)
    code, out, err = run(ENV, "--estate", str(estate), "--endpoint-url", endpoint, "-f", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["verdict"] == "pass"
    assert document["summary"]["mandatory"] == 0
    assert {f["engine"] for f in document["findings"]} == {"audit"}
    evidence = document["evidence"]
    assert (evidence["account"], evidence["region"]) == (ACCOUNT, REGION)
    assert evidence["endpoint_url"] == endpoint
    assert evidence["caller_arn"].startswith(f"arn:aws:sts::{ACCOUNT}:")
    assert evidence["resources"] == {
        "alarms": 6,
        "buckets": 1,
        "keys": 3,
        "metric filters": 6,
        "secrets": 1,
        "trails": 1,
    }
    assert {"started_at", "finished_at", "policy_version", "keyplane_version"} <= set(evidence)


def test_drift_exits_1_and_the_report_can_go_to_a_file(endpoint: str, tmp_path: Path) -> None:
    account = build_account(endpoint)
    client("kms", endpoint).disable_key_rotation(KeyId=account.keys["orders-db"])
    estate = write_estate(tmp_path)
    report = tmp_path / "audit.json"
    code, out, _ = run(
        ENV, "--estate", str(estate), "--endpoint-url", endpoint, "-f", "json", "-o", str(report)
    )
    # The report is in the file; the console keeps the verdict line (issue 18).
    assert code == 1 and out.startswith("FAIL: 1 mandatory") and out.count("\n") == 1
    assert out.endswith(f"(report: {report})\n")
    findings = json.loads(report.read_text())["findings"]
    assert [f["rule"] for f in findings if f["enforcement"] == "mandatory"] == ["KM-ROT-001"]


def test_the_table_opens_with_the_evidence(endpoint: str, tmp_path: Path) -> None:
    build_account(endpoint)
    code, out, _ = run(ENV, "--estate", str(write_estate(tmp_path)), "--endpoint-url", endpoint)
    assert code == 0
    assert out.splitlines()[0].startswith("Live audit evidence (SOC 2 CC6.1, CC6.7")
    assert "PASS: 0 mandatory" in out


def test_the_wrong_account_exits_2_naming_both(endpoint: str, tmp_path: Path) -> None:
    estate = write_estate(tmp_path, account="111111111111")
    code, out, err = run(ENV, "--estate", str(estate), "--endpoint-url", endpoint)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    assert "account 123456789012" in err and "account 111111111111" in err


def test_an_unreachable_endpoint_exits_2_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    code, _, err = run(
        ENV, "--estate", str(write_estate(tmp_path)), "--endpoint-url", f"http://127.0.0.1:{port}"
    )
    assert code == 2
    assert err.startswith("keyplane audit: cannot reach AWS at http://127.0.0.1:")
    assert "Traceback" not in err and err.count("\n") == 1


def test_bad_input_exits_2(tmp_path: Path) -> None:
    estate = write_estate(tmp_path)
    code, _, err = run("staging", "--estate", str(estate))
    assert code == 2 and "no such environment (known: prod)" in err
    code, _, err = run(ENV, "--estate", str(tmp_path / "missing"))
    assert code == 2 and "estate directory not found" in err
    code, _, err = run(ENV, "--estate", str(estate), "--as-of", "tomorrow")
    assert code == 2 and "--as-of: not a date" in err


def test_one_audit_writes_every_report(endpoint: str, tmp_path: Path) -> None:
    account = build_account(endpoint)
    client("kms", endpoint).disable_key_rotation(KeyId=account.keys["orders-db"])
    estate = write_estate(tmp_path)
    files = {name: tmp_path / f"audit.{name}" for name in ("json", "sarif", "junit", "markdown")}
    code, out, _ = run(
        ENV,
        "--estate",
        str(estate),
        "--endpoint-url",
        endpoint,
        "--skip-check",
        "KM-LOG-001",
        *(part for name, path in files.items() for part in (f"--{name}", str(path))),
    )
    assert code == 1
    # The summary, wrapped to the table's width, ends the console output.
    last = " ".join(out.split("\n\n")[-1].split())
    assert last.startswith("FAIL: 1 mandatory")
    assert "skipped: KM-LOG-001 (mandatory, --skip-check" in last
    assert last.endswith(f"(reports: {', '.join(str(p) for p in files.values())})")
    document = json.loads(files["json"].read_text())
    assert "evidence" in document
    assert document["tuning"]["skipped"][0]["rule"] == "KM-LOG-001"
    sarif = json.loads(files["sarif"].read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"] if r["level"] == "error"] == [
        "KM-ROT-001"
    ]
    assert "<failure" in files["junit"].read_text()
    assert files["markdown"].read_text().startswith("> Live audit evidence")
