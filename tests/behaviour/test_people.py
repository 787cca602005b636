"""What a person does to jobs: kill, cancel, restart, remove, requeue."""

from __future__ import annotations

import pytest

from behaviour.factory import LEASE, T0, TYPE, FakeClock, JobFactory
from jobyard.core.errors import Duplicate, Invalid, InvalidTransition, NotFound
from jobyard.core.models import Heartbeat, JobFilter, PageRequest
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

WAITING = [JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING]
TERMINAL = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED]


def listed(store: Store, **filters: object) -> list[int]:
    page = store.job_list(JobFilter(**filters), PageRequest(sort="id"))  # type: ignore[arg-type]
    return [j.id for j in page.results]


# -- kill -------------------------------------------------------------------------------------


def test_kill_of_a_running_job_asks_its_worker(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RUNNING)
    other = factory.make(JobStatus.RUNNING)
    assert made.execution_id is not None and other.execution_id is not None
    clock.advance(2)
    job = store.job_kill(made.id, by="alice")
    assert job.status is JobStatus.RUNNING
    assert (job.kill_requested_by, job.kill_requested_at.timestamp()) == ("alice", T0 + 2)  # type: ignore[union-attr]
    assert store.event_list(job_id=made.id)[-1].data == {
        "status": "running", "kill_requested": True, "by": "alice",
    }  # fmt: skip

    clock.advance(1)
    beat = store.execution_heartbeat([made.execution_id, other.execution_id], lease=LEASE)
    assert beat == Heartbeat(kill=(made.execution_id,), gone=())

    clock.advance(1)
    assert factory.finish(made.execution_id, ExecutionStatus.CANCELED, signal=15)
    job = store.job_get(made.id)
    assert (job.status, job.canceled_by) == (JobStatus.CANCELED, "alice")
    assert job.canceled_at.timestamp() == job.finished_at.timestamp() == T0 + 4  # type: ignore[union-attr]
    assert job.executions[-1].status is ExecutionStatus.CANCELED
    assert store.event_list(job_id=made.id)[-1].data == {
        "status": "canceled", "execution_id": made.execution_id, "by": "alice",
    }  # fmt: skip
    assert store.execution_heartbeat([made.execution_id], lease=LEASE) == Heartbeat(
        kill=(), gone=(made.execution_id,)
    )


def test_a_second_kill_keeps_the_first_request(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RUNNING)
    store.job_kill(made.id, by="alice")
    clock.advance(5)
    job = store.job_kill(made.id, by="bob")
    assert (job.kill_requested_by, job.kill_requested_at.timestamp()) == ("alice", T0)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reported", [ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.RELEASED]
)
def test_a_killed_job_is_canceled_however_its_process_ended(
    store: Store, factory: JobFactory, reported: ExecutionStatus
) -> None:
    made = factory.make(JobStatus.RUNNING)
    assert made.execution_id is not None
    store.job_kill(made.id, by="alice")
    assert factory.finish(made.execution_id, reported, error_type="Signal")
    job = store.job_get(made.id)
    assert (job.status, job.canceled_by, job.tries) == (JobStatus.CANCELED, "alice", 1)


def test_a_killed_job_whose_worker_died_is_canceled_not_retried(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RUNNING)
    store.job_kill(made.id, by="alice")
    clock.advance(LEASE + 1)
    assert store.execution_reap() == 1
    job = store.job_get(made.id)
    assert (job.status, job.canceled_by) == (JobStatus.CANCELED, "alice")
    assert job.executions[-1].status is ExecutionStatus.LOST


@pytest.mark.parametrize("status", WAITING)
@pytest.mark.parametrize("operation", ["kill", "cancel"])
def test_kill_or_cancel_of_a_waiting_job_cancels_at_once(
    store: Store, factory: JobFactory, clock: FakeClock, status: JobStatus, operation: str
) -> None:
    made = factory.make(status)
    clock.advance(5)
    job = getattr(store, f"job_{operation}")(made.id, by="bob")
    assert job == store.job_get(made.id)
    assert (job.status, job.canceled_by) == (JobStatus.CANCELED, "bob")
    assert job.canceled_at.timestamp() == job.finished_at.timestamp() == T0 + 5
    assert job.kill_requested_at is None
    assert store.event_list(job_id=made.id)[-1].data == {"status": "canceled", "by": "bob"}
    assert store.job_claim(
        worker_id="w", queues=[made.queue], types=[TYPE], limit=1, lease=LEASE
    ) == []  # fmt: skip


def test_a_canceled_retrying_job_is_not_released(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RETRYING)
    store.job_cancel(made.id)
    clock.advance(3600)
    assert store.job_release_due() == 0
    assert store.job_get(made.id).status is JobStatus.CANCELED


