"""/api/v1/queue-status and /api/v1/load: the queue by job type now, and its load over time.

Queue status reads the live table (unfinished jobs) and the roll-up's counters; load reads the
samples the engine's sampler keeps, long after the jobs themselves are pruned. Times are
ISO-8601 datetimes with a zone, or ISO-8601 durations back from now (``started=P7D``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from jobyard.api.auth import Viewer
from jobyard.api.deps import PageQ, PerPageQ, StoreDep, csv, page_links
from jobyard.api.schemas import ListOut
from jobyard.core.errors import Invalid
from jobyard.core.stats import LoadFilter, TypeStatus
from jobyard.core.times import parse_moment

router = APIRouter(tags=["operations"])
MAX_WINDOW = 30 * 86400.0


class TypeStatusOut(BaseModel):
    type: str
    type_id: int | None
    version: str
    title: str
    category: str
    priority: int | None = Field(description="the type's default priority")
    paused: bool = Field(description="the type, or every queue its waiting jobs are in, is paused")
    queues: list[str]
    queued: int
    running: int
    blocked: int = Field(description="waiting for parent jobs")
    retrying: int = Field(description="an attempt failed; waiting for the retry")
    scheduled: int = Field(description="waiting for run_at")
    oldest_queued_at: datetime | None = Field(description="when the longest-queued job got ready")
    longest_queued: float | None = Field(description="seconds it has been queued")
    highest_priority: int | None = Field(description="lowest priority number among queued jobs")
    latency: float | None = Field(description="mean seconds from ready to started, recent starts")
    latency_count: int = Field(description="the starts the latency covers")

    @classmethod
    def of(cls, s: TypeStatus, now: float) -> TypeStatusOut:
        oldest = s.oldest_queued_at
        return cls(
            type=s.type, type_id=s.type_id, version=s.version, title=s.title,
            category=s.category, priority=s.priority, paused=s.paused, queues=list(s.queues),
            queued=s.queued, running=s.running, blocked=s.blocked, retrying=s.retrying,
            scheduled=s.scheduled, oldest_queued_at=oldest,
            longest_queued=None if oldest is None else max(0.0, now - oldest.timestamp()),
            highest_priority=s.highest_priority, latency=s.latency,
            latency_count=s.latency_count,
        )  # fmt: skip


class LoadPointOut(BaseModel):
    time: datetime
    pending: int = Field(description="scheduled or retrying: waiting for their time")
    queued: int
    running: int
    blocked: int = Field(description="waiting for parent jobs")


@router.get("/queue-status", response_model=list[TypeStatusOut])
def queue_status(
    store: StoreDep,
    _: Viewer,
    window: Annotated[
        float, Query(gt=0, le=MAX_WINDOW, description="seconds of recent starts for latency")
    ] = 900.0,
    category: Annotated[list[str] | None, Query()] = None,
) -> list[TypeStatusOut]:
    """Each job type's work in flight: active first, then by top priority and longest queued."""
    now = store.now()
    categories = set(csv(category))
    return [
        TypeStatusOut.of(s, now)
        for s in store.queue_status(window=window)
        if not categories or s.category in categories
    ]


def default_start(now: float) -> float:
    """Midnight UTC seven days ago, as Scale's load defaults."""
    day = (datetime.fromtimestamp(now, UTC) - timedelta(days=7)).date()
    return datetime.combine(day, time.min, tzinfo=UTC).timestamp()


def load_filter(
    now: float,
    *,
    started: str | None,
    ended: str | None,
    type_ids: list[int],
    types: list[str],
    categories: list[str],
    priorities: list[int],
) -> LoadFilter:
    start = (
        default_start(now) if started is None else parse_moment(started, now=now, field="started")
    )
    end = None if ended is None else parse_moment(ended, now=now, field="ended")
    for field, values, bound in (("type_id", type_ids, 2**63 - 1), ("priority", priorities, 2**31)):
        if any(abs(v) > bound for v in values):
            raise Invalid(f"{field} must be an integer within ±{bound}", field=field)
    if end is not None and end <= start:
        raise Invalid("ended must come after started", field="ended")
    return LoadFilter(
        started=start, ended=end, type_ids=tuple(type_ids), types=tuple(types),
        categories=tuple(categories), priorities=tuple(priorities),
    )  # fmt: skip


@router.get("/load", response_model=ListOut[LoadPointOut])
def load(
    request: Request,
    store: StoreDep,
    _: Viewer,
    started: Annotated[
        str | None,
        Query(
            max_length=64,
            description="datetime or duration (P7D); default: midnight UTC 7 days ago",
        ),
    ] = None,
    ended: Annotated[str | None, Query(max_length=64, description="datetime or duration")] = None,
    type_id: Annotated[list[int] | None, Query(description="job type ids (repeat)")] = None,
    type: Annotated[list[str] | None, Query(description="job type names")] = None,
    category: Annotated[list[str] | None, Query()] = None,
    priority: Annotated[list[int] | None, Query(description="the types' priorities")] = None,
    page: PageQ = 1,
    per_page: PerPageQ = 100,
) -> ListOut[LoadPointOut]:
    """Pending, queued, running and blocked jobs at each sampling time, summed over the types."""
    filters = load_filter(
        store.now(), started=started, ended=ended, type_ids=type_id or [], types=list(csv(type)),
        categories=list(csv(category)), priorities=priority or [],
    )  # fmt: skip
    found = store.load_history(filters, page=page, per_page=per_page)
    nxt, prev = page_links(request, page=page, per_page=per_page, count=found.count)
    return ListOut[LoadPointOut](
        count=found.count,
        next=nxt,
        previous=prev,
        results=[
            LoadPointOut(
                time=p.time,
                pending=p.pending,
                queued=p.queued,
                running=p.running,
                blocked=p.blocked,
            )
            for p in found.results
        ],
    )
