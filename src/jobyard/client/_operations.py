"""Operations on job types as managed objects, queue status and load history: how to ask, and
how to read the reply (sent by ``sync.Client`` and ``aio.AsyncClient`` like those of ``_base``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobyard.client import models as m
from jobyard.client._base import Call, _seg, query
from jobyard.core.models import JobType, TypeDefinition
from jobyard.core.stats import LoadPoint, TypeStatus


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def type_status_from(d: Mapping[str, Any]) -> TypeStatus:
    return TypeStatus(
        type=d["type"],
        type_id=d.get("type_id"),
        version=d.get("version", ""),
        title=d.get("title", ""),
        category=d.get("category", ""),
        priority=d.get("priority"),
        paused=d["paused"],
        queues=tuple(d.get("queues") or ()),
        queued=d["queued"],
        running=d["running"],
        blocked=d["blocked"],
        retrying=d["retrying"],
        scheduled=d["scheduled"],
        oldest_queued_at=_dt(d.get("oldest_queued_at")),
        highest_priority=d.get("highest_priority"),
        latency=d.get("latency"),
        latency_count=d.get("latency_count", 0),
    )


def load_point_from(d: Mapping[str, Any]) -> LoadPoint:
    return LoadPoint(
        time=datetime.fromisoformat(d["time"]),
        pending=d["pending"],
        queued=d["queued"],
        running=d["running"],
        blocked=d["blocked"],
    )


def _definition_body(definition: TypeDefinition | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(definition, TypeDefinition):
        return definition.to_dict()
    return dict(definition)


def create_type(definition: TypeDefinition | Mapping[str, Any]) -> Call[JobType]:
    """A new job type at revision 1 (Duplicate when the name exists)."""
    return Call("POST", "/types", m.job_type_from, body=_definition_body(definition))


def update_type(name: str, changes: Mapping[str, Any]) -> Call[JobType]:
    """Change some fields of a job type: a new revision when anything changed."""
    return Call("PATCH", f"/types/{_seg(name)}", m.job_type_from, body=dict(changes))


def type_revisions(name: str) -> Call[list[JobType]]:
    """Every revision of a job type, oldest first."""
    return Call("GET", f"/types/{_seg(name)}/revisions", m.list_from(m.job_type_from))


def pause_type(name: str) -> Call[JobType]:
    """Pause a job type: its jobs stay queued, unclaimed, until it is resumed."""
    return Call("POST", f"/types/{_seg(name)}/pause", m.job_type_from)


def resume_type(name: str) -> Call[JobType]:
    """Resume a paused job type: workers claim its jobs again."""
    return Call("POST", f"/types/{_seg(name)}/resume", m.job_type_from)


def archive_type(name: str) -> Call[JobType]:
    """Archive a job type: it refuses new jobs and leaves the list (jobs already made run)."""
    return Call("POST", f"/types/{_seg(name)}/archive", m.job_type_from)


def unarchive_type(name: str) -> Call[JobType]:
    """Bring an archived job type back: it takes new jobs again."""
    return Call("POST", f"/types/{_seg(name)}/unarchive", m.job_type_from)


def queue_status(*, window: float | None, category: Sequence[str] | None) -> Call[list[TypeStatus]]:
    """Each job type's work in flight: queued, running, blocked, retrying, oldest, latency."""
    params = query(window=window, category=category)
    return Call("GET", "/queue-status", m.list_from(type_status_from), params)


def load(
    *,
    started: str | datetime | None,
    ended: str | datetime | None,
    type_id: Sequence[int] | None,
    type: Sequence[str] | None,
    category: Sequence[str] | None,
    priority: Sequence[int] | None,
    page: int,
    per_page: int,
) -> Call[m.Page[LoadPoint]]:
    """Load samples over a range (datetimes, or ISO-8601 durations such as ``P7D``)."""
    params = query(
        started=started, ended=ended, type=type, category=category, page=page, per_page=per_page
    )
    call = Call("GET", "/load", m.page_from(load_point_from), params)
    repeated = [("type_id", str(i)) for i in type_id or ()]
    repeated += [("priority", str(p)) for p in priority or ()]
    if not repeated:
        return call
    return Call("GET", "/load", call.parse, [*params.items(), *repeated])  # type: ignore[arg-type]
