"""The sampler: load history. Every interval it counts pending, queued, running and blocked jobs
per job type into ``load_sample`` (Scale's job load), which outlives the jobs it counted.

One sampler runs per cluster: the engine runs a duty only where it leads it. The sampler first
folds the event log into the counters (so each sample carries current start totals, which give
queue status its latency), then samples, then drops samples older than the retention.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from jobyard.engine.duty import check_positive, in_batches
from jobyard.store.base import Store


@dataclass(frozen=True, slots=True)
class SamplerConfig:
    interval: float = 60.0  # seconds between samples
    retention: float = 400 * 86400.0  # seconds samples are kept (load over a year and a bit)
    fold_batch: int = 10_000  # events folded per statement before sampling

    def __post_init__(self) -> None:
        check_positive(
            "sampler", interval=self.interval, retention=self.retention, fold_batch=self.fold_batch
        )


class Sampler:
    name = "sampler"

    def __init__(
        self,
        store: Store,
        config: SamplerConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config or SamplerConfig()
        self.clock = clock

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> int:
        """Fold, sample at the clock's time, prune; returns the sample rows written."""
        in_batches(lambda limit: self.store.stats_fold(limit=limit), self.config.fold_batch)
        written = self.store.load_sample(at=self.clock())
        self.store.load_prune(older_than=self.config.retention)
        return written
