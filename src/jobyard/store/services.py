"""Services: the part of SqlStore that keeps their definitions, desired and reported state.

Three writers, three sets of columns: people ask (``service_start`` / ``stop`` / ``restart`` /
``reload`` write ``desired`` and ``action_seq``), the engine's service duty reports
(``service_apply`` writes status, schedule, slots and messages, once per round, in one
transaction), and the worker running an instance says when it is ready (``service_ready``) and
takes the signals asked of it (``service_signals_take``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobyard.core.errors import NotFound
from jobyard.core.models import utc
from jobyard.core.services import (
    Action,
    Schedule,
    Service,
    ServiceConflict,
    ServiceDefinition,
    ServiceInstance,
    ServiceMessage,
    closure,
    dependency_order,
)
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store.tx import Row, Tx


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """What the service duty reports for one service after a round (only what changed)."""

    name: str
    status: Action
    sub: str
    schedule: Schedule
    running_action: Action | None
    t0: float | None
    t1: float | None
    failures: int
    restarts: int
    next_start_at: float | None
    waiting_for: tuple[str, ...]
    done_seq: int  # the last restart/reload request carried out
    seen: float  # desired_at as the duty read it: a report on an older wish is not written
    give_up: bool = False  # the restart policy keeps it down: desired becomes stop
    slots: tuple[tuple[int, int | None, bool], ...] = ()  # (slot, job_id, handled) to store


@dataclass(frozen=True, slots=True)
class NewMessage:
    kind: str  # "message" or "update"
    service: str
    action: str
    sub: str
    msg: str
    ok: int = 0  # counter increments
    err: int = 0
    forked: int = 0


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """A service as the duty reads it: the model plus what only the duty needs."""

    service: Service
    desired_at: float
    action: Action | None  # the latest restart/reload asked for
    action_seq: int
    done_seq: int
    handled: dict[int, bool] = field(default_factory=dict)  # slot -> its job's end accounted


class ServicesProtocol(Protocol):
    def service_register(self, definitions: Sequence[ServiceDefinition]) -> None:
        """Store definitions (new ones start desired ``start`` if autostart, else ``stop``);
        a changed definition replaces the old one and keeps the state. Invalid on a cycle."""
        ...

    def service_list(self, *, app: str | None = None) -> list[Service]: ...

    def service_get(self, name: str) -> Service:
        """NotFound when no app registered it."""
        ...

    def service_rows(self) -> list[ServiceRow]:
        """Every service with the duty's bookkeeping (for engine/services.py)."""
        ...

    def service_start(self, name: str, *, by: str | None = None) -> Service:
        """Desired start: the service and every service it depends on (transitively)."""
        ...

    def service_stop(self, name: str, *, by: str | None = None) -> Service:
        """Desired stop: the service and every service that depends on it (transitively)."""
        ...

    def service_restart(self, name: str, *, by: str | None = None) -> Service:
        """Start it (with its dependencies) and kill its running instances to start anew."""
        ...

    def service_reload(self, name: str, *, by: str | None = None) -> Service:
        """Signal its instances (``reload_signal``) or restart them. ServiceConflict if stopped."""
        ...

    def service_ready(self, execution_id: int) -> bool:
        """An instance's readiness check passed; False if the execution no longer runs."""
        ...

    def service_signals_take(self, execution_ids: Sequence[int]) -> list[tuple[int, str]]:
        """Signals asked of these executions and not yet taken: (execution id, signal name)."""
        ...

    def service_signal_request(self, execution_ids: Sequence[int], signal: str) -> None: ...

    def service_apply(
        self, reports: Sequence[ServiceReport], messages: Sequence[NewMessage], *, percentage: int
    ) -> None:
        """The duty's round, in one transaction: reports, slots, messages with counters."""
        ...

    def service_messages(
        self, *, kind: str = "message", since: float | None = None, limit: int = 100
    ) -> list[ServiceMessage]:
        """The newest messages (or updates) first, at or after ``since`` (epoch seconds)."""
        ...

    def service_message_prune(self, *, older_than: float) -> int: ...


def _definition(row: Row) -> ServiceDefinition:
    return ServiceDefinition.from_dict(_loads(row["definition"]))


