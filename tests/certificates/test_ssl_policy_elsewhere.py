"""KM-CRT-002 on a GCP target proxy whose SSL policy lives in another stack (issue 16): "cannot
judge" naming the policy, never a pass; with the policy in the stack, the policy decides. In
process, through `scan` and through checkov."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyplane.adapters.pulumi import PulumiResource
from tests.checkov.support import registration, scan
from tests.gate.test_blind_spots2 import export, resource
from tests.gate.test_blind_spots2 import scan as scan_document
from tests.policy.stacks import gcp_context, res, urn

PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
ELSEWHERE = "projects/acme-shared/global/sslPolicies/modern-tls"
ELSEWHERE_MESSAGE = (
    f"KM-CRT-002 web-proxy: cannot judge: the SSL policy {ELSEWHERE} is not in this stack; "
    "judge its minimum TLS version with the stack that manages it."
)
OLD_TLS_MESSAGE = (
    "KM-CRT-002 modern-tls: minTlsVersion TLS_1_0 accepts TLS 1.0, older than TLS 1.2; set "
    "minTlsVersion to one that accepts TLS 1.2 or later only."
)


def _proxy(policy: str, **extra: Any) -> dict[str, Any]:
    return resource(
        PROXY,
        "web-proxy",
        {"urlMap": "web-map", "sslPolicy": policy, "sslCertificates": ["c"]},
        **extra,
    )


def _policy(minimum: str) -> dict[str, Any]:
    return resource(
        POLICY, "modern-tls", {"name": "modern-tls", "minTlsVersion": minimum, "profile": "MODERN"}
    )


def _crt(tmp_path: Path, *resources: dict[str, Any]) -> tuple[int, set[tuple[str, str]]]:
    code, out = scan_document(tmp_path, export(*resources))
    return code, {
        (f["message"], f["enforcement"])
        for f in json.loads(out)["findings"]
        if f["rule"] == "KM-CRT-002"
    }


def test_a_policy_in_another_stack_cannot_be_judged(tmp_path: Path) -> None:
    code, found = _crt(tmp_path, _proxy(ELSEWHERE))
    assert [message for message, _ in found] == [ELSEWHERE_MESSAGE]
    assert code == 0  # reported, not a mandatory violation: the other stack's gate judges it


@pytest.mark.parametrize(
    ("minimum", "expected"), [("TLS_1_2", set()), ("TLS_1_0", {OLD_TLS_MESSAGE})]
)
def test_a_policy_in_the_stack_decides(tmp_path: Path, minimum: str, expected: set[str]) -> None:
    policy_urn = f"urn:pulumi:prod::payments::{POLICY}::modern-tls"
    by_dependency = _proxy(
        "https://www.googleapis.com/compute/v1/projects/acme/global/sslPolicies/modern-tls",
        propertyDependencies={"sslPolicy": [policy_urn]},
    )
    _, found = _crt(tmp_path, _policy(minimum), by_dependency)
    assert {message for message, _ in found} == expected
    # Named by its name alone, without a dependency, the policy is found all the same.
    _, by_name = _crt(tmp_path, _policy(minimum), _proxy("modern-tls"))
    assert {message for message, _ in by_name} == expected


def test_checkov_gives_the_same_verdict() -> None:
    proxy = res(PROXY, "web-proxy", {"urlMap": "web-map", "sslPolicy": ELSEWHERE})
    policy = res(POLICY, "modern-tls", {"name": "modern-tls", "minTlsVersion": "TLS_1_0"})
    linked = res(
        PROXY,
        "linked-proxy",
        {"urlMap": "web-map", "sslPolicy": "modern-tls"},
        deps={"sslPolicy": [urn(POLICY, "modern-tls")]},
    )
    resources: list[PulumiResource] = [proxy, policy, linked]
    _, run = scan([registration(r) for r in resources], gcp_context())
    found = {
        (f.resource.rsplit("::", 1)[-1], f.message) for f in run.findings if f.rule == "KM-CRT-002"
    }
    # checkov has no "cannot judge": the proxy whose policy lives elsewhere is UNKNOWN to it
    # (neither passed nor failed; the pack reports it), the proxy whose policy is here is judged
    # by that policy.
    assert found == {("modern-tls", OLD_TLS_MESSAGE.replace("modern-tls:", "modern_tls:", 1))}
