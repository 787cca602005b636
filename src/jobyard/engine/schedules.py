"""The scheduler: each due schedule's tick becomes one job, however many engines run it.

Every round reads the due schedules, plans each (:func:`jobyard.core.schedules.plan`: which tick,
run or skip, the next tick) and hands the plan to ``Store.schedule_fire``, which records the tick
under a unique key in the transaction that makes its job. Two engines planning the same tick at
once both try; the database lets one through. Leadership (``Engine``) only saves the followers
the work; it is not what keeps ticks single.

Runs are kept ``run_retention`` seconds, pruned at most once an hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from jobyard.core.errors import Invalid, JobyardError
from jobyard.core.schedules import plan
from jobyard.engine.duty import wait_until
from jobyard.store.base import Store

log = logging.getLogger("jobyard.engine.schedules")

PRUNE_EVERY = 3600.0  # seconds between prunes of old runs


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    interval: float = 1.0  # shortest time between rounds
    # longest sleep before the next known tick: a schedule created or moved sooner by another
    # process ticks at most this late (well within ``grace``)
    idle: float = 5.0
    grace: float = 60.0  # a tick at most this old is on time; older ones were missed (catch_up)
    batch: int = 100  # due schedules read per round
    run_retention: float = 30 * 86400.0  # seconds a schedule's run history is kept

    def __post_init__(self) -> None:
        for name in ("interval", "idle", "grace", "batch", "run_retention"):
            if not getattr(self, name) > 0:
                raise Invalid(f"scheduler {name} must be positive", field=f"scheduler.{name}")


class Scheduler:
    name = "schedules"

    def __init__(
        self,
        store: Store,
        config: SchedulerConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.config = config or SchedulerConfig()
        self.clock = clock or store.now
        self._pruned_at: float | None = None
        self._next = 0.0

    @property
    def interval(self) -> float:
        return self._next

    def run_once(self) -> int:
        """One round: returns how many jobs it made."""
        now = self.clock()
        fire_at = self.store.schedule_next_fire()
        made = self._fire(now) if fire_at is not None and fire_at <= now else 0
        if fire_at is not None and fire_at <= now:
            fire_at = now + self.config.interval  # the ticks just fired moved on: read again
        self._next = wait_until(
            fire_at, now, shortest=min(0.05, self.config.interval), longest=self.config.idle
        )
        self._prune(time.monotonic())
        return made

    def _fire(self, now: float) -> int:
        made = 0
        for schedule in self.store.schedule_due(now=now, limit=self.config.batch):
            assert schedule.next_fire_at is not None  # due means it has one
            spec = schedule.spec
            decided = plan(
                spec.cron,
                spec.timezone,
                next_fire_at=schedule.next_fire_at.timestamp(),
                now=now,
                catch_up=spec.catch_up,
                grace=self.config.grace,
            )
            if decided is None:
                continue
            try:
                run = self.store.schedule_fire(
                    schedule.id,
                    revision=schedule.revision,
                    fire_at=decided.fire_at,
                    enqueue=decided.enqueue,
                    missed=decided.missed,
                    next_fire_at=decided.next_fire_at,
                )
            except JobyardError:
                log.exception("schedule %s: its tick failed; the next round tries again", spec.name)
                continue
            if run is not None and run.job_id is not None:
                made += 1
            elif run is not None and run.error:
                log.warning("schedule %s made no job: %s", spec.name, run.error)
        return made

    def _prune(self, now: float) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        self.store.schedule_run_prune(older_than=self.config.run_retention)
