"""Services on both backends: the engine's service duty against the store, on a fake clock.

A ``Fleet`` plays the workers (claims instances, says when they are ready, ends them as a crash
or a kill would) so every step of a service's life is reached without processes; the Endian
calls read the same store at each step. The same life with real processes is in
tests/integration/test_services_live.py.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from behaviour.factory import FakeClock
from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import Claim, Outcome, TypeDefinition, TypeKind
from jobyard.core.services import Readiness, ServiceConflict, ServiceDefinition
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.endian import Engine
from jobyard.engine.services import Services, ServicesConfig
from jobyard.store import Store

BACKOFF = Backoff(base=2, factor=2, max=60, jitter=0)
JOB_KEYS = {"name", "status", "sub", "schedule", "t0", "t1"}
MESSAGE_KEYS = {
    "sub", "timestamp", "startup_percentage", "forked_counter", "msg", "job", "err_counter",
    "action", "ok_counter",
}  # fmt: skip


class Fleet:
    """The workers of a test: claim instances, report them ready, end them."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self.duty = Services(store, ServicesConfig(interval=0.1))
        self.endian = Engine(store)
        self.types: list[str] = []
        self.running: dict[str, Claim] = {}  # service -> its running instance (one each here)

    def register(self, *defs: ServiceDefinition) -> None:
        defs = tuple(replace(d, app="fleet") for d in defs)
        for d in defs:
            self.store.type_register(
                TypeDefinition(d.name, TypeKind.PYTHON, "svc:run", max_tries=1, tags=("service",))
            )
            self.types.append(d.name)
        self.store.app_register("fleet", types=self.types, services=self.types)
        self.store.service_register(list(defs))

    def round(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        self.duty.run_once()

    def work(self, *, ready: bool = True, worker: str = "w1") -> list[str]:
        """Claim every waiting instance; returns the services started, in claim order."""
        claims = self.store.job_claim(
            worker_id=worker, queues=["default"], types=self.types, limit=100, lease=30
        )
        for c in claims:
            self.store.execution_started(
                c.execution_id, pid=os.getpid(), ppid=1, hostname=worker, run_as="me"
            )
            if ready:
                self.store.service_ready(c.execution_id)
            self.running[c.type] = c
        return [c.type for c in claims]

    def end(self, name: str, status: ExecutionStatus = ExecutionStatus.FAILED, **kw: Any) -> None:
        claim = self.running.pop(name)
        assert self.store.job_finish([Outcome(claim.execution_id, status, **kw)]) == [True]

    def honour_kills(self) -> list[str]:
        """What a worker does at its heartbeat: stop the instances a kill was asked for."""
        ids = {c.execution_id: name for name, c in self.running.items()}
        beat = self.store.execution_heartbeat(sorted(ids), lease=30)
        for execution_id in beat.kill:
            self.end(ids[execution_id], ExecutionStatus.CANCELED, signal=15)
        return [ids[i] for i in beat.kill]

    def jobs(self) -> dict[str, dict[str, Any]]:
        found = self.endian.get_jobs()["jobs"]
        for entry in found.values():
            extra = {"running_action", "pid"} if entry["schedule"] == "executing" else set()
            assert set(entry) == JOB_KEYS | extra, entry
        return found

    def state(self, name: str) -> tuple[str, str, str]:
        entry = self.jobs()[name]
        return entry["status"], entry["sub"], entry["schedule"]


@pytest.fixture
def fleet(store: Store, clock: FakeClock) -> Fleet:
    return Fleet(store, clock)


def chain(**options: Any) -> list[ServiceDefinition]:
    """A <- B <- C: C depends on B, B on A."""
    common = {"autostart": False, "backoff": BACKOFF, "ready": Readiness(after=0), **options}
    return [
        ServiceDefinition("A", **common),
        ServiceDefinition("B", depends_on=("A",), **common),
        ServiceDefinition("C", depends_on=("B",), **common),
    ]


def test_start_runs_dependencies_first_a_crash_restarts_and_stop_runs_in_reverse(
    fleet: Fleet,
) -> None:
    fleet.register(*chain())
    assert {n: fleet.state(n) for n in "ABC"} == {n: ("stop", "ok", "waiting") for n in "ABC"}
    assert fleet.jobs()["A"]["t0"] == 0.0 and fleet.jobs()["A"]["t1"] == 0.0

    fleet.store.service_start("C")  # C needs B, B needs A: all three are wanted
    started: list[str] = []
    fleet.round()
    assert fleet.state("A") == ("start", "ok", "executing")
    assert fleet.jobs()["A"]["running_action"] == "start"
    assert fleet.state("B")[2] == fleet.state("C")[2] == "waiting_depends"
    for _ in range(3):
        started += fleet.work()
        fleet.round(1)
    assert started == ["A", "B", "C"]
    assert {n: fleet.state(n) for n in "ABC"} == {n: ("start", "ok", "waiting") for n in "ABC"}
    t0, t1 = fleet.jobs()["B"]["t0"], fleet.jobs()["B"]["t1"]
    assert 0 < t0 < t1 <= fleet.clock.t

    messages = fleet.endian.get_messages()
    assert [m["msg"] for m in messages["messages"]] == ["A-I-Start", "B-I-Start", "C-I-Start"]
    assert all(set(m) == MESSAGE_KEYS for m in messages["messages"])
    assert [m["startup_percentage"] for m in messages["messages"]] == ["33%", "67%", "100%"]
    assert [m["ok_counter"] for m in messages["messages"]] == [1, 2, 3]
    assert [m["forked_counter"] for m in messages["messages"]] == [1, 2, 3]
    assert messages["time"] == int(fleet.clock.t)

    # B's process dies: B starts again after its backoff, C waits for it meanwhile
    fleet.end("B", signal=9, error_type="ChildDied")
    fleet.round()
    assert fleet.state("B") == ("start", "err", "waiting")
    assert fleet.state("C") == ("start", "ok", "waiting_depends")
    assert fleet.work() == []  # nothing to claim during the backoff
    fleet.round(BACKOFF.base)
    assert fleet.state("B") == ("start", "err", "executing")
    assert fleet.state("C")[2] == "waiting_depends"
    assert fleet.work() == ["B"]
    fleet.round(0.1)
    assert fleet.state("B") == ("start", "ok", "waiting")
    assert fleet.state("C") == ("start", "ok", "waiting")
    last = fleet.endian.get_messages()["messages"][-2:]
    assert [(m["msg"], m["sub"], m["err_counter"]) for m in last] == [
        ("B-E-Exit", "err", 1),
        ("B-I-Start", "ok", 1),
    ]
    service = fleet.store.service_get("B")
    assert service.restarts == 1 and service.failures == 0
    updates = [(u["name"], u["status"]) for u in fleet.endian.get_updates()["updates"]]
    assert updates[:4] == [
        ("C", "start"),
        ("B", "start"),
        ("B", "executing"),
        ("C", "waiting_depends"),
    ]

    # stop A: what depends on it stops first
    fleet.store.service_stop("A")
    stopped: list[str] = []
    for _ in range(4):
        fleet.round(0.1)
        assert fleet.state("A")[0] == "stop"
        stopped += fleet.honour_kills()
    assert stopped == ["C", "B", "A"]
    assert {n: fleet.state(n) for n in "ABC"} == {n: ("stop", "ok", "waiting") for n in "ABC"}
    done = [m["msg"] for m in fleet.endian.get_messages()["messages"][-3:]]
    assert done == ["C-I-Stop", "B-I-Stop", "A-I-Stop"]
    assert fleet.store.service_get("C").restarts == 0  # a stop is not a crash


def test_updates_expire_after_their_timeout(fleet: Fleet) -> None:
    fleet.register(*chain())
    fleet.store.service_start("A")
    fleet.round()
    first = fleet.endian.get_updates(timeout=30.0)["updates"]
    assert [(u["name"], u["status"], u["msg"]) for u in first] == [
        ("A", "executing", "Job A starting (1 instance forked)")
    ]
    assert set(first[0]) == {"name", "status", "time", "msg"}
    fleet.clock.advance(20)
    fleet.work()
    fleet.round()
    assert [u["status"] for u in fleet.endian.get_updates(timeout=30.0)["updates"]] == [
        "start",
        "executing",
    ]
    assert [u["status"] for u in fleet.endian.get_updates(timeout=10.0)["updates"]] == ["start"]
    fleet.clock.advance(25)
    assert [u["msg"] for u in fleet.endian.get_updates()["updates"]] == ["Job A started"]
    fleet.clock.advance(10)
    assert fleet.endian.get_updates()["updates"] == []
    assert fleet.endian.get_updates(timeout=60)["updates"] != []


@pytest.mark.parametrize(
    ("policy", "status", "restarted"),
    [
        ("always", ExecutionStatus.COMPLETED, True),
        ("always", ExecutionStatus.FAILED, True),
        ("on-failure", ExecutionStatus.FAILED, True),
        ("on-failure", ExecutionStatus.COMPLETED, False),
        ("never", ExecutionStatus.FAILED, False),
        ("never", ExecutionStatus.COMPLETED, False),
    ],
)
def test_restart_policy(
    fleet: Fleet, policy: str, status: ExecutionStatus, restarted: bool
) -> None:
    fleet.register(ServiceDefinition("S", restart=policy, backoff=BACKOFF, ready=0))  # type: ignore[arg-type]
    fleet.round()
    assert fleet.work() == ["S"]
    fleet.round()
    fleet.end("S", status, exit_code=0 if status is ExecutionStatus.COMPLETED else 3)
    fleet.round()
    fleet.round(BACKOFF.base)
    service = fleet.store.service_get("S")
    sub = "ok" if status is ExecutionStatus.COMPLETED else "err"
    if restarted:
        assert fleet.work() == ["S"] and service.desired.value == "start"
        assert service.restarts == 1
    else:
        assert fleet.work() == []
        assert (service.desired.value, service.status.value, service.sub) == ("stop", "stop", sub)
        assert fleet.state("S") == ("stop", sub, "waiting")
        fleet.store.service_start("S")  # a person may start it again
        fleet.round()
        assert fleet.work() == ["S"]


def test_backoff_grows_with_failures_in_a_row_and_resets_once_ready(fleet: Fleet) -> None:
    fleet.register(ServiceDefinition("S", backoff=BACKOFF, ready=0))
    fleet.round()
    fleet.work(ready=False)
    for delay in (2, 4, 8):
        fleet.end("S")
        fleet.round()
        service = fleet.store.service_get("S")
        assert service.next_start_at is not None
        assert service.next_start_at.timestamp() == pytest.approx(fleet.clock.t + delay)
        fleet.round(delay - 0.5)
        assert fleet.work(ready=False) == []
        fleet.round(0.5)
        assert fleet.work(ready=False) == ["S"]
    fleet.store.service_ready(fleet.running["S"].execution_id)
    fleet.round()
    assert fleet.store.service_get("S").failures == 0
    fleet.end("S")
    fleet.round()
    assert fleet.store.service_get("S").next_start_at.timestamp() == pytest.approx(  # type: ignore[union-attr]
        fleet.clock.t + 2
    )


def test_an_instance_not_ready_in_time_is_killed_and_started_again(fleet: Fleet) -> None:
    fleet.register(ServiceDefinition("S", backoff=BACKOFF, ready=Readiness(after=1, timeout=10)))
    fleet.round()
    fleet.work(ready=False)
    fleet.round(9)
    assert fleet.honour_kills() == []
    fleet.round(2)
    assert fleet.honour_kills() == ["S"]
    fleet.round()
    assert fleet.state("S") == ("start", "err", "waiting")
    assert fleet.endian.get_messages()["messages"][-1]["msg"] == "S-E-Start"
    fleet.round(BACKOFF.base)
    assert fleet.work() == ["S"]


def test_a_person_killing_an_instance_is_a_failure_the_policy_answers(fleet: Fleet) -> None:
    fleet.register(ServiceDefinition("S", backoff=BACKOFF, ready=0))
    fleet.round()
    fleet.work()
    fleet.round()
    fleet.store.job_kill(fleet.running["S"].job_id, by="alice")
    assert fleet.honour_kills() == ["S"]
    fleet.round()
    assert fleet.state("S") == ("start", "err", "waiting")
    updates = fleet.endian.get_updates()["updates"]
    assert "killed by alice" in updates[0]["msg"]
    fleet.round(BACKOFF.base)
    assert fleet.work() == ["S"]


def test_restart_kills_and_starts_at_once_and_reload_signals(fleet: Fleet) -> None:
    fleet.register(
        ServiceDefinition("S", backoff=BACKOFF, ready=0),
        ServiceDefinition("R", backoff=BACKOFF, ready=0, reload_signal="SIGHUP"),
    )
    fleet.round()
    fleet.work()
    fleet.round()
    old = fleet.running["S"].job_id
    fleet.store.service_restart("S")
    fleet.round()
    assert fleet.jobs()["S"]["running_action"] == "restart"
    assert fleet.honour_kills() == ["S"]
    fleet.round()  # no backoff: it was the duty's own kill
    assert fleet.work() == ["S"] and fleet.running["S"].job_id != old
    fleet.round()
    assert fleet.state("S") == ("start", "ok", "waiting")
    assert fleet.endian.get_messages()["messages"][-1]["msg"] == "S-I-Restart"
    assert fleet.store.service_get("S").restarts == 0

    fleet.store.service_reload("R")
    fleet.round()
    execution = fleet.running["R"].execution_id
    assert fleet.store.service_signals_take([execution]) == [(execution, "SIGHUP")]
    assert fleet.store.service_signals_take([execution]) == []  # taken once
    assert fleet.endian.get_messages()["messages"][-1]["msg"] == "R-I-Reload"
    fleet.store.service_reload("S")  # no signal: a restart
    fleet.round()
    assert fleet.honour_kills() == ["S"]

    fleet.store.service_stop("R")
    with pytest.raises(ServiceConflict):
        fleet.store.service_reload("R")


def test_one_instance_per_slot_cluster_wide(fleet: Fleet, store: Store) -> None:
    fleet.register(
        ServiceDefinition("one", ready=0, backoff=BACKOFF),
        ServiceDefinition("two", ready=0, backoff=BACKOFF, instances=2),
    )
    second = Services(store)  # a second engine acting at the same moment (leadership aside)
    fleet.round()
    second.run_once()
    fleet.round()
    claimed = fleet.work(worker="w1") + fleet.work(worker="w2")
    assert sorted(claimed) == ["one", "two", "two"]
    fleet.round()
    service = store.service_get("two")
    assert [(i.slot, i.running) for i in service.instances] == [(0, True), (1, True)]
    assert fleet.jobs()["two"]["schedule"] == "waiting"


def test_registration_keeps_state_refuses_cycles_and_unknown_services(
    fleet: Fleet, store: Store
) -> None:
    a = ServiceDefinition("A", ready=0)
    fleet.register(a, ServiceDefinition("B", depends_on=("A",), autostart=False))
    assert store.service_get("A").desired.value == "start"  # autostart
    assert store.service_get("B").desired.value == "stop"
    store.service_start("B")
    store.service_register(
        [ServiceDefinition("B", depends_on=("A",), autostart=False, instances=3, app="fleet")]
    )
    again = store.service_get("B")
    assert again.desired.value == "start" and again.definition.instances == 3
    with pytest.raises(Invalid, match="depend on each other"):
        store.service_register([ServiceDefinition("A", depends_on=("B",))])
    assert store.service_get("A").definition.depends_on == ()
    with pytest.raises(NotFound):
        store.service_start("nope")
    with pytest.raises(NotFound):
        store.service_get("nope")
    assert [s.name for s in store.service_list(app="fleet")] == ["A", "B"]
    assert store.service_list(app="other") == []


def test_a_missing_dependency_keeps_a_service_waiting(fleet: Fleet) -> None:
    fleet.register(ServiceDefinition("S", depends_on=("elsewhere",), ready=0))
    fleet.round()
    assert fleet.state("S") == ("start", "ok", "waiting_depends")
    assert fleet.store.service_get("S").waiting_for == ("elsewhere",)
    assert fleet.work() == []


def test_an_instance_given_back_by_a_stopping_worker_runs_again_elsewhere(fleet: Fleet) -> None:
    fleet.register(ServiceDefinition("S", ready=0))
    fleet.round()
    fleet.work(worker="w1")
    fleet.round()
    fleet.end("S", ExecutionStatus.RELEASED)  # the worker shut down and gave it back
    fleet.round()
    job = fleet.store.job_get(fleet.store.service_get("S").instances[0].job_id)  # type: ignore[arg-type]
    assert job.status is JobStatus.QUEUED
    assert fleet.work(worker="w2") == ["S"] and fleet.running["S"].job_id == job.id
    fleet.round()
    assert fleet.state("S") == ("start", "ok", "waiting")
    assert fleet.store.service_get("S").restarts == 0


def test_endian_commands_and_bad_parameters(fleet: Fleet) -> None:
    fleet.register(*chain())
    reply = fleet.endian.send_cmd_to_engine("start C")
    assert reply["name"] == "C" and reply["status"] == "stop"  # the engine carries it out
    assert fleet.store.service_get("A").desired.value == "start"
    fleet.round()
    assert fleet.endian.get_jobs(name="A")["jobs"]["A"]["schedule"] == "executing"
    assert set(fleet.endian.get_jobs(name=["A", "B"])["jobs"]) == {"A", "B"}
    fleet.endian.send_cmd_to_engine("stop A")
    assert fleet.store.service_get("C").desired.value == "stop"
    for bad in ("start", "jump A", "start A B", ""):
        with pytest.raises(Invalid):
            fleet.endian.send_cmd_to_engine(bad)
    with pytest.raises(NotFound):
        fleet.endian.send_cmd_to_engine("start nope")
    with pytest.raises(Invalid, match="unknown parameter"):
        fleet.endian.get_jobs(colour="red")
    with pytest.raises(Invalid):
        fleet.endian.get_updates(timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        fleet.endian.get_messages(limit=0)


def test_pruning_keeps_what_running_instances_need(fleet: Fleet, store: Store) -> None:
    fleet.register(
        ServiceDefinition("S", ready=0, backoff=BACKOFF), ServiceDefinition("T", ready=0)
    )
    fleet.round()
    fleet.work()
    fleet.round()
    fleet.end("S")
    fleet.round()
    fleet.clock.advance(2 * 86400)
    assert store.service_message_prune(older_than=86400) > 0
    assert store.service_messages(limit=100) == []
    assert store.service_messages(kind="update", limit=100) == []
    assert store.service_get("T").instances[0].ready  # a day up, still ready
    fleet.round()
    assert fleet.state("T") == ("start", "ok", "waiting")
