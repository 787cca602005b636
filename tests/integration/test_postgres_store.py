"""What only a database shared by many processes shows: concurrent claims and finishes, wake-ups
by NOTIFY, fork safety, bulk enqueue and the translation of driver errors.

Tests that make sense on both backends run on both; the rest pick PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Duplicate, InvalidTransition, StoreUnavailable
from jobyard.core.models import JobSpec, OnDuplicate, Outcome, TypeDefinition, TypeKind
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store, open_store
from support.wakeups import listening

PG_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
TYPE = "pg.noop"


def register(store: Store, name: str = TYPE) -> None:
    store.type_register(TypeDefinition(name=name, kind=TypeKind.PYTHON, target="jobapps:echo"))


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """``target(i)`` in ``count`` threads started together; re-raises the first error."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


def test_a_json_string_round_trips(store: Store) -> None:
    register(store)
    [job_id] = store.job_enqueue([JobSpec(type=TYPE, args="hello", queue="s")])
    [claim] = store.job_claim(worker_id="w", queues=["s"], types=[TYPE], limit=1, lease=30)
    assert claim.args == "hello"
    outcome = Outcome(claim.execution_id, ExecutionStatus.COMPLETED, result="hello")
    assert store.job_finish([outcome]) == [True]
    job = store.job_get(job_id)
    assert (job.args, job.result) == ("hello", "hello")


def test_bulk_enqueue_keeps_order_unique_keys_and_external_ids(store: Store) -> None:
    register(store)
    [taken] = store.job_enqueue([JobSpec(type=TYPE, unique_key="k", queue="b")])
    specs = [
        JobSpec(type=TYPE, args=1, queue="b"),
        JobSpec(type=TYPE, args=2, queue="b", external_id="x1"),
        JobSpec(type=TYPE, args=3, unique_key="k", on_duplicate=OnDuplicate.RETURN),
        JobSpec(type=TYPE, args=4, queue="b", delay=60),
        JobSpec(type=TYPE, args=5, unique_key="k2"),
        JobSpec(type=TYPE, args=6, unique_key="k2", on_duplicate=OnDuplicate.RETURN),
        *(JobSpec(type=TYPE, args=i, queue="b", external_id=f"y{i}") for i in range(7, 20)),
    ]
    ids = store.job_enqueue(specs)
    assert ids[2] == taken and ids[5] == ids[4]
    new = [i for n, i in enumerate(ids) if n not in (2, 5)]
    assert new == sorted(new) and len(set(new)) == len(new) and taken < new[0]
    jobs = {i: store.job_get(i) for i in new}
    assert [jobs[i].args for i in new] == [1, 2, 4, 5, *range(7, 20)]
    assert jobs[ids[3]].status is JobStatus.SCHEDULED and jobs[ids[1]].external_id == "x1"
    events = [e for e in store.event_list(limit=100) if e.job_id in jobs]
    assert sorted(e.job_id for e in events) == sorted(new)  # one event per new job


def test_bulk_enqueue_with_a_taken_external_id_writes_nothing(store: Store) -> None:
    register(store)
    store.job_enqueue([JobSpec(type=TYPE, external_id="e5")])
    before = store.event_last_id()
    specs = [JobSpec(type=TYPE, external_id=f"e{i}") for i in range(10)]
    with pytest.raises(Duplicate, match="'e5'") as caught:
        store.job_enqueue(specs)
    assert caught.value.details["field"] == "external_id"
    repeated = [JobSpec(type=TYPE, external_id="z"), JobSpec(type=TYPE, external_id="z")]
    with pytest.raises(Duplicate, match="'z'"):
        store.job_enqueue(repeated)
    assert store.event_last_id() == before


def test_concurrent_claimers_never_share_a_job(make_store: Callable[..., Store]) -> None:
    stores = [make_store() for _ in range(4)]
    register(stores[0])
    ids = stores[0].job_enqueue([JobSpec(type=TYPE, args=i, queue="c") for i in range(400)])
    claimed: list[list[int]] = [[] for _ in stores]

    def claim(i: int) -> None:
        while batch := stores[i].job_claim(
            worker_id=f"w{i}", queues=["c"], types=[TYPE], limit=7, lease=30
        ):
            claimed[i] += [c.job_id for c in batch]
            outcomes = [Outcome(c.execution_id, ExecutionStatus.COMPLETED) for c in batch]
            assert stores[i].job_finish(outcomes) == [True] * len(batch)

    run_threads(len(stores), claim)
    everything = [job_id for ids_ in claimed for job_id in ids_]
    assert sorted(everything) == sorted(ids)  # each job exactly once


