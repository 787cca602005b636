"""Helpers for the worker tests: run a worker in a thread or as a process, wait on conditions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sample

from jobyard.core.errors import StoreUnavailable
from jobyard.core.models import Job, JobSpec
from jobyard.core.settings import Settings
from jobyard.store import Store, open_store
from jobyard.worker import Worker

APPS = Path(__file__).resolve().parent
SRC = APPS.parents[1] / "src"
T = TypeVar("T")

FAST = Settings(lease=30.0, heartbeat=0.1, kill_grace=1.0, shutdown_grace=5.0, poll=0.05)


def wait_until(
    condition: Callable[[], T], *, timeout: float = 20.0, every: float = 0.02, what: str = ""
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


def pid_gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a zombie of ours counts as gone once reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # it may be a zombie child of this very process (a worker started by the test)
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def register(store: Store) -> None:
    for definition in sample.app.definitions():
        store.type_register(definition)


def enqueue(store: Store, type: str, args: Any = None, **options: Any) -> int:
    [job_id] = store.job_enqueue([JobSpec(type=type, args={} if args is None else args, **options)])
    return job_id


def finished(store: Store, job_id: int, *, timeout: float = 20.0, release: bool = True) -> Job:
    """Wait for a job to reach a terminal state, moving retries along (the engine's releaser)."""

    def check() -> Job | None:
        if release:
            store.job_release_due()
        job = store.job_get(job_id)
        return job if job.status.is_terminal else None

    return wait_until(check, timeout=timeout, what=f"job {job_id} to finish")


def running(store: Store, job_id: int, *, timeout: float = 20.0) -> Job:
    """Wait until a job runs and its process is recorded; returns it."""

    def check() -> Job | None:
        job = store.job_get(job_id)
        current = [e for e in job.executions if e.status == "running" and e.pid]
        return job if current else None

    return wait_until(check, timeout=timeout, what=f"job {job_id} to run")


def log_texts(store: Store, job_id: int) -> list[str]:
    return [event.data["text"] for event in store.job_log(job_id)]


@contextmanager
def worker_thread(
    url: str,
    *,
    settings: Settings = FAST,
    concurrency: int = 2,
    queues: Sequence[str] = ("default",),
    store: Store | None = None,
) -> Iterator[Worker]:
    """A worker running in a thread of the test process, stopped (at once) on exit."""
    worker_store = store or open_store(url)
    worker = Worker(
        worker_store, sample.app, queues=queues, concurrency=concurrency, settings=settings
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-worker")
    thread.start()
    try:
        yield worker
    finally:
        worker.stop(graceful=False)
        thread.join(30)
        if store is None:
            worker_store.close()
    assert not thread.is_alive(), "the worker did not stop"
    if errors:
        raise errors[0]


def spawn_worker(
    url: str, log_path: Path, *, concurrency: int = 2, **settings: float
) -> subprocess.Popen[bytes]:
    """A worker process (``worker_main.py``) with settings from JOBYARD_* variables."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), str(SRC), env.get("PYTHONPATH", "")])
    values = {**_as_env(FAST), **{k: str(v) for k, v in settings.items()}}
    env.update({f"JOBYARD_{k.upper()}": v for k, v in values.items()})
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(APPS / "worker_main.py"), url, str(concurrency)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _as_env(settings: Settings) -> dict[str, str]:
    keys = ("lease", "heartbeat", "kill_grace", "shutdown_grace", "poll")
    return {k: str(getattr(settings, k)) for k in keys}


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 30.0) -> int:
    """SIGKILL a process if it still runs after ``timeout``; its exit code."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class FlakyStore:
    """A real store whose chosen operations fail with StoreUnavailable for a while.

    Fault injection around the real thing (not a fake): every call that is let through reaches
    the database.
    """

    def __init__(self, store: Store, methods: Sequence[str], *, seconds: float) -> None:
        self._store = store
        self._methods = set(methods)
        self._until = time.monotonic() + seconds
        self.failures: dict[str, int] = {}

    def heal(self) -> None:
        self._until = 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in self._methods or not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if time.monotonic() < self._until:
                self.failures[name] = self.failures.get(name, 0) + 1
                raise StoreUnavailable(f"injected: {name} while the database is away")
            return attribute(*args, **kwargs)

        return call
