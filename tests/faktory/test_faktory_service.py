"""The Faktory commands against the store, on both backends, on a fake clock.

Each test drives :class:`jobyard.faktory.service.Faktory` as the listener would, then reads what
the store holds through its public API: jobs, executions, sets and workers.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from behaviour.factory import FakeClock
from jobyard.core.errors import Duplicate
from jobyard.core.models import JobSpec, TypeDefinition, TypeKind
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.core.workers import WorkerKind, WorkerState
from jobyard.faktory.protocol import FaktoryError
from jobyard.faktory.service import Faktory, Peer
from jobyard.store import Store


def job(jid: str, jobtype: str = "fk.add", **fields: Any) -> dict[str, Any]:
    return {"jid": jid, "jobtype": jobtype, "args": [1, 2], **fields}


def by_jid(store: Store, fk: Faktory, jid: str) -> Any:
    record = fk.find(jid)
    assert record is not None, jid
    return store.job_get(record.job.id)


def test_push_makes_a_job_of_a_remote_type(store: Store, fk: Faktory) -> None:
    fk.push(job("jid-push-0001", queue="critical", priority=9, custom={"k": "v"}))
    j = by_jid(store, fk, "jid-push-0001")
    assert (j.type, j.status, j.queue, j.external_id) == (
        "fk.add", JobStatus.QUEUED, "critical", "jid-push-0001",
    )  # fmt: skip
    assert j.max_tries == 26 and j.backoff.kind == "faktory"
    assert j.priority == 96  # Faktory's 9 (highest) runs before jobyard's default 100
    assert store.type_get("fk.add").definition.kind is TypeKind.REMOTE
    with pytest.raises(Duplicate):
        fk.push(job("jid-push-0001"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"jid": "short", "jobtype": "a", "args": []}, "jid"),
        ({"jid": "jid-000000001", "args": []}, "jobtype"),
        ({"jid": "jid-000000002", "jobtype": "a", "args": None}, "args"),
        ({"jid": "jid-000000003", "jobtype": "a b", "args": []}, "jobtype"),
        ({"jid": "jid-000000004", "jobtype": "a", "args": [], "reserve_for": 90000}, "one day"),
        ({"jid": "jid-000000005", "jobtype": "a", "args": [], "at": "tomorrow"}, "at"),
        ({"jid": "jid-000000006", "jobtype": "a", "args": [], "retry": "x"}, "retry"),
        ({"jid": "jid-000000007", "jobtype": "a", "args": [], "custom": [1]}, "custom"),
        ({"jid": "jid-000000008", "jobtype": "a", "args": [], "queue": "a/b"}, "queue"),
    ],
)
def test_bad_pushes_name_the_field(fk: Faktory, data: dict[str, Any], words: str) -> None:
    with pytest.raises(FaktoryError) as err:
        fk.push(data)
    assert words in err.value.message


def test_a_jobtype_jobyard_runs_itself_cannot_be_pushed(store: Store, fk: Faktory) -> None:
    store.type_register(TypeDefinition("native.py", TypeKind.PYTHON, "m:f"))
    with pytest.raises(FaktoryError) as err:
        fk.push(job("jid-native-01", "native.py"))
    assert "python type" in err.value.message


def test_fetch_takes_queues_in_the_order_given(store: Store, fk: Faktory, peer: Peer) -> None:
    fk.push(job("jid-low-00001", queue="low"))
    fk.push(job("jid-high-0001", queue="high", custom={"x": 1}, backtrace=7))
    first = fk.fetch_once(peer, ["high", "low"])
    assert first is not None and first["jid"] == "jid-high-0001"
    assert (first["args"], first["custom"], first["backtrace"], first["retry"]) == (
        [1, 2], {"x": 1}, 7, 25,
    )  # fmt: skip
    second = fk.fetch_once(peer, ["high", "low"])
    assert second is not None and second["jid"] == "jid-low-00001"
    assert fk.fetch_once(peer, ["high", "low"]) is None


def test_fetch_reserves_for_the_job_and_records_the_worker(
    store: Store, fk: Faktory, peer: Peer, clock: FakeClock
) -> None:
    fk.push(job("jid-reserve-1", reserve_for=600))
    fk.push(job("jid-reserve-2", reserve_for=5))  # Faktory never reserves for less than 60 s
    fk.push(job("jid-reserve-3"))
    for jid, seconds in (("jid-reserve-1", 600), ("jid-reserve-2", 60), ("jid-reserve-3", 1800)):
        assert fk.fetch_once(peer, ["default"]) is not None
        (e,) = by_jid(store, fk, jid).executions
        assert (e.worker_id, e.hostname, e.pid) == ("wid-00000001", "host-a", 4242)
        assert e.lease_expires_at.timestamp() == pytest.approx(clock() + seconds)


def test_ack_completes_once(store: Store, fk: Faktory, peer: Peer) -> None:
    fk.push(job("jid-ack-00001"))
    assert fk.fetch_once(peer, ["default"])
    fk.ack(peer, {"jid": "jid-ack-00001"})
    fk.ack(peer, {"jid": "jid-ack-00001"})  # a second ACK changes nothing
    fk.ack(peer, {"jid": "jid-never-seen"})  # an unknown jid is +OK, as in Faktory
    j = by_jid(store, fk, "jid-ack-00001")
    assert j.status is JobStatus.COMPLETED
    assert [e.status for e in j.executions] == [ExecutionStatus.COMPLETED]


def test_fail_retries_with_faktory_backoff_then_dead(
    store: Store, fk: Faktory, peer: Peer, clock: FakeClock
) -> None:
    fk.push(job("jid-fail-0001", retry=2))
    for attempt in (1, 2, 3):
        fetched = fk.fetch_once(peer, ["default"])
        assert fetched is not None and fetched["jid"] == "jid-fail-0001"
        if attempt > 1:
            assert fetched["failure"]["retry_count"] == attempt - 2
            assert fetched["failure"]["message"] == f"boom {attempt - 1}"
        fk.fail(
            peer,
            {"jid": "jid-fail-0001", "errtype": "ValueError", "message": f"boom {attempt}",
             "backtrace": ["file a.py, line 1", "file b.py, line 2"]},
        )  # fmt: skip
        j = by_jid(store, fk, "jid-fail-0001")
        if attempt < 3:
            assert j.status is JobStatus.RETRYING
            count = attempt - 1
            wait = j.run_at.timestamp() - clock()
            assert count**4 + 15 <= wait <= count**4 + 15 + 29 * (count + 1)
            clock.advance(wait)
            assert store.job_release_due() == 1
    assert j.status is JobStatus.FAILED  # Faktory's dead set
    trace = "file a.py, line 1\nfile b.py, line 2"
    assert j.error == {"type": "ValueError", "message": "boom 3", "traceback": trace}
    assert [(e.status, e.error_message) for e in j.executions] == [
        (ExecutionStatus.FAILED, f"boom {n}") for n in (1, 2, 3)
    ]
    assert [r.job.id for r in store.remote_set("dead")] == [j.id]
    fk.mutate({"cmd": "requeue", "target": "dead", "filter": {"jids": ["jid-fail-0001"]}})
    assert by_jid(store, fk, "jid-fail-0001").status is JobStatus.QUEUED


def test_fail_without_backtrace_and_of_an_unknown_job(
    store: Store, fk: Faktory, peer: Peer
) -> None:
    fk.push(job("jid-fail-0002", retry=-1))  # straight to dead
    assert fk.fetch_once(peer, ["default"])
    fk.fail(peer, {"jid": "jid-fail-0002"})
    j = by_jid(store, fk, "jid-fail-0002")
    assert j.status is JobStatus.FAILED and j.removed_at is None
    assert j.error == {"type": "unknown", "message": "unknown", "traceback": None}
    with pytest.raises(FaktoryError, match="Job not found jid-nothing"):
        fk.fail(peer, {"jid": "jid-nothing"})


def test_retry_zero_discards_on_failure(store: Store, fk: Faktory, peer: Peer) -> None:
    fk.push(job("jid-discard-1", retry=0))
    assert fk.fetch_once(peer, ["default"])
    fk.fail(peer, {"jid": "jid-discard-1", "message": "no"})
    j = by_jid(store, fk, "jid-discard-1")
    assert j.status is JobStatus.FAILED and j.removed_at is not None  # readable, in no list
    assert store.remote_set("dead") == []


def test_an_expired_reservation_retries_the_job(
    store: Store, fk: Faktory, peer: Peer, clock: FakeClock
) -> None:
    fk.push(job("jid-expire-01", reserve_for=120))
    assert fk.fetch_once(peer, ["default"])
    clock.advance(119)
    assert store.execution_reap() == 0
    clock.advance(2)
    assert store.execution_reap() == 1
    j = by_jid(store, fk, "jid-expire-01")
    assert j.status is JobStatus.RETRYING
    assert [e.status for e in j.executions] == [ExecutionStatus.LOST]


def test_a_native_job_of_a_remote_type_is_fetched_and_acked(
    store: Store, fk: Faktory, peer: Peer
) -> None:
    fk.push(job("jid-first-001"))  # registers the remote type
    fk.ack(peer, {"jid": "x"})
    (native,) = store.job_enqueue([JobSpec(type="fk.add", args={"n": 1}, queue="native")])
    fetched = fk.fetch_once(peer, ["native"])
    assert fetched is not None
    assert (fetched["jid"], fetched["args"]) == (f"jobyard-{native}", [{"n": 1}])
    fk.ack(peer, {"jid": f"jobyard-{native}"})
    assert store.job_get(native).status is JobStatus.COMPLETED


def test_killing_a_running_faktory_job_cancels_it_at_once(
    store: Store, fk: Faktory, peer: Peer
) -> None:
    fk.push(job("jid-kill-0001"))
    fk.push(job("jid-kill-0002"))
    assert fk.fetch_once(peer, ["default"]) and fk.fetch_once(peer, ["default"])
    for jid in ("jid-kill-0001", "jid-kill-0002"):
        killed = store.job_kill(by_jid(store, fk, jid).id, by="alice")
        assert killed.status is JobStatus.CANCELED and killed.canceled_by == "alice"
    fk.ack(peer, {"jid": "jid-kill-0001"})  # the client finished it anyway
    fk.fail(peer, {"jid": "jid-kill-0002", "errtype": "E", "message": "late", "backtrace": ["l"]})
    first, second = by_jid(store, fk, "jid-kill-0001"), by_jid(store, fk, "jid-kill-0002")
    assert first.status is second.status is JobStatus.CANCELED  # not revived
    assert first.executions[0].status is ExecutionStatus.COMPLETED  # but recorded
    e = second.executions[0]
    assert (e.status, e.error_type, e.error_message, e.traceback) == (
        ExecutionStatus.FAILED, "E", "late", "l",
    )  # fmt: skip
    assert [r.job.id for r in store.remote_set("dead")] == sorted([first.id, second.id])


def test_beat_answers_what_an_operator_asked(store: Store, fk: Faktory, peer: Peer) -> None:
    assert fk.beat({"wid": "wid-00000001", "rss_kb": 1234}) is None
    with pytest.raises(FaktoryError, match="unknown worker"):
        fk.beat({"wid": "wid-nobody"})
    store.worker_control("wid-00000001", "quiet")
    assert fk.beat({"wid": "wid-00000001"}) == '{"state":"quiet"}'
    assert fk.worker_state(peer) is WorkerState.QUIET
    store.worker_control("wid-00000001", WorkerState.STOPPING)
    assert fk.beat({"wid": "wid-00000001"}) == '{"state":"terminate"}'
    store.worker_control("wid-00000001", "quiet")  # never backwards
    assert fk.beat({"wid": "wid-00000001", "current_state": "quiet"}) == '{"state":"terminate"}'
    (w,) = [w for w in store.worker_list() if w.id == "wid-00000001"]
    assert (w.kind, w.labels, w.hostname, w.pid, w.rss_kb, w.state) == (
        WorkerKind.FAKTORY, ("python", "test"), "host-a", 4242, 1234, WorkerState.STOPPING,
    )  # fmt: skip


def test_a_client_reports_its_own_quiet(store: Store, fk: Faktory, peer: Peer) -> None:
    assert fk.beat({"wid": "wid-00000001", "current_state": "quiet"}) == '{"state":"quiet"}'
    assert store.worker_get("wid-00000001").state is WorkerState.QUIET


def test_silent_workers_are_reaped(store: Store, fk: Faktory, peer: Peer, clock: FakeClock) -> None:
    fk.push(job("jid-silent-01"))
    assert fk.fetch_once(peer, ["default"])
    w = store.worker_get("wid-00000001")
    assert (w.state, w.running, w.queues) == (WorkerState.RUNNING, 1, ("default",))
    clock.advance(59)
    assert fk.reap() == []
    clock.advance(2)
    assert fk.reap() == ["wid-00000001"]
    assert store.worker_get("wid-00000001").state is WorkerState.STOPPED
    assert by_jid(store, fk, "jid-silent-01").status is JobStatus.RUNNING  # until reserved


def test_mutate_sets(store: Store, fk: Faktory, peer: Peer, clock: FakeClock) -> None:
    later = "2099-01-01T00:00:00Z"
    for n in range(4):
        fk.push(job(f"jid-sched-00{n}", at=later))
    fk.push(job("jid-sched-other", "fk.other", at=later))
    assert len(store.remote_set("scheduled")) == 5
    fk.mutate({"cmd": "requeue", "target": "scheduled", "filter": {"jids": ["jid-sched-000"]}})
    assert by_jid(store, fk, "jid-sched-000").status is JobStatus.QUEUED
    fk.mutate({"cmd": "kill", "target": "scheduled", "filter": {"regexp": "*jid-sched-001*"}})
    assert by_jid(store, fk, "jid-sched-001").status is JobStatus.CANCELED  # in the dead set
    fk.mutate({"cmd": "discard", "target": "scheduled", "filter": {"jobtype": "fk.other"}})
    assert by_jid(store, fk, "jid-sched-other").removed_at is not None
    assert {r.job.external_id for r in store.remote_set("scheduled")} == {
        "jid-sched-002", "jid-sched-003",
    }  # fmt: skip
    fk.mutate({"cmd": "clear", "target": "scheduled"})
    assert store.remote_set("scheduled") == []
    assert [r.job.external_id for r in store.remote_set("dead")] == ["jid-sched-001"]
    fk.mutate({"cmd": "discard", "target": "dead"})
    assert store.remote_set("dead") == []
    with pytest.raises(FaktoryError, match="target"):
        fk.mutate({"cmd": "clear", "target": "nowhere"})


def test_queue_commands_flush_and_info(store: Store, fk: Faktory, peer: Peer) -> None:
    fk.push(job("jid-queue-001", queue="q1"))
    fk.push(job("jid-queue-002", queue="q2"))
    store.type_register(TypeDefinition("native.py", TypeKind.PYTHON, "m:f", queue="q2"))
    (native,) = store.job_enqueue([JobSpec(type="native.py", queue="q2")])
    fk.queue("PAUSE *")
    assert fk.fetch_once(peer, ["q1", "q2"]) is None
    fk.queue("RESUME q1")
    assert fk.fetch_once(peer, ["q1", "q2"]) is not None
    fk.queue("REMOVE q2")  # the Faktory jobs of q2; jobyard's own stay
    assert by_jid(store, fk, "jid-queue-002").removed_at is not None
    assert store.job_get(native).status is JobStatus.QUEUED
    info = fk.info()
    assert info["faktory"]["sets"]["working"] == 1
    assert info["faktory"]["queues"]["q2"] == 1
    fk.flush()
    assert store.job_get(by_jid(store, fk, "jid-queue-001").id).status is JobStatus.RUNNING
    with pytest.raises(FaktoryError, match="PAUSE, RESUME, REMOVE or LATENCY"):
        fk.queue("LATER q1")


def test_queue_latency(store: Store, fk: Faktory, clock: FakeClock) -> None:
    fk.push(job("jid-latency-1", queue="lat"))
    clock.advance(12.5)
    fk.push(job("jid-latency-2", queue="lat"))
    assert fk.queue("LATENCY lat empty") == {"lat": 12.5, "empty": 0.0}


def test_tracking_states_and_reservations(
    store: Store, fk: Faktory, peer: Peer, clock: FakeClock
) -> None:
    fk.push(job("jid-track-001", custom={"track": 1}, reserve_for=300))
    fk.push(job("jid-untracked"))
    assert fk.track_get("jid-track-001")["state"] == "enqueued"
    assert fk.track_get("jid-untracked") == {"jid": "jid-untracked", "state": "unknown"}
    assert fk.track_get("jid-nobody-00") == {"jid": "jid-nobody-00", "state": "unknown"}
    with pytest.raises(FaktoryError, match="not working"):
        fk.track_set({"jid": "jid-track-001", "percent": 5})
    assert fk.fetch_once(peer, ["default"])
    fk.track_set({"jid": "jid-track-001", "percent": 12, "desc": "Calculating..."})
    status = fk.track_get("jid-track-001")
    assert (status["state"], status["percent"], status["desc"]) == ("working", 12, "Calculating...")
    lease = lambda: by_jid(store, fk, "jid-track-001").executions[0].lease_expires_at.timestamp()  # noqa: E731
    assert lease() == clock() + 300
    fk.track_set({"jid": "jid-track-001", "reserve_for": 30})  # shorter: nothing changes
    assert lease() == clock() + 300
    fk.track_set({"jid": "jid-track-001", "reserve_for": 900, "desc": "Clearing caches..."})
    assert lease() == clock() + 900
    fk.track_set({"jid": "jid-track-001", "reserve_until": "2099-01-01T00:00:00Z"})
    assert lease() == clock() + 86400  # at most a day at a time
    fk.ack(peer, {"jid": "jid-track-001"})
    status = fk.track_get("jid-track-001")
    assert (status["state"], status["percent"], status["desc"]) == (
        "success", 12, "Clearing caches...",
    )  # fmt: skip
    clock.advance(1801)
    assert fk.track_get("jid-track-001")["state"] == "unknown"
    with pytest.raises(FaktoryError, match="not tracked"):
        fk.track_set({"jid": "jid-untracked", "percent": 1})


def test_pushb_reports_each_failure(store: Store, fk: Faktory) -> None:
    errors = fk.push_bulk([job("jid-bulk-0001"), {"jid": "jid-bulk-0002"}, job("jid-bulk-0001")])
    assert set(errors) == {"jid-bulk-0002", "jid-bulk-0001"}
    assert by_jid(store, fk, "jid-bulk-0001").status is JobStatus.QUEUED


def test_random_jobs_round_trip(store: Store, fk: Faktory, peer: Peer) -> None:
    rng = random.Random(5)
    sent = {}
    for n in range(20):
        args = [rng.choice([1, "two", None, 3.5, {"k": [1]}, "Zürich"]) for _ in range(3)]
        sent[f"jid-rt-{n:06d}"] = args
        fk.push(job(f"jid-rt-{n:06d}", args=args))
    got = {}
    while (fetched := fk.fetch_once(peer, ["default"])) is not None:
        got[fetched["jid"]] = fetched["args"]
        fk.ack(peer, {"jid": fetched["jid"]})
    assert got == sent