def test_claim_takes_the_best_jobs_over_all_queues(store: Store) -> None:
    register(store)
    store.queue_pause("paused")
    made = store.job_enqueue(
        [
            JobSpec(type=TYPE, queue="qa", priority=5),
            JobSpec(type=TYPE, queue="qb", priority=1),
            JobSpec(type=TYPE, queue="qa", priority=1),
            JobSpec(type=TYPE, queue="qb", priority=9),
            JobSpec(type=TYPE, queue="paused", priority=0),
        ]
    )
    queues = ["qa", "qb", "qb", "paused"]
    claims = store.job_claim(worker_id="w", queues=queues, types=[TYPE], limit=3, lease=30)
    assert [c.job_id for c in claims] == sorted([made[0], made[1], made[2]])
    assert [c.execution_id for c in claims] == sorted(c.execution_id for c in claims)


def test_finishing_heartbeating_and_reaping_at_once_never_deadlock(
    make_store: Callable[..., Store],
) -> None:
    clock_now = [time.time()]
    stores = [make_store(clock=lambda: clock_now[0]) for _ in range(3)]
    register(stores[0])
    stores[0].job_enqueue([JobSpec(type=TYPE, queue="d") for _ in range(60)])
    claims = stores[0].job_claim(worker_id="w", queues=["d"], types=[TYPE], limit=60, lease=5)
    ids = [c.execution_id for c in claims]
    clock_now[0] += 10  # every lease has expired: the reaper wants them all

    def work(i: int) -> None:
        if i == 0:
            for chunk in range(0, 60, 6):  # a worker finishing, in reverse order
                part = ids[chunk : chunk + 6][::-1]
                stores[0].job_finish([Outcome(e, ExecutionStatus.COMPLETED) for e in part])
        elif i == 1:
            for _ in range(10):
                stores[1].execution_heartbeat(ids[::-1], lease=30)
        else:
            while stores[2].execution_reap(limit=7):
                pass

    run_threads(3, work)
    executions = stores[0].execution_list(limit=100)
    assert {e.status for e in executions} <= {ExecutionStatus.COMPLETED, ExecutionStatus.LOST}
    assert len(executions) == 60


def test_requeue_in_opposite_orders_is_retried_not_failed(make_store: Callable[..., Store]) -> None:
    stores = [make_store(), make_store()]
    register(stores[0])
    ids = stores[0].job_enqueue([JobSpec(type=TYPE, queue="r") for _ in range(20)])
    for job_id in ids:
        stores[0].job_cancel(job_id)

    def requeue(i: int) -> None:
        order = ids if i == 0 else ids[::-1]
        for _ in range(5):
            # each names the jobs in its own order; the store locks them in id order, so one
            # waits for the other (no deadlock) and then finds the jobs queued by the winner
            with contextlib.suppress(InvalidTransition):
                stores[i].job_requeue(order)
            for job_id in order:
                with contextlib.suppress(InvalidTransition):
                    stores[i].job_cancel(job_id)

    run_threads(2, requeue)  # nothing but InvalidTransition: no deadlock error escapes


