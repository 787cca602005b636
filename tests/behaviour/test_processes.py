"""Applications and the process table on both backends: who ran what, where, and how it ended."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from behaviour.factory import FakeClock
from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import (
    Claim,
    JobFilter,
    JobSpec,
    LogLine,
    Outcome,
    PageRequest,
    TypeDefinition,
    TypeKind,
)
from jobyard.core.processes import ProcessFilter, app_guid, execution_id_of
from jobyard.core.services import instance_key
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


def _type(name: str, queue: str, *tags: str, max_tries: int = 1) -> TypeDefinition:
    return TypeDefinition(
        name, TypeKind.PYTHON, "m:f", queue=queue, tags=tags, max_tries=max_tries,
        backoff=Backoff(base=1, jitter=0),
    )  # fmt: skip


class Table:
    """A small process table: two apps, two workers on two hosts, executions ended every way."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        for d in (_type("site.a", "qa", "red"), _type("site.b", "qb", max_tries=2),
                  _type("other.c", "qc"), _type("site.svc", "qa", "service")):  # fmt: skip
            store.type_register(d)
        store.app_register("site", types=["site.a", "site.b", "site.svc"], services=["site.svc"])
        store.app_register("other", types=["other.c"])
        for worker, host in (("w1", "h1"), ("w2", "h2")):
            store.worker_register(worker, hostname=host, pid=1, queues=["qa"], concurrency=4)
        store.worker_advertise("w1", cluster="k8s-east", image="site:1.2")
        self.t0 = clock.t
        self.done = self.run("site.a", "w1", ExecutionStatus.COMPLETED, exit_code=0)
        clock.advance(10)
        self.killed = self.run("site.b", "w2", ExecutionStatus.FAILED, signal=9, retry=True)
        clock.advance(10)
        self.retried = self.claim("site.b", "w1")  # the second attempt of the same job
        self.other = self.run("other.c", "w2", ExecutionStatus.FAILED, exit_code=2)
        clock.advance(10)
        [self.service_job] = store.job_enqueue(
            [JobSpec(type="site.svc", unique_key=instance_key("site.svc", 0))]
        )
        self.service = self.claim("site.svc", "w2")

    def claim(self, type_name: str, worker: str) -> Claim:
        queue = self.store.type_get(type_name).definition.queue
        waiting = JobFilter(types=(type_name,), statuses=(JobStatus.QUEUED,))
        if not self.store.job_list(waiting, PageRequest()).results:
            self.store.job_enqueue([JobSpec(type=type_name)])
        [claim] = self.store.job_claim(
            worker_id=worker, queues=[queue], types=[type_name], limit=1, lease=30
        )
        host = "h1" if worker == "w1" else "h2"
        self.store.execution_started(claim.execution_id, pid=4000 + claim.execution_id,
                                     ppid=99, hostname=host, run_as="svc")  # fmt: skip
        return claim

    def run(
        self, type_name: str, worker: str, status: ExecutionStatus, *, retry: bool = False,
        **outcome: object,
    ) -> Claim:  # fmt: skip
        claim = self.claim(type_name, worker)
        self.clock.advance(1)
        self.store.job_finish([Outcome(claim.execution_id, status, **outcome)])  # type: ignore[arg-type]
        if retry:
            self.clock.advance(1)
            self.store.job_release_due()
        return claim

    def ids(self, **filters: object) -> list[int]:
        page = self.store.process_list(ProcessFilter(**filters), per_page=100)  # type: ignore[arg-type]
        return [p.execution.id for p in page.results]


@pytest.fixture
def table(store: Store, clock: FakeClock) -> Table:
    return Table(store, clock)


def test_every_execution_is_a_row_newest_first_with_its_job_app_and_place(table: Table) -> None:
    page = table.store.process_list(ProcessFilter())
    assert page.count == 5
    rows = {p.execution.id: p for p in page.results}
    assert list(rows) == sorted(rows, reverse=True)
    done = rows[table.done.execution_id]
    assert (done.type, done.queue, done.tags, done.app, done.app_guid) == (
        "site.a", "qa", ("red",), "site", app_guid("site"),
    )  # fmt: skip
    e = done.execution
    assert (e.status, e.exit_code, e.pid, e.ppid, e.hostname, e.worker_id, e.run_as) == (
        ExecutionStatus.COMPLETED, 0, 4000 + e.id, 99, "h1", "w1", "svc",
    )  # fmt: skip
    assert e.started_at is not None and e.ended_at is not None and e.queued_at is not None
    assert (done.cluster, done.image) == ("k8s-east", "site:1.2")
    assert done.job_status is JobStatus.COMPLETED and done.current and done.service is None
    killed = rows[table.killed.execution_id]
    assert killed.execution.signal == 9 and killed.cluster is None and killed.image is None
    assert not killed.current  # its job runs again as another execution
    retried = rows[table.retried.execution_id]
    assert retried.current and retried.execution.attempt == 2
    assert retried.job_status is JobStatus.RUNNING
    assert rows[table.service.execution_id].service == "site.svc"
    assert rows[table.other.execution_id].app == "other"
    assert execution_id_of(done.key) == done.execution.id
    assert table.store.process_get(done.execution.id) == done
    with pytest.raises(NotFound):
        table.store.process_get(10**9)


