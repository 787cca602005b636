"""The blocking client against a real `jobyard up` (sample app), over real HTTP, both backends."""

from __future__ import annotations

import uuid

import pytest

from jobyard.client import Client, Event
from jobyard.core.errors import (
    Duplicate,
    Forbidden,
    Invalid,
    InvalidTransition,
    NotFound,
    Unauthorized,
    Unreachable,
)
from jobyard.core.models import Role
from jobyard.core.states import ExecutionStatus, JobStatus
from support.remote import Server, wait_until
from support.servers import free_port


def tag() -> str:
    """A tag of this test's own, so that lists on the shared server see only its jobs."""
    return f"t-{uuid.uuid4().hex[:10]}"


def running(client: Client, job_id: int) -> bool:
    return client.job(job_id).status is JobStatus.RUNNING


def test_health_version_and_types(client: Client) -> None:
    assert client.health().status == "ok"
    assert client.version().api == "v1"
    names = {t.name for t in client.job_types(per_page=1000).results}
    assert {"sample.add", "sample.chatty", "sample.sleep", "sample.echo"} <= names
    add = client.job_type("sample.add")
    assert add.definition.target == "sample:add" and add.revision >= 1
    with pytest.raises(NotFound):
        client.job_type("no.such.type")


def test_enqueue_follow_to_close_then_result(client: Client) -> None:
    job_id = client.enqueue("sample.chatty", {}, tags=["chatty"])
    events = list(client.follow(job_id))

    opening, *middle, close = events
    assert opening.kind == "state" and opening.job is not None and opening.job.id == job_id
    assert close.kind == "close" and close.status == "completed"
    ids = [e.id for e in middle]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))  # once each, in order
    states = [e.status for e in middle if e.kind == "state"]
    assert states[0] == "queued" and "running" in states and states[-1] == "completed"
    assert [(e.percent, e.desc) for e in middle if e.kind == "progress"] == [(50.0, "half")]
    assert [e.text for e in middle if e.kind == "log"] == ["out 1", "log 2", "err 3", "log 4",
                                                         "out 5"]  # fmt: skip

    job = client.job(job_id)
    assert job.status is JobStatus.COMPLETED and job.tags == ("chatty",)
    assert job.result["id"] == job_id and job.result["attempt"] == 1
    assert [e.status for e in job.executions] == [ExecutionStatus.COMPLETED]
    assert client.wait(job_id, timeout=10) == job  # a finished job: the follow closes at once


def test_enqueue_many_list_filters_and_every_page(client: Client) -> None:
    mine = tag()
    ids = client.enqueue_many(
        [{"type": "sample.add", "args": {"a": i, "b": 1}, "tags": [mine]} for i in range(5)]
    )
    assert len(ids) == 5 and ids == sorted(ids)
    for job_id in ids:
        client.wait(job_id, timeout=30)

    page = client.jobs(tag=mine, per_page=2)
    assert page.count == 5 and len(page.results) == 2 and page.next and page.previous is None
    assert [j.id for j in page.results] == ids[::-1][:2]  # newest first
    assert [j.id for j in client.iter_jobs(tag=mine, per_page=2)] == ids  # oldest first
    assert [j.result for j in client.iter_jobs(tag=mine)] == [1, 2, 3, 4, 5]
    assert client.jobs(tag=mine, status="failed").count == 0
    assert client.jobs(tag=mine, status=["completed", "failed"], type="sample.add").count == 5
    assert client.jobs(tag=mine, search="no such text anywhere").count == 0


def test_log_pages_by_cursor_and_follow(client: Client) -> None:
    job_id = client.enqueue("sample.chatty")
    client.wait(job_id, timeout=30)

    texts, after = [], 0
    while True:
        page = client.log(job_id, after=after, limit=2)
        if not page.lines:
            break
        assert len(page.lines) <= 2 and page.next_after == page.lines[-1].id
        texts += [line.text for line in page.lines]
        after = page.next_after
    assert texts == ["out 1", "log 2", "err 3", "log 4", "out 5"]
    assert page.next_after == after  # an empty page keeps the cursor

    followed = list(client.follow_log(job_id))  # a finished job: every line, then it ends
    assert [e.text for e in followed] == texts and {e.kind for e in followed} == {"log"}
    skipped = client.log(job_id, limit=2).next_after
    assert [e.text for e in client.follow_log(job_id, after=skipped)] == texts[2:]


