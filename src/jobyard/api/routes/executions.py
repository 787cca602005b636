"""/api/v1/executions: the process table, every attempt of every job and service instance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from jobyard.api.appschemas import ProcessOut
from jobyard.api.auth import Viewer
from jobyard.api.deps import MAX_ID, PageQ, PerPageQ, StoreDep, csv, page_links
from jobyard.api.schemas import ListOut
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.processes import (
    PROCESS_SORTS,
    ProcessFilter,
    execution_id_of,
    execution_status,
)

router = APIRouter(prefix="/executions", tags=["executions"])

Names = Annotated[list[str] | None, Query(description="comma-separated; any of them")]


def process_filter(
    *,
    app: list[str] | None = None,
    status: list[str] | None = None,
    host: list[str] | None = None,
    queue: list[str] | None = None,
    worker: list[str] | None = None,
    type: list[str] | None = None,
    service: list[str] | None = None,
    tag: str | None = None,
    job_id: int | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> ProcessFilter:
    for name, moment in (("started_after", started_after), ("started_before", started_before)):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(f"{name} needs a time zone, e.g. 2026-01-02T03:04:05Z", field=name)
    return ProcessFilter(
        apps=csv(app),
        statuses=tuple(execution_status(s) for s in csv(status)),
        hosts=csv(host),
        queues=csv(queue),
        workers=csv(worker),
        types=csv(type),
        services=csv(service),
        tag=tag,
        job_id=job_id,
        started_after=started_after,
        started_before=started_before,
    )


@router.get("", response_model=ListOut[ProcessOut])
def list_executions(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    sort: Annotated[
        str, Query(description=f"one of {', '.join(PROCESS_SORTS)}; '-' first for descending")
    ] = "-id",
    app: Names = None,
    status: Annotated[
        list[str] | None,
        Query(description="running, completed, failed, canceled, timed_out, lost, released"),
    ] = None,
    host: Names = None,
    queue: Names = None,
    worker: Names = None,
    type: Names = None,
    service: Names = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> ListOut[ProcessOut]:
    """Newest first: each with its pid, host, worker, times, exit code or signal, peak RSS."""
    filters = process_filter(
        app=app, status=status, host=host, queue=queue, worker=worker, type=type,
        service=service, tag=tag, job_id=job_id, started_after=started_after,
        started_before=started_before,
    )  # fmt: skip
    found = store.process_list(filters, page=page, per_page=per_page, sort=sort)
    nxt, prev = page_links(request, page=page, per_page=per_page, count=found.count)
    return ListOut[ProcessOut](
        count=found.count, next=nxt, previous=prev,
        results=[ProcessOut.of(p) for p in found.results],
    )  # fmt: skip


@router.get("/{execution}", response_model=ProcessOut)
def get_execution(execution: str, store: StoreDep, _: Viewer) -> ProcessOut:
    """One execution, by id or by key."""
    digits = execution.isascii() and execution.isdigit() and len(execution) <= 19
    execution_id = int(execution) if digits else execution_id_of(execution)
    if execution_id is None or not 0 < execution_id <= MAX_ID:
        raise NotFound(f"no execution {execution!r}", field="execution")
    return ProcessOut.of(store.process_get(execution_id))
