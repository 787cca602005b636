"""Queue status by job type, load history and the counters folded from the event log."""

from __future__ import annotations

import pytest

from behaviour.factory import T0, TYPE, FakeClock, JobFactory, definition
from jobyard.core.errors import Invalid
from jobyard.core.models import JobSpec
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.core.stats import BUCKETS, ENQUEUED, FAILURES, FINISHED, STARTED, LoadFilter
from jobyard.engine.rollup import Rollup
from jobyard.engine.sampler import Sampler, SamplerConfig
from jobyard.store import Store

SETTLE = 10.0  # more than PostgreSQL's settle time: everything written before is folded


def fold(store: Store, clock: FakeClock) -> int:
    clock.advance(SETTLE)
    return Rollup(store).run_once()


def counters(store: Store) -> dict[tuple[str, str, str, str], float]:
    return store.stats_snapshot(live_since=0).counters


def test_queue_status_counts_the_live_table_per_type(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register("t.a", priority=50, category="images", title="A", version="3.0")
    factory.register("t.b")
    q = "shared"
    running = factory.enqueue("t.a", queue=q)
    factory.claim_one(q)
    clock.advance(5)
    factory.enqueue("t.a", queue=q, priority=7)
    clock.advance(5)
    factory.enqueue("t.a", queue=q, priority=9)
    factory.enqueue("t.a", queue=q, delay=3600)
    factory.enqueue("t.b", queue="other")
    by_type = {s.type: s for s in store.queue_status()}
    a = by_type["t.a"]
    assert (a.queued, a.running, a.scheduled, a.blocked, a.retrying) == (2, 1, 1, 0, 0)
    assert a.highest_priority == 7
    assert a.oldest_queued_at is not None and a.oldest_queued_at.timestamp() == T0 + 5
    assert (a.title, a.category, a.version, a.priority, a.paused) == (
        "A",
        "images",
        "3.0",
        50,
        False,
    )
    assert a.queues == (q,) and a.type_id is not None
    assert by_type["t.b"].queued == 1
    assert store.job_get(running).status is JobStatus.RUNNING
    # Scale's order: active first, then the highest priority, then the longest queued
    assert [s.type for s in store.queue_status()] == ["t.a", "t.b"]
    store.queue_pause("other")
    assert [(s.type, s.paused) for s in store.queue_status()] == [("t.a", False), ("t.b", True)]


def test_queue_status_lists_idle_types_and_leaves_out_archived_ones(
    store: Store, factory: JobFactory
) -> None:
    factory.register("t.idle")
    factory.register("t.gone")
    store.type_archive("t.gone")
    statuses = {s.type: s for s in store.queue_status()}
    assert set(statuses) == {"t.idle"}
    assert statuses["t.idle"].queued == 0 and statuses["t.idle"].latency is None


def test_the_fold_counts_each_event_once(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register(max_tries=2)
    done = factory.make(JobStatus.COMPLETED)
    failed = factory.make(JobStatus.FAILED)  # max_tries 1: one failed attempt
    factory.make(JobStatus.RETRYING)
    factory.make(JobStatus.CANCELED)
    factory.make(JobStatus.SCHEDULED)
    factory.make(JobStatus.RUNNING)
    store.job_remove(done.id)  # an annotation of a finished job, not a finish
    store.job_restart(failed.id)  # a new job: enqueued once more
    assert fold(store, clock) > 0
    first = counters(store)
    total = lambda metric, label="": sum(  # noqa: E731
        v for (m, _, _, lab), v in first.items() if m == metric and lab == label
    )
    assert total(ENQUEUED) == 7
    assert total(STARTED) == 4
    assert total(FINISHED, "completed") == 1
    assert total(FINISHED, "failed") == 1
    assert total(FINISHED, "canceled") == 1
    assert total(FAILURES, "failed") == 1 and total(FAILURES, "retrying") == 1
    snapshot = store.stats_snapshot(live_since=0)
    hist = snapshot.histogram("duration", TYPE, done.queue)
    assert hist.count == 1 and [b for b, _ in hist.buckets] == list(BUCKETS)
    assert fold(store, clock) == 0
    assert counters(store) == first  # nothing new: nothing added
    store.job_requeue([failed.id])
    fold(store, clock)
    after = counters(store)
    assert after[(ENQUEUED, TYPE, failed.queue, "")] == first[(ENQUEUED, TYPE, failed.queue, "")]


def test_latency_is_ready_to_start_time(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    made = factory.enqueue(queue="q")
    clock.advance(3)
    claim = factory.claim_one("q")
    factory.finish(claim.execution_id, ExecutionStatus.COMPLETED)
    fold(store, clock)
    hist = store.stats_snapshot(live_since=0).histogram("latency", TYPE, "q")
    assert (hist.count, hist.sum) == (1, 3.0)
    assert dict(hist.buckets)[2.5] == 0 and dict(hist.buckets)[5.0] == 1
    [status] = [s for s in store.queue_status() if s.type == TYPE]
    assert (status.latency, status.latency_count) == (3.0, 1)
    assert store.job_get(made).status is JobStatus.COMPLETED


def test_queue_status_latency_covers_the_recent_window(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    sampler = Sampler(store, SamplerConfig(interval=60), clock=clock)

    def run(waited: float) -> None:
        factory.enqueue(queue="q")
        clock.advance(waited)
        factory.finish(factory.claim_one("q").execution_id, ExecutionStatus.COMPLETED)
        clock.advance(SETTLE)  # past PostgreSQL's settle time: the sampler's fold sees it

    run(100.0)
    sampler.run_once()
    clock.advance(3600)  # the first start is now outside a 15-minute window
    sampler.run_once()
    run(2.0)
    fold(store, clock)
    [status] = store.queue_status(window=900)
    assert (status.latency, status.latency_count) == (2.0, 1)
    [everything] = store.queue_status(window=10 * 86400)
    assert (everything.latency, everything.latency_count) == (51.0, 2)


def test_load_samples_count_per_type_and_sum_per_time(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register("t.a", category="images", priority=1)
    factory.register("t.b", category="text", priority=2)
    sampler = Sampler(store, clock=clock)
    assert sampler.run_once() == 1  # no work: one all-zero row
    clock.advance(60)
    factory.enqueue("t.a", queue="q")
    factory.enqueue("t.a", queue="q", delay=600)
    factory.enqueue("t.b", queue="r")
    factory.claim_one("r")
    sampler.run_once()
    clock.advance(60)
    sampler.run_once()
    page = store.load_history(LoadFilter(started=T0 - 1))
    assert page.count == 3
    points = [(p.time.timestamp(), p.pending, p.queued, p.running) for p in page.results]
    assert points[0] == (T0, 0, 0, 0)
    assert points[1][1:] == (1, 1, 1)
    only_b = store.load_history(LoadFilter(started=T0 - 1, categories=("text",)))
    assert [(p.queued, p.running) for p in only_b.results] == [(0, 1), (0, 1)]
    a_id = store.type_get("t.a").id
    assert a_id is not None
    by_id = store.load_history(LoadFilter(started=T0 - 1, type_ids=(a_id,), priorities=(1,)))
    assert [(p.pending, p.queued) for p in by_id.results] == [(1, 1), (1, 1)]
    assert store.load_history(LoadFilter(started=T0 + 1, ended=T0 + 61)).count == 1
    paged = store.load_history(LoadFilter(started=T0 - 1), page=2, per_page=2)
    assert paged.count == 3 and len(paged.results) == 1
    with pytest.raises(Invalid):
        LoadFilter(started=T0, ended=T0)


def test_load_samples_outlive_their_jobs_and_expire_by_retention(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    factory.make(JobStatus.QUEUED)
    sampler = Sampler(store, SamplerConfig(retention=3600), clock=clock)
    sampler.run_once()
    store.job_enqueue([JobSpec(type=TYPE, queue="q2")])
    clock.advance(7200)
    sampler.run_once()
    times = [p.time.timestamp() for p in store.load_history(LoadFilter(started=0)).results]
    assert times == [T0 + 7200]


def test_sampler_config_refuses_nonsense() -> None:
    with pytest.raises(Invalid):
        SamplerConfig(interval=0)
    assert definition().name == TYPE
