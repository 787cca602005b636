"""How attempts end: complete, retry with backoff, fail, time out, give back, get reaped."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from behaviour.factory import BACKOFF, LEASE, T0, FakeClock, JobFactory
from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid
from jobyard.core.models import Outcome
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

ERROR = {
    "type": "ValueError",
    "message": "boom",
    "traceback": "Traceback (most recent call last): ...",
}


def start(factory: JobFactory, **spec: object) -> tuple[int, int, str]:
    made = factory.make(JobStatus.RUNNING, **spec)  # type: ignore[arg-type]
    assert made.execution_id is not None
    return made.id, made.execution_id, made.queue


def again(factory: JobFactory, job_id: int) -> int:
    """Release a retrying job (its run_at has come) and claim it: the next execution's id."""
    job = factory.get(job_id)
    assert job.status is JobStatus.RETRYING
    factory.clock.t = job.run_at.timestamp()
    assert factory.store.job_release_due() == 1
    return factory.claim_one(job.queue).execution_id


def test_complete_stores_the_result_and_ends_the_execution(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory)
    clock.advance(7)
    outcome = Outcome(
        execution_id=ex, status=ExecutionStatus.COMPLETED, result={"rows": [1, 2]},
        exit_code=0, peak_rss=1 << 20,
    )  # fmt: skip
    assert store.job_finish([outcome]) == [True]
    job = store.job_get(job_id)
    assert (job.status, job.result, job.error, job.tries) == (
        JobStatus.COMPLETED, {"rows": [1, 2]}, None, 1,
    )  # fmt: skip
    assert job.finished_at.timestamp() == T0 + 7  # type: ignore[union-attr]
    [e] = job.executions
    assert (e.status, e.exit_code, e.peak_rss) == (ExecutionStatus.COMPLETED, 0, 1 << 20)
    assert e.ended_at.timestamp() == T0 + 7  # type: ignore[union-attr]
    assert store.event_list(job_id=job_id)[-1].data == {"status": "completed", "execution_id": ex}


def test_failure_retries_after_the_backoff(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory)  # max_tries 3, backoff 10 * 2 ** (tries - 1), no jitter
    clock.advance(4)
    assert factory.fail(ex)
    job = store.job_get(job_id)
    assert (job.status, job.tries, job.error) == (JobStatus.RETRYING, 1, ERROR)
    assert job.run_at.timestamp() == T0 + 4 + 10
    [e] = job.executions
    assert (e.status, e.error_type, e.error_message) == (
        ExecutionStatus.FAILED,
        "ValueError",
        "boom",
    )
    assert e.traceback == ERROR["traceback"]
    event = store.event_list(job_id=job_id)[-1]
    assert event.data == {
        "status": "retrying", "execution_id": ex, "run_at": T0 + 14,
        "error": {"type": "ValueError", "message": "boom"},
    }  # fmt: skip

    clock.advance(9.5)  # not yet due
    assert store.job_release_due() == 0
    ex2 = again(factory, job_id)
    assert store.job_get(job_id).tries == 2
    assert factory.fail(ex2, error_message="boom 2")
    job = store.job_get(job_id)
    assert job.run_at.timestamp() == clock() + 20
    assert job.error == {**ERROR, "message": "boom 2"}

    ex3 = again(factory, job_id)
    assert factory.fail(ex3, error_message="boom 3")
    job = store.job_get(job_id)
    assert (job.status, job.tries, job.error) == (
        JobStatus.FAILED, 3, {**ERROR, "message": "boom 3"},
    )  # fmt: skip
    assert job.finished_at.timestamp() == clock()  # type: ignore[union-attr]
    assert [(e.attempt, e.status) for e in job.executions] == [
        (1, ExecutionStatus.FAILED), (2, ExecutionStatus.FAILED), (3, ExecutionStatus.FAILED),
    ]  # fmt: skip
    statuses = [e.data["status"] for e in store.event_list(job_id=job_id)]
    assert statuses == ["queued", "running", "retrying", "queued", "running", "retrying",
                        "queued", "running", "failed"]  # fmt: skip


