"""Why is it waiting? A job waiting for each reason reports that reason, on both backends.

Workers are registered through the Store API as a worker does; the fake clock decides which are
live (a beat within three of their beat intervals, and at least the last fifteen seconds).
"""

from __future__ import annotations

from typing import Any

import pytest

from behaviour.factory import DELAY, T0, TYPE, FakeClock, JobFactory
from jobyard.core.errors import NotFound
from jobyard.core.limits import WaitCode, WaitReason
from jobyard.core.models import utc
from jobyard.core.states import JobStatus
from jobyard.store import Store


def register_worker(
    store: Store,
    worker_id: str = "w1",
    *,
    queues: tuple[str, ...],
    types: tuple[str, ...] | None = (TYPE,),
    concurrency: int = 4,
    **capacity: Any,
) -> None:
    store.worker_register(
        worker_id, hostname="host", pid=1, queues=queues, concurrency=concurrency, types=types,
        heartbeat=1.0, **capacity,
    )  # fmt: skip


def reason(store: Store, job_id: int) -> WaitReason:
    found = store.job_wait_reason(job_id)
    assert found is not None, f"job {job_id} is not waiting"
    return found


def test_scheduled_says_until_when(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.SCHEDULED)
    why = reason(store, made.id)
    assert why.code is WaitCode.SCHEDULED
    assert why.until == utc(T0 + DELAY)
    assert why.until.isoformat() in why.message  # type: ignore[union-attr]


def test_retrying_says_until_when(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.RETRYING)
    why = reason(store, made.id)
    assert why.code is WaitCode.RETRYING
    assert why.until == store.job_get(made.id).run_at
    assert why.details == {"tries": 1, "max_tries": 3}


def test_blocked_names_its_parents(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.BLOCKED)
    why = reason(store, made.id)
    assert why.code is WaitCode.BLOCKED
    parents = why.details["parents"]
    assert len(parents) == 1 and str(parents[0]) in why.message
    assert store.job_get(parents[0]).status is JobStatus.QUEUED


def test_queue_paused(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.QUEUED)
    register_worker(store, queues=(made.queue,))
    store.queue_pause(made.queue)
    why = reason(store, made.id)
    assert why.code is WaitCode.QUEUE_PAUSED
    assert why.details == {"queue": made.queue}


def test_type_paused(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.QUEUED)
    register_worker(store, queues=(made.queue,))
    store.type_set_paused(TYPE, True)
    why = reason(store, made.id)
    assert (why.code, why.details) == (WaitCode.TYPE_PAUSED, {"type": TYPE})
    store.type_set_paused(TYPE, False)
    assert reason(store, made.id).code is WaitCode.READY


def test_type_concurrency_full(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=1)
    first = factory.make(JobStatus.RUNNING)
    second = factory.make(JobStatus.QUEUED, queue=first.queue)
    register_worker(store, queues=(first.queue,))
    why = reason(store, second.id)
    assert why.code is WaitCode.CONCURRENCY_FULL
    assert why.details == {"scope": "type", "key": TYPE, "limit": 1, "running": 1}
    assert "1 of 1 running" in why.message


def test_key_concurrency_full(store: Store, factory: JobFactory) -> None:
    first = factory.make(JobStatus.RUNNING, concurrency_key="acct-7", concurrency_limit=1)
    second = factory.make(
        JobStatus.QUEUED, queue=first.queue, concurrency_key="acct-7", concurrency_limit=1
    )
    register_worker(store, queues=(first.queue,))
    why = reason(store, second.id)
    assert why.code is WaitCode.CONCURRENCY_FULL
    assert why.details == {"scope": "key", "key": "acct-7", "limit": 1, "running": 1}


def test_no_worker_when_none_is_live(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    made = factory.make(JobStatus.QUEUED)
    why = reason(store, made.id)
    assert why.code is WaitCode.NO_WORKER
    assert why.message == f"no live worker claims from queue {made.queue!r}"
    register_worker(store, "elsewhere", queues=("other",))
    assert reason(store, made.id).code is WaitCode.NO_WORKER
    register_worker(store, queues=(made.queue,))
    assert reason(store, made.id).code is WaitCode.READY
    clock.advance(3.5)  # three beats (of 1 s) missed, but a loaded machine delays beats: live
    assert reason(store, made.id).code is WaitCode.READY
    clock.advance(12.0)  # silent for longer than the floor of 15 s (three idle beats): gone
    assert reason(store, made.id).code is WaitCode.NO_WORKER
    store.worker_beat("w1")
    assert reason(store, made.id).code is WaitCode.READY
    store.worker_stop("w1")
    assert reason(store, made.id).code is WaitCode.NO_WORKER


def test_no_worker_runs_its_type(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.QUEUED)
    register_worker(store, queues=(made.queue,), types=("some.other.type",))
    why = reason(store, made.id)
    assert why.code is WaitCode.NO_WORKER
    assert f"none runs job type {TYPE!r}" in why.message
    register_worker(store, "any", queues=(made.queue,), types=None)  # runs any type it finds
    assert reason(store, made.id).code is WaitCode.READY


def test_no_resources(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.QUEUED, cpus=4, mem=2048)
    register_worker(store, queues=(made.queue,), cpus=2, mem=8192, disk=1000)
    why = reason(store, made.id)
    assert why.code is WaitCode.NO_RESOURCES
    assert why.details["needs"] == {"cpus": 4, "mem": 2048, "disk": 0}
    assert "4 cpus, 2048 MiB memory" in why.message
    register_worker(store, "big", queues=(made.queue,), cpus=8, mem=8192)
    assert reason(store, made.id).code is WaitCode.READY


def test_ready_says_whether_a_slot_or_resources_are_free(store: Store, factory: JobFactory) -> None:
    running = factory.make(JobStatus.RUNNING, cpus=3)  # claimed by worker w1
    waiting = factory.make(JobStatus.QUEUED, queue=running.queue, cpus=2)
    register_worker(store, queues=(running.queue,), cpus=4, concurrency=2)
    why = reason(store, waiting.id)
    assert why.code is WaitCode.READY
    assert why.details["resources_busy"] is True  # 1 of 4 cpus free, it needs 2
    register_worker(store, queues=(running.queue,), cpus=8, concurrency=1)
    why = reason(store, waiting.id)
    assert why.details["resources_busy"] is False and why.details["claimable_now"] == 0
    assert "waiting for a free slot" in why.message
    register_worker(store, queues=(running.queue,), cpus=8, concurrency=2)
    why = reason(store, waiting.id)
    assert why.details["claimable_now"] == 1 and "can claim it now" in why.message


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.CANCELED])
def test_a_job_that_is_not_waiting_has_no_reason(
    store: Store, factory: JobFactory, status: JobStatus
) -> None:
    assert store.job_wait_reason(factory.make(status).id) is None


def test_no_such_job(store: Store) -> None:
    with pytest.raises(NotFound):
        store.job_wait_reason(424242)
