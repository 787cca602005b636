"""A worker whose clock jumps: lease math uses the database's clock, not the worker's own.

PostgreSQL only: there, workers run on other hosts whose clocks may be wrong. On SQLite every
process shares one host's clock, so one process's clock cannot disagree with the others'.

The shifted workers run with tests/apps/clockshift on PYTHONPATH, which moves their
``time.time`` by minutes (a real process with a wrong wall clock; no libfaketime needed).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobyard.store import Store
from support.chaos import (
    CASE_TIMEOUT,
    assert_ledger,
    chaos_worker,
    check_ledger,
    enqueue_work,
    record_ledger,
    register,
    size,
    wait_drained,
)
from support.servers import APPS, SRC, JobyardProcess

SHIFT = 300.0  # seconds: far beyond the 3-second lease


def _worker(url: str, log: Path, starts: Path, offset: float) -> JobyardProcess:
    return chaos_worker(
        url,
        log,
        starts=starts,
        PYTHONPATH=f"{APPS / 'clockshift'}:{APPS}:{SRC}",
        JOBYARD_TEST_CLOCK_OFFSET=str(offset),
    )


pytestmark = [pytest.mark.slow, pytest.mark.timeout(CASE_TIMEOUT)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_workers_with_wrong_clocks_neither_lose_nor_double(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    # jobs longer than the lease: a lease computed from a clock five minutes behind has
    # expired before it is written, and a reaper five minutes ahead sees every other lease
    # expired; either would run a job twice at once
    ids = enqueue_work(store, size(12, 60), ms=4000)
    starts = tmp_path / "starts"
    workers = [
        _worker(database_url, tmp_path / "behind.log", starts, -SHIFT),
        _worker(database_url, tmp_path / "ahead.log", starts, +SHIFT),
    ]
    try:
        for _ in range(size(3, 20)):  # the test's own reaper, on the true clock, as well
            time.sleep(1)
            store.execution_reap()
        wait_drained(store, ids, timeout=120, what="with clocks five minutes off")
    finally:
        for w in workers:
            w.stop()
    ledger = check_ledger(store, ids, starts_file=starts)
    record_ledger("worker clock jump ±5 min", "postgresql", "clock offset", 2, ledger)
    assert_ledger(ledger)
    assert ledger.attempts == len(ids), "a job ran more than once"
    # the times the store wrote are the database's, not the workers' shifted ones
    for job_id in ids:
        for execution in store.job_get(job_id).executions:
            assert abs(execution.started_at.timestamp() - time.time()) < SHIFT / 2, execution
            assert execution.lease_expires_at.timestamp() < time.time() + SHIFT / 2, execution
