"""The pruner: events and log lines, and finished jobs, older than their retention are deleted.

Finished jobs go in batches (each its own short transaction), so a first prune after months
never holds locks for long; a round ends when a batch comes back short.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobyard.engine.duty import check_positive, in_batches
from jobyard.store.base import Store


@dataclass(frozen=True, slots=True)
class PrunerConfig:
    interval: float = 60.0  # seconds between prunes
    event_retention: float = 7 * 86400.0  # seconds events and log lines are kept
    history_retention: float = 30 * 86400.0  # seconds finished jobs are kept
    batch: int = 500  # finished jobs deleted per transaction

    def __post_init__(self) -> None:
        check_positive(
            "pruner",
            interval=self.interval,
            event_retention=self.event_retention,
            history_retention=self.history_retention,
            batch=self.batch,
        )


class Pruner:
    name = "pruner"

    def __init__(self, store: Store, config: PrunerConfig | None = None) -> None:
        self.store = store
        self.config = config or PrunerConfig()

    @property
    def interval(self) -> float:
        return self.config.interval

    def run_once(self) -> int:
        """Events and log lines pruned, plus finished jobs pruned."""
        events = self.store.event_prune(older_than=self.config.event_retention)
        jobs = in_batches(
            lambda limit: self.store.job_history_prune(
                older_than=self.config.history_retention, limit=limit
            ),
            self.config.batch,
        )
        return events + jobs
