"""The local Azure server and test credentials: nothing here may reach a real Azure tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from keyplane.engines.audit import azure as azure_audit
from tests.audit_azure.server import AzureServer, State, make_certificate
from tests.audit_azure.support import FakeCredential, Resource, compliant, deploy


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def azure_environment(monkeypatch: pytest.MonkeyPatch, tls: tuple[Path, Path]) -> None:
    """Trust the local server's certificate; no credential of the machine's leaks in."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def credential(monkeypatch: pytest.MonkeyPatch) -> FakeCredential:
    """The credential the audit and respond use (what `DefaultAzureCredential` would find)."""
    found = FakeCredential()
    monkeypatch.setattr(azure_audit, "default_credential", lambda: found)
    return found


class Deploy(Protocol):
    def __call__(self, resources: list[Resource], page_size: int = 100) -> AzureServer: ...


@pytest.fixture
def serve(tls: tuple[Path, Path]) -> Iterator[Deploy]:
    """Start the server with `resources` deployed (stopped after the test)."""
    started: list[AzureServer] = []

    def start(resources: list[Resource], page_size: int = 100) -> AzureServer:
        server = AzureServer(State("", ""), *tls, page_size=page_size)
        server.state = deploy(resources, server.vault_uri)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def azure(serve: Deploy, credential: FakeCredential) -> AzureServer:
    """prod-azure deployed compliant."""
    return serve(compliant())