@pytest.mark.parametrize("status", TERMINAL)
def test_kill_of_a_finished_job_is_refused(
    store: Store, factory: JobFactory, status: JobStatus
) -> None:
    made = factory.make(status)
    before = store.job_get(made.id)
    with pytest.raises(InvalidTransition) as info:
        store.job_kill(made.id)
    assert (info.value.status, info.value.operation) == (status.value, "kill")
    assert store.job_get(made.id) == before


def test_cancel_of_a_running_job_is_refused(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.RUNNING)
    before = store.job_get(made.id)
    with pytest.raises(InvalidTransition, match=f"job {made.id} is running: cannot cancel"):
        store.job_cancel(made.id)
    assert store.job_get(made.id) == before


@pytest.mark.parametrize(
    "operation", ["job_kill", "job_cancel", "job_restart", "job_remove", "job_get"]
)
def test_unknown_job_is_not_found(store: Store, operation: str) -> None:
    with pytest.raises(NotFound) as info:
        getattr(store, operation)(777)
    assert "777" in info.value.message
    assert store.event_list() == []


# -- restart ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", TERMINAL)
def test_restart_makes_a_new_job_linked_both_ways(
    store: Store, factory: JobFactory, clock: FakeClock, status: JobStatus
) -> None:
    made = factory.make(
        status, args={"n": 1}, priority=4, tags=("t",), unique_key="u", external_id="e"
    )
    old_before = store.job_get(made.id)
    clock.advance(60)
    new = store.job_restart(made.id, by="carol")
    assert new.id > made.id
    assert (new.status, new.restart_of, new.created_by) == (JobStatus.QUEUED, made.id, "carol")
    assert (new.type, new.args, new.queue, new.priority, new.tags) == (
        TYPE, {"n": 1}, made.queue, 4, ("t",),
    )  # fmt: skip
    assert (new.max_tries, new.backoff, new.timeout) == (
        old_before.max_tries, old_before.backoff, old_before.timeout,
    )  # fmt: skip
    assert (new.tries, new.executions, new.result, new.error) == (0, (), None, None)
    assert (new.unique_key, new.external_id) == (None, None)  # the old job keeps those
    assert new.created_at.timestamp() == new.run_at.timestamp() == T0 + 60

    old = store.job_get(made.id)
    assert old.restarted_as == new.id
    assert (old.status, old.result, old.error, old.executions) == (
        old_before.status, old_before.result, old_before.error, old_before.executions,
    )  # fmt: skip
    assert [e.data for e in store.event_list(job_id=new.id)] == [
        {"status": "queued", "restart_of": made.id, "by": "carol"}
    ]
    [claim] = store.job_claim(
        worker_id="w", queues=[made.queue], types=[TYPE], limit=5, lease=LEASE
    )
    assert claim.job_id == new.id


def test_restart_takes_the_current_type_revision(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.COMPLETED)
    factory.register(priority=1)
    new = store.job_restart(made.id)
    assert (store.job_get(made.id).type_revision, new.type_revision) == (1, 2)


@pytest.mark.parametrize("status", [*WAITING, JobStatus.RUNNING])
def test_restart_of_an_unfinished_job_is_refused(
    store: Store, factory: JobFactory, status: JobStatus
) -> None:
    made = factory.make(status)
    jobs = factory.all_jobs()
    with pytest.raises(InvalidTransition) as info:
        store.job_restart(made.id)
    assert (info.value.job_id, info.value.operation) == (made.id, "restart")
    assert factory.all_jobs() == jobs


# -- remove -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", TERMINAL)
def test_remove_hides_a_finished_job_but_keeps_it_readable(
    store: Store, factory: JobFactory, clock: FakeClock, status: JobStatus
) -> None:
    made = factory.make(status)
    keep = factory.make(status)
    clock.advance(1)
    job = store.job_remove(made.id, by="dave")
    assert (job.status, job.removed_by, job.removed_at.timestamp()) == (status, "dave", T0 + 1)  # type: ignore[union-attr]
    assert listed(store) == [keep.id]
    assert listed(store, statuses=(status,)) == [keep.id]
    assert listed(store, include_removed=True) == [made.id, keep.id]
    assert store.job_get(made.id) == job
    assert store.event_list(job_id=made.id)[-1].data == {
        "status": status.value, "removed": True, "by": "dave",
    }  # fmt: skip
    last = factory.last_event_id()
    clock.advance(1)
    assert store.job_remove(made.id, by="erin") == job  # once removed, stays as it was
    assert factory.last_event_id() == last


