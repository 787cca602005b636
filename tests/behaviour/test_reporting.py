"""Processes of many executions in one call (store/reporting.py), on both backends."""

from __future__ import annotations

from behaviour.factory import JobFactory
from jobyard.core.models import Outcome
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


def test_started_many_records_every_process(store: Store, factory: JobFactory) -> None:
    made = [factory.make(JobStatus.RUNNING) for _ in range(3)]
    pairs = [(j.execution_id, 7000 + i) for i, j in enumerate(made)]
    store.execution_started_many(pairs[::-1], ppid=42, hostname="box-1", run_as="jobs")  # type: ignore[arg-type]
    for job, (_, pid) in zip(made, pairs, strict=True):
        e = store.job_get(job.id).executions[-1]
        assert (e.pid, e.ppid, e.hostname, e.run_as) == (pid, 42, "box-1", "jobs")


def test_started_many_skips_what_is_gone_and_accepts_nothing(
    store: Store, factory: JobFactory
) -> None:
    job = factory.make(JobStatus.RUNNING)
    assert job.execution_id is not None
    assert store.job_finish([Outcome(job.execution_id, ExecutionStatus.COMPLETED)]) == [True]
    store.execution_started_many([], ppid=1, hostname="h", run_as="u")
    store.execution_started_many(
        [(job.execution_id, 99), (10**12, 1)], ppid=1, hostname="h", run_as="u"
    )
    [e] = store.job_get(job.id).executions
    assert e.status is ExecutionStatus.COMPLETED
    assert e.pid == 99  # the record of an ended execution is still its process
