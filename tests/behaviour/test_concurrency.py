"""Several stores on one database, racing from threads: the database's guarantees hold.

Each test starts its threads on a barrier so the calls really overlap, joins them with a deadline,
and re-raises in the test whatever a thread raised that it should not have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from behaviour.factory import TYPE, FakeClock, JobFactory
from jobyard.core.errors import Duplicate
from jobyard.core.models import Claim, JobSpec, OnDuplicate
from jobyard.store import Store

THREADS = 4
T = TypeVar("T")


def race(stores: list[Store], work: Callable[[int, Store], T]) -> list[T | BaseException]:
    """Run ``work(n, store)`` in THREADS threads at once, spread over ``stores``."""
    results: list[T | BaseException | None] = [None] * THREADS
    start = threading.Barrier(THREADS)

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            results[n] = work(n, stores[n % len(stores)])
        except BaseException as exc:  # handed to the test's thread
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racing thread did not finish"
    return results  # type: ignore[return-value]


def unexpected(results: list[object], *allowed: type[BaseException]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


def test_two_stores_never_claim_the_same_job(
    make_store: Callable[..., Store], store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    total = 500
    ids = store.job_enqueue([JobSpec(type=TYPE, args={"n": n}) for n in range(total)])
    stores = [store, make_store(clock=clock)]

    def claim_all(n: int, mine: Store) -> list[Claim]:
        claimed: list[Claim] = []
        while got := mine.job_claim(
            worker_id=f"w{n}", queues=["default"], types=[TYPE], limit=7, lease=60
        ):
            claimed.extend(got)
        return claimed

    results = race(stores, claim_all)
    assert unexpected(results) == []
    claims = [c for per_thread in results for c in per_thread]  # type: ignore[union-attr]
    assert len(claims) == total
    assert sorted(c.job_id for c in claims) == ids
    assert len({c.execution_id for c in claims}) == total
    assert {c.attempt for c in claims} == {1}
    assert store.queue_list()[0].running == total
    for job_id in ids[:: total // 25]:
        assert len(store.job_get(job_id).executions) == 1


def test_one_unfinished_job_per_unique_key_under_a_race(
    make_store: Callable[..., Store], store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    stores = [store, make_store(clock=clock)]

    def enqueue(n: int, mine: Store) -> list[int]:
        spec = JobSpec(type=TYPE, unique_key="nightly", on_duplicate=OnDuplicate.RETURN)
        return [mine.job_enqueue([spec])[0] for _ in range(10)]

    results = race(stores, enqueue)
    assert unexpected(results) == []
    returned = {i for per_thread in results for i in per_thread}  # type: ignore[union-attr]
    assert len(returned) == 1
    assert [j.id for j in factory.all_jobs()] == list(returned)


def test_a_unique_key_race_refuses_all_but_one(
    make_store: Callable[..., Store], store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    stores = [store, make_store(clock=clock)]

    def enqueue(n: int, mine: Store) -> int:
        return mine.job_enqueue([JobSpec(type=TYPE, unique_key="once")])[0]

    results = race(stores, enqueue)
    assert unexpected(results, Duplicate) == []
    made = [r for r in results if isinstance(r, int)]
    assert len(made) == 1
    assert [j.id for j in factory.all_jobs()] == made


def test_an_external_id_race_refuses_all_but_one(
    make_store: Callable[..., Store], store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    stores = [store, make_store(clock=clock)]

    def enqueue(n: int, mine: Store) -> int:
        return mine.job_enqueue([JobSpec(type=TYPE, external_id="jid-1", args={"n": n})])[0]

    results = race(stores, enqueue)
    assert unexpected(results, Duplicate) == []
    made = [r for r in results if isinstance(r, int)]
    assert len(made) == 1
    assert [j.id for j in factory.all_jobs()] == made
    assert sum(isinstance(r, Duplicate) for r in results) == THREADS - 1


def test_one_leader_among_racing_candidates(
    make_store: Callable[..., Store], store: Store, clock: FakeClock
) -> None:
    stores = [store, make_store(clock=clock)]
    results = race(stores, lambda n, mine: mine.leader_acquire("reaper", f"host-{n}", ttl=30))
    assert unexpected(results) == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]  # type: ignore[type-var]
    winner = f"host-{results.index(True)}"
    assert store.leader_acquire("reaper", winner, ttl=30)
