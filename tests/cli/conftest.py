"""One `jobyard up` with the sample app per backend; the CLI runs against it as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.remote import ADMIN_TOKEN, Cli, Ran, Server, run_cli, serve


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_databases
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp(f"cli-{request.param}")
    with serve(request.param, folder, postgres_databases) as server:
        yield server


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    """Run `jobyard ARGS…` signed in as admin (JOBYARD_URL and JOBYARD_TOKEN), or as ``env``."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> Ran:
        signed_in = {"JOBYARD_URL": server.url, "JOBYARD_TOKEN": ADMIN_TOKEN}
        return run_cli(
            args, home=tmp_path, env={**signed_in, **(env or {})}, input=input, timeout=timeout
        )

    return run
