"""The service duty: keeps every service in the state people asked for, and says how it goes.

Each round reads every service with its instances (``Store.service_rows``) and walks them
dependencies first (:func:`~jobyard.core.services.dependency_order`):

1. an instance whose job ended is accounted for once: a kill by the duty itself (stop, restart,
   scale down) is expected; anything else (exit, crash, a person's kill, a lost worker, not ready
   in time) ends as the restart policy says: start again after the backoff, or stay down (the
   service's desired state becomes ``stop``);
2. a restart or reload asked for is carried out (kill the instances; or signal them);
3. desired ``start``: a free slot gets a new instance (a job with the slot's unique key, so the
   database holds one per slot, cluster-wide) once every dependency is ready and any backoff has
   passed; an instance that is not ready within ``ready.timeout`` is killed;
4. desired ``stop``: once nothing that depends on it still runs, its instances are killed.

Then each service reports Endian's state (status, sub, schedule, t0, t1) and the round writes,
in one transaction, what changed with the messages (an action ended: ok, err) and updates (a
service changed schedule) it produced, carrying the ok / err / forked counters and the startup
percentage. Only the leader of the duty runs it, so there is one writer of all this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from jobyard.core.errors import Invalid, InvalidTransition, NotFound
from jobyard.core.models import JobSpec, OnDuplicate
from jobyard.core.services import (
    Action,
    RestartPolicy,
    Schedule,
    ServiceDefinition,
    ServiceInstance,
    dependency_order,
    instance_key,
    message_text,
    startup_percentage,
)
from jobyard.core.states import JobStatus
from jobyard.store.base import Store
from jobyard.store.services import NewMessage, ServiceReport, ServiceRow

log = logging.getLogger("jobyard.engine")

#: the duty's own kills: an instance that ends by one of these is expected, not a failure
STOP, RESTART, SCALE, UNREADY = (
    "service:stop",
    "service:restart",
    "service:scale",
    "service:unready",
)
EXPECTED = frozenset({STOP, RESTART, SCALE})
CREATED_BY = "service:engine"
_VERB = {
    Action.START: "starting",
    Action.STOP: "stopping",
    Action.RESTART: "restarting",
    Action.RELOAD: "reloading",
}
_DONE = {Action.START: "Start", Action.STOP: "Stop", Action.RESTART: "Restart",
         Action.RELOAD: "Reload"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServicesConfig:
    interval: float = 0.5  # seconds between rounds: how fast a crash is noticed
    # while no service is registered, rounds are this many intervals apart: an idle engine
    # asks little of the database, and a newly registered service starts within seconds
    idle_factor: float = 10.0
    message_retention: float = 86400.0  # seconds messages and updates are kept
    prune_every: float = 300.0  # seconds between prunes of old messages

    def __post_init__(self) -> None:
        if min(self.interval, self.message_retention, self.prune_every, self.idle_factor) <= 0:
            raise Invalid("services interval and retention must be positive", field="services")


@dataclass
class _State:
    """What one service reports, as the round changes it."""

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
    done_seq: int
    give_up: bool = False
    slots: list[tuple[int, int | None, bool]] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)
    started: int = 0  # instances started this round
    killed: set[int] = field(default_factory=set)  # jobs the duty asked to kill this round

    def key(self) -> tuple[Any, ...]:
        return (
            self.status, self.sub, self.schedule, self.running_action, self.t0, self.t1,
            self.failures, self.restarts, self.next_start_at, self.waiting_for, self.done_seq,
        )  # fmt: skip


def _epoch(moment: Any) -> float | None:
    return None if moment is None else float(moment.timestamp())


class Services:
    name = "services"

    def __init__(self, store: Store, config: ServicesConfig | None = None) -> None:
        self.store = store
        self.config = config or ServicesConfig()
        self._last_prune: float | None = None
        self._none = False  # the last round found no service

    @property
    def interval(self) -> float:
        """Read after each round (engine/runner.py): longer while there is no service."""
        return self.config.interval * (self.config.idle_factor if self._none else 1.0)

    def run_once(self) -> int:
        """One round; returns how many instances it started or stopped."""
        now = self.store.now()
        rows = self.store.service_rows()
        self._none = not rows
        by_name = {r.service.name: r for r in rows}
        try:
            order = dependency_order(r.service.definition for r in rows)
        except Invalid as exc:  # registration refuses cycles; two apps may still make one
            log.error("services: %s; taking them in name order", exc.message)
            order = sorted((r.service.definition for r in rows), key=lambda d: d.name)
        ready: dict[str, bool] = {}
        reports: list[ServiceReport] = []
        messages: list[NewMessage] = []
        acted = 0
        wanted = 0
        for definition in order:
            row = by_name[definition.name]
            state, is_ready, count = self._round(row, by_name, ready, now)
            ready[definition.name] = is_ready
            acted += count
            if row.service.desired is Action.START and not state.give_up:
                wanted += 1
            if state.key() != self._state_of(row).key() or state.give_up or state.slots:
                reports.append(
                    ServiceReport(
                        name=definition.name,
                        status=state.status,
                        sub=state.sub,
                        schedule=state.schedule,
                        running_action=state.running_action,
                        t0=state.t0,
                        t1=state.t1,
                        failures=state.failures,
                        restarts=state.restarts,
                        next_start_at=state.next_start_at,
                        waiting_for=state.waiting_for,
                        done_seq=state.done_seq,
                        seen=row.desired_at,
                        give_up=state.give_up,
                        slots=tuple(state.slots),
                    )
                )
            messages.extend(state.messages)
        percentage = startup_percentage(wanted, sum(1 for r in ready.values() if r))
        self.store.service_apply(reports, messages, percentage=percentage)
        if self._last_prune is None or now >= self._last_prune + self.config.prune_every:
            self._last_prune = now
            self.store.service_message_prune(older_than=self.config.message_retention)
        return acted

    @staticmethod
    def _state_of(row: ServiceRow) -> _State:
        s = row.service
        return _State(
            status=s.status, sub=s.sub, schedule=s.schedule, running_action=s.running_action,
            t0=_epoch(s.action_started_at), t1=_epoch(s.action_ended_at), failures=s.failures,
            restarts=s.restarts, next_start_at=_epoch(s.next_start_at),
            waiting_for=s.waiting_for, done_seq=row.done_seq,
        )  # fmt: skip

    # -- one service ------------------------------------------------------------------------

    def _round(
        self, row: ServiceRow, by_name: dict[str, ServiceRow], ready: dict[str, bool], now: float
    ) -> tuple[_State, bool, int]:
        s = row.service
        d = s.definition
        state = self._state_of(row)
        instances = {i.slot: i for i in s.instances}
        acted = 0
        for inst in instances.values():
            if inst.job_id is not None and not inst.active and not row.handled.get(inst.slot):
                state.slots.append((inst.slot, inst.job_id, True))
                self._ended(d, s.desired, inst, state, now)
        waiting_for = tuple(dep for dep in d.depends_on if not ready.get(dep))
        state.waiting_for = waiting_for if s.desired is Action.START else ()
        desired = Action.STOP if state.give_up else s.desired
        if row.action is not None and row.action_seq > row.done_seq:
            state.done_seq = row.action_seq
            if desired is Action.START:
                acted += self._act(row.action, d, instances, state, now)
        if desired is Action.START:
            acted += self._keep_up(d, instances, state, now)
        else:
            acted += self._keep_down(d, by_name, instances, state)
        is_ready = self._report(d, desired, instances, state, now)
        return state, is_ready, acted

    def _ended(
        self, d: ServiceDefinition, desired: Action, inst: ServiceInstance, state: _State,
        now: float,
    ) -> None:  # fmt: skip
        """Account for an instance whose job ended (once: its slot is marked handled)."""
        by = inst.canceled_by or ""
        if by in EXPECTED or desired is Action.STOP:
            return
        failed = inst.job_status is not JobStatus.COMPLETED
        said = [f"killed by {by}"] if by and by != UNREADY else []
        said += ["not ready in time"] if by == UNREADY else []
        if inst.signal:
            said.append(f"signal {inst.signal}")
        elif inst.exit_code is not None:
            said.append(f"code {inst.exit_code}")
        how = ", ".join(said) or (inst.job_status.value if inst.job_status else "gone")
        state.sub = "err" if failed else "ok"
        restart = d.restart is RestartPolicy.ALWAYS or (
            d.restart is RestartPolicy.ON_FAILURE and failed
        )
        if restart:
            state.failures += 1
            delay = d.backoff.delay(state.failures)
            state.next_start_at = now + delay
            state.restarts += 1
            then = f"; restarting in {delay:.1f} s"
        else:
            state.give_up = True
            then = f"; not restarted (restart={d.restart.value})"
        word = "Start" if by == UNREADY else "Exit"
        state.messages.append(NewMessage(
            "message", d.name, Action.START.value, state.sub,
            message_text(d.name, ok=not failed, word=word), err=1 if failed else 0,
        ))  # fmt: skip
        state.messages.append(NewMessage(
            "update", d.name, Action.STOP.value, state.sub,
            f"Job {d.name} exited ({how}){then}",
        ))  # fmt: skip

    def _act(
        self, action: Action, d: ServiceDefinition, instances: dict[int, ServiceInstance],
        state: _State, now: float,
    ) -> int:  # fmt: skip
        """A restart or reload that was asked for."""
        if action is Action.RELOAD and d.reload_signal is not None:
            running = [i.execution_id for i in instances.values() if i.running and i.execution_id]
            if running:
                self.store.service_signal_request(running, d.reload_signal)
            state.t0 = state.t1 = now
            state.messages.append(NewMessage(
                "message", d.name, action.value, "ok",
                message_text(d.name, ok=True, word=_DONE[action]), ok=1,
            ))  # fmt: skip
            return len(running)
        killed = 0
        for inst in instances.values():
            if inst.active and inst.job_id is not None and inst.canceled_by is None:
                killed += self._kill(inst.job_id, RESTART, state)
        state.running_action, state.t0, state.t1 = action, now, None
        state.failures, state.next_start_at = 0, None
        return killed

    def _keep_up(
        self, d: ServiceDefinition, instances: dict[int, ServiceInstance], state: _State,
        now: float,
    ) -> int:  # fmt: skip
        acted = 0
        for slot in range(d.instances):
            inst = instances.get(slot)
            if inst is not None and inst.active:
                started = _epoch(inst.started_at)
                late = (
                    inst.running and inst.ready_at is None and started is not None
                    and now - started > d.ready.timeout and inst.canceled_by is None
                )  # fmt: skip
                if late and inst.job_id is not None:
                    acted += self._kill(inst.job_id, UNREADY, state)
                continue
            if state.waiting_for or state.give_up:
                continue
            if state.next_start_at is not None and now < state.next_start_at:
                continue
            job_id = self._start(d, slot)
            if job_id is not None:
                state.slots.append((slot, job_id, False))
                state.started += 1
                acted += 1
                if state.schedule is not Schedule.EXECUTING and state.started == 1:
                    # a new start (first, or after a crash and its backoff): a new action
                    state.running_action = state.running_action or Action.START
                    state.t0, state.t1 = now, None
        for slot, inst in instances.items():
            if slot >= d.instances and inst.active and inst.job_id and inst.canceled_by is None:
                acted += self._kill(inst.job_id, SCALE, state)
        return acted

    def _keep_down(
        self, d: ServiceDefinition, by_name: dict[str, ServiceRow],
        instances: dict[int, ServiceInstance], state: _State,
    ) -> int:  # fmt: skip
        dependents_up = any(
            d.name in other.service.definition.depends_on
            and any(i.active for i in other.service.instances)
            for other in by_name.values()
        )
        if dependents_up:
            return 0  # dependents stop first
        acted = 0
        for inst in instances.values():
            if inst.active and inst.job_id is not None and inst.canceled_by is None:
                acted += self._kill(inst.job_id, STOP, state)
        return acted

    def _report(
        self, d: ServiceDefinition, desired: Action, instances: dict[int, ServiceInstance],
        state: _State, now: float,
    ) -> bool:  # fmt: skip
        """Set status, schedule and the action's end; add messages. True: the service is ready
        (every instance running and ready, and so are its dependencies)."""
        before = (state.status, state.schedule)
        active = any(i.active for i in instances.values()) or state.started > 0
        up = [instances.get(slot) for slot in range(d.instances)]
        own_ready = state.started == 0 and all(
            i is not None and i.ready and i.canceled_by is None and i.job_id not in state.killed
            for i in up
        )
        is_ready = False
        if desired is Action.START:
            state.status = Action.START
            if state.waiting_for:
                state.schedule = Schedule.WAITING_DEPENDS
            elif own_ready:
                is_ready = True
                state.schedule = Schedule.WAITING
                if state.running_action is not None:
                    self._done(d, state, now)
                state.failures = 0
            elif not active and state.next_start_at is not None and now < state.next_start_at:
                state.schedule = Schedule.WAITING  # out of its backoff
            else:
                state.schedule = Schedule.EXECUTING
                if state.running_action is None:
                    state.running_action, state.t0, state.t1 = Action.START, now, None
        else:
            state.status = Action.STOP
            state.waiting_for = ()
            if active:
                state.schedule = Schedule.EXECUTING
                if state.running_action is not Action.STOP:
                    state.running_action, state.t0, state.t1 = Action.STOP, now, None
            else:
                state.schedule = Schedule.WAITING
                if state.running_action is Action.STOP:
                    self._done(d, state, now)
                elif state.running_action is not None or before[0] is not Action.STOP:
                    state.running_action, state.t1 = None, now
        self._updates(d, state, before, is_ready)
        return is_ready

    def _done(self, d: ServiceDefinition, state: _State, now: float) -> None:
        action = state.running_action or Action.START
        state.messages.append(NewMessage(
            "message", d.name, action.value, "ok",
            message_text(d.name, ok=True, word=_DONE[action]), ok=1,
        ))  # fmt: skip
        state.sub = "ok"
        state.running_action, state.t1 = None, now

    def _updates(
        self, d: ServiceDefinition, state: _State, before: tuple[Action, Schedule], ready: bool
    ) -> None:
        changed = (state.status, state.schedule) != before
        if not changed and not state.started:
            return
        if state.schedule is Schedule.EXECUTING:
            status = "executing"
            verb = _VERB[state.running_action or Action.START]
            text = f"Job {d.name} {verb}"
        elif state.schedule is Schedule.WAITING_DEPENDS:
            status = "waiting_depends"
            text = f"Job {d.name} waits for {', '.join(state.waiting_for)}"
        elif state.status is Action.START:
            if not ready:
                return  # waiting out a backoff: the exit was told already
            status = "start"
            text = f"Job {d.name} started"
        else:
            status = "stop"
            text = f"Job {d.name} stopped"
        if state.started:
            text += f" ({state.started} instance{'s' if state.started > 1 else ''} forked)"
        state.messages.append(
            NewMessage("update", d.name, status, state.sub, text, forked=state.started)
        )

    # -- acting on jobs ---------------------------------------------------------------------

    def _start(self, d: ServiceDefinition, slot: int) -> int | None:
        spec = JobSpec(
            type=d.name,
            args=d.args,
            unique_key=instance_key(d.name, slot),
            on_duplicate=OnDuplicate.RETURN,  # the slot is taken: that job is the instance
        )
        try:
            return self.store.job_enqueue([spec], created_by=CREATED_BY)[0]
        except NotFound:
            log.warning("service %s: no job type %r registered; not started", d.name, d.name)
            return None

    def _kill(self, job_id: int, by: str, state: _State) -> int:
        state.killed.add(job_id)
        try:
            self.store.job_kill(job_id, by=by)
        except (InvalidTransition, NotFound):
            return 0  # it ended meanwhile; the next round accounts for it
        return 1