def test_one_batch_of_outcomes_ends_jobs_as_one_call_each_does(
    make_store: Callable[..., Store],
) -> None:
    """job_finish with many outcomes (PostgreSQL groups its writes) == one call per outcome."""
    store = make_store(clock=lambda: 1_800_000_000.0)
    exact = Backoff(base=10, factor=2, max=3600, jitter=0)
    store.type_register(
        TypeDefinition(
            name=TYPE, kind=TypeKind.PYTHON, target="jobapps:echo", max_tries=2, backoff=exact
        )
    )

    def scenario(queue: str, *, batched: bool) -> list[object]:
        ids = store.job_enqueue([JobSpec(type=TYPE, args=n, queue=queue) for n in range(8)])
        claims = store.job_claim(worker_id="w", queues=[queue], types=[TYPE], limit=8, lease=30)
        by_job = {c.job_id: c.execution_id for c in claims}
        store.job_kill(ids[4])
        done = Outcome(by_job[ids[7]], ExecutionStatus.COMPLETED)
        assert store.job_finish([done]) == [True]  # stale by the time of the batch
        e = [by_job[i] for i in ids]
        failed: dict[str, Any] = {"error_type": "E", "error_message": "m", "traceback": "tb"}
        outcomes = [
            Outcome(e[0], ExecutionStatus.COMPLETED, result={"r": 0}, peak_rss=2**40),
            Outcome(e[1], ExecutionStatus.FAILED, **failed, exit_code=3),  # retries
            Outcome(e[2], ExecutionStatus.FAILED, **failed, retryable=False),  # fails
            Outcome(e[3], ExecutionStatus.RELEASED),  # back to the queue
            Outcome(e[4], ExecutionStatus.COMPLETED, result=1),  # killed: canceled anyway
            Outcome(e[5], ExecutionStatus.CANCELED, stopped_by="ann", signal=15),
            Outcome(e[0], ExecutionStatus.FAILED, **failed),  # named twice: the first counts
            Outcome(e[6], ExecutionStatus.TIMED_OUT, **failed),
            Outcome(e[7], ExecutionStatus.COMPLETED, result="late"),  # stale
        ]
        if batched:
            held = store.job_finish(outcomes)
        else:
            held = [store.job_finish([o])[0] for o in outcomes]
        assert held == [True, True, True, True, True, True, False, True, False]
        seen: list[object] = []
        for job_id in ids:
            job = store.job_get(job_id)
            events = [ev.data for ev in store.event_list(job_id=job_id)]
            for data in events:
                data.pop("execution_id", None)
            seen.append(
                (
                    job.status, job.tries, job.result, job.error, job.canceled_by,
                    job.run_at > job.created_at,
                    [(x.status, x.exit_code, x.signal, x.peak_rss, x.error_type, x.stopped_by)
                     for x in job.executions],
                    events,
                )
            )  # fmt: skip
        return seen

    assert scenario("one-by-one", batched=False) == scenario("batched", batched=True)


def test_many_processes_registering_one_new_type_agree(make_store: Callable[..., Store]) -> None:
    stores = [make_store() for _ in range(6)]
    revisions: list[int] = []
    run_threads(6, lambda i: revisions.append(stores[i].type_register(_definition()).revision))
    assert revisions == [1] * 6


def _definition() -> TypeDefinition:
    return TypeDefinition(name="pg.race", kind=TypeKind.PYTHON, target="jobapps:echo")


# -- PostgreSQL only ----------------------------------------------------------------------------


@PG_ONLY
def test_notify_wakes_a_waiter_in_another_store(make_store: Callable[..., Store]) -> None:
    waiter, writer = make_store(), make_store()
    register(writer)
    waiter.wait_for_work(["wake"], 0.01)  # starts the listener
    _until(lambda: waiter._listener is not None and waiter._listener.listening)  # type: ignore[attr-defined]
    woke: list[float] = []

    def wait() -> None:
        start = time.monotonic()
        waiter.wait_for_work(["wake"], 20)
        woke.append(time.monotonic() - start)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)
    writer.job_enqueue([JobSpec(type=TYPE, queue="other")])  # not ours: keeps sleeping
    time.sleep(0.2)
    assert not woke
    writer.job_enqueue([JobSpec(type=TYPE, queue="wake")])
    thread.join(10)
    assert woke and woke[0] < 5


@PG_ONLY
def test_a_waiter_looks_once_when_the_listener_starts(make_store: Callable[..., Store]) -> None:
    # a worker's first claim found nothing; a job enqueued before its LISTEN took effect sends
    # a notification no one hears: the listener's connecting must wake the waiter instead
    waiter = make_store()
    start = time.monotonic()
    assert waiter.wait_for_work(["first"], 20), "the wait timed out"
    assert time.monotonic() - start < 10
    assert waiter.announces_work


@PG_ONLY
def test_a_notification_between_two_waits_is_not_missed(make_store: Callable[..., Store]) -> None:
    waiter, writer = make_store(), make_store()
    register(writer)
    listening(waiter, "gap")
    writer.job_enqueue([JobSpec(type=TYPE, queue="gap")])  # while the waiter "claims"
    _until(lambda: "gap" in waiter._notified)  # type: ignore[attr-defined]
    start = time.monotonic()
    waiter.wait_for_work(["gap"], 20)
    assert time.monotonic() - start < 1


