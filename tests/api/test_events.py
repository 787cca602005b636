"""Server-sent events against a real `jobyard up`: follow a job, resume, follow the log, see all.

A followed job's stream is: a ``state`` frame with the job as it is now, every past event, live
state/progress/log events as they happen, then ``close`` when the job ends. Every event arrives
exactly once, also across a reconnect with ``Last-Event-ID``; the proof is the event log itself
(``store.event_list(job_id=…)``) once the job is over.
"""

from __future__ import annotations

from collections import Counter

from support.servers import Server

from .live import EventStream, Frame, Live, is_log, is_state

KINDS = {"state", "progress", "log"}


def event_ids(frames: list[Frame]) -> list[int]:
    """The event-log ids of the event frames (not the opening job snapshot, not close)."""
    return [f.data["id"] for f in frames if f.event in KINDS and f.id is not None]


def assert_exactly_the_log(live: Live, job_id: int, received: list[int]) -> None:
    stored = [e.id for e in live.store.event_list(job_id=job_id)]
    duplicates = [i for i, n in Counter(received).items() if n > 1]
    assert not duplicates, f"events sent twice: {duplicates}"
    assert sorted(received) == stored, f"received {received}, the event log has {stored}"


def assert_ids_never_go_back(frames: list[Frame]) -> None:
    ids = [f.id for f in frames if f.id is not None]
    assert ids == sorted(ids), f"a frame's id went backwards: {ids}"


def test_follow_sends_the_job_then_its_past_then_live_events_then_close(live: Live) -> None:
    gate = live.gate()
    with live.client() as http:
        job_id = live.enqueue(http, type="apitest.steps", args={"n": 3, "gate": str(gate)})
        live.open(gate, 1)
        live.wait_log_lines(job_id, 1)  # a past line before anyone follows
        with EventStream(http, f"/api/v1/jobs/{job_id}/events") as stream:
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            first = stream.next()
            assert first is not None and first.event == "state" and first.id is None
            assert first.data["id"] == job_id and first.data["status"] == "running"
            assert first.data["type"] == "apitest.steps"
            past = stream.until(is_log("step 1 of 3"))  # sent without any new step
            assert [f.data["data"]["status"] for f in past if f.event == "state"] == [
                "queued",
                "running",
            ]
            live.open(gate, 2)  # now live: nothing of step 2 existed when the stream began
            step_2: dict[str, Frame] = {}

            def step_2_seen(frame: Frame) -> bool:
                data = frame.data.get("data", {})
                if data.get("text", data.get("desc")) == "step 2 of 3":
                    step_2[frame.event] = frame
                return step_2.keys() == {"log", "progress"}

            stream.until(step_2_seen)
            assert step_2["progress"].data["data"]["percent"] == 200 / 3
            live.open(gate, 3)
            end = stream.to_close()
    assert is_state("completed", job_id)(end[-2]), end
    close = end[-1]
    received = event_ids(stream.frames)
    assert close.data["status"] == "completed"
    kinds = Counter(f.event for f in stream.frames if f.event in KINDS and f.id is not None)
    assert close.data["events"] == dict(kinds)
    assert close.id == max(received)
    assert_exactly_the_log(live, job_id, received)
    assert_ids_never_go_back(stream.frames)


def test_a_follower_that_reconnects_with_last_event_id_misses_nothing(live: Live) -> None:
    gate = live.gate()
    with live.client() as http:
        job_id = live.enqueue(http, type="apitest.steps", args={"n": 4, "gate": str(gate)})
        url = f"/api/v1/jobs/{job_id}/events"
        with EventStream(http, url) as first:
            live.open(gate, 1)
            first.until(lambda f: f.event == "progress" and f.data["data"]["percent"] == 25)
        last_seen = first.frames[-1].id
        assert last_seen is not None
        # while nobody follows, the job goes on
        live.open(gate, 2)
        live.open(gate, 3)
        live.wait_log_lines(job_id, 3)
        with EventStream(http, url, headers={"Last-Event-ID": str(last_seen)}) as second:
            resumed = second.until(is_log("step 3 of 4"))
            assert resumed[0].id is not None, "a resumed stream starts with events, no snapshot"
            assert resumed[0].data["id"] > last_seen
            live.open(gate, 4)
            second.to_close()
    assert second.frames[-1].data["status"] == "completed"
    received = event_ids(first.frames) + event_ids(second.frames)
    assert_exactly_the_log(live, job_id, received)
    assert_ids_never_go_back(first.frames + second.frames)


