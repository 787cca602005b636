"""/metrics: Prometheus text format, for a scraper every 15 s at any history size.

Everything comes from one store read (``stats_snapshot``): the live table grouped by queue, type
and state (unfinished jobs only), the counter rows the roll-up folds from the event log, and the
worker table. Nothing counts over history. Counters trail events by the roll-up's interval.

Signing in: a viewer, like every other reading route (Prometheus sends ``bearer_token`` or
``basic_auth`` from its scrape config); the metrics name job types and queues.
"""

from __future__ import annotations

from collections.abc import Iterator

from anyio import to_thread
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from jobyard.api.auth import Viewer
from jobyard.api.deps import SettingsDep, StoreDep
from jobyard.core.states import LIVE
from jobyard.core.stats import DURATION, ENQUEUED, FAILURES, FINISHED, LATENCY, STARTED
from jobyard.core.stats import StatsSnapshot as Snapshot

router = APIRouter(tags=["system"])


class SnapshotCollector(Collector):
    """The metric families of one snapshot (a registry of its own per scrape: no globals)."""

    def __init__(self, snapshot: Snapshot, now: float) -> None:
        self.snapshot = snapshot
        self.now = now

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        jobs = GaugeMetricFamily(
            "jobyard_jobs", "Unfinished jobs by state (finished ones: jobyard_jobs_finished_total)",
            labels=["queue", "type", "state"],
        )  # fmt: skip
        depth = GaugeMetricFamily(
            "jobyard_queue_depth", "Jobs ready to run (queued)", labels=["queue", "type"]
        )
        oldest = GaugeMetricFamily(
            "jobyard_queue_oldest_age_seconds",
            "Seconds the longest-queued ready job has waited",
            labels=["queue", "type"],
        )
        for d in s.depths:
            for state in sorted(x.value for x in LIVE):
                jobs.add_metric([d.queue, d.type, state], d.counts.get(state, 0))
            depth.add_metric([d.queue, d.type], d.counts.get("queued", 0))
            age = 0.0 if d.oldest_queued_at is None else max(0.0, self.now - d.oldest_queued_at)
            oldest.add_metric([d.queue, d.type], age)
        paused = GaugeMetricFamily("jobyard_queue_paused", "1 if the queue is paused",
                                   labels=["queue"])  # fmt: skip
        for queue in sorted(s.paused_queues):
            paused.add_metric([queue], 1)
        workers = GaugeMetricFamily("jobyard_workers_live", "Workers heard from within a lease")
        workers.add_metric([], s.workers)
        yield from (jobs, depth, oldest, paused, workers)
        yield from self._counters()

    def _counters(self) -> Iterator[Metric]:
        c = self.snapshot.counters
        enqueued = CounterMetricFamily(
            "jobyard_jobs_enqueued", "Jobs made", labels=["queue", "type"]
        )
        started = CounterMetricFamily(
            "jobyard_executions_started", "Executions started", labels=["queue", "type"]
        )
        finished = CounterMetricFamily(
            "jobyard_jobs_finished", "Jobs that reached a final state",
            labels=["queue", "type", "status"],
        )  # fmt: skip
        failures = CounterMetricFamily(
            "jobyard_job_failures", "Attempts that failed (error, timeout, lost worker)",
            labels=["queue", "type", "outcome"],
        )  # fmt: skip
        pairs = set()
        for (metric, type, queue, label), value in sorted(c.items()):
            if metric == ENQUEUED:
                enqueued.add_metric([queue, type], value)
            elif metric == STARTED:
                started.add_metric([queue, type], value)
            elif metric == FINISHED:
                finished.add_metric([queue, type, label], value)
            elif metric == FAILURES:
                failures.add_metric([queue, type, label], value)
            elif metric in (LATENCY, DURATION):
                pairs.add((metric, type, queue))
        yield from (enqueued, started, finished, failures)
        for metric, name, about in (
            (LATENCY, "jobyard_enqueue_to_start_seconds", "Seconds from ready to started"),
            (DURATION, "jobyard_execution_duration_seconds", "Seconds an execution ran"),
        ):
            family = HistogramMetricFamily(name, about, labels=["queue", "type"])
            for m, type, queue in sorted(pairs):
                if m != metric:
                    continue
                h = self.snapshot.histogram(metric, type, queue)
                buckets = [(f"{b:g}", v) for b, v in h.buckets] + [("+Inf", h.count)]
                family.add_metric([queue, type], buckets, sum_value=h.sum)
            yield family


def render(snapshot: Snapshot, now: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, now))
    return generate_latest(registry)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(store: StoreDep, settings: SettingsDep, _: Viewer) -> Response:
    """Jobs by state, queue depth and age, counters and histograms, live workers."""

    def read() -> bytes:
        now = store.now()
        return render(store.stats_snapshot(live_since=now - settings.lease), now)

    return Response(await to_thread.run_sync(read), media_type=CONTENT_TYPE_LATEST)
