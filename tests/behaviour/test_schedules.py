"""Schedules: kept in the store, fired by the engine's scheduler one job per tick.

Time is the fake clock's: every store and scheduler here reads it, and tests move it by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from behaviour.factory import T0, FakeClock, JobFactory
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import JobFilter, Outcome, PageRequest
from jobyard.core.schedules import CatchUp, ScheduleSpec
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.engine.schedules import Scheduler, SchedulerConfig
from jobyard.store import Store

TYPE = "test.echo"
MINUTE = 60.0
HOUR = 3600.0


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.fixture
def typed(factory: JobFactory) -> JobFactory:
    factory.register(TYPE, queue="sched")
    return factory


def spec(name: str = "tick", cron: str = "* * * * *", **options: Any) -> ScheduleSpec:
    return ScheduleSpec(name=name, cron=cron, type=TYPE, args={"n": 1}, **options)


def scheduled_jobs(store: Store) -> list[Any]:
    page = store.job_list(JobFilter(types=(TYPE,)), PageRequest(per_page=1000, sort="id"))
    return list(page.results)


# -- the store ------------------------------------------------------------------------------------


def test_create_get_list(store: Store, typed: JobFactory) -> None:
    made = store.schedule_create(spec(timezone="Europe/Berlin", queue="q1"), created_by="alice")
    assert (made.name, made.revision, made.created_by) == ("tick", 1, "alice")
    assert made.next_fire_at is not None and made.next_fire_at.timestamp() == T0 + MINUTE
    assert made.spec == spec(timezone="Europe/Berlin", queue="q1")
    assert store.schedule_get("tick") == made
    store.schedule_create(spec("another", "@hourly"))
    assert [s.name for s in store.schedule_list()] == ["another", "tick"]
    assert store.schedule_get("another").spec.cron == "@hourly"
    with pytest.raises(Duplicate) as info:
        store.schedule_create(spec())
    assert info.value.details["field"] == "name"
    with pytest.raises(NotFound):
        store.schedule_get("nope")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": ""}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"catch_up": "all"}, "catch_up"),
        ({"priority": "high"}, "priority"),
        ({"name": "no spaces"}, "name"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_bad_schedules_name_the_field(options: dict[str, Any], field: str) -> None:
    values = {"name": "s", "cron": "* * * * *", "type": TYPE, **options}
    with pytest.raises(Invalid) as info:
        ScheduleSpec.from_dict(values)
    assert info.value.field == field


def test_a_schedule_needs_a_known_type_and_known_options(store: Store, typed: JobFactory) -> None:
    with pytest.raises(Invalid) as info:
        store.schedule_create(ScheduleSpec(name="s", cron="* * * * *", type="nope"))
    assert info.value.field == "type"
    with pytest.raises(Invalid) as info:
        ScheduleSpec.from_dict({"name": "s", "cron": "* * * * *", "type": TYPE, "every": 5})
    assert info.value.field == "every"
    with pytest.raises(Invalid) as info:
        ScheduleSpec.from_dict({"name": "s", "type": TYPE})
    assert info.value.field == "cron"
    assert store.schedule_list() == []


def test_update_and_delete(store: Store, typed: JobFactory, clock: FakeClock) -> None:
    store.schedule_create(spec())
    clock.advance(10)
    changed = store.schedule_update("tick", {"args": {"n": 2}, "description": "two"})
    assert (changed.revision, changed.spec.args, changed.spec.description) == (2, {"n": 2}, "two")
    assert changed.next_fire_at.timestamp() == T0 + MINUTE  # type: ignore[union-attr]
    hourly = store.schedule_update("tick", {"cron": "0 * * * *"})
    assert hourly.next_fire_at.timestamp() == T0 + HOUR  # type: ignore[union-attr]
    assert hourly.updated_at.timestamp() == T0 + 10
    for changes, field in (({"name": "x"}, "name"), ({"cron": "nope"}, "cron"),
                           ({"type": "nope"}, "type"), ({"colour": 1}, "colour")):  # fmt: skip
        with pytest.raises(Invalid) as info:
            store.schedule_update("tick", changes)
        assert info.value.field == field
    assert store.schedule_get("tick").revision == 3
    with pytest.raises(NotFound):
        store.schedule_update("nope", {})
    store.schedule_delete("tick")
    assert store.schedule_list() == []
    with pytest.raises(NotFound):
        store.schedule_delete("tick")


def test_one_tick_fired_twice_makes_one_job(store: Store, typed: JobFactory) -> None:
    s = store.schedule_create(spec())
    tick = T0 + MINUTE
    first = store.schedule_fire(
        s.id, revision=1, fire_at=tick, enqueue=True, next_fire_at=tick + MINUTE
    )
    assert first is not None and first.job_id is not None
    again = store.schedule_fire(
        s.id, revision=1, fire_at=tick, enqueue=True, next_fire_at=tick + MINUTE
    )
    assert again is None
    [job] = scheduled_jobs(store)
    assert (job.id, job.status, job.args, job.queue) == (
        first.job_id,
        JobStatus.QUEUED,
        {"n": 1},
        "sched",
    )
    assert job.created_by == "schedule:tick"
    assert store.schedule_get("tick").next_fire_at.timestamp() == tick + MINUTE  # type: ignore[union-attr]
    assert store.schedule_get("tick").last_fire_at.timestamp() == tick  # type: ignore[union-attr]


def test_a_fire_planned_on_an_older_revision_or_a_disabled_schedule_makes_nothing(
    store: Store, typed: JobFactory
) -> None:
    s = store.schedule_create(spec())
    store.schedule_update("tick", {"args": {"n": 2}})
    tick = T0 + MINUTE
    assert (
        store.schedule_fire(s.id, revision=1, fire_at=tick, enqueue=True, next_fire_at=None) is None
    )
    store.schedule_update("tick", {"enabled": False})
    assert (
        store.schedule_fire(s.id, revision=3, fire_at=tick, enqueue=True, next_fire_at=None) is None
    )
    assert scheduled_jobs(store) == []
    assert store.schedule_runs("tick") == []
    assert store.schedule_get("tick").next_fire_at.timestamp() == tick  # type: ignore[union-attr]


def test_run_history_shows_each_tick_and_its_job(
    store: Store, typed: JobFactory, clock: FakeClock
) -> None:
    store.schedule_create(spec(priority=7))
    scheduler = Scheduler(store)
    for _ in range(3):
        clock.advance(MINUTE)
        assert scheduler.run_once() == 1
    [claim] = store.job_claim(worker_id="w", queues=["sched"], types=[TYPE], limit=1, lease=30)
    store.job_finish([Outcome(claim.execution_id, ExecutionStatus.COMPLETED, result={})])
    runs = store.schedule_runs("tick")
    assert [r.fire_at.timestamp() for r in runs] == [T0 + 3 * MINUTE, T0 + 2 * MINUTE, T0 + MINUTE]
    assert [r.job_status for r in runs] == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.COMPLETED]
    assert runs[-1].job_id == claim.job_id and all(r.missed == 0 for r in runs)
    assert store.job_get(claim.job_id).priority == 7
    assert [r.fire_at for r in store.schedule_runs("tick", limit=1)] == [runs[0].fire_at]
    store.schedule_delete("tick")
    assert len(scheduled_jobs(store)) == 3  # the jobs stay


# -- the scheduler --------------------------------------------------------------------------------


class Racing:
    """A store whose schedule_due waits until every engine has read: they all plan the same tick
    and all try to fire it, so only the database can keep it to one job."""

    def __init__(self, store: Store, barrier: threading.Barrier, fires: list[object]) -> None:
        self._store = store
        self._barrier = barrier
        self._fires = fires

    def schedule_due(self, **kwargs: Any) -> Any:
        due = self._store.schedule_due(**kwargs)
        self._barrier.wait(timeout=30)
        return due

    def schedule_fire(self, *args: Any, **kwargs: Any) -> Any:
        run = self._store.schedule_fire(*args, **kwargs)
        self._fires.append(run)
        return run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_three_engines_over_100_ticks_make_exactly_100_jobs(
    make_store: Callable[..., Store], clock: FakeClock, typed: JobFactory
) -> None:
    store = typed.store
    store.schedule_create(spec())
    barrier = threading.Barrier(3)
    fires: list[object] = []
    engines = [
        Scheduler(Racing(make_store(clock=clock), barrier, fires), clock=clock)  # type: ignore[arg-type]
        for _ in range(3)
    ]
    errors: list[BaseException] = []

    def run(engine: Scheduler) -> None:
        try:
            engine.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for _ in range(100):
        clock.advance(MINUTE)
        threads = [threading.Thread(target=run, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    jobs = scheduled_jobs(store)
    assert len(jobs) == 100
    assert len(fires) == 300  # every engine tried every tick
    assert sum(f is not None for f in fires) == 100
    fired = sorted(r.fire_at.timestamp() for r in store.schedule_runs("tick", limit=1000))
    assert fired == [T0 + MINUTE * (i + 1) for i in range(100)]


@pytest.mark.parametrize(
    ("catch_up", "late", "made", "missed"),
    [
        (CatchUp.SKIP, 10 * MINUTE, 0, 4),  # the latest tick came 10 minutes ago: too late
        (CatchUp.ONCE, 10 * MINUTE, 1, 4),  # one job for all five
        (CatchUp.SKIP, 30.0, 1, 4),  # the latest tick is on time: it runs, the rest do not
    ],
)
def test_catch_up_after_a_gap(
    store: Store, typed: JobFactory, clock: FakeClock, catch_up: CatchUp, late: float,
    made: int, missed: int,
) -> None:  # fmt: skip
    store.schedule_create(spec(cron="0 * * * *", catch_up=catch_up))
    scheduler = Scheduler(store, SchedulerConfig(grace=MINUTE))
    clock.advance(5 * HOUR + late)  # the engine was down for five ticks
    assert scheduler.run_once() == made
    [run] = store.schedule_runs("tick")
    assert (run.fire_at.timestamp(), run.missed) == (T0 + 5 * HOUR, missed)
    assert (run.job_id is not None) == bool(made)
    assert len(scheduled_jobs(store)) == made
    assert scheduler.run_once() == 0  # nothing is due until the next tick
    clock.t = T0 + 6 * HOUR
    assert scheduler.run_once() == 1  # back on schedule
    assert len(scheduled_jobs(store)) == made + 1


def test_a_disabled_schedule_fires_nothing(
    store: Store, typed: JobFactory, clock: FakeClock
) -> None:
    store.schedule_create(spec(enabled=False))
    scheduler = Scheduler(store)
    for _ in range(5):
        clock.advance(MINUTE)
        assert scheduler.run_once() == 0
    assert scheduled_jobs(store) == [] and store.schedule_runs("tick") == []
    enabled = store.schedule_update("tick", {"enabled": True})
    # ticks that passed while it was disabled are not missed: it starts from the next one
    assert enabled.next_fire_at.timestamp() == clock() + MINUTE  # type: ignore[union-attr]
    clock.advance(MINUTE)
    assert scheduler.run_once() == 1
    store.schedule_update("tick", {"enabled": False})
    clock.advance(MINUTE)
    assert scheduler.run_once() == 0


def test_a_daily_schedule_follows_its_time_zone_across_daylight_saving(
    store: Store, typed: JobFactory, clock: FakeClock
) -> None:
    """09:00 in New York is 14:00 UTC before 14 March 2027 and 13:00 UTC from then on."""
    clock.t = utc(2027, 3, 12, 20, 0)
    store.schedule_create(spec(cron="0 9 * * *", timezone="America/New_York"))
    scheduler = Scheduler(store)
    while clock() < utc(2027, 3, 16):
        clock.advance(15 * MINUTE)
        scheduler.run_once()
    runs = store.schedule_runs("tick")
    assert [r.fire_at.timestamp() for r in reversed(runs)] == [
        utc(2027, 3, 13, 14), utc(2027, 3, 14, 13), utc(2027, 3, 15, 13),
    ]  # fmt: skip
    assert all(r.job_id is not None and r.missed == 0 for r in runs)
    created = sorted(j.created_at.timestamp() for j in scheduled_jobs(store))
    assert created == [r.fire_at.timestamp() for r in reversed(runs)]  # each on its tick


def test_old_runs_are_pruned(store: Store, typed: JobFactory, clock: FakeClock) -> None:
    store.schedule_create(spec())
    clock.advance(MINUTE)
    Scheduler(store).run_once()
    clock.advance(HOUR)
    scheduler = Scheduler(store, SchedulerConfig(run_retention=HOUR / 2))
    scheduler.run_once()
    assert [r.fire_at.timestamp() for r in store.schedule_runs("tick")] == [clock()]
