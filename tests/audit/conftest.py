"""Fake credentials for every audit test: nothing here may reach a real AWS account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from moto.cloudtrail.responses import CloudTrailResponse

from keyplane.config import Estate
from keyplane.estate import load_estate
from tests.audit.support import REGION, write_estate


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def prod_estate(tmp_path: Path) -> Estate:
    return load_estate(write_estate(tmp_path))


@pytest.fixture(autouse=True)
def empty_event_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto has no CloudTrail LookupEvents (in process it raises NotImplementedError, as a
    server it answers an HTML 500): answer as AWS does for an account with no event in the
    period, an empty `Events` list. Tests that need events, or a refusal, put
    `tests.audit.proxy.Proxy` in front of the moto server, which answers before moto does."""

    def lookup_events(self: CloudTrailResponse) -> str:
        return json.dumps({"Events": []})

    monkeypatch.setattr(CloudTrailResponse, "lookup_events", lookup_events, raising=False)
