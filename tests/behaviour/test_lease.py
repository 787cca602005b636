"""Leases, heartbeats, reserve, progress and the job log, on a clock the test moves."""

from __future__ import annotations

import pytest

from behaviour.factory import LEASE, T0, FakeClock, JobFactory
from jobyard.core.errors import Invalid, LeaseLost, NotFound
from jobyard.core.models import Heartbeat, LogLine
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


def lease_of(store: Store, job_id: int) -> float:
    return store.job_get(job_id).executions[-1].lease_expires_at.timestamp()


def running(factory: JobFactory) -> tuple[int, int]:
    made = factory.make(JobStatus.RUNNING)
    assert made.execution_id is not None
    return made.id, made.execution_id


def reaped(factory: JobFactory, clock: FakeClock) -> tuple[int, int]:
    job_id, execution_id = running(factory)
    clock.advance(LEASE + 1)
    assert factory.store.execution_reap() == 1
    return job_id, execution_id


# -- heartbeat and reserve --------------------------------------------------------------------


def test_heartbeat_extends_the_lease(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    job_id, ex = running(factory)
    assert lease_of(store, job_id) == T0 + LEASE
    clock.advance(10)
    assert store.execution_heartbeat([ex], lease=LEASE) == Heartbeat(kill=(), gone=())
    assert lease_of(store, job_id) == T0 + 10 + LEASE
    assert store.job_get(job_id).executions[-1].heartbeat_at.timestamp() == T0 + 10  # type: ignore[union-attr]


def test_heartbeat_keeps_a_job_from_the_reaper(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = running(factory)
    for _ in range(10):  # five leases' worth of time, a heartbeat every half lease
        clock.advance(LEASE / 2)
        store.execution_heartbeat([ex], lease=LEASE)
        assert store.execution_reap() == 0
    assert store.job_get(job_id).status is JobStatus.RUNNING


def test_heartbeat_never_shortens_a_reserved_lease(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = running(factory)
    clock.advance(5)
    assert store.execution_reserve(ex, 600) == T0 + 605
    clock.advance(5)
    store.execution_heartbeat([ex], lease=LEASE)
    assert lease_of(store, job_id) == T0 + 605
    assert store.job_get(job_id).executions[-1].heartbeat_at.timestamp() == T0 + 10  # type: ignore[union-attr]
    clock.advance(LEASE + 60)
    assert store.execution_reap() == 0  # still inside the reserved time
    clock.advance(600)
    store.execution_heartbeat([ex], lease=LEASE)
    assert lease_of(store, job_id) == clock() + LEASE  # past the reserve, heartbeats lead again


def test_reserve_never_shortens_either(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    job_id, ex = running(factory)
    assert store.execution_reserve(ex, 100) == T0 + 100
    assert store.execution_reserve(ex, 10) == T0 + 100
    assert lease_of(store, job_id) == T0 + 100


@pytest.mark.parametrize("seconds", [0, -5])
def test_reserve_needs_positive_seconds(store: Store, factory: JobFactory, seconds: float) -> None:
    job_id, ex = running(factory)
    with pytest.raises(Invalid):
        store.execution_reserve(ex, seconds)
    assert lease_of(store, job_id) == T0 + LEASE


def test_reserve_on_a_stale_execution_is_lease_lost(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = reaped(factory, clock)
    before = store.job_get(job_id)
    with pytest.raises(LeaseLost):
        store.execution_reserve(ex, 600)
    assert store.job_get(job_id) == before


def test_reserve_after_finishing_is_lease_lost(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.COMPLETED)
    assert made.execution_id is not None
    with pytest.raises(LeaseLost):
        store.execution_reserve(made.execution_id, 60)
    with pytest.raises(LeaseLost):
        store.execution_reserve(999_999, 60)


def test_heartbeat_reports_stale_executions_gone(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    _, lost = reaped(factory, clock)
    done = factory.make(JobStatus.COMPLETED).execution_id
    live_job, live = running(factory)
    assert done is not None
    beat = store.execution_heartbeat([lost, live, done, 999_999], lease=LEASE)
    assert beat == Heartbeat(kill=(), gone=(lost, done, 999_999))
    assert lease_of(store, live_job) == clock() + LEASE
    lost_execution = store.execution_list(status="lost")[0]
    assert lost_execution.id == lost
    assert lost_execution.heartbeat_at.timestamp() == T0  # type: ignore[union-attr]


def test_heartbeat_of_nothing(store: Store) -> None:
    assert store.execution_heartbeat([], lease=LEASE) == Heartbeat(kill=(), gone=())


def test_heartbeat_after_a_reclaim_names_only_the_old_execution_gone(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, old = reaped(factory, clock)
    clock.advance(3600)
    store.job_release_due()
    new = factory.claim_one(store.job_get(job_id).queue).execution_id
    assert store.execution_heartbeat([old, new], lease=LEASE) == Heartbeat(kill=(), gone=(old,))


def test_execution_started_records_the_process(store: Store, factory: JobFactory) -> None:
    job_id, ex = running(factory)
    store.execution_started(ex, pid=4242, ppid=42, hostname="box-1", run_as="jobs")
    e = store.job_get(job_id).executions[-1]
    assert (e.pid, e.ppid, e.hostname, e.run_as) == (4242, 42, "box-1", "jobs")
    [listed] = store.execution_list(job_id=job_id)
    assert listed == e


# -- progress ---------------------------------------------------------------------------------


def test_progress_is_recorded_with_an_event(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = running(factory)
    last = factory.last_event_id()
    clock.advance(3)
    store.job_progress(ex, 42.5, "reading rows")
    job = store.job_get(job_id)
    assert (job.progress, job.progress_desc) == (42.5, "reading rows")
    assert job.updated_at.timestamp() == T0 + 3
    [event] = store.event_list(after=last)
    assert (event.job_id, event.kind, event.at.timestamp()) == (job_id, "progress", T0 + 3)
    assert event.data == {"percent": 42.5, "desc": "reading rows", "execution_id": ex}
    store.job_progress(ex, None, "still going")
    job = store.job_get(job_id)
    assert (job.progress, job.progress_desc) == (None, "still going")
    store.job_progress(ex, 100, None)
    assert store.job_get(job_id).progress == 100


def test_progress_of_a_stale_execution_is_lease_lost(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = reaped(factory, clock)
    before = store.job_get(job_id)
    last = factory.last_event_id()
    with pytest.raises(LeaseLost):
        store.job_progress(ex, 50, "late")
    assert store.job_get(job_id) == before
    assert factory.last_event_id() == last


@pytest.mark.parametrize("percent", [-0.1, 100.5])
def test_progress_percent_is_0_to_100(store: Store, factory: JobFactory, percent: float) -> None:
    job_id, ex = running(factory)
    with pytest.raises(Invalid) as info:
        store.job_progress(ex, percent, None)
    assert info.value.field == "percent"
    assert store.job_get(job_id).progress is None


def test_progress_is_cleared_by_the_next_attempt(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    job_id, ex = running(factory)
    store.job_progress(ex, 80, "nearly")
    assert factory.fail(ex)
    clock.advance(3600)
    store.job_release_due()
    factory.claim_one(store.job_get(job_id).queue)
    job = store.job_get(job_id)
    assert (job.progress, job.progress_desc) == (None, None)


# -- the job log ------------------------------------------------------------------------------


def test_log_lines_in_order_and_paged_by_after(store: Store, factory: JobFactory) -> None:
    job_id, ex = running(factory)
    other, other_ex = running(factory)
    lines = [
        LogLine(job_id=job_id, execution_id=ex, at=T0 + n, stream="stdout", text=f"line {n}")
        for n in range(5)
    ]
    lines.insert(2, LogLine(job_id=other, execution_id=other_ex, at=T0, stream="stderr", text="x"))
    lines.append(
        LogLine(job_id=job_id, execution_id=ex, at=T0 + 9, stream="log", text="hi", level="INFO")
    )
    store.job_log_append(lines)
    log = store.job_log(job_id)
    assert [e.data["text"] for e in log] == [f"line {n}" for n in range(5)] + ["hi"]
    assert [e.at.timestamp() for e in log] == [T0 + n for n in range(5)] + [T0 + 9]
    assert {e.kind for e in log} == {"log"}
    assert log[0].data == {"stream": "stdout", "text": "line 0", "execution_id": ex}
    assert log[-1].data == {"stream": "log", "text": "hi", "execution_id": ex, "level": "INFO"}
    assert [e.id for e in log] == sorted(e.id for e in log)

    assert store.job_log(job_id, after=log[2].id) == log[3:]
    assert store.job_log(job_id, after=log[-1].id) == []
    assert store.job_log(job_id, limit=2) == log[:2]
    assert store.job_log(job_id, after=log[1].id, limit=2) == log[2:4]
    [theirs] = store.job_log(other)
    assert (theirs.data["stream"], theirs.data["text"]) == ("stderr", "x")


def test_log_excludes_state_and_progress_events(store: Store, factory: JobFactory) -> None:
    job_id, ex = running(factory)
    store.job_progress(ex, 10, None)
    assert store.job_log(job_id) == []
    store.job_log_append(
        [LogLine(job_id=job_id, execution_id=ex, at=T0, stream="stdout", text="a")]
    )
    assert [e.data["text"] for e in store.job_log(job_id)] == ["a"]


def test_log_of_an_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.job_log(12345)


def test_log_append_of_nothing(store: Store) -> None:
    store.job_log_append([])
    assert store.event_list() == []


def test_log_survives_the_job_finishing(store: Store, factory: JobFactory) -> None:
    job_id, ex = running(factory)
    store.job_log_append(
        [LogLine(job_id=job_id, execution_id=ex, at=T0, stream="stdout", text="a")]
    )
    assert factory.finish(ex, ExecutionStatus.COMPLETED)
    assert [e.data["text"] for e in store.job_log(job_id)] == ["a"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Zürich 😀 \t tab, \r\n, \x1b[31mred\x1b[0m", id="unicode"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("caf\udce9", id="surrogate"),  # a byte decoded with surrogateescape
        pytest.param("", id="empty"),
    ],
)
def test_log_text_round_trips_exactly(store: Store, factory: JobFactory, text: str) -> None:
    job_id, ex = running(factory)
    store.job_log_append(
        [LogLine(job_id=job_id, execution_id=ex, at=T0, stream="stdout", text=text)]
    )
    assert [e.data["text"] for e in store.job_log(job_id)] == [text]
