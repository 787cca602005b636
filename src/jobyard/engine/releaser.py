"""The releaser: scheduled and retrying jobs whose time has come become ``queued``.

Keeping them out of the ready index until due (instead of filtering by run_at in every claim)
keeps claims fast with many future jobs; the cost is the releaser's own timing, below.

Each round first asks when the next job is due (one statement) and sleeps until then, at most
``idle`` seconds: an idle engine does not poll the jobs table twice a second, and a job that
another process schedules sooner than anything known is released at most ``idle`` late.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobyard.engine.duty import check_positive, in_batches, wait_until
from jobyard.store.base import Store


@dataclass(frozen=True, slots=True)
class ReleaserConfig:
    interval: float = 0.5  # seconds between rounds while jobs come due
    idle: float = 2.0  # longest sleep when the next due job is later (or none is known)
    batch: int = 5000  # jobs released per statement

    def __post_init__(self) -> None:
        check_positive("releaser", interval=self.interval, idle=self.idle, batch=self.batch)


class Releaser:
    name = "releaser"

    def __init__(self, store: Store, config: ReleaserConfig | None = None) -> None:
        self.store = store
        self.config = config or ReleaserConfig()
        self._next = 0.0

    @property
    def interval(self) -> float:
        return self._next

    def run_once(self) -> int:
        due, now = self.store.job_next_due(), self.store.now()
        released = 0
        if due is not None and due <= now:
            released = in_batches(
                lambda limit: self.store.job_release_due(limit=limit), self.config.batch
            )
            due = now + self.config.interval  # more may come due meanwhile: look again soon
        self._next = wait_until(
            due, now, shortest=self.config.interval if released else 0.05,
            longest=self.config.idle,
        )  # fmt: skip
        return released
