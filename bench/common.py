"""What every adapter shares: where the databases are, the no-op job's record, processes.

The no-op job of every system does one thing: it appends ``"<n> <start time>"`` to the file
named by ``BENCH_RECORD`` (one ``write`` on an O_APPEND descriptor, opened once per process).
The record is outside every system's own storage, so recording costs every system the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "13"))  # FLUSHDB'd before every run
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR", "/tmp/jobyard-bench"))

_record_fd: int | None = None


def record(n: int) -> None:
    """The no-op job's only action: note that job ``n`` started, and when."""
    global _record_fd
    t = time.time()
    if _record_fd is None:
        _record_fd = os.open(os.environ["BENCH_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(_record_fd, f"{n} {t:.6f}\n".encode())


class Records:
    """Reads the record file as it grows: job number -> first start time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts: dict[int, float] = {}
        self.duplicates = 0
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return len(self.starts)
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            n, t = line.split()
            key = int(n)
            if key in self.starts:
                self.duplicates += 1
            else:
                self.starts[key] = float(t)
        return len(self.starts)

    def wait_for(self, count: int, *, timeout: float, procs: Sequence[Proc] = ()) -> bool:
        deadline = time.monotonic() + timeout
        while self.poll() < count:
            if time.monotonic() > deadline:
                return False
            for p in procs:
                p.check()
            time.sleep(0.002)
        return True


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def pg_recreate(database: str) -> str:
    """Drop and create ``database``; returns its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    return pg_url(database)


def redis_flush() -> None:
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()


class Proc:
    """A worker process (and its children) in its own session, stopped as a group."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], log: Path) -> None:
        self.argv = list(argv)
        self.log_path = log
        self._log = open(log, "ab")
        self.popen = subprocess.Popen(
            self.argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def check(self) -> None:
        code = self.popen.poll()
        if code is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.argv[0]} exited with {code}:\n{tail}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group (children that outlived their parent)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()
        self._log.close()


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def venv_bin(name: str) -> str:
    """A console script of the interpreter running the bench (bench/.venv/bin)."""
    return str(Path(sys.executable).parent / name)