def test_the_process_table_filters_by_app_status_host_queue_tag_and_time(table: Table) -> None:
    t = table
    assert set(t.ids(apps=("site",))) == {
        t.done.execution_id, t.killed.execution_id, t.retried.execution_id, t.service.execution_id,
    }  # fmt: skip
    assert t.ids(apps=(app_guid("other"),)) == [t.other.execution_id]
    assert set(t.ids(statuses=(ExecutionStatus.RUNNING,))) == {
        t.retried.execution_id, t.service.execution_id,
    }  # fmt: skip
    assert set(t.ids(hosts=("h1",))) == {t.done.execution_id, t.retried.execution_id}
    assert set(t.ids(workers=("w2",))) == {
        t.killed.execution_id, t.other.execution_id, t.service.execution_id,
    }  # fmt: skip
    assert t.ids(queues=("qc",)) == [t.other.execution_id]
    assert t.ids(tag="red") == [t.done.execution_id]
    assert t.ids(types=("site.b",)) == [t.retried.execution_id, t.killed.execution_id]
    assert t.ids(job_id=t.killed.job_id) == [t.retried.execution_id, t.killed.execution_id]
    assert t.ids(services=("site.svc",)) == [t.service.execution_id]
    assert t.ids(services=("site.a",)) == []
    start = datetime.fromtimestamp(t.t0 + 15, UTC)
    assert set(t.ids(started_after=start)) == {
        t.retried.execution_id, t.other.execution_id, t.service.execution_id,
    }  # fmt: skip
    assert t.ids(started_before=start) == [t.killed.execution_id, t.done.execution_id]
    assert t.ids(apps=("site",), statuses=(ExecutionStatus.FAILED,), hosts=("h2",)) == [
        t.killed.execution_id
    ]
    assert t.ids(apps=("nobody",)) == []


def test_pages_and_sorting(table: Table) -> None:
    first = table.store.process_list(ProcessFilter(), page=1, per_page=2, sort="id")
    second = table.store.process_list(ProcessFilter(), page=2, per_page=2, sort="id")
    assert first.count == second.count == 5
    ids = [p.execution.id for p in first.results + second.results]
    assert ids == sorted(ids) and len(ids) == 4
    by_host = table.store.process_list(ProcessFilter(), sort="-hostname")
    assert [p.execution.hostname for p in by_host.results][:3] == ["h2", "h2", "h2"]
    for bad in ({"sort": "pid; drop"}, {"per_page": 0}, {"page": 0}):
        with pytest.raises(Invalid):
            table.store.process_list(ProcessFilter(), **bad)  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="time zone"):
        ProcessFilter(started_after=datetime(2026, 1, 1))


def test_an_executions_log_is_its_own(table: Table, store: Store, clock: FakeClock) -> None:
    job_id = table.killed.job_id
    lines = [
        LogLine(job_id, table.killed.execution_id, clock.t, "stdout", "first try"),
        LogLine(job_id, table.retried.execution_id, clock.t, "stdout", "second try 1"),
        LogLine(job_id, table.retried.execution_id, clock.t, "stderr", "second try 2"),
        LogLine(job_id, table.retried.execution_id, clock.t, "log", "second try 3", "INFO"),
    ]
    store.job_log_append(lines)
    tail = store.execution_log_tail(table.retried.execution_id, limit=2)
    assert [(e.data["stream"], e.data["text"]) for e in tail] == [
        ("stderr", "second try 2"), ("log", "second try 3"),
    ]  # fmt: skip
    assert [e.data["text"] for e in store.execution_log_tail(table.killed.execution_id)] == [
        "first try"
    ]
    assert store.execution_log_tail(table.done.execution_id) == []
    with pytest.raises(NotFound):
        store.execution_log_tail(10**9)


def test_apps_keep_their_id_and_guid_and_a_type_moves_to_its_last_app(table: Table) -> None:
    store = table.store
    site = store.app_get("site")
    assert site == store.app_get(app_guid("site"))
    assert (site.types, site.services) == (("site.a", "site.b", "site.svc"), ("site.svc",))
    table.clock.advance(5)
    again = store.app_register("site", types=["site.a"])
    assert (again.id, again.guid, again.created_at) == (site.id, site.guid, site.created_at)
    assert again.updated_at > site.updated_at
    store.app_register("other", types=["site.b"])
    assert "site.b" in store.app_get("other").types and "site.b" not in store.app_get("site").types
    assert [a.name for a in store.app_list()] == ["other", "site"]
    with pytest.raises(NotFound):
        store.app_get("nope")
    with pytest.raises(NotFound):
        store.worker_advertise("no-such-worker", cluster="x", image=None)
    with pytest.raises(Invalid):
        store.app_register("bad name", types=[])
