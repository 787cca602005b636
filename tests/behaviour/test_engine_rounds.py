"""The engine's duties space their rounds by when their next work is due, on both backends.

An idle engine must not poll (bench ``idle``): the releaser, reaper and scheduler each read when
their next work is due and sleep until then, never longer than their ``idle`` bound (the most a
job another process makes can wait unseen); the service duty slows down while no service exists.
"""

from __future__ import annotations

import pytest

from jobyard.core.schedules import ScheduleSpec
from jobyard.core.states import JobStatus
from jobyard.engine.duty import wait_until
from jobyard.engine.reaper import Reaper, ReaperConfig
from jobyard.engine.releaser import Releaser, ReleaserConfig
from jobyard.engine.schedules import Scheduler, SchedulerConfig
from jobyard.engine.services import Services, ServicesConfig
from jobyard.store import Store

from .factory import TYPE, FakeClock, JobFactory


def test_wait_until_keeps_between_its_bounds() -> None:
    assert wait_until(None, 100.0, shortest=0.5, longest=2.0) == 2.0  # nothing known
    assert wait_until(101.0, 100.0, shortest=0.5, longest=2.0) == 1.0
    assert wait_until(100.1, 100.0, shortest=0.5, longest=2.0) == 0.5
    assert wait_until(99.0, 100.0, shortest=0.5, longest=2.0) == 0.5  # overdue: soon, not now
    assert wait_until(500.0, 100.0, shortest=0.5, longest=2.0) == 2.0


def test_the_releaser_sleeps_until_the_next_job_is_due(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    config = ReleaserConfig()
    releaser = Releaser(store, config)
    assert releaser.run_once() == 0
    assert releaser.interval == config.idle  # nothing scheduled: its longest sleep
    job_id = factory.enqueue(delay=1.5)
    assert releaser.run_once() == 0
    assert releaser.interval == pytest.approx(1.5)  # wakes when the job is due
    clock.advance(1.0)
    assert releaser.run_once() == 0
    assert releaser.interval == pytest.approx(0.5)
    clock.advance(0.5)
    assert releaser.run_once() == 1
    assert store.job_get(job_id).status is JobStatus.QUEUED
    assert releaser.interval == config.interval  # more may come due: looks again soon
    factory.enqueue(delay=3600)
    assert releaser.run_once() == 0
    assert releaser.interval == config.idle  # an hour away: its longest sleep


def test_the_reaper_sleeps_until_the_first_lease_runs_out(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    config = ReaperConfig()
    reaper = Reaper(store, config)
    assert reaper.run_once() == 0
    assert reaper.interval == config.idle
    made = factory.make(JobStatus.QUEUED)
    factory.claim_one(made.queue, lease=3.0)
    assert reaper.run_once() == 0
    assert reaper.interval == pytest.approx(3.0)
    clock.advance(3.5)
    assert reaper.run_once() == 1
    assert store.job_get(made.id).status in (JobStatus.RETRYING, JobStatus.FAILED)
    assert reaper.interval == config.interval


def test_the_scheduler_sleeps_until_the_next_tick(store: Store, factory: JobFactory) -> None:
    factory.register()
    config = SchedulerConfig()
    scheduler = Scheduler(store, config)
    assert scheduler.run_once() == 0
    assert scheduler.interval == config.idle  # no schedule
    store.schedule_create(ScheduleSpec(name="hourly", cron="0 * * * *", type=TYPE))
    assert scheduler.run_once() == 0
    assert 0 < scheduler.interval <= config.idle


def test_the_service_duty_slows_down_while_no_service_exists(store: Store) -> None:
    config = ServicesConfig(interval=0.5, idle_factor=10)
    duty = Services(store, config)
    duty.run_once()
    assert duty.interval == 5.0
