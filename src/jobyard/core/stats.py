"""What queue status, load history and metrics report; frozen, no I/O.

Counters are cumulative per job type and queue, folded from the event log (``Store.stats_fold``).
Histograms keep Prometheus' shape: for each upper bound ``le``, how many observations were at
most that many seconds, with their sum and count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from jobyard.core.errors import Invalid

#: seconds; the upper bounds of the latency (enqueue to start) and duration histograms
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# counter names in stat_total
ENQUEUED = "enqueued"  # jobs made (enqueue, restart, recipes, schedules)
STARTED = "started"  # executions started (claims)
FINISHED = "finished"  # jobs that reached a final state; label: the state
FAILURES = "failures"  # attempts that failed (errors, timeouts, lost); label: retrying or failed
LATENCY = "latency"  # enqueue-to-start seconds; label: "le=<bound>", "sum" or "count"
DURATION = "duration"  # execution seconds, start to end; labels as latency


@dataclass(frozen=True, slots=True)
class TypeStatus:
    """One job type on the queue right now (from the live table and the roll-up)."""

    type: str
    type_id: int | None
    version: str
    title: str
    category: str
    priority: int | None  # the type's default priority (None: the type is not stored)
    paused: bool  # the type, or every queue its waiting jobs are in, is paused
    queues: tuple[str, ...]  # queues its unfinished jobs are in
    queued: int
    running: int
    blocked: int  # waiting for parent jobs
    retrying: int  # an attempt failed; waiting for the retry time
    scheduled: int  # waiting for run_at
    oldest_queued_at: datetime | None  # when the job queued the longest became ready
    highest_priority: int | None  # lowest priority number among queued jobs
    latency: float | None  # mean seconds from ready to started over the recent window
    latency_count: int  # starts in that window


@dataclass(frozen=True, slots=True)
class LoadFilter:
    """Which load samples: a time range (epoch seconds) and job type filters (any of each)."""

    started: float
    ended: float | None = None
    type_ids: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.ended is not None and self.ended <= self.started:
            raise Invalid("ended must come after started", field="ended")


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """Counts summed over the chosen job types at one sampling time."""

    time: datetime
    pending: int  # scheduled or retrying: waiting for their time
    queued: int
    running: int
    blocked: int  # waiting for parents


@dataclass(frozen=True, slots=True)
class LoadPage:
    count: int  # sampling times in the range
    results: tuple[LoadPoint, ...]


@dataclass(frozen=True, slots=True)
class Histogram:
    buckets: tuple[tuple[float, float], ...]  # (upper bound, observations at most that), rising
    sum: float
    count: float


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Jobs of one type in one queue, by state, from the live table."""

    queue: str
    type: str
    counts: dict[str, int]  # live state -> jobs
    oldest_queued_at: float | None  # epoch seconds


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Everything /metrics shows, read at once."""

    depths: tuple[QueueDepth, ...]
    counters: dict[tuple[str, str, str, str], float]  # (metric, type, queue, label) -> value
    workers: int  # live workers
    paused_queues: frozenset[str] = field(default_factory=frozenset)

    def histogram(self, metric: str, type: str, queue: str) -> Histogram:
        c = self.counters
        buckets = tuple((b, c.get((metric, type, queue, f"le={b:g}"), 0.0)) for b in BUCKETS)
        return Histogram(
            buckets=buckets,
            sum=c.get((metric, type, queue, "sum"), 0.0),
            count=c.get((metric, type, queue, "count"), 0.0),
        )