def _instance(row: Row) -> ServiceInstance:
    status = row["job_status"]
    execution_status = row["execution_status"]
    return ServiceInstance(
        slot=int(row["slot"]),
        job_id=row["job_id"],
        job_status=None if status is None else JobStatus(status),
        execution_id=row["execution_id"],
        execution_status=None if execution_status is None else ExecutionStatus(execution_status),
        pid=row["pid"],
        hostname=row["hostname"],
        worker_id=row["worker_id"],
        started_at=utc(row["started_at"]),
        ready_at=utc(row["ready_at"]),
        ended_at=utc(row["ended_at"]),
        exit_code=row["exit_code"],
        signal=row["signal"],
        canceled_by=row["canceled_by"] or row["kill_requested_by"],
    )


def _service(row: Row, instances: Iterable[Row]) -> Service:
    action = row["running_action"]
    return Service(
        definition=_definition(row),
        desired=Action(row["desired"]),
        status=Action(row["status"]),
        sub=row["sub"],
        schedule=Schedule(row["schedule"]),
        running_action=None if action is None else Action(action),
        action_started_at=utc(row["t0"]),
        action_ended_at=utc(row["t1"]),
        failures=int(row["failures"]),
        restarts=int(row["restarts"]),
        next_start_at=utc(row["next_start_at"]),
        waiting_for=tuple(_loads(row["waiting_for"]) or ()),
        instances=tuple(_instance(i) for i in instances),
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
    )


def _message(row: Row) -> ServiceMessage:
    return ServiceMessage(
        id=int(row["id"]),
        at=float(row["at"]),
        kind=row["kind"],
        service=row["service"],
        action=row["action"],
        sub=row["sub"],
        msg=row["msg"],
        ok_counter=int(row["ok_counter"]),
        err_counter=int(row["err_counter"]),
        forked_counter=int(row["forked_counter"]),
        startup_percentage=int(row["startup_percentage"]),
    )