def test_following_the_log_sends_only_log_lines_and_close(live: Live) -> None:
    gate = live.gate()
    with live.client() as http:
        job_id = live.enqueue(http, type="apitest.steps", args={"n": 2, "gate": str(gate)})
        live.open(gate, 1)
        live.wait_log_lines(job_id, 1)
        with EventStream(http, f"/api/v1/jobs/{job_id}/log", params={"follow": "true"}) as stream:
            stream.until(is_log("step 1 of 2"))
            live.open(gate, 2)
            stream.to_close()
        assert {f.event for f in stream.frames} == {"log", "close"}
        lines = [f.data["data"]["text"] for f in stream.frames if f.event == "log"]
        stored = live.store.job_log(job_id)
        assert lines == [e.data["text"] for e in stored] == ["step 1 of 2", "step 2 of 2"]
        assert stream.frames[-1].data["status"] == "completed"

        # a finished job's log from a cursor: what follows it, then close at once
        after = stored[0].id
        params = {"follow": "true", "after": str(after)}
        with EventStream(http, f"/api/v1/jobs/{job_id}/log", params=params) as again:
            frames = again.to_close(timeout=10)
        assert [f.event for f in frames] == ["log", "close"]
        assert frames[0].data["data"]["text"] == "step 2 of 2"


def test_the_system_stream_sees_every_job(live: Live) -> None:
    after = live.store.event_last_id()
    with live.client() as http:
        everything = EventStream(http, "/api/v1/events", params={"after": after})
        with everything:
            a = live.enqueue(http, type="apitest.quick", args={"value": 1})
            b = live.enqueue(http, type="apitest.quick", args={"value": 2})
            only_a = EventStream(
                http, "/api/v1/events", params={"after": after, "job_id": a, "kind": "state"}
            )
            with only_a:
                seen: set[int] = set()

                def both_done(frame: Frame) -> bool:
                    if is_state("completed")(frame):
                        seen.add(frame.data["job_id"])
                    return seen >= {a, b}

                everything.until(both_done)
                only_a.until(is_state("completed", a))
    assert_ids_never_go_back(everything.frames)
    for job_id in (a, b):
        mine = [f for f in everything.frames if f.data["job_id"] == job_id]
        assert {f.event for f in mine} == {"state", "log"}
        assert_exactly_the_log(live, job_id, event_ids(mine))
    assert {(f.event, f.data["job_id"]) for f in only_a.frames} == {("state", a)}
    assert [f.data["data"]["status"] for f in only_a.frames] == ["queued", "running", "completed"]


def test_a_follower_on_another_server_sees_a_job_run_through_the_first(
    live: Live, second_server: Server
) -> None:
    """Two server processes on one database: enqueued through A (with its worker), followed on B."""
    gate = live.gate()
    with live.client() as on_a, second_server.client() as on_b:
        job_id = live.enqueue(on_a, type="apitest.steps", args={"n": 2, "gate": str(gate)})
        with EventStream(on_b, f"/api/v1/jobs/{job_id}/events") as stream:
            first = stream.next()
            assert first is not None and first.event == "state" and first.id is None
            assert first.data["id"] == job_id
            live.open(gate, 1)
            stream.until(is_log("step 1 of 2"))
            live.open(gate, 2)
            stream.to_close()
    assert stream.frames[-1].data["status"] == "completed"
    running = [f for f in stream.frames if is_state("running")(f)]
    assert running and running[0].data["data"]["worker_id"], "the job ran on A's worker"
    assert_exactly_the_log(live, job_id, event_ids(stream.frames))
