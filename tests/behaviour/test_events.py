"""The event log: every state change appended, ids increasing, resumable, pruned by age."""

from __future__ import annotations

from behaviour.factory import T0, FakeClock, JobFactory
from jobyard.core.models import LogLine
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


def test_every_state_change_appends_an_event(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RETRYING)  # queued, running, retrying
    clock.advance(3600)
    store.job_release_due()  # queued
    ex = factory.claim_one(made.queue).execution_id  # running
    store.job_kill(made.id, by="a")  # running, kill requested
    factory.finish(ex, ExecutionStatus.CANCELED)  # canceled
    store.job_requeue([made.id])  # queued
    store.job_remove(made.id)  # canceled, removed
    restarted = store.job_restart(made.id)  # old: restarted_as; new: queued
    events = store.event_list(job_id=made.id)
    assert [e.data["status"] for e in events] == [
        "queued", "running", "retrying", "queued", "running", "running", "canceled",
        "queued", "canceled", "canceled",
    ]  # fmt: skip
    assert events[5].data["kill_requested"] is True
    assert events[8].data["removed"] is True
    assert events[9].data["restarted_as"] == restarted.id
    assert {e.kind for e in events} == {"state"}
    assert {e.job_id for e in events} == {made.id}
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.data["status"] for e in store.event_list(job_id=restarted.id)] == ["queued"]


def test_events_carry_the_clock(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    job_id = factory.enqueue()
    clock.advance(12.25)
    store.job_cancel(job_id)
    assert [e.at.timestamp() for e in store.event_list()] == [T0, T0 + 12.25]


def test_event_ids_increase_across_jobs_and_kinds(store: Store, factory: JobFactory) -> None:
    a = factory.make(JobStatus.RUNNING)
    b = factory.make(JobStatus.QUEUED)
    assert a.execution_id is not None
    store.job_progress(a.execution_id, 1, None)
    store.job_log_append(
        [LogLine(job_id=a.id, execution_id=a.execution_id, at=T0, stream="stdout", text="x")]
    )
    store.job_cancel(b.id)
    events = store.event_list()
    assert [(e.job_id, e.kind) for e in events] == [
        (a.id, "state"), (a.id, "state"), (b.id, "state"), (a.id, "progress"), (a.id, "log"),
        (b.id, "state"),
    ]  # fmt: skip
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_event_list_after_resumes_exactly(store: Store, factory: JobFactory) -> None:
    for _ in range(4):
        factory.make(JobStatus.COMPLETED)
    everything = store.event_list()
    assert len(everything) == 12
    for cut in range(len(everything)):
        assert store.event_list(after=everything[cut].id) == everything[cut + 1 :]
    assert store.event_list(after=0) == everything
    assert store.event_list(after=everything[-1].id) == []
    # a follower paging with a limit sees every event once, in order
    seen, after = [], 0
    while page := store.event_list(after=after, limit=5):
        seen.extend(page)
        after = page[-1].id
    assert seen == everything
    # new events after the follower's last id show up on its next read
    factory.enqueue()
    [new] = store.event_list(after=after)
    assert new.id > after


def test_event_list_of_one_job(store: Store, factory: JobFactory) -> None:
    a = factory.make(JobStatus.COMPLETED)
    b = factory.make(JobStatus.COMPLETED)
    theirs = store.event_list(job_id=b.id)
    assert [e.data["status"] for e in theirs] == ["queued", "running", "completed"]
    assert store.event_list(job_id=b.id, after=theirs[0].id) == theirs[1:]
    assert store.event_list(job_id=b.id, limit=1) == theirs[:1]
    assert all(e.job_id == a.id for e in store.event_list(job_id=a.id))
    assert store.event_list(job_id=424242) == []


def test_event_prune_deletes_old_events_and_log_lines(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    old = factory.make(JobStatus.RUNNING)
    assert old.execution_id is not None
    store.job_log_append(
        [LogLine(job_id=old.id, execution_id=old.execution_id, at=T0, stream="stdout", text="o")]
    )
    clock.advance(100)
    new = factory.enqueue()
    store.job_log_append(
        [
            LogLine(
                job_id=old.id, execution_id=old.execution_id, at=T0 + 100, stream="stdout",
                text="n",
            )
        ]
    )  # fmt: skip
    clock.advance(10)
    assert store.event_prune(older_than=50) == 3  # two state events and one log line at T0
    remaining = store.event_list()
    assert [(e.job_id, e.kind) for e in remaining] == [(new, "state"), (old.id, "log")]
    assert [e.data["text"] for e in store.job_log(old.id)] == ["n"]
    assert store.event_prune(older_than=50) == 0
    clock.advance(1000)
    assert store.event_prune(older_than=50) == 2
    assert store.event_list() == []
    # the jobs themselves are untouched
    assert store.job_get(old.id).status is JobStatus.RUNNING
    assert store.job_get(new).status is JobStatus.QUEUED


def test_event_prune_keeps_events_younger_than_the_cut(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    made = factory.make(JobStatus.RUNNING)  # two state events at T0
    assert made.execution_id is not None
    store.job_log_append(
        [
            LogLine(
                job_id=made.id, execution_id=made.execution_id, at=T0 + offset, stream="stdout",
                text=str(offset),
            )
            for offset in (59.5, 60.5)
        ]
    )  # fmt: skip
    clock.advance(110)  # the cut is at T0 + 60
    assert store.event_prune(older_than=50) == 3
    assert [e.data["text"] for e in store.event_list()] == ["60.5"]


def test_event_ids_keep_increasing_after_a_prune(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.enqueue()
    last = store.event_list()[-1].id
    clock.advance(100)
    assert store.event_prune(older_than=1) == 1
    factory.enqueue()
    [event] = store.event_list()
    assert event.id > last
