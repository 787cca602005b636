"""Queue status, load history and the counters behind /metrics (the SqlStore part).

Nothing here counts over history. Queue status groups the live table (unfinished jobs only) and
reads a few counter rows. The counters are folded from the event log by :meth:`stats_fold`: it
reads the state events written since its cursor and adds them to ``stat_total`` in one
transaction with the cursor's move, so every event is counted exactly once, whichever engine or
server runs it. That keeps the hot path (enqueue, claim, finish) free of writes to shared counter
rows, which would make every worker's transaction wait on the same row.

On PostgreSQL an event id is drawn when the row is written, not when its transaction commits, so
a row may still appear below ids already read: the fold stops ``settle`` seconds short of the
newest events (``_stats_settle``). SQLite writers take turns, so ids appear in order there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from jobyard.core.models import JobType, utc
from jobyard.core.stats import (
    BUCKETS,
    DURATION,
    ENQUEUED,
    FAILURES,
    FINISHED,
    LATENCY,
    STARTED,
    LoadFilter,
    LoadPage,
    LoadPoint,
    QueueDepth,
    StatsSnapshot,
    TypeStatus,
)
from jobyard.store.catalog import TYPE
from jobyard.store.tx import Row, Tx

_NEW = frozenset({"queued", "scheduled", "blocked"})  # a job's first state
_FINAL = frozenset({"completed", "failed", "canceled"})
_PENDING = ("scheduled", "retrying")  # waiting for their time: Scale's PENDING

Key = tuple[str, str, str, str]  # (metric, type, queue, label)


class StatsProtocol(Protocol):
    def queue_status(self, *, window: float = 900.0) -> list[TypeStatus]:
        """Each job type's work in flight: active types first, then by top priority and age
        (Scale's order).

        Every stored type that is not archived, and any type with unfinished jobs. ``latency``
        covers the starts of the last ``window`` seconds (from load samples and the counters).
        """
        ...

    def load_sample(self, *, at: float | None = None) -> int:
        """Record pending, queued, running and blocked counts per job type at ``at`` (now).

        Also a row for each type whose start counter moved since its last sample (latency
        windows need it); one all-zero row when there is no work at all. Returns rows written.
        """
        ...

    def load_history(self, filters: LoadFilter, *, page: int = 1, per_page: int = 100) -> LoadPage:
        """Load samples in the range, summed over the matching types per sampling time."""
        ...

    def load_prune(self, *, older_than: float) -> int:
        """Delete load samples older than ``older_than`` seconds; returns how many."""
        ...

    def stats_fold(self, *, limit: int = 10_000) -> int:
        """Add the state events written since the last fold to the counters; returns how many.

        At most ``limit`` events per call: call again while it returns ``limit``.
        """
        ...

    def stats_snapshot(self, *, live_since: float) -> StatsSnapshot:
        """Depths per queue and type, the counters, and workers heard from since ``live_since``."""
        ...


def _observe(deltas: dict[Key, float], metric: str, type: str, queue: str, seconds: float) -> None:
    seconds = max(seconds, 0.0)
    for bound in BUCKETS:
        if seconds <= bound:
            deltas[(metric, type, queue, f"le={bound:g}")] += 1
    deltas[(metric, type, queue, "sum")] += seconds
    deltas[(metric, type, queue, "count")] += 1


def _true(value: object) -> bool:
    return value in (1, True, "true")


class StatsStore:
    """Mixed into SqlStore; relies on its ``_tx``, ``_list``, ``_in``, ``_job_type`` and ``now``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _fast_tx: Callable[[], AbstractContextManager[Tx]]
    _list: Callable[[Iterable[Any]], Any]
    _in: Callable[..., str]
    _job_type: Callable[[Row], JobType]
    now: Callable[[], float]
    _stats_settle: float = 0.0  # seconds the fold keeps away from the newest events

    # -- queue status ---------------------------------------------------------------------

    def queue_status(self, *, window: float = 900.0) -> list[TypeStatus]:
        now = self.now()
        with self._tx(write=False) as tx:
            live = tx.rows("live_by_type")
            type_rows = tx.rows("type_list")
            paused_queues = {r["name"] for r in tx.rows("queue_paused_names")}
            totals = tx.rows("stat_totals")
            names = sorted({r["type"] for r in live} | {r["name"] for r in type_rows})
            before = self._cumulative_before(tx, names, now - window)
        stored = {r["name"]: self._job_type(r) for r in type_rows}
        type_paused = {r["name"] for r in type_rows if r.get("paused")}  # issue 5's type pause
        per_type: dict[str, list[Row]] = defaultdict(list)
        for r in live:
            per_type[r["type"]].append(r)
        starts: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for t in totals:
            if t["metric"] == LATENCY and t["label"] in ("count", "sum"):
                starts[t["type"]][0 if t["label"] == "count" else 1] += t["value"]
        result = []
        for name in names:
            job_type = stored.get(name)
            rows = per_type.get(name, [])
            if job_type is not None and job_type.archived_at is not None and not rows:
                continue
            count: dict[str, int] = defaultdict(int)
            for r in rows:
                count[r["status"]] += int(r["n"])
            queued = [r for r in rows if r["status"] == "queued"]
            waiting_queues = {r["queue"] for r in rows if r["status"] != "running"}
            then = before.get(name, (0.0, 0.0))
            n = starts[name][0] - then[0]
            d = job_type.definition if job_type is not None else None
            result.append(
                TypeStatus(
                    type=name,
                    type_id=job_type.id if job_type else None,
                    version=d.version if d else "",
                    title=d.title if d else "",
                    category=d.category if d else "",
                    priority=d.priority if d else None,
                    paused=name in type_paused
                    or bool(waiting_queues and waiting_queues <= paused_queues),
                    queues=tuple(sorted({r["queue"] for r in rows})),
                    queued=count["queued"],
                    running=count["running"],
                    blocked=count["blocked"],
                    retrying=count["retrying"],
                    scheduled=count["scheduled"],
                    oldest_queued_at=utc(min(r["oldest"] for r in queued)) if queued else None,
                    highest_priority=min(r["top"] for r in queued) if queued else None,
                    latency=(starts[name][1] - then[1]) / n if n > 0 else None,
                    latency_count=int(n),
                )
            )
        far = datetime.max.replace(tzinfo=UTC)
        result.sort(
            key=lambda s: (
                s.paused,
                s.highest_priority if s.highest_priority is not None else 2**31,
                s.oldest_queued_at or far,
                s.type,
            )
        )
        return result

    def _cumulative_before(
        self, tx: Tx, names: Sequence[str], at: float
    ) -> dict[str, tuple[float, float]]:
        """(starts, latency seconds) of each type as its last sample at or before ``at`` had.

        One index probe per type on load_sample (type, measured), however long the history.
        """
        if not names:
            return {}
        last = (
            "SELECT {column} FROM load_sample WHERE type = t.name AND measured <= :at "
            "ORDER BY measured DESC LIMIT 1"
        )
        rows = tx.sql(
            f"SELECT t.name, ({last.format(column='started')}) AS started, "
            f"({last.format(column='latency_sum')}) AS latency_sum "
            f"FROM job_type t WHERE t.name IN {self._in('names')}",
            {"names": self._list(names), "at": at},
        )
        return {
            r["name"]: (float(r["started"]), float(r["latency_sum"]))
            for r in rows
            if r["started"] is not None
        }

    # -- load history ---------------------------------------------------------------------

    def load_sample(self, *, at: float | None = None) -> int:
        measured = self.now() if at is None else at
        with self._tx() as tx:
            live = tx.rows("live_by_type")
            type_rows = {r["name"]: r for r in tx.rows("type_list")}
            totals = tx.rows("stat_totals")
            counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for r in live:
                counts[r["type"]][r["status"]] += int(r["n"])
            cumulative: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for t in totals:
                if t["metric"] == LATENCY and t["label"] in ("count", "sum"):
                    cumulative[t["type"]][0 if t["label"] == "count" else 1] += t["value"]
            before = self._cumulative_before(tx, sorted(cumulative), measured)
            moved = {n for n, (c, _) in cumulative.items() if c > before.get(n, (0.0, 0.0))[0]}
            names = sorted((set(counts) | moved) & set(type_rows))
            ids = (
                {
                    r["key"]: int(r["id"])
                    for r in tx.rows("ident_of", kind=TYPE, keys=self._list(names))
                }
                if names
                else {}
            )
            rows = []
            for name in names:
                d = self._job_type(type_rows[name]).definition
                c = counts.get(name, {})
                rows.append(
                    {
                        "measured": measured, "type": name, "type_id": ids.get(name),
                        "category": d.category, "priority": d.priority,
                        "pending": sum(c.get(s, 0) for s in _PENDING),
                        "queued": c.get("queued", 0), "running": c.get("running", 0),
                        "blocked": c.get("blocked", 0),
                        "started": int(cumulative[name][0]), "latency_sum": cumulative[name][1],
                    }
                )  # fmt: skip
            if not counts:
                rows.append(
                    {
                        "measured": measured, "type": "", "type_id": None, "category": "",
                        "priority": None, "pending": 0, "queued": 0, "running": 0,
                        "blocked": 0, "started": 0, "latency_sum": 0.0,
                    }
                )  # fmt: skip
            tx.many("load_insert", rows)
        return len(rows)

    def load_history(self, filters: LoadFilter, *, page: int = 1, per_page: int = 100) -> LoadPage:
        where = ["measured >= :started"]
        params: dict[str, Any] = {"started": filters.started}
        if filters.ended is not None:
            where.append("measured <= :ended")
            params["ended"] = filters.ended
        for column, param, values, kind in (
            ("type_id", "type_ids", filters.type_ids, "int"),
            ("type", "types", filters.types, "text"),
            ("category", "categories", filters.categories, "text"),
            ("priority", "priorities", filters.priorities, "int"),
        ):
            if values:
                where.append(f"{column} IN {self._in(param, kind)}")
                params[param] = self._list(values)
        clause = " AND ".join(where)
        params.update(limit=per_page, offset=(page - 1) * per_page)
        with self._tx(write=False) as tx:
            count = tx.sql(f"SELECT COUNT(DISTINCT measured) AS n FROM load_sample WHERE {clause}",
                           params)[0]["n"]  # fmt: skip
            rows = tx.sql(
                "SELECT measured, SUM(pending) AS pending, SUM(queued) AS queued, "
                "SUM(running) AS running, SUM(blocked) AS blocked "
                f"FROM load_sample WHERE {clause} GROUP BY measured ORDER BY measured "
                "LIMIT :limit OFFSET :offset",
                params,
            )
        return LoadPage(
            count=int(count),
            results=tuple(
                LoadPoint(
                    time=utc(r["measured"]),  # type: ignore[arg-type]
                    pending=int(r["pending"]),
                    queued=int(r["queued"]),
                    running=int(r["running"]),
                    blocked=int(r["blocked"]),
                )
                for r in rows
            ),
        )

    def load_prune(self, *, older_than: float) -> int:
        with self._tx() as tx:
            return tx.run("load_prune", before=self.now() - older_than)

    # -- counters -------------------------------------------------------------------------

    def stats_fold(self, *, limit: int = 10_000) -> int:
        now = self.now()
        with self._fast_tx() as tx:  # an idle roll-up: one statement, no transaction
            if tx.one("stat_pending") is None:
                return 0
        with self._tx() as tx:
            cursor = tx.one("stat_cursor_lock")
            assert cursor is not None, "migration 0005 makes the cursor row"
            after = int(cursor["position"])
            if self._stats_settle > 0:
                fence_row = tx.one("stat_fence", after=after, settled=now - self._stats_settle)
            else:
                fence_row = tx.sql("SELECT COALESCE(MAX(id), 0) AS fence FROM event", {})[0]
            fence = int(fence_row["fence"]) if fence_row else after
            if fence <= after:
                return 0
            rows = tx.rows("stat_events", after=after, fence=fence, limit=limit)
            ids = sorted({r["job_id"] for r in rows if r["job_id"] is not None})
            jobs = {j["id"]: j for j in tx.rows("stat_jobs", ids=self._list(ids))} if ids else {}
            deltas: dict[Key, float] = defaultdict(float)
            for r in rows:
                self._count(deltas, r, jobs.get(r["job_id"]))
            if deltas:
                tx.many(
                    "stat_add",
                    [
                        {"metric": m, "type": t, "queue": q, "label": label, "value": v}
                        for (m, t, q, label), v in sorted(deltas.items())
                    ],
                )
            position = rows[-1]["id"] if len(rows) >= limit else fence
            tx.run("stat_cursor_set", position=position, now=now)
        return len(rows)

    @staticmethod
    def _count(deltas: dict[Key, float], r: Row, job: Row | None) -> None:
        """What one state event adds to the counters."""
        # a job pruned before its events were folded is counted under type and queue ""
        type, queue = (job["type"], job["queue"]) if job is not None else ("", "")
        status, previous = r["status"], r["previous"]
        if status in _NEW and previous is None:
            deltas[(ENQUEUED, type, queue, "")] += 1
        elif status == "running":
            if r["execution_id"] is not None and not _true(r["kill_requested"]):
                deltas[(STARTED, type, queue, "")] += 1
                if r["queued_at"] is not None and r["started_at"] is not None:
                    latency = float(r["started_at"]) - float(r["queued_at"])
                    _observe(deltas, LATENCY, type, queue, latency)
            return
        elif status in _FINAL and previous not in _FINAL:
            deltas[(FINISHED, type, queue, status)] += 1
        # an attempt ended (not a release: that attempt does not count)
        if r["execution_id"] is not None and status != "queued" and r["ended_at"] is not None:
            _observe(deltas, DURATION, type, queue, float(r["ended_at"]) - float(r["started_at"]))
            if status in ("failed", "retrying"):
                deltas[(FAILURES, type, queue, status)] += 1

    def stats_snapshot(self, *, live_since: float) -> StatsSnapshot:
        with self._tx(write=False) as tx:
            live = tx.rows("live_by_type")
            totals = tx.rows("stat_totals")
            workers = tx.one("workers_live", since=live_since)
            paused = {r["name"] for r in tx.rows("queue_paused_names")}
        depths: dict[tuple[str, str], QueueDepth] = {}
        for r in live:
            key = (r["queue"], r["type"])
            depth = depths.setdefault(key, QueueDepth(r["queue"], r["type"], {}, None))
            depth.counts[r["status"]] = int(r["n"])
            if r["status"] == "queued":
                depths[key] = QueueDepth(depth.queue, depth.type, depth.counts, r["oldest"])
        return StatsSnapshot(
            depths=tuple(depths[k] for k in sorted(depths)),
            counters={(t["metric"], t["type"], t["queue"], t["label"]): t["value"] for t in totals},
            workers=int(workers["n"]) if workers else 0,
            paused_queues=frozenset(paused),
        )
