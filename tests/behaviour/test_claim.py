"""Claims: order, filters, paused queues, batch limits, and no job claimed twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from behaviour.factory import T0, TYPE, FakeClock, JobFactory
from jobyard.core.models import Claim, JobSpec
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


def claim(
    store: Store,
    *,
    queues: tuple[str, ...] = ("default",),
    types: tuple[str, ...] = (TYPE,),
    limit: int = 1,
    lease: float = 30.0,
    worker_id: str = "w1",
) -> list[Claim]:
    return store.job_claim(
        worker_id=worker_id, queues=list(queues), types=list(types), limit=limit, lease=lease
    )


def claimed_ids(store: Store, **kwargs: object) -> list[int]:
    return [c.job_id for c in claim(store, **kwargs)]  # type: ignore[arg-type]


def test_claim_starts_an_execution(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    factory.register(timeout=12.5)
    job_id = factory.enqueue(args={"x": 1}, max_tries=4)
    clock.advance(5)
    [c] = claim(store, lease=30, worker_id="worker-a")
    assert c.job_id == job_id
    assert (c.type, c.type_revision, c.args, c.attempt, c.max_tries, c.timeout) == (
        TYPE, 1, {"x": 1}, 1, 4, 12.5,
    )  # fmt: skip
    assert c.lease_expires_at == T0 + 35
    job = store.job_get(job_id)
    assert (job.status, job.tries, job.execution_id) == (JobStatus.RUNNING, 1, c.execution_id)
    assert job.started_at == datetime.fromtimestamp(T0 + 5, UTC)
    [e] = job.executions
    assert (e.id, e.job_id, e.attempt, e.status, e.worker_id) == (
        c.execution_id, job_id, 1, ExecutionStatus.RUNNING, "worker-a",
    )  # fmt: skip
    assert e.started_at.timestamp() == e.heartbeat_at.timestamp() == T0 + 5  # type: ignore[union-attr]
    assert e.lease_expires_at.timestamp() == T0 + 35
    assert e.queued_at.timestamp() == T0  # type: ignore[union-attr]
    assert e.ended_at is None
    [event] = store.event_list(after=store.event_list()[0].id)
    assert event.data == {
        "status": "running",
        "execution_id": c.execution_id,
        "worker_id": "worker-a",
    }


def test_nothing_to_claim(store: Store, factory: JobFactory) -> None:
    factory.register()
    assert claim(store) == []
    factory.enqueue()
    assert claim(store, limit=0) == []
    assert claim(store, queues=()) == []
    assert claim(store, types=()) == []
    assert len(claim(store)) == 1


def test_lower_priority_number_first_then_oldest(store: Store, factory: JobFactory) -> None:
    factory.register()
    ids = store.job_enqueue([JobSpec(type=TYPE, priority=p) for p in (5, 1, 3, 1, -2, 5, 3)])
    order = [claimed_ids(store)[0] for _ in ids]
    by_priority = [ids[i] for i in (4, 1, 3, 2, 6, 0, 5)]
    assert order == by_priority
    assert claim(store) == []


def test_batch_claim_takes_the_best_up_to_the_limit(store: Store, factory: JobFactory) -> None:
    factory.register()
    ids = store.job_enqueue([JobSpec(type=TYPE, priority=10 - n) for n in range(10)])
    first = claim(store, limit=4)
    assert sorted(c.job_id for c in first) == sorted(ids[6:])
    assert len({c.execution_id for c in first}) == 4
    assert len(claim(store, limit=4)) == 4
    assert sorted(claimed_ids(store, limit=4)) == sorted(ids[:2])
    assert claim(store, limit=4) == []


def test_claims_only_the_queues_asked_for(store: Store, factory: JobFactory) -> None:
    factory.register()
    ids = {q: factory.enqueue(queue=q) for q in ("q1", "q2", "q3")}
    got = claimed_ids(store, queues=("q1", "q3", "nothing-here"), limit=10)
    assert sorted(got) == sorted([ids["q1"], ids["q3"]])
    assert store.job_get(ids["q2"]).status is JobStatus.QUEUED
    assert claimed_ids(store, queues=("q2",)) == [ids["q2"]]


def test_claims_only_the_types_asked_for(store: Store, factory: JobFactory) -> None:
    for name in ("a", "b", "c"):
        factory.register(name)
    ids = {name: factory.enqueue(name) for name in ("a", "b", "c")}
    got = claim(store, types=("a", "c"), limit=10)
    assert sorted(c.job_id for c in got) == sorted([ids["a"], ids["c"]])
    assert {c.type for c in got} == {"a", "c"}
    assert store.job_get(ids["b"]).status is JobStatus.QUEUED


def test_paused_queue_is_not_claimed_until_resumed(store: Store, factory: JobFactory) -> None:
    factory.register()
    paused = factory.enqueue(queue="slow")
    other = factory.enqueue(queue="fast")
    store.queue_pause("slow")
    assert {q.name: q.paused for q in store.queue_list()} == {
        "default": False, "fast": False, "slow": True,
    }  # fmt: skip
    assert claimed_ids(store, queues=("slow", "fast"), limit=10) == [other]
    assert claim(store, queues=("slow",)) == []
    store.queue_resume("slow")
    assert not {q.name: q.paused for q in store.queue_list()}["slow"]
    assert claimed_ids(store, queues=("slow",)) == [paused]


def test_pausing_an_unknown_queue_holds_its_future_jobs(store: Store, factory: JobFactory) -> None:
    factory.register()
    store.queue_pause("later")
    job_id = factory.enqueue(queue="later")
    assert claim(store, queues=("later",)) == []
    store.queue_resume("later")
    assert claimed_ids(store, queues=("later",)) == [job_id]


def test_scheduled_and_retrying_jobs_are_not_claimed(store: Store, factory: JobFactory) -> None:
    factory.make(JobStatus.SCHEDULED, queue="q")
    factory.make(JobStatus.RETRYING, queue="q")
    assert claim(store, queues=("q",), limit=10) == []


def test_enqueue_wakes_a_waiting_worker_of_the_same_store(
    store: Store, factory: JobFactory
) -> None:
    factory.register()
    woke = threading.Event()

    def wait() -> None:
        store.wait_for_work(["default"], timeout=60)
        woke.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        # the waiter may not be waiting yet: enqueue until it wakes, with a deadline
        for _ in range(100):
            factory.enqueue()
            if woke.wait(timeout=0.1):
                break
        assert woke.is_set(), "wait_for_work did not return after an enqueue"
    finally:
        factory.enqueue()
        waiter.join(timeout=60)
    assert not waiter.is_alive()


def test_an_enqueue_between_two_waits_is_not_missed(store: Store, factory: JobFactory) -> None:
    # a worker's loop: wait, claim (finds nothing), wait again. An enqueue that lands while it
    # claims must end the next wait at once, not a poll interval later.
    factory.register()
    claiming, returned = threading.Event(), threading.Event()

    def worker_loop() -> None:
        store.wait_for_work(["default"], timeout=0.01)
        claiming.set()
        factory_done.wait(timeout=60)
        store.wait_for_work(["default"], timeout=120)
        returned.set()

    factory_done = threading.Event()
    waiter = threading.Thread(target=worker_loop)
    waiter.start()
    try:
        assert claiming.wait(timeout=60)
        factory.enqueue()  # while the worker "claims"
        factory_done.set()
        assert returned.wait(timeout=60), "the wake-up that came between two waits was lost"
    finally:
        factory_done.set()
        factory.enqueue()
        waiter.join(timeout=130)


def test_wait_for_work_returns_after_its_timeout(store: Store) -> None:
    done = threading.Event()
    waiter = threading.Thread(
        target=lambda: (store.wait_for_work(["default"], timeout=0.05), done.set())
    )
    waiter.start()
    waiter.join(timeout=30)
    assert done.is_set()