@pytest.mark.parametrize("status", WAITING)
def test_remove_of_a_waiting_job_cancels_it_first(
    store: Store, factory: JobFactory, status: JobStatus
) -> None:
    made = factory.make(status)
    job = store.job_remove(made.id, by="dave")
    assert (job.status, job.canceled_by, job.removed_by) == (JobStatus.CANCELED, "dave", "dave")
    assert listed(store) == []
    assert listed(store, include_removed=True) == [made.id]
    assert store.queue_list()[0].queued + store.queue_list()[0].waiting == 0


def test_remove_of_a_running_job_is_refused(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.RUNNING)
    before = store.job_get(made.id)
    with pytest.raises(InvalidTransition) as info:
        store.job_remove(made.id)
    assert (info.value.status, info.value.operation) == ("running", "remove")
    assert store.job_get(made.id) == before
    assert listed(store) == [made.id]


# -- requeue ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELED])
def test_requeue_with_new_priority_and_extra_tries(
    store: Store, factory: JobFactory, clock: FakeClock, status: JobStatus
) -> None:
    made = factory.make(status, priority=50)
    before = store.job_get(made.id)
    clock.advance(100)
    assert store.job_requeue([made.id], priority=-1, extra_tries=3, by="ops") == [made.id]
    job = store.job_get(made.id)
    assert (job.status, job.priority, job.tries) == (JobStatus.QUEUED, -1, before.tries)
    assert job.max_tries - job.tries == 3
    assert job.run_at.timestamp() == job.updated_at.timestamp() == T0 + 100
    assert (job.finished_at, job.canceled_by, job.canceled_at, job.result) == (
        None, None, None, None,
    )  # fmt: skip
    assert job.executions == before.executions
    assert store.event_list(job_id=made.id)[-1].data == {"status": "queued", "by": "ops"}
    claim = factory.claim_one(made.queue)
    assert (claim.job_id, claim.attempt) == (made.id, before.tries + 1)


def test_requeue_keeps_the_priority_by_default(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.FAILED, priority=50)
    store.job_requeue([made.id])
    job = store.job_get(made.id)
    assert (job.priority, job.max_tries, job.tries) == (50, 2, 1)


def test_requeue_many(store: Store, factory: JobFactory) -> None:
    a = factory.make(JobStatus.FAILED)
    b = factory.make(JobStatus.CANCELED)
    assert store.job_requeue([b.id, a.id]) == [b.id, a.id]
    assert {store.job_get(i).status for i in (a.id, b.id)} == {JobStatus.QUEUED}
    assert listed(store, statuses=(JobStatus.QUEUED,)) == [a.id, b.id]


def test_requeue_of_a_removed_job_shows_it_again(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.FAILED)
    store.job_remove(made.id)
    store.job_requeue([made.id])
    job = store.job_get(made.id)
    assert (job.status, job.removed_at, job.removed_by) == (JobStatus.QUEUED, None, None)
    assert listed(store) == [made.id]


@pytest.mark.parametrize("status", [*WAITING, JobStatus.RUNNING, JobStatus.COMPLETED])
def test_requeue_from_other_states_is_refused(
    store: Store, factory: JobFactory, status: JobStatus
) -> None:
    made = factory.make(status)
    before = store.job_get(made.id)
    with pytest.raises(InvalidTransition) as info:
        store.job_requeue([made.id])
    assert (info.value.status, info.value.operation) == (status.value, "requeue")
    assert store.job_get(made.id) == before


def test_a_refused_requeue_in_a_batch_requeues_nothing(store: Store, factory: JobFactory) -> None:
    failed = factory.make(JobStatus.FAILED)
    done = factory.make(JobStatus.COMPLETED)
    before = store.job_get(failed.id)
    last = factory.last_event_id()
    with pytest.raises(InvalidTransition):
        store.job_requeue([failed.id, done.id])
    assert store.job_get(failed.id) == before
    assert factory.last_event_id() == last


def test_requeue_of_an_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.job_requeue([31337])


@pytest.mark.parametrize("extra", [0, -1])
def test_requeue_needs_at_least_one_extra_try(
    store: Store, factory: JobFactory, extra: int
) -> None:
    made = factory.make(JobStatus.FAILED)
    with pytest.raises(Invalid) as info:
        store.job_requeue([made.id], extra_tries=extra)
    assert info.value.field == "extra_tries"
    assert store.job_get(made.id).status is JobStatus.FAILED


def test_requeue_while_its_unique_key_is_taken_is_duplicate(
    store: Store, factory: JobFactory
) -> None:
    old = factory.make(JobStatus.FAILED, unique_key="nightly")
    newer = factory.enqueue(unique_key="nightly")
    before = store.job_get(old.id)
    with pytest.raises(Duplicate):
        store.job_requeue([old.id])
    assert store.job_get(old.id) == before
    assert store.job_get(newer).status is JobStatus.QUEUED
