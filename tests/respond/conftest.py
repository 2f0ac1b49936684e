"""A moto server on 127.0.0.1 per test, fake credentials, and the estate `respond` works on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from tests.audit.conftest import fake_credentials  # noqa: F401 - autouse: no real AWS
from tests.audit.test_cli import reset


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    reset(url)  # moto's backends are process-wide: every test starts from an empty account
    try:
        yield url
    finally:
        reset(url)
        server.stop()