def test_the_jobs_own_backoff_wins(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    job_id, ex, _ = start(factory, backoff=Backoff(base=1.5, jitter=0), max_tries=5)
    assert factory.fail(ex)
    assert store.job_get(job_id).run_at.timestamp() == T0 + 1.5


def test_backoff_with_jitter_stays_within_its_bounds(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory, backoff=Backoff(base=100, jitter=0.5))
    assert factory.fail(ex)
    assert T0 + 50 <= store.job_get(job_id).run_at.timestamp() <= T0 + 150


def test_type_backoff_changes_apply_to_new_jobs_only(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    old_job, old_ex, _ = start(factory)
    factory.register(backoff=Backoff(base=60, jitter=0))
    new_job, new_ex, _ = start(factory)
    assert store.job_finish(
        [
            Outcome(execution_id=old_ex, status=ExecutionStatus.FAILED, error_message="x"),
            Outcome(execution_id=new_ex, status=ExecutionStatus.FAILED, error_message="x"),
        ]
    ) == [True, True]
    assert store.job_get(old_job).run_at.timestamp() == T0 + BACKOFF.base
    assert store.job_get(new_job).run_at.timestamp() == T0 + 60


def test_not_retryable_fails_at_once(store: Store, factory: JobFactory) -> None:
    job_id, ex, _ = start(factory, max_tries=10)
    assert factory.fail(ex, error_type="NonRetryable", error_message="bad input", retryable=False)
    job = store.job_get(job_id)
    assert (job.status, job.tries, job.max_tries) == (JobStatus.FAILED, 1, 10)
    assert job.error == {
        "type": "NonRetryable",
        "message": "bad input",
        "traceback": ERROR["traceback"],
    }
    assert job.executions[-1].status is ExecutionStatus.FAILED


def test_out_of_tries_fails(store: Store, factory: JobFactory) -> None:
    job_id, ex, _ = start(factory, max_tries=1)
    assert factory.fail(ex)
    job = store.job_get(job_id)
    assert (job.status, job.error, job.run_at.timestamp()) == (JobStatus.FAILED, ERROR, T0)


def test_timed_out_retries(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    job_id, ex, _ = start(factory)
    clock.advance(2)
    assert factory.finish(
        ex, ExecutionStatus.TIMED_OUT, error_type="Timeout", error_message="ran 30s", signal=9
    )
    job = store.job_get(job_id)
    assert (job.status, job.run_at.timestamp()) == (JobStatus.RETRYING, T0 + 2 + 10)
    assert job.error == {"type": "Timeout", "message": "ran 30s", "traceback": None}
    e = job.executions[-1]
    assert (e.status, e.signal, e.error_type) == (ExecutionStatus.TIMED_OUT, 9, "Timeout")


def test_timed_out_on_the_last_try_fails(store: Store, factory: JobFactory) -> None:
    job_id, ex, _ = start(factory, max_tries=1)
    assert factory.finish(ex, ExecutionStatus.TIMED_OUT, error_type="Timeout")
    assert store.job_get(job_id).status is JobStatus.FAILED


def test_released_goes_back_to_the_queue_with_the_try_not_counted(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, queue = start(factory, max_tries=1)
    clock.advance(3)
    assert factory.finish(ex, ExecutionStatus.RELEASED)
    job = store.job_get(job_id)
    assert (job.status, job.tries, job.max_tries, job.error) == (JobStatus.QUEUED, 0, 1, None)
    assert job.executions[-1].status is ExecutionStatus.RELEASED
    assert store.event_list(job_id=job_id)[-1].data == {"status": "queued", "execution_id": ex}
    claim = factory.claim_one(queue)
    assert (claim.job_id, claim.attempt) == (job_id, 1)
    assert claim.execution_id != ex
    assert factory.fail(claim.execution_id)  # its one real try
    assert store.job_get(job_id).status is JobStatus.FAILED


def test_a_stale_outcome_changes_nothing(store: Store, factory: JobFactory) -> None:
    job_id, ex, _ = start(factory)
    assert factory.finish(ex, ExecutionStatus.COMPLETED, result=1)
    before = store.job_get(job_id)
    last = factory.last_event_id()
    for status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.RELEASED):
        assert not factory.finish(ex, status, result=2)
    assert store.job_get(job_id) == before
    assert factory.last_event_id() == last


def test_finish_reports_each_outcome_in_order(store: Store, factory: JobFactory) -> None:
    a_job, a, _ = start(factory)
    b_job, b, _ = start(factory)
    held = store.job_finish(
        [
            Outcome(execution_id=a, status=ExecutionStatus.COMPLETED, result="a"),
            Outcome(execution_id=999_999, status=ExecutionStatus.COMPLETED),
            Outcome(execution_id=b, status=ExecutionStatus.FAILED, error_message="b"),
            Outcome(execution_id=a, status=ExecutionStatus.FAILED),  # a second word on a
        ]
    )
    assert held == [True, False, True, False]
    assert store.job_get(a_job).status is JobStatus.COMPLETED
    assert store.job_get(a_job).result == "a"
    assert store.job_get(b_job).status is JobStatus.RETRYING
    assert store.job_finish([]) == []


@pytest.mark.parametrize("status", [ExecutionStatus.RUNNING, ExecutionStatus.LOST])
def test_an_outcome_must_say_how_the_execution_ended(
    store: Store, factory: JobFactory, status: ExecutionStatus
) -> None:
    job_id, ex, _ = start(factory)
    before = store.job_get(job_id)
    last = factory.last_event_id()
    with pytest.raises(Invalid) as info:
        store.job_finish([Outcome(execution_id=ex, status=status)])
    assert info.value.field == "status"
    assert store.job_get(job_id) == before
    assert factory.last_event_id() == last


@pytest.mark.parametrize(
    "result",
    [math.nan, {"x": math.inf}, {1, 2}, {"at": datetime(2030, 1, 1, tzinfo=UTC)}],
    ids=["nan", "inf", "set", "datetime"],
)
def test_a_result_that_is_not_json_fails_only_its_own_job(
    store: Store, factory: JobFactory, result: object
) -> None:
    job_id, ex, _ = start(factory)
    other_job, other, _ = start(factory)
    assert store.job_finish(
        [
            Outcome(execution_id=other, status=ExecutionStatus.COMPLETED, result=1),
            Outcome(execution_id=ex, status=ExecutionStatus.COMPLETED, result=result),
        ]
    ) == [True, True]
    assert store.job_get(other_job).status is JobStatus.COMPLETED
    assert store.job_get(other_job).result == 1
    bad = store.job_get(job_id)
    assert bad.status is JobStatus.FAILED  # not retryable: it would return the same again
    assert bad.result is None
    assert bad.error is not None and bad.error["type"] == "InvalidResult"
    assert bad.executions[-1].status is ExecutionStatus.FAILED


def test_execution_list_filters_and_orders_newest_first(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    a_job, a1, _ = start(factory)
    assert factory.fail(a1)
    a2 = again(factory, a_job)
    b_job, b1, _ = start(factory)
    assert [e.id for e in store.execution_list()] == [b1, a2, a1]
    assert [e.id for e in store.execution_list(job_id=a_job)] == [a2, a1]
    assert [e.id for e in store.execution_list(status="running")] == [b1, a2]
    assert [e.id for e in store.execution_list(status="failed")] == [a1]
    assert [e.id for e in store.execution_list(limit=1)] == [b1]
    assert store.execution_list(job_id=b_job, status="failed") == []
    assert store.execution_list(job_id=b_job) == list(store.job_get(b_job).executions)


def test_canceled_outcome_without_a_kill_request(store: Store, factory: JobFactory) -> None:
    job_id, ex, _ = start(factory)
    assert factory.finish(ex, ExecutionStatus.CANCELED, stopped_by="ops", signal=15)
    job = store.job_get(job_id)
    assert (job.status, job.canceled_by) == (JobStatus.CANCELED, "ops")
    e = job.executions[-1]
    assert (e.status, e.stopped_by, e.signal) == (ExecutionStatus.CANCELED, "ops", 15)


# -- the reaper ---------------------------------------------------------------------------------


def test_reaper_loses_expired_executions_and_retries_their_jobs(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory)
    other_job, other, _ = start(factory)
    clock.advance(LEASE - 1)
    store.execution_heartbeat([other], lease=LEASE)
    assert store.execution_reap() == 0
    clock.advance(2)  # past the first lease, inside the renewed one
    assert store.execution_reap() == 1
    job = store.job_get(job_id)
    assert (job.status, job.tries) == (JobStatus.RETRYING, 1)
    assert job.run_at.timestamp() == clock() + 10
    assert job.error is not None and job.error["type"] == "LeaseExpired"
    e = job.executions[-1]
    assert (e.status, e.error_type) == (ExecutionStatus.LOST, "LeaseExpired")
    assert e.ended_at.timestamp() == clock()  # type: ignore[union-attr]
    assert store.job_get(other_job).status is JobStatus.RUNNING
    assert store.execution_reap() == 0
    assert [x.id for x in store.execution_list(status="lost")] == [ex]
    # the job runs again: at-least-once
    ex2 = again(factory, job_id)
    assert factory.finish(ex2, ExecutionStatus.COMPLETED)
    assert [e.status for e in store.job_get(job_id).executions] == [
        ExecutionStatus.LOST, ExecutionStatus.COMPLETED,
    ]  # fmt: skip


def test_reaper_fails_a_job_out_of_tries_with_its_execution_lost(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory, max_tries=1)
    clock.advance(LEASE + 1)
    assert store.execution_reap() == 1
    job = store.job_get(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error["type"] == "LeaseExpired"
    [e] = job.executions
    assert (e.id, e.status) == (ex, ExecutionStatus.LOST)


def test_an_outcome_after_the_reaper_is_refused(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex, _ = start(factory)
    clock.advance(LEASE + 1)
    assert store.execution_reap() == 1
    before = store.job_get(job_id)
    last = factory.last_event_id()
    assert not factory.finish(ex, ExecutionStatus.COMPLETED, result="too late")
    assert not factory.fail(ex)
    assert store.job_get(job_id) == before
    assert factory.last_event_id() == last


def test_reap_respects_its_limit(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    jobs = [start(factory)[0] for _ in range(3)]
    clock.advance(LEASE + 1)
    assert store.execution_reap(limit=2) == 2
    assert store.execution_reap(limit=2) == 1
    assert {store.job_get(j).status for j in jobs} == {JobStatus.RETRYING}


@pytest.mark.parametrize("lease", [5.0, 120.0])
def test_each_claim_has_its_own_lease(
    store: Store, factory: JobFactory, clock: FakeClock, lease: float
) -> None:
    factory.register()
    job_id = factory.enqueue(queue="q")
    factory.claim_one("q", lease=lease)
    clock.advance(lease - 0.5)
    assert store.execution_reap() == 0
    clock.advance(1)
    assert store.execution_reap() == 1
    assert store.job_get(job_id).status is JobStatus.RETRYING
