"""Schedules: the part of SqlStore that keeps schedules and makes their jobs, one per tick.

``schedule_fire`` records the tick in ``schedule_run`` and makes its job in ONE transaction. The
run's primary key (schedule, tick) is the guarantee: a second engine firing the same tick inserts
nothing (``ON CONFLICT DO NOTHING``), so it makes no job — whatever the engines' leadership says.
A fire names the schedule revision it was planned on; an edit in between voids it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import JobSpec, JobType, utc
from jobyard.core.schedules import CatchUp, Schedule, ScheduleRun, ScheduleSpec, next_tick
from jobyard.core.states import JobStatus
from jobyard.store.tx import Row, Tx


def _dumps(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class ScheduleStoreProtocol(Protocol):
    """The schedule operations of the Store protocol."""

    def schedule_create(self, spec: ScheduleSpec, *, created_by: str | None = None) -> Schedule:
        """A new schedule; its first tick is the first one after now. Duplicate if the name is
        taken; Invalid (field ``type``) if no job type has that name."""
        ...

    def schedule_get(self, name: str) -> Schedule:
        """NotFound otherwise."""
        ...

    def schedule_list(self) -> list[Schedule]:
        """Every schedule, by name."""
        ...

    def schedule_update(self, name: str, changes: Mapping[str, Any]) -> Schedule:
        """Apply ``changes`` (the fields of a ScheduleSpec but its name); revision + 1. A change
        of when it runs, or enabling it, starts again from the first tick after now: ticks that
        passed while it was disabled are not missed ones."""
        ...

    def schedule_delete(self, name: str) -> None:
        """Remove a schedule and its run history; the jobs it made stay."""
        ...

    def schedule_due(self, *, now: float, limit: int = 100) -> list[Schedule]:
        """Enabled schedules whose next tick is at or before ``now``, the most overdue first."""
        ...

    def schedule_next_fire(self) -> float | None:
        """When the first enabled schedule next ticks (epoch seconds); None when none is."""
        ...

    def schedule_fire(
        self,
        schedule_id: int,
        *,
        revision: int,
        fire_at: float,
        enqueue: bool,
        missed: int = 0,
        next_fire_at: float | None,
    ) -> ScheduleRun | None:
        """Act on one tick, in one transaction: record it and (``enqueue``) make its job, then
        move the schedule's next tick on to ``next_fire_at``. None when the tick was already
        recorded (another engine got there first: no job), or the schedule was edited, disabled
        or removed since ``revision``."""
        ...

    def schedule_runs(self, name: str, *, limit: int = 50) -> list[ScheduleRun]:
        """A schedule's latest runs, newest tick first, with their jobs' current states."""
        ...

    def schedule_run_prune(self, *, older_than: float) -> int:
        """Delete runs recorded more than ``older_than`` seconds ago; returns how many."""
        ...


class ScheduleStore:
    """Mixed into SqlStore; relies on its transactions and job insertion."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _next_moment: Callable[[str], float | None]
    now: Callable[[], float]
    _new_job: Callable[..., dict[str, Any]]
    _insert_jobs: Callable[[Tx, Sequence[tuple[JobSpec, dict[str, Any]]]], list[tuple[int, bool]]]
    _state_event: Callable[..., dict[str, Any]]
    _announce: Callable[[Tx, Iterable[str]], None]
    _wake_local: Callable[[], None]
    _job_type: Callable[[Row], JobType]

    def schedule_create(self, spec: ScheduleSpec, *, created_by: str | None = None) -> Schedule:
        now = self.now()
        with self._tx() as tx:
            self._check_type(tx, spec)
            if tx.one("schedule_by_name", name=spec.name) is not None:
                raise Duplicate(f"schedule {spec.name!r} exists", field="name")
            row = tx.one(
                "schedule_insert",
                **_columns(spec),
                next_fire_at=next_tick(spec.cron, spec.timezone, now),
                now=now,
                created_by=created_by,
            )
            assert row is not None
            created = tx.one("schedule_by_name", name=spec.name)
        assert created is not None
        return _schedule(created)

    def schedule_get(self, name: str) -> Schedule:
        with self._tx(write=False) as tx:
            row = tx.one("schedule_by_name", name=name)
        if row is None:
            raise NotFound(f"no schedule {name!r}", field="name")
        return _schedule(row)

    def schedule_list(self) -> list[Schedule]:
        with self._tx(write=False) as tx:
            return [_schedule(r) for r in tx.rows("schedule_list")]

    def schedule_update(self, name: str, changes: Mapping[str, Any]) -> Schedule:
        now = self.now()
        with self._tx() as tx:
            row = tx.one("schedule_by_name_lock", name=name)
            if row is None:
                raise NotFound(f"no schedule {name!r}", field="name")
            old = _schedule(row)
            spec = old.spec.changed(changes)
            if (spec.type, spec.args) != (old.spec.type, old.spec.args):
                self._check_type(tx, spec)
            timing = (spec.cron, spec.timezone) != (old.spec.cron, old.spec.timezone)
            if timing or (spec.enabled and not old.spec.enabled):
                next_fire_at = next_tick(spec.cron, spec.timezone, now)
            else:
                next_fire_at = row["next_fire_at"]
            tx.run(
                "schedule_update", id=old.id, **_columns(spec), next_fire_at=next_fire_at, now=now
            )
            updated = tx.one("schedule_by_name", name=name)
        assert updated is not None
        return _schedule(updated)

    def schedule_delete(self, name: str) -> None:
        with self._tx() as tx:
            row = tx.one("schedule_by_name_lock", name=name)
            if row is None:
                raise NotFound(f"no schedule {name!r}", field="name")
            tx.run("schedule_runs_delete", id=row["id"])
            tx.run("schedule_delete", id=row["id"])

    def schedule_due(self, *, now: float, limit: int = 100) -> list[Schedule]:
        with self._tx(write=False) as tx:
            return [_schedule(r) for r in tx.rows("schedule_due", now=now, limit=limit)]

    def schedule_next_fire(self) -> float | None:
        return self._next_moment("schedule_next_fire")

    def schedule_fire(
        self,
        schedule_id: int,
        *,
        revision: int,
        fire_at: float,
        enqueue: bool,
        missed: int = 0,
        next_fire_at: float | None,
    ) -> ScheduleRun | None:
        now = self.now()
        queues: set[str] = set()
        with self._tx() as tx:
            # the tick's row first: a second engine's insert of it returns nothing (or, on
            # PostgreSQL, waits for the first to commit and then returns nothing)
            recorded = tx.one(
                "schedule_run_insert", id=schedule_id, revision=revision, fire_at=fire_at,
                missed=missed, now=now,
            )  # fmt: skip
            tx.run(
                "schedule_advance", id=schedule_id, revision=revision, fire_at=fire_at,
                next_fire_at=next_fire_at,
            )  # fmt: skip
            if recorded is None:
                return None
            row = tx.one("schedule_by_id", id=schedule_id)
            assert row is not None  # the run was recorded against it in this transaction
            job_id, error = None, None
            if enqueue:
                job_id, error, queue = self._make_job(tx, _schedule(row), fire_at=fire_at, now=now)
                queues.update(queue)
                tx.run(
                    "schedule_run_set_job", id=schedule_id, fire_at=fire_at, job_id=job_id,
                    error=error,
                )  # fmt: skip
            self._announce(tx, queues)
        if queues:
            self._wake_local()
        return ScheduleRun(
            schedule_id=schedule_id,
            fire_at=utc(fire_at),  # type: ignore[arg-type]
            recorded_at=utc(now),  # type: ignore[arg-type]
            job_id=job_id,
            job_status=None if job_id is None else JobStatus.QUEUED,
            missed=missed,
            error=error,
        )

    def _make_job(
        self, tx: Tx, schedule: Schedule, *, fire_at: float, now: float
    ) -> tuple[int | None, str | None, set[str]]:
        """(job id, why there is none, the queue that got work)."""
        spec = schedule.spec
        type_row = tx.one("type_current", name=spec.type)
        if type_row is None:  # job types are never deleted; a database restored without it
            return None, f"no job type {spec.type!r}", set()
        job_type = self._job_type(type_row)
        if job_type.archived_at is not None:
            return None, f"job type {spec.type!r} is archived: it takes no new jobs", set()
        interface = job_type.definition.interface
        if interface is not None:
            try:
                interface.check_args(spec.args)
            except Invalid as exc:  # the type's interface changed since the schedule was made
                return None, exc.message, set()
        job = JobSpec(type=spec.type, args=spec.args, queue=spec.queue, priority=spec.priority)
        params = self._new_job(job, job_type, now=now, created_by=f"schedule:{spec.name}")
        [(job_id, _)] = self._insert_jobs(tx, [(job, params)])
        tx.run("queue_ensure", name=params["queue"], now=now)
        tx.run(
            "event_insert",
            **self._state_event(job_id, params["status"], now, schedule=spec.name, fire_at=fire_at),
        )
        return job_id, None, {params["queue"]} if params["status"] == "queued" else set()

    def schedule_runs(self, name: str, *, limit: int = 50) -> list[ScheduleRun]:
        if not 1 <= limit <= 10_000:
            raise Invalid("limit is from 1 to 10000", field="limit")
        with self._tx(write=False) as tx:
            row = tx.one("schedule_by_name", name=name)
            if row is None:
                raise NotFound(f"no schedule {name!r}", field="name")
            runs = tx.rows("schedule_runs", id=row["id"], limit=limit)
        return [_run(r) for r in runs]

    def schedule_run_prune(self, *, older_than: float) -> int:
        with self._tx() as tx:
            return tx.run("schedule_run_prune", before=self.now() - older_than)

    def _check_type(self, tx: Tx, spec: ScheduleSpec) -> None:
        """The schedule's job type exists, takes new jobs, and takes the schedule's args."""
        row = tx.one("type_current", name=spec.type)
        if row is None:
            raise Invalid(
                f"no job type {spec.type!r}: a schedule enqueues a known type", field="type"
            )
        job_type = self._job_type(row)
        if job_type.archived_at is not None:
            raise Invalid(f"job type {spec.type!r} is archived", field="type")
        if job_type.definition.interface is not None:
            job_type.definition.interface.check_args(spec.args)  # Invalid naming args.<input>