def test_kill_a_running_job(client: Client) -> None:
    job_id = client.enqueue("sample.sleep", {"seconds": 60})
    wait_until(lambda: running(client, job_id), what="the job to start")

    asked = client.kill(job_id)
    assert asked.kill_requested_by == "admin"
    job = client.wait(job_id, timeout=30)
    assert job.status is JobStatus.CANCELED and job.canceled_by == "admin"
    assert [e.status for e in job.executions] == [ExecutionStatus.CANCELED]
    page = client.executions(job_id=job_id)
    assert page.count == 1 and page.results[0].execution.status is ExecutionStatus.CANCELED
    assert page.results[0].execution.pid and page.results[0].execution.signal
    with pytest.raises(InvalidTransition) as refused:
        client.kill(job_id)
    assert refused.value.status == "canceled" and refused.value.job_id == job_id


def test_restart_makes_a_linked_new_job(client: Client) -> None:
    old = client.enqueue("sample.add", {"a": 2, "b": 3})
    client.wait(old, timeout=30)
    new = client.restart(old)
    assert new.id != old and new.restart_of == old and new.args == {"a": 2, "b": 3}
    assert client.job(old).restarted_as == new.id
    assert client.wait(new.id, timeout=30).result == 5


def test_requeue_by_ids_and_by_filter(client: Client) -> None:
    mine = tag()
    job_id = client.enqueue("sample.fail", tags=[mine])
    failed = client.wait(job_id, timeout=30)
    assert failed.status is JobStatus.FAILED and failed.tries == 2
    assert "attempt 2 broke" in failed.error["message"]

    assert client.requeue([job_id], priority=7) == [job_id]
    assert client.job(job_id).priority == 7
    assert client.wait(job_id, timeout=30).status is JobStatus.FAILED  # one more try, failed

    assert client.requeue(status=["failed"], tag=mine, extra_tries=2) == [job_id]
    again = client.wait(job_id, timeout=30)
    assert again.status is JobStatus.FAILED and len(again.executions) == 5
    with pytest.raises(Invalid) as bad:
        client.requeue(status=["completed"], tag=mine)
    assert bad.value.field == "status"


def test_cancel_and_remove_a_waiting_job(client: Client) -> None:
    mine = tag()
    job_id = client.enqueue("sample.add", {"a": 1, "b": 1}, delay=3600, tags=[mine])
    assert client.job(job_id).status is JobStatus.SCHEDULED
    assert client.cancel(job_id).status is JobStatus.CANCELED
    assert client.remove(job_id).removed_by == "admin"
    assert client.jobs(tag=mine).count == 0
    assert [j.id for j in client.jobs(tag=mine, include_removed=True).results] == [job_id]


def test_system_event_stream(client: Client) -> None:
    job_id = client.enqueue("sample.add", {"a": 1, "b": 2})
    seen: list[Event] = []
    for event in client.events(job_id=job_id, kinds="state", after=0):
        seen.append(event)
        if event.status == "completed":
            break
    assert seen[0].status == "queued" and seen[-1].job_id == job_id
    assert {e.kind for e in seen} == {"state"}


