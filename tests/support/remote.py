"""A real `jobyard up` per backend for the client and CLI tests; running the CLI; waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jobyard.app import load_app
from support.servers import ADMIN_TOKEN, APPS, SRC, Server

T = TypeVar("T")

# fast heartbeats and polls: kills land within a few tenths of a second
FAST_ENV = {
    "JOBYARD_HEARTBEAT": "0.2",
    "JOBYARD_POLL": "0.1",
    "JOBYARD_KILL_GRACE": "1",
    "JOBYARD_SHUTDOWN_GRACE": "3",
}


@contextmanager
def database(backend: str, folder: Path, postgres: Any) -> Iterator[str]:
    """A fresh database URL of ``backend``; dropped afterwards (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/jobyard.db"
        return
    if postgres is None:
        pytest.skip("PostgreSQL backend unavailable")
    url = postgres.create()
    try:
        yield url
    finally:
        postgres.drop(url)


@contextmanager
def serve(
    backend: str, folder: Path, postgres: Any, *, app: str = "sample:app"
) -> Iterator[Server]:
    """`jobyard up --app APP` on a fresh database, once its worker has registered the types."""
    with database(backend, folder, postgres) as url:
        server = Server(
            database_url=url,
            log_path=folder / "server.log",
            app=app,
            extra_args=["--concurrency", "4"],
            **FAST_ENV,
        )
        try:
            expected = len(list(load_app(app).definitions()))
            with server.client() as http:
                wait_until(
                    lambda: http.get("/api/v1/types").json().get("count") == expected,
                    what="the worker to register its job types",
                )
            yield server
        finally:
            server.stop()


def wait_until(
    condition: Callable[[], T], *, timeout: float = 30.0, every: float = 0.05, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(every)


@dataclass(frozen=True)
class Ran:
    """What a `jobyard` command did."""

    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


def run_cli(
    args: tuple[str, ...], *, home: Path, env: dict[str, str], input: str | None, timeout: float
) -> Ran:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JOBYARD_")}
    environ.update(
        HOME=str(home),  # no config file of the person running the tests
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHONPATH=os.pathsep.join([str(APPS), str(SRC)]),
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        COLUMNS="200",  # rich wraps tables to the terminal; keep rows on one line whatever runs us
    )
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "jobyard.cli.main", *args],
        env=environ,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


__all__ = [
    "ADMIN_TOKEN", "FAST_ENV", "Cli", "Ran", "Server", "database", "run_cli", "serve", "wait_until",
]  # fmt: skip
