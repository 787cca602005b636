"""SQLite's single write lock, held by another process: a writer waits its turn and goes through
when the lock is let go; held past the store's patience, the write fails with a clear error and
writes nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from behaviour.factory import TYPE, JobFactory
from jobyard.core.errors import StoreUnavailable
from jobyard.core.models import JobFilter, JobSpec, PageRequest
from jobyard.store import Store
from jobyard.store.sqlite import store as sqlite_store

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# another process: takes the write lock, says so, holds it until told to let go
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""


class Holder:
    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held"

    def let_go(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        assert self.proc.wait(timeout=10) == 0


@contextmanager
def lock_held(database_url: str) -> Iterator[Holder]:
    held = Holder(sqlite_store.sqlite_path(database_url))
    try:
        yield held
    finally:
        held.proc.kill()
        held.proc.communicate(timeout=10)  # and closes its pipes


def stored_args(store: Store) -> list[dict[str, Any]]:
    return [job.args for job in store.job_list(JobFilter(), PageRequest()).results]


def test_writers_wait_for_a_lock_another_process_holds(
    store: Store, factory: JobFactory, database_url: str
) -> None:
    factory.register()
    results: dict[int, list[int] | BaseException] = {}

    def enqueue(n: int) -> None:
        try:
            results[n] = store.job_enqueue([JobSpec(type=TYPE, args={"n": n})])
        except BaseException as exc:  # handed to the test's thread
            results[n] = exc

    # two threads of one process queue for the lock behind the other process
    threads = [threading.Thread(target=enqueue, args=(n,)) for n in range(2)]
    with lock_held(database_url) as held:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=0.5)
        assert all(t.is_alive() for t in threads), results
        held.let_go()
        for t in threads:
            t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert all(isinstance(r, list) for r in results.values()), results
    assert sorted(args["n"] for args in stored_args(store)) == [0, 1]


def test_a_lock_held_past_the_wait_fails_clearly_and_writes_nothing(
    store: Store, factory: JobFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory.register()
    monkeypatch.setattr(sqlite_store, "LOCK_WAIT", 0.3)
    with lock_held(database_url) as held:
        with pytest.raises(StoreUnavailable, match="stayed locked") as refused:
            store.job_enqueue([JobSpec(type=TYPE, args={"n": 1})])
        assert sqlite_store.sqlite_path(database_url) in str(refused.value)
        held.let_go()
    assert stored_args(store) == []
    # the refusal left neither this thread's connection nor the process's turn taken
    store.job_enqueue([JobSpec(type=TYPE, args={"n": 2})])
    assert stored_args(store) == [{"n": 2}]
