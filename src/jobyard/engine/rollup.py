"""The roll-up: folds new state events into the counters behind /metrics and queue status.

Counting in the engine, not in each enqueue, claim and finish, keeps the hot path free of
writes to shared counter rows; the price is that counters trail the events by up to one
interval (and, on PostgreSQL, by the store's settle time).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobyard.engine.duty import check_positive, in_batches
from jobyard.store.base import Store


@dataclass(frozen=True, slots=True)
class RollupConfig:
    interval: float = 10.0  # seconds between folds
    batch: int = 10_000  # events per fold transaction

    def __post_init__(self) -> None:
        check_positive("roll-up", interval=self.interval, batch=self.batch)


class Rollup:
    name = "rollup"

    def __init__(self, store: Store, config: RollupConfig | None = None) -> None:
        self.store = store
        self.config = config or RollupConfig()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> int:
        return in_batches(lambda limit: self.store.stats_fold(limit=limit), self.config.batch)