def _columns(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "cron": spec.cron,
        "timezone": spec.timezone,
        "type": spec.type,
        "args": _dumps(spec.args),
        "queue": spec.queue,
        "priority": spec.priority,
        "enabled": spec.enabled,
        "catch_up": spec.catch_up.value,
        "description": spec.description,
    }


def _schedule(row: Row) -> Schedule:
    spec = ScheduleSpec(
        name=row["name"],
        cron=row["cron"],
        type=row["type"],
        args=_loads(row["args"]),
        timezone=row["timezone"],
        queue=row["queue"],
        priority=row["priority"],
        enabled=bool(row["enabled"]),
        catch_up=CatchUp(row["catch_up"]),
        description=row["description"],
    )
    return Schedule(
        id=int(row["id"]),
        spec=spec,
        revision=int(row["revision"]),
        next_fire_at=utc(row["next_fire_at"]),
        last_fire_at=utc(row["last_fire_at"]),
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"],
    )


def _run(row: Row) -> ScheduleRun:
    return ScheduleRun(
        schedule_id=int(row["schedule_id"]),
        fire_at=utc(row["fire_at"]),  # type: ignore[arg-type]
        recorded_at=utc(row["recorded_at"]),  # type: ignore[arg-type]
        job_id=row["job_id"],
        job_status=None if row["job_status"] is None else JobStatus(row["job_status"]),
        missed=int(row["missed"]),
        error=row["error"],
    )
