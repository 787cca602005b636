"""Prefetch: a backlog of short jobs is claimed in batches; a held job never waits long.

A worker with a backlog of short jobs claims more than its free slots and holds them (worker/
loop.py, PREFETCH); one held longer than PREFETCH_HOLD is given back. Real store, real children.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from worker_harness import finished, register, worker_thread

from jobyard.core.models import JobSpec
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store, open_store
from jobyard.worker.loop import PREFETCH_HOLD


class CountingStore:
    """A real store that counts the calls made to it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return call


@pytest.fixture(autouse=True)
def _types(store: Store) -> None:
    register(store)


def _adds(store: Store, n: int) -> list[int]:
    return store.job_enqueue([JobSpec(type="sample.add", args={"a": i, "b": 1}) for i in range(n)])


def test_a_backlog_of_short_jobs_is_claimed_in_batches(store: Store, database_url: str) -> None:
    ids = _adds(store, 60)
    counting = CountingStore(open_store(database_url))
    try:
        with worker_thread(database_url, store=counting, concurrency=1):  # type: ignore[arg-type]
            jobs = [finished(store, i, release=False) for i in ids]
    finally:
        counting.close()
    assert [j.result for j in jobs] == [i + 1 for i in range(60)]
    # one execution each: nothing was given back or run twice
    assert all([e.status for e in j.executions] == [ExecutionStatus.COMPLETED] for j in jobs)
    # one slot, 60 jobs: without prefetch at least 60 claims
    assert counting.calls["job_claim"] < 30
    # processes and outcomes are written in groups, not one transaction per job
    assert counting.calls["job_finish"] < 60
    assert counting.calls["execution_started_many"] < 60


def test_jobs_held_behind_a_long_one_are_given_back(store: Store, database_url: str) -> None:
    before = _adds(store, 30)
    [slow] = store.job_enqueue([JobSpec(type="sample.sleep", args={"seconds": PREFETCH_HOLD * 3})])
    after = _adds(store, 30)
    with worker_thread(database_url, concurrency=1):
        jobs = [finished(store, i, timeout=60, release=False) for i in [*before, slow, *after]]
    assert all(j.status is JobStatus.COMPLETED for j in jobs)
    for job in jobs:  # each ran once; a give-back is a released execution, its try not counted
        statuses = [e.status for e in job.executions]
        assert statuses.count(ExecutionStatus.COMPLETED) == 1
        assert set(statuses) <= {ExecutionStatus.COMPLETED, ExecutionStatus.RELEASED}
        assert job.tries == 1
    given_back = [j for j in jobs if ExecutionStatus.RELEASED in {e.status for e in j.executions}]
    assert given_back, "no job was held behind the long one"
    assert slow not in {j.id for j in given_back}
