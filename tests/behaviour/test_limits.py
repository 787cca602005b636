"""Limits: resource-aware claims, concurrency limits per type and per key, unique keys held for a
while, paused types. Every test runs on both backends through the public Store API.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from behaviour.factory import TYPE, FakeClock, JobFactory, definition
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import Claim, JobFilter, JobSpec, OnDuplicate, PageRequest
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

Q = "lim"


def claim(
    store: Store, *, limit: int = 10, types: tuple[str, ...] = (TYPE,), worker_id: str = "w1",
    **free: float,
) -> list[Claim]:  # fmt: skip
    return store.job_claim(
        worker_id=worker_id, queues=[Q], types=list(types), limit=limit, lease=60, **free
    )


def ids(claims: list[Claim]) -> list[int]:
    return [c.job_id for c in claims]


def enqueue(store: Store, n: int = 1, type: str = TYPE, **options: object) -> list[int]:
    return store.job_enqueue([JobSpec(type=type, queue=Q, **options) for _ in range(n)])  # type: ignore[arg-type]


def complete(store: Store, c: Claim) -> None:
    from jobyard.core.models import Outcome

    assert store.job_finish([Outcome(c.execution_id, ExecutionStatus.COMPLETED)]) == [True]


# -- resources ---------------------------------------------------------------------------------


def test_jobs_carry_their_types_resources_unless_given(store: Store, factory: JobFactory) -> None:
    factory.register(cpus=2, mem=512, disk=100)
    [a] = enqueue(store)
    [b] = enqueue(store, cpus=0.5, mem=64, disk=0)
    job_a, job_b = store.job_get(a), store.job_get(b)
    assert (job_a.cpus, job_a.mem, job_a.disk) == (2, 512, 100)
    assert (job_b.cpus, job_b.mem, job_b.disk) == (0.5, 64, 0)
    [c] = claim(store, limit=1)
    assert (c.job_id, c.cpus, c.mem, c.disk) == (a, 2, 512, 100)


def test_a_claim_takes_only_what_fits_the_free_resources(store: Store, factory: JobFactory) -> None:
    factory.register()
    jobs = enqueue(store, 4, cpus=1, mem=100)
    assert ids(claim(store, cpus=2.5, mem=1000)) == jobs[:2]  # 1 + 1 fit, a third does not
    assert ids(claim(store, cpus=1, mem=50)) == []  # mem too small
    assert ids(claim(store, cpus=1, mem=100, disk=0)) == [jobs[2]]


def test_a_job_too_big_is_passed_over_for_smaller_ones(store: Store, factory: JobFactory) -> None:
    factory.register()
    [big] = enqueue(store, cpus=8, priority=1)
    small = enqueue(store, 2, cpus=1, priority=2)
    assert ids(claim(store, cpus=2)) == small
    assert store.job_get(big).status is JobStatus.QUEUED
    assert ids(claim(store, cpus=8)) == [big]


def test_callers_that_name_no_resources_claim_everything(store: Store, factory: JobFactory) -> None:
    factory.register(cpus=64, mem=10**6, disk=10**7)
    jobs = enqueue(store, 3)
    assert ids(claim(store)) == jobs


@pytest.mark.parametrize(
    "options",
    [{"cpus": -1}, {"mem": float("inf")}, {"disk": "1"}, {"cpus": float("nan")}],
)
def test_bad_resources_name_the_field(options: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        JobSpec(type=TYPE, **options)  # type: ignore[arg-type]
    assert caught.value.field == next(iter(options))


# -- concurrency limit of a job type ------------------------------------------------------------


def test_a_type_limited_to_two_runs_two_at_once(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=2)
    jobs = enqueue(store, 5)
    assert store.job_get(jobs[0]).type_concurrency == 2
    first = claim(store)
    assert ids(first) == jobs[:2]
    assert claim(store, worker_id="w2") == []
    complete(store, first[0])
    assert ids(claim(store, worker_id="w2")) == [jobs[2]]
    assert claim(store) == []


def test_a_retry_or_a_give_back_frees_the_slot(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=1)
    a, b = enqueue(store, 2)
    [ca] = claim(store)
    assert factory.fail(ca.execution_id)  # retrying: backs off, no longer runs
    [cb] = claim(store)
    assert cb.job_id == b
    assert factory.finish(cb.execution_id, ExecutionStatus.RELEASED)  # given back: queued again
    assert ids(claim(store)) == [b]
    assert store.job_get(a).status is JobStatus.RETRYING


def test_unlimited_jobs_are_claimed_beside_a_full_limit(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=1)
    factory.register("test.free")
    limited = enqueue(store, 3)
    free = enqueue(store, 2, type="test.free")
    got = claim(store, types=(TYPE, "test.free"))
    assert ids(got) == [limited[0], *free]


def test_limited_jobs_are_not_starved_by_unlimited_ones(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=5)
    factory.register("test.free")
    types = (TYPE, "test.free")
    enqueue(store, 20, type="test.free", priority=50)
    assert len(claim(store, types=types, limit=2)) == 2  # nothing limited waits: fast path
    [urgent] = enqueue(store, priority=0)
    # the next claims see the limited job waiting and take it first, in priority order
    taken = ids(claim(store, types=types, limit=1)) + ids(claim(store, types=types, limit=1))
    assert urgent in taken


# -- concurrency key ---------------------------------------------------------------------------


def test_jobs_sharing_a_key_run_one_at_a_time_by_default(store: Store, factory: JobFactory) -> None:
    factory.register()
    a1, a2 = enqueue(store, 2, concurrency_key="customer-a")
    b1, b2 = enqueue(store, 2, concurrency_key="customer-b")
    assert store.job_get(a1).concurrency_limit == 1
    got = claim(store)
    assert ids(got) == [a1, b1]  # a2 is passed over: key a is full, b behind it is not
    complete(store, got[0])
    assert ids(claim(store)) == [a2]
    assert store.job_get(b2).status is JobStatus.QUEUED


def test_a_full_key_at_the_head_does_not_block_others(store: Store, factory: JobFactory) -> None:
    factory.register()
    head = enqueue(store, 30, concurrency_key="busy", priority=1)
    [other] = enqueue(store, concurrency_key="quiet", priority=2)
    assert ids(claim(store, limit=1)) == [head[0]]
    assert ids(claim(store, limit=1)) == [other]


def test_a_key_limit_and_a_type_limit_both_hold(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=3)
    jobs = enqueue(store, 4, concurrency_key="k", concurrency_limit=2)
    others = enqueue(store, 3, concurrency_key="other", concurrency_limit=5)
    got = ids(claim(store))
    assert got == [*jobs[:2], others[0]]  # 2 of key k, then the type's third slot


def test_a_concurrency_limit_needs_a_key() -> None:
    with pytest.raises(Invalid) as caught:
        JobSpec(type=TYPE, concurrency_limit=2)
    assert caught.value.field == "concurrency_limit"
    with pytest.raises(Invalid) as caught:
        JobSpec(type=TYPE, concurrency_key="k", concurrency_limit=0)
    assert caught.value.field == "concurrency_limit"


THREADS = 4


def test_racing_claimers_never_exceed_the_limits(make_store: Callable[..., Store]) -> None:
    """Four stores (on the real clock) claim and finish in threads; what runs at once, as the
    database shows it after each claim, never exceeds the limits.

    (Not the executions' times: each is its caller's clock read before its statement waited for
    the limit's lock, so under load a claim that correctly waited for a finish can carry a
    start time before that finish's end.)"""
    stores = [make_store() for _ in range(THREADS)]
    stores[0].type_register(definition(concurrency=2))
    stores[0].type_register(definition("test.keyed"))
    enqueue(stores[0], 30)
    enqueue(stores[0], 30, type="test.keyed", concurrency_key="k", concurrency_limit=3)
    errors: list[BaseException] = []
    seen: list[Counter[str]] = []  # running jobs per type, one snapshot after each claim
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        mine = stores[n]
        try:
            start.wait(timeout=30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = mine.job_claim(
                    worker_id=f"w{n}", queues=[Q], types=[TYPE, "test.keyed"], limit=3, lease=60
                )
                if not got and not _queued(mine):
                    return
                if got:
                    seen.append(_running_by_type(mine))
                time.sleep(0.003)
                for c in got:
                    complete(mine, c)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    assert len(stores[0].execution_list(limit=1000)) == 60
    peak = {t: max(s[t] for s in seen) for t in (TYPE, "test.keyed")}
    assert peak[TYPE] <= 2 and peak["test.keyed"] <= 3, peak
    assert peak[TYPE] == 2, "the limit was never reached: the test proves nothing"


def _running_by_type(store: Store) -> Counter[str]:
    running = store.job_list(
        JobFilter(statuses=(JobStatus.RUNNING,), queues=(Q,)), PageRequest(per_page=1000)
    )
    return Counter(job.type for job in running.results)


def _queued(store: Store) -> int:
    return sum(q.queued + q.running for q in store.queue_list() if q.name == Q)


# -- unique keys held for a while ---------------------------------------------------------------


def test_unique_for_holds_the_key_after_the_job_finished(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    [first] = enqueue(store, unique_key="report-1", unique_for=60)
    complete(store, claim(store)[0])
    assert store.job_get(first).status is JobStatus.COMPLETED
    clock.advance(59)
    with pytest.raises(Duplicate) as caught:
        enqueue(store, unique_key="report-1")
    assert caught.value.details["field"] == "unique_key"
    assert caught.value.details["job_id"] == first
    assert enqueue(store, unique_key="report-1", on_duplicate=OnDuplicate.RETURN) == [first]
    with pytest.raises(Duplicate):
        enqueue(store, unique_key="report-1", unique_for=5)
    clock.advance(1)  # 60 s after the first was created: free again
    [second] = enqueue(store, unique_key="report-1", unique_for=60)
    assert second != first
    assert len(factory.all_jobs()) == 2  # the refused ones left nothing behind


def test_unique_for_holds_while_unfinished_too(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    [first] = enqueue(store, unique_key="k", unique_for=10)
    clock.advance(3600)  # the window has passed, the job still waits: the key is still taken
    assert enqueue(store, unique_key="k", on_duplicate=OnDuplicate.RETURN) == [first]


def test_unique_for_needs_a_key_and_a_positive_duration() -> None:
    with pytest.raises(Invalid) as caught:
        JobSpec(type=TYPE, unique_for=10)
    assert caught.value.field == "unique_for"
    with pytest.raises(Invalid) as caught:
        JobSpec(type=TYPE, unique_key="k", unique_for=0)
    assert caught.value.field == "unique_for"


def test_racing_enqueues_with_unique_for_make_one_job(
    make_store: Callable[..., Store], store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    stores = [store] + [make_store(clock=clock) for _ in range(THREADS - 1)]
    made: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(10):
                made.append(
                    stores[n].job_enqueue(
                        [JobSpec(type=TYPE, queue=Q, unique_key="once", unique_for=3600,
                                 on_duplicate=OnDuplicate.RETURN)]
                    )
                )  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len({i for [i] in made}) == 1
    assert len(factory.all_jobs()) == 1


# -- paused types ------------------------------------------------------------------------------


def test_a_paused_type_keeps_its_jobs_queued(store: Store, factory: JobFactory) -> None:
    factory.register()
    factory.register("test.other")
    [job] = enqueue(store)
    [other] = enqueue(store, type="test.other")
    paused = store.type_set_paused(TYPE, True)
    assert paused.paused and paused.revision == 1
    assert store.type_get(TYPE).paused
    factory.register()  # a worker registering the same definition again keeps it paused
    assert store.type_get(TYPE).paused
    assert ids(claim(store, types=(TYPE, "test.other"))) == [other]
    assert store.job_get(job).status is JobStatus.QUEUED
    assert not store.type_set_paused(TYPE, False).paused
    assert ids(claim(store)) == [job]


def test_pausing_an_unknown_type_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.type_set_paused("no.such.type", True)
    with pytest.raises(Invalid):
        store.type_set_paused(TYPE, "yes")  # type: ignore[arg-type]


def test_a_paused_limited_type_is_not_claimed_either(store: Store, factory: JobFactory) -> None:
    factory.register(concurrency=2)
    [job] = enqueue(store)
    store.type_set_paused(TYPE, True)
    assert claim(store) == []
    store.type_set_paused(TYPE, False)
    assert ids(claim(store)) == [job]
