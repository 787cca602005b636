"""The reaper: executions whose lease expired become ``lost``; their jobs retry or fail."""

from __future__ import annotations

from dataclasses import dataclass

from jobyard.engine.duty import check_positive, in_batches, wait_until
from jobyard.store.base import Store


@dataclass(frozen=True, slots=True)
class ReaperConfig:
    interval: float = 2.0  # seconds between scans while leases run out
    # longest sleep before the first lease runs out: a dead worker's job is back within its
    # lease + this (a lease taken meanwhile by another process is not known before it is read)
    idle: float = 5.0
    batch: int = 1000  # executions handled per scan

    def __post_init__(self) -> None:
        check_positive("reaper", interval=self.interval, idle=self.idle, batch=self.batch)


class Reaper:
    name = "reaper"

    def __init__(self, store: Store, config: ReaperConfig | None = None) -> None:
        self.store = store
        self.config = config or ReaperConfig()
        self._next = 0.0

    @property
    def interval(self) -> float:
        return self._next

    def run_once(self) -> int:
        expiry, now = self.store.execution_next_expiry(), self.store.now()
        reaped = 0
        if expiry is not None and expiry < now:
            reaped = in_batches(
                lambda limit: self.store.execution_reap(limit=limit), self.config.batch
            )
            expiry = now + self.config.interval
        self._next = wait_until(
            expiry, now, shortest=self.config.interval, longest=self.config.idle
        )
        return reaped
