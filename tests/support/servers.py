"""Run real jobyard processes for tests: `jobyard up` / `jobyard server` / `jobyard worker`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ADMIN_PASSWORD = "admin-password"
ADMIN_TOKEN = "jy_test_admin_token"
APPS = Path(__file__).parents[1] / "apps"
SRC = Path(__file__).parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jobyard_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JOBYARD_DATABASE_URL=database_url,
        JOBYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JOBYARD_ADMIN_TOKEN=ADMIN_TOKEN,
        PYTHONPATH=os.pathsep.join([str(APPS), str(SRC), env.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class JobyardProcess:
    """A `jobyard …` subprocess in its own session, stopped (and its children) on close."""

    def __init__(
        self, args: Sequence[str], *, database_url: str, log_path: Path, **env: str
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobyard.cli.main", *args],
            env=jobyard_env(database_url, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()
        return self.proc.returncode


class Server(JobyardProcess):
    """`jobyard up` or `jobyard server` on a free port; ready once /api/v1/health answers."""

    def __init__(
        self,
        *,
        database_url: str,
        log_path: Path,
        command: str = "up",
        app: str | None = "sample:app",
        extra_args: Sequence[str] = (),
        **env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [command, "--port", str(self.port), *extra_args]
        if command == "up" and app:
            args += ["--app", app]
        super().__init__(args, database_url=database_url, log_path=log_path, **env)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # no process or open log left behind by a server that never came up
            raise

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jobyard exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"jobyard did not answer within {timeout} s:\n{self.log()}")

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client signed in as admin with the bootstrap token."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1, message: str = ""):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or condition}")
        time.sleep(interval)
