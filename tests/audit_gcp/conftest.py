"""The GCP audit's fixtures: the rendered prod-gcp stack, the project it deploys on a local server
answering as Google's REST APIs do, and Application Default Credentials that reach only it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.audit_gcp.server import Cloud, serve
from tests.audit_gcp.support import deploy, preview, service_account_key, write_estate


@pytest.fixture(autouse=True)
def isolated_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the machine's gcloud configuration or asks a metadata server."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`keyplane preview prod-gcp` of the bundled estate (resources and the pack's findings)."""
    return preview(write_estate(tmp_path_factory.mktemp("estate")))


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    return write_estate(tmp_path)


@pytest.fixture
def cloud(rendered: dict[str, Any]) -> Cloud:
    return deploy(rendered["resources"])


@pytest.fixture
def endpoint(cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The server, with ADC pointing at credentials whose token comes from it."""
    with serve(cloud) as url:
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key(tmp_path, url))
        )
        yield url