class ServicesStore:
    """Mixed into SqlStore; relies on its ``_tx``, ``now`` and ``_list``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _fast_tx: Callable[[], AbstractContextManager[Tx]]
    now: Callable[[], float]
    _list: Callable[[Iterable[Any]], Any]

    def service_register(self, definitions: Sequence[ServiceDefinition]) -> None:
        if not definitions:
            return
        now = self.now()
        with self._tx() as tx:
            stored = {r["name"]: _definition(r) for r in tx.rows("service_all")}
            stored.update({d.name: d for d in definitions})
            dependency_order(stored.values())  # Invalid on a cycle, before anything is written
            for d in definitions:
                tx.run(
                    "service_upsert", name=d.name, app=d.app, definition=_dumps(d.to_dict()),
                    desired=(Action.START if d.autostart else Action.STOP).value, now=now,
                )  # fmt: skip

    def service_list(self, *, app: str | None = None) -> list[Service]:
        with self._tx(write=False) as tx:
            rows = tx.rows("service_all")
            instances = tx.rows("service_instances")
        return [
            _service(r, (i for i in instances if i["service"] == r["name"]))
            for r in rows
            if app is None or r["app"] == app
        ]

    def service_get(self, name: str) -> Service:
        with self._tx(write=False) as tx:
            row = tx.one("service_get", name=name)
            if row is None:
                raise NotFound(f"no service {name!r}", field="service", service=name)
            instances = tx.rows("service_instances_of", service=name)
        return _service(row, instances)

    def service_rows(self) -> list[ServiceRow]:
        with self._fast_tx() as tx:  # most apps have none: one statement says so
            if tx.one("service_any") is None:
                return []
        with self._tx(write=False) as tx:
            rows = tx.rows("service_all")
            instances = tx.rows("service_instances")
        result = []
        for r in rows:
            mine = [i for i in instances if i["service"] == r["name"]]
            result.append(
                ServiceRow(
                    service=_service(r, mine),
                    desired_at=float(r["desired_at"]),
                    action=None if r["action"] is None else Action(r["action"]),
                    action_seq=int(r["action_seq"]),
                    done_seq=int(r["done_seq"]),
                    handled={int(i["slot"]): bool(i["handled"]) for i in mine},
                )
            )
        return result

    def _desire(self, name: str, desired: Action, *, by: str | None, action: Action | None) -> None:
        now = self.now()
        with self._tx() as tx:
            rows = {r["name"]: r for r in tx.rows("service_all")}
            if name not in rows:
                raise NotFound(f"no service {name!r}", field="service", service=name)
            defs = {n: _definition(r) for n, r in rows.items()}
            if desired is Action.START:
                edges = {n: list(d.depends_on) for n, d in defs.items()}
            else:  # stop what depends on it too
                edges = {n: [m for m, d in defs.items() if n in d.depends_on] for n in defs}
            if action is Action.RELOAD and rows[name]["desired"] != Action.START:
                raise ServiceConflict(
                    f"service {name!r} is stopped: start it instead of reloading it",
                    service=name, status=rows[name]["desired"], operation="reload",
                )  # fmt: skip
            for target in closure(name, edges):
                row = rows.get(target)
                if row is None:  # a dependency no app registered: the duty reports it missing
                    continue
                if row["desired"] != desired.value or target == name:
                    tx.run(
                        "service_desire", name=target, desired=desired.value, by=by, now=now,
                        reset=1 if desired is Action.START else 0,
                    )  # fmt: skip
            if action is not None:
                tx.run("service_request", name=name, action=action.value, now=now)

    def service_start(self, name: str, *, by: str | None = None) -> Service:
        self._desire(name, Action.START, by=by, action=None)
        return self.service_get(name)

    def service_stop(self, name: str, *, by: str | None = None) -> Service:
        self._desire(name, Action.STOP, by=by, action=None)
        return self.service_get(name)

    def service_restart(self, name: str, *, by: str | None = None) -> Service:
        self._desire(name, Action.START, by=by, action=Action.RESTART)
        return self.service_get(name)

    def service_reload(self, name: str, *, by: str | None = None) -> Service:
        self._desire(name, Action.START, by=by, action=Action.RELOAD)
        return self.service_get(name)

    def service_ready(self, execution_id: int) -> bool:
        with self._tx() as tx:
            return bool(tx.run("service_ready_mark", execution_id=execution_id, now=self.now()))

    def service_signals_take(self, execution_ids: Sequence[int]) -> list[tuple[int, str]]:
        if not execution_ids:
            return []
        with self._tx() as tx:
            rows = tx.rows("service_signals_take", ids=self._list(execution_ids), now=self.now())
        return [(int(r["execution_id"]), str(r["signal"])) for r in rows]

    def service_signal_request(self, execution_ids: Sequence[int], signal: str) -> None:
        now = self.now()
        with self._tx() as tx:
            for execution_id in execution_ids:
                tx.run("service_signal_add", execution_id=execution_id, signal=signal, now=now)

    def service_apply(
        self, reports: Sequence[ServiceReport], messages: Sequence[NewMessage], *, percentage: int
    ) -> None:
        if not reports and not messages:
            return
        now = self.now()
        with self._tx() as tx:
            for r in reports:
                tx.run(
                    "service_report", name=r.name, status=r.status.value, sub=r.sub,
                    schedule=r.schedule.value,
                    running_action=None if r.running_action is None else r.running_action.value,
                    t0=r.t0, t1=r.t1, failures=r.failures, restarts=r.restarts,
                    next_start_at=r.next_start_at, waiting_for=_dumps(list(r.waiting_for)),
                    done_seq=r.done_seq, seen=r.seen, now=now,
                )  # fmt: skip
                if r.give_up:
                    tx.run("service_give_up", name=r.name, seen=r.seen, now=now)
                for slot, job_id, handled in r.slots:
                    tx.run(
                        "service_slot_set", service=r.name, slot=slot, job_id=job_id,
                        handled=1 if handled else 0,
                    )  # fmt: skip
            last = tx.one("service_message_last")
            ok, err, forked = (
                (0, 0, 0)
                if last is None
                else (last["ok_counter"], last["err_counter"], last["forked_counter"])
            )
            for m in messages:
                ok, err, forked = ok + m.ok, err + m.err, forked + m.forked
                tx.run(
                    "service_message_add", now=now, kind=m.kind, service=m.service,
                    action=m.action, sub=m.sub, msg=m.msg, ok_counter=ok, err_counter=err,
                    forked_counter=forked, startup_percentage=percentage,
                )  # fmt: skip

    def service_messages(
        self, *, kind: str = "message", since: float | None = None, limit: int = 100
    ) -> list[ServiceMessage]:
        with self._tx(write=False) as tx:
            rows = tx.rows(
                "service_messages", kind=kind, since=-1.0 if since is None else since, limit=limit
            )
        return [_message(r) for r in rows]

    def service_message_prune(self, *, older_than: float) -> int:
        before = self.now() - older_than
        with self._tx() as tx:
            pruned = tx.run("service_message_prune", before=before)
            tx.run("service_signal_prune", before=before)
            tx.run("service_ready_prune", before=before)
        return pruned


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
