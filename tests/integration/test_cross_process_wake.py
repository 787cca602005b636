"""A job enqueued by another process ends a worker's wait at once, on both backends: PostgreSQL
by NOTIFY, SQLite by its change counter (the server and the worker of `jobyard up` are two
processes on one file). An idle worker trusts these wake-ups and claims only every few seconds
otherwise, so whatever lets a waiting job run must wake it: a finish that frees a concurrency
slot, and a job given back."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from jobyard.core.models import JobSpec, Outcome, TypeDefinition, TypeKind
from jobyard.core.states import ExecutionStatus
from jobyard.store import Store
from support.wakeups import listening

ENQUEUE = """
import sys
from jobyard.core.models import JobSpec
from jobyard.store import open_store
store = open_store(sys.argv[1])
store.job_enqueue([JobSpec(type="wake.noop", queue="wake")])
store.close()
"""


def registered(store: Store) -> Store:
    store.type_register(TypeDefinition(name="wake.noop", kind=TypeKind.PYTHON, target="m:f"))
    return listening(store, "wake")


def test_an_enqueue_in_another_process_ends_the_wait(
    make_store: Callable[..., Store], database_url: str
) -> None:
    store = registered(make_store())
    waiting, returned = threading.Event(), threading.Event()

    def worker_wait() -> None:
        waiting.set()
        store.wait_for_work(["wake"], timeout=300)
        returned.set()

    waiter = threading.Thread(target=worker_wait)
    waiter.start()
    try:
        assert waiting.wait(timeout=30)
        assert not returned.wait(timeout=0.5), "the wait ended with nothing to wake it"
        subprocess.run([sys.executable, "-c", ENQUEUE, database_url], check=True, timeout=120)
        # a timed-out wait would take 300 s: ending within a minute means it was woken
        assert returned.wait(timeout=60), "the other process's enqueue did not end the wait"
    finally:
        waiter.join(timeout=310)


@pytest.mark.parametrize(
    "outcome",
    [ExecutionStatus.COMPLETED, ExecutionStatus.RELEASED],
    ids=["slot-freed", "given-back"],
)
def test_a_job_that_frees_a_slot_or_is_given_back_ends_the_wait(
    make_store: Callable[..., Store], outcome: ExecutionStatus
) -> None:
    store = registered(make_store())
    other = make_store()  # another worker's store: its finish reaches this one only as a wake-up
    key = {"concurrency_key": "acct-1", "concurrency_limit": 1}
    [first, second] = store.job_enqueue([JobSpec(type="wake.noop", queue="wake", **key)] * 2)
    [claim] = other.job_claim(
        worker_id="w-other", queues=["wake"], types=["wake.noop"], limit=2, lease=60
    )
    assert claim.job_id == first  # the second waits for the key's one slot
    assert store.job_wait_reason(second).code.value == "concurrency_full"  # type: ignore[union-attr]
    store.wait_for_work(["wake"], timeout=0.01)  # takes what the enqueue and claim announced
    assert store.wait_for_work(["wake"], timeout=0.2) is False  # nothing since: a timeout
    waiting, woken = threading.Event(), []

    def worker_wait() -> None:
        waiting.set()
        woken.append(store.wait_for_work(["wake"], timeout=300))

    waiter = threading.Thread(target=worker_wait)
    waiter.start()
    try:
        assert waiting.wait(timeout=30)
        waiter.join(timeout=0.5)  # in its wait by now
        assert not woken, "the wait ended with nothing to wake it"
        other.job_finish([Outcome(claim.execution_id, outcome)])
        # a timed-out wait would take 300 s and say False
        waiter.join(timeout=60)
        assert woken == [True], "the freed slot did not wake the waiting worker"
    finally:
        waiter.join(timeout=310)