@PG_ONLY
def test_the_listener_reconnects_after_its_connection_dies(
    make_store: Callable[..., Store],
) -> None:
    import psycopg

    waiter, writer = make_store(), make_store()
    register(writer)
    listening(waiter, "re")
    with psycopg.connect(writer.url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%%' AND datname = current_database()"
        )
    _until(lambda: not waiter._listener.listening)  # type: ignore[attr-defined]
    _until(lambda: waiter._listener.listening)  # type: ignore[attr-defined]
    waiter.wait_for_work(["re"], 0.01)  # takes the wake-up every reconnect gives
    assert _waited(waiter, "re", lambda: writer.job_enqueue([JobSpec(type=TYPE, queue="re")])) < 5


@PG_ONLY
def test_in_process_wake_ups_still_work(store: Store) -> None:
    listening(store, "l")
    # what an enqueue in this process does besides its NOTIFY
    assert _waited(store, "l", store._wake_local) < 5  # type: ignore[attr-defined]


@PG_ONLY
def test_a_forked_child_uses_its_own_connections(store: Store) -> None:
    register(store)
    store.wait_for_work(["f"], 0.01)  # the parent has a pool and a listener
    [parent_job] = store.job_enqueue([JobSpec(type=TYPE, queue="f")])
    pid = os.fork()
    if pid == 0:  # the child: use the store, then leave without cleanup, like a worker child
        code = 1
        try:
            [job_id] = store.job_enqueue([JobSpec(type=TYPE, queue="f")])
            code = 0 if store.job_get(job_id).status is JobStatus.QUEUED else 2
            store.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # the parent's connections were not touched by the child
    assert store.job_get(parent_job).status is JobStatus.QUEUED
    assert len(store.job_claim(worker_id="w", queues=["f"], types=[TYPE], limit=5, lease=9)) == 2


def test_an_unreachable_server_is_store_unavailable() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:9/nope?connect_timeout=1&pool_timeout=1")
    try:
        with pytest.raises(StoreUnavailable):
            store.type_list()
    finally:
        store.close()


@PG_ONLY
def test_a_dead_pooled_connection_is_replaced_transparently(store: Store) -> None:
    import psycopg

    register(store)
    with psycopg.connect(store.url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert [t.name for t in store.type_list()] == [TYPE]


def _waited(waiter: Store, queue: str, action: Callable[..., object]) -> float:
    """Seconds ``waiter.wait_for_work([queue])`` took while ``action`` ran 0.3 s into it."""
    timer = threading.Timer(0.3, action)
    start = time.monotonic()
    timer.start()
    try:
        waiter.wait_for_work([queue], 20)
        took = time.monotonic() - start
    finally:
        timer.join()
    assert took >= 0.25, "the wait ended before the action that should end it"
    return took


def _until(condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@PG_ONLY
def test_a_result_postgres_cannot_store_fails_only_its_own_job(store: Store) -> None:
    register(store)
    ids = store.job_enqueue([JobSpec(type=TYPE, queue="nul") for _ in range(3)])
    claims = store.job_claim(worker_id="w", queues=["nul"], types=[TYPE], limit=3, lease=30)
    outcomes = [
        Outcome(claims[0].execution_id, ExecutionStatus.COMPLETED, result={"k": "a\x00b"}),
        Outcome(claims[1].execution_id, ExecutionStatus.COMPLETED, result="ok"),
        Outcome(
            claims[2].execution_id, ExecutionStatus.FAILED, error_type="E", retryable=False,
            error_message="bad\x00byte", traceback="tb\x00",
        ),
    ]  # fmt: skip
    assert store.job_finish(outcomes) == [True, True, True]
    first, second, third = (store.job_get(i) for i in ids)
    assert first.status is JobStatus.FAILED and first.error is not None
    assert first.error["type"] == "InvalidResult"
    assert second.status is JobStatus.COMPLETED and second.result == "ok"
    assert third.error == {"type": "E", "message": "bad\ufffdbyte", "traceback": "tb\ufffd"}


def test_workers_of_a_new_app_register_it_at_once(make_store: Callable[..., Store]) -> None:
    # every worker of an app registers it as it starts; a fleet starting together must all
    # succeed (the guid is unique too, so a plain upsert on the name could collide on it)
    stores = [make_store() for _ in range(6)]
    for round in range(10):  # a collision needs the inserts to overlap: several new apps
        apps: list[Any] = [None] * len(stores)

        def register_app(i: int, name: str = f"fleet-{round}", apps: list[Any] = apps) -> None:
            apps[i] = stores[i].app_register(name, types=[f"{name}.t{i}"])

        run_threads(len(stores), register_app)
        assert len({(a.id, a.guid) for a in apps}) == 1
