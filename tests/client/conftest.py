"""One `jobyard up` with the sample app per backend, shared by every client test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobyard.client import Client
from support.remote import ADMIN_TOKEN, Server, serve


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_databases
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"client-{request.param}")
    with serve(request.param, folder, postgres_databases) as server:
        yield server


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, token=ADMIN_TOKEN, timeout=30) as client:
        yield client