def test_errors_become_jobyard_exceptions(client: Client, server: Server) -> None:
    with pytest.raises(NotFound):
        client.job(10**12)
    with pytest.raises(NotFound) as unknown:
        client.enqueue("no.such.type")
    assert unknown.value.details["field"] == "type"
    with pytest.raises(Invalid) as invalid:
        client.enqueue("sample.add", {}, priority="high")  # type: ignore[typeddict-item]
    assert invalid.value.field == "priority"
    with pytest.raises(Invalid) as in_batch:
        client.enqueue_many([{"type": "sample.add"}, {"type": "sample.add", "max_tries": 0}])
    assert in_batch.value.field == "[1].max_tries"

    key = tag()
    client.enqueue("sample.add", {"a": 1, "b": 1}, delay=3600, unique_key=key)
    with pytest.raises(Duplicate):
        client.enqueue("sample.add", {"a": 1, "b": 1}, unique_key=key)
    done = client.enqueue("sample.add", {"a": 1, "b": 1})
    client.wait(done, timeout=30)
    with pytest.raises(InvalidTransition) as transition:
        client.cancel(done)
    assert transition.value.operation == "cancel"

    with Client(server.url, token="jy_wrong") as stranger, pytest.raises(Unauthorized):
        stranger.jobs()
    with Client(server.url, user="admin", password="not it") as wrong, pytest.raises(Unauthorized):
        wrong.jobs()
    with Client(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(Unreachable):
        nobody.health()
    with pytest.raises(Invalid):
        Client(server.url, token="jy_x", user="admin", password="x")


def test_roles_users_and_tokens(client: Client, server: Server) -> None:
    name = tag()
    user = client.add_user(name, role=Role.VIEWER, password="viewer-password")
    assert user.role is Role.VIEWER and name in {u.name for u in client.users()}
    with pytest.raises(Duplicate):
        client.add_user(name, password="viewer-password")
    new = client.create_token("laptop", user=name)
    assert new.token.user == name and new.value.startswith("jy_") and new.value not in repr(new)
    job_id = client.enqueue("sample.sleep", {"seconds": 60}, delay=3600)

    with Client(server.url, token=new.value) as viewer:
        assert viewer.job(job_id).id == job_id
        with pytest.raises(Forbidden):
            viewer.kill(job_id)
        with pytest.raises(Forbidden):
            viewer.users()
        client.update_user(name, role="operator")  # the token acts with the user's new role
        assert viewer.cancel(job_id).status is JobStatus.CANCELED
        client.revoke_token(new.token.id)
        with pytest.raises(Unauthorized):
            viewer.job(job_id)
    assert new.token.id not in {t.id for t in client.tokens(user=name)}
    revoked = client.tokens(user=name, include_revoked=True)
    assert [t.id for t in revoked] == [new.token.id] and revoked[0].revoked_at is not None

    with Client(server.url, user=name, password="viewer-password") as basic:
        assert basic.job(job_id).id == job_id
        client.update_user(name, password="a-new-password")  # the old one stops at once
        with pytest.raises(Unauthorized):
            basic.job(job_id)
    client.remove_user(name)
    assert name not in {u.name for u in client.users()}
    with pytest.raises(NotFound):
        client.remove_user(name)
    with pytest.raises(Invalid):
        client.remove_user("admin")  # the last admin stays
    with pytest.raises(Invalid):
        client.update_user("admin", password="short")


def test_queues_and_tracking(client: Client) -> None:
    queue = tag()
    job_id = client.enqueue("sample.add", {"a": 1, "b": 1}, queue=queue)
    paused = client.pause_queue(queue)
    assert paused.name == queue and paused.paused and paused.queued == 1
    assert {q.name: q.paused for q in client.queues()}[queue] is True
    assert client.resume_queue(queue).paused is False
    client.cancel(job_id)

    assert client.tracking("no-such-job").state == "unknown"
    sleeper = client.enqueue("sample.sleep", {"seconds": 60})
    wait_until(lambda: running(client, sleeper), what="the job to start")
    tracked = client.set_tracking(sleeper, percent=40, desc="nearly half", reserve_for=120)
    assert (tracked.state, tracked.percent, tracked.desc) == ("working", 40, "nearly half")
    assert client.tracking(sleeper).percent == 40
    client.kill(sleeper)
    assert client.wait(sleeper, timeout=30).status is JobStatus.CANCELED
    assert client.tracking(sleeper).state == "dead"
    with pytest.raises(InvalidTransition):
        client.set_tracking(sleeper, percent=50)


def test_leaving_a_follow_early_closes_it(client: Client) -> None:
    job_id = client.enqueue("sample.sleep", {"seconds": 60})
    stream = client.follow(job_id)
    first = next(stream)
    assert first.job is not None and first.job.id == job_id
    stream.close()  # no warning, no leaked connection (filterwarnings = error)
    client.kill(job_id)
    assert client.wait(job_id, timeout=30).status is JobStatus.CANCELED
