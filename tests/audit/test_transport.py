"""The audit's transport under faults: a misbehaving proxy (`tests.audit.proxy`) in front of a
moto server. Whatever the network or the service does, the audit ends within its deadline, reads
nothing wrong (no PASS with keys missing, no "no grants" from a policy it could not read) and
exits 1 when a mandatory rule is left unknown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit.proxy import Fault, Proxy
from tests.audit.support import ENV, build_account, write_estate
from tests.audit.test_cli import endpoint, run  # noqa: F401 - the moto server fixture


@pytest.fixture
def proxy(endpoint: str) -> Iterator[Proxy]:  # noqa: F811 - the fixture above
    build_account(endpoint)
    with Proxy(endpoint).running() as running:
        yield running


def _audit(proxy: Proxy, tmp_path: Path, *options: str) -> tuple[int, dict[str, Any], str, float]:
    started = time.monotonic()
    code, out, err = run(
        ENV,
        "--estate",
        str(write_estate(tmp_path)),
        "--endpoint-url",
        proxy.url,
        "-f",
        "json",
        *options,
    )
    seconds = time.monotonic() - started
    return code, json.loads(out) if out else {}, err, seconds


def _unverifiable(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if "unverifiable" in f["message"]]


def test_the_compliant_account_passes_through_the_proxy(proxy: Proxy, tmp_path: Path) -> None:
    code, document, err, _ = _audit(proxy, tmp_path)
    assert code == 0, err
    assert document["verdict"] == "pass"
    assert not _unverifiable(document)


@pytest.mark.parametrize("operation", ["ListKeys", "DescribeTrails", "ListSecrets"])
def test_an_html_page_instead_of_a_list_is_never_an_empty_account(
    proxy: Proxy, tmp_path: Path, operation: str
) -> None:
    proxy.faults[operation] = Fault("html")
    code, document, err, _ = _audit(proxy, tmp_path, "--timeout", "120")
    assert code == 1, err
    assert document["verdict"] != "pass"
    unread = _unverifiable(document)
    assert unread and all(
        f"{operation}: HTTP 200 answer of type text/html; charset=utf-8, not the API's JSON"
        in f["message"]
        for f in unread
    )
    assert any(f["enforcement"] == "mandatory" for f in unread)


def test_an_html_key_policy_leaves_access_unknown_not_granted_to_nobody(
    proxy: Proxy, tmp_path: Path
) -> None:
    proxy.faults["GetKeyPolicy"] = Fault("html")
    code, document, err, _ = _audit(proxy, tmp_path, "--timeout", "120")
    assert code == 1, err
    acc = [f for f in _unverifiable(document) if f["rule"] == "KM-ACC-001"]
    assert len(acc) == 3  # orders-db, app-data, audit-logs
    assert all(f["enforcement"] == "mandatory" for f in acc)
    # The keys themselves are still judged from the reads that worked.
    assert document["summary"]["resources"] >= 3


def test_a_key_policy_that_is_not_json_is_cannot_judge(proxy: Proxy, tmp_path: Path) -> None:
    proxy.faults["GetKeyPolicy"] = Fault(
        "body", body={"Policy": "{not json", "PolicyName": "default"}
    )
    code, document, err, _ = _audit(proxy, tmp_path)
    assert code == 1, err
    acc = [f for f in _unverifiable(document) if f["rule"] == "KM-ACC-001"]
    assert acc and all(
        "the key policy could not be read (GetKeyPolicy: the policy document is not valid JSON)"
        in f["message"]
        for f in acc
    )


def test_an_answer_without_its_result_field_is_an_error_of_that_call(
    proxy: Proxy, tmp_path: Path
) -> None:
    proxy.faults["ListKeys"] = Fault("body", body={"Truncated": False})
    code, document, err, _ = _audit(proxy, tmp_path, "--timeout", "120")
    assert code == 1, err
    assert all(
        "ListKeys: the answer has no 'Keys'" in f["message"] for f in _unverifiable(document)
    )


@pytest.mark.parametrize("kind", ["throttle", "too-many"])
def test_a_throttling_storm_ends_at_the_deadline(proxy: Proxy, tmp_path: Path, kind: str) -> None:
    proxy.faults["*"] = Fault(kind)
    code, document, err, seconds = _audit(proxy, tmp_path, "--timeout", "4", "--call-timeout", "2")
    assert seconds < 4 + 2 + 3, f"took {seconds:.1f} s"
    assert code == 1, err
    assert document["verdict"] != "pass"
    assert {f["rule"] for f in _unverifiable(document) if f["enforcement"] == "mandatory"}
    assert proxy.seen["ListKeys"] > 1  # retried, within the deadline


def test_answers_slower_than_the_call_timeout_are_cut_off(proxy: Proxy, tmp_path: Path) -> None:
    proxy.faults["DescribeKey"] = Fault("slow", seconds=10)
    code, document, err, seconds = _audit(proxy, tmp_path, "--timeout", "5", "--call-timeout", "1")
    assert seconds < 5 + 1 + 3, f"took {seconds:.1f} s"
    assert code == 1, err
    unread = [f for f in _unverifiable(document) if "DescribeKey" in f["message"]]
    assert unread and {f["rule"] for f in unread} >= {"KM-ALG-001", "KM-ROT-001"}


def test_reset_connections_are_errors_of_the_call(proxy: Proxy, tmp_path: Path) -> None:
    proxy.faults["ListSecrets"] = Fault("reset")
    # The deadline only bounds the run here (the resets end ListSecrets' retries first): 60
    # seconds leave the other reads room on a loaded machine, where 6 ran out before them.
    code, document, err, seconds = _audit(proxy, tmp_path, "--timeout", "60")
    assert seconds < 60 + 3
    assert code == 1, err
    unread = _unverifiable(document)
    assert {f["rule"] for f in unread} == {"KM-ROT-003", "KM-STO-002"}
    assert all("ListSecrets" in f["message"] for f in unread)


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/", "http://", "http://h:99999"])
def test_an_endpoint_that_is_not_an_http_url_exits_2(tmp_path: Path, url: str) -> None:
    code, out, err = run(ENV, "--estate", str(write_estate(tmp_path)), "--endpoint-url", url)
    assert code == 2
    assert out == ""
    assert err == (
        f"keyplane audit: --endpoint-url: not an http(s) URL (got {url!r}); pass one such as "
        "http://127.0.0.1:5000\n"
    )
