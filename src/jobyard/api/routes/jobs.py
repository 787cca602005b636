"""/api/v1/jobs: enqueue, list, detail, control, log and live events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import StreamingResponse

from jobyard.api import sse
from jobyard.api.auth import Operator, Principal, Viewer
from jobyard.api.deps import JobIdPath, PageQ, PerPageQ, StoreDep, csv, page_links
from jobyard.api.limits import Subscribers
from jobyard.api.schemas import (
    EnqueueResult,
    EventOut,
    JobOut,
    ListOut,
    LogPage,
    RequeueRequest,
)
from jobyard.core.errors import Invalid
from jobyard.core.models import SORTABLE, JobFilter, JobSpec, PageRequest, epoch, job_status
from jobyard.core.states import JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])

MAX_BATCH = 10_000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# datetime's own range: a run_at outside it is stored fine but can never be read back as a time
EARLIEST = datetime.min.replace(tzinfo=UTC).timestamp()
LATEST = datetime.max.replace(tzinfo=UTC).timestamp() - 86400
MAX_DELAY = 100 * 366 * 86400.0  # seconds


def _check_item(item: Any) -> None:
    """What JobSpec lets through but the store or a reply cannot hold."""
    if not isinstance(item, dict):
        return
    for name, value in item.items():
        try:  # a lone surrogate ("\ud800") parses as JSON but is not text any reply can carry
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise Invalid(f"{name} must be valid Unicode text", field=name) from exc


def _check_times(spec: JobSpec) -> None:
    if spec.delay is not None and spec.delay > MAX_DELAY:
        raise Invalid(f"delay must be at most {MAX_DELAY:.0f} seconds", field="delay")
    if spec.run_at is not None and not EARLIEST <= (epoch(spec.run_at) or 0.0) <= LATEST:
        raise Invalid("run_at must be a time between the years 1 and 9999", field="run_at")


def parse_specs(body: Any) -> list[JobSpec]:
    """One job object or a list of them; a bad one names its index and field."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise Invalid("no jobs given", field="body")
    if len(items) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} jobs per request", field="body")
    specs = []
    for index, item in enumerate(items):
        try:
            _check_item(item)
            specs.append(JobSpec.from_dict(item))
            _check_times(specs[-1])
        except Invalid as exc:
            if isinstance(body, list):
                field = f"[{index}].{exc.field or 'job'}"
                raise Invalid(f"job {index}: {exc.message}", field=field) from exc
            raise
        except TypeError as exc:
            raise Invalid(f"job {index}: {exc}", field=f"[{index}]") from exc
    return specs


JOB_BODY = {
    "description": "a job `{type, args, queue?, priority?, run_at?, delay?, timeout?, max_tries?, "
    "backoff?, tags?, unique_key?, on_duplicate?, unique_for?, external_id?, cpus?, mem?, disk?, "
    "concurrency_key?, concurrency_limit?}` or a list of them",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "object", "additionalProperties": True},
                    {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                ]
            },
            "example": {"type": "demo.sleep", "args": {"sleep": 5}},
        }
    },
}


@router.post(
    "", status_code=201, response_model=EnqueueResult, openapi_extra={"requestBody": JOB_BODY}
)
def enqueue(
    store: StoreDep,
    who: Operator,
    # any JSON: parse_specs names the index and field of what is wrong, pydantic could not
    body: Annotated[Any, Body()],
) -> EnqueueResult:
    return EnqueueResult(ids=store.job_enqueue(parse_specs(body), created_by=who.name))


def job_filter(
    status: list[str] | None,
    type: list[str] | None,
    queue: list[str] | None,
    tag: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    search: str | None,
    include_removed: bool,
) -> JobFilter:
    for name, moment in (("created_after", created_after), ("created_before", created_before)):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(f"{name} needs a time zone, e.g. 2026-01-02T03:04:05Z", field=name)
    return JobFilter(
        statuses=tuple(job_status(s) for s in csv(status)),
        types=csv(type),
        queues=csv(queue),
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        search=search or None,
        include_removed=include_removed,
    )


@router.get("", response_model=ListOut[JobOut])
def list_jobs(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    sort: Annotated[
        str, Query(description=f"one of {', '.join(SORTABLE)}; '-' first for descending")
    ] = "-id",
    status: Annotated[list[str] | None, Query(description="comma-separated states")] = None,
    type: Annotated[list[str] | None, Query(description="job type names")] = None,
    queue: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    search: Annotated[
        str | None, Query(max_length=200, description="text in args, error or type")
    ] = None,
    include_removed: bool = False,
) -> ListOut[JobOut]:
    filters = job_filter(
        status, type, queue, tag, created_after, created_before, search, include_removed
    )
    result = store.job_list(filters, PageRequest(page=page, per_page=per_page, sort=sort))
    nxt, prev = page_links(request, page=page, per_page=per_page, count=result.count)
    return ListOut[JobOut](
        count=result.count,
        next=nxt,
        previous=prev,
        results=[JobOut.of(j) for j in result.results],
    )


@router.post("/requeue", response_model=EnqueueResult)
def requeue(store: StoreDep, who: Operator, body: RequeueRequest) -> EnqueueResult:
    """Failed or canceled jobs back to the queue: by ids, or every match of the filters."""
    if body.ids is not None:
        ids = body.ids
    else:
        statuses = tuple(job_status(s) for s in body.status or ("failed", "canceled"))
        allowed = {JobStatus.FAILED, JobStatus.CANCELED}
        if not set(statuses) <= allowed:
            raise Invalid("only failed and canceled jobs can be requeued", field="status")
        filters = JobFilter(
            statuses=statuses,
            types=tuple(body.type or ()),
            queues=tuple(body.queue or ()),
            tag=body.tag,
        )
        ids = []
        page = 1
        while True:
            found = store.job_list(filters, PageRequest(page=page, per_page=1000, sort="id"))
            ids.extend(j.id for j in found.results)
            if page * 1000 >= found.count:
                break
            page += 1
    requeued = store.job_requeue(
        ids, priority=body.priority, extra_tries=body.extra_tries, by=who.name
    )
    return EnqueueResult(ids=requeued)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobIdPath, store: StoreDep, _: Viewer) -> JobOut:
    """The job, every execution, and (while it waits) why it is not running yet; a recipe job
    also its recipe, parents and children."""
    job = store.job_get(job_id)
    if job.status.is_waiting:
        job = replace(job, waiting=store.job_wait_reason(job_id))
    job = replace(job, links=store.job_links(job_id))
    return JobOut.of(job, detail=True)


@router.post("/{job_id}/kill", response_model=JobOut)
def kill(job_id: JobIdPath, store: StoreDep, who: Operator) -> JobOut:
    """Stop a running job (its whole process tree); a waiting job is canceled at once."""
    return JobOut.of(store.job_kill(job_id, by=who.name), detail=True)


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: JobIdPath, store: StoreDep, who: Operator) -> JobOut:
    return JobOut.of(store.job_cancel(job_id, by=who.name), detail=True)


@router.post("/{job_id}/restart", response_model=JobOut, status_code=201)
def restart(job_id: JobIdPath, store: StoreDep, who: Operator) -> JobOut:
    """A new job like this finished one, linked both ways; returns the new job."""
    return JobOut.of(store.job_restart(job_id, by=who.name), detail=True)


@router.post("/{job_id}/remove", response_model=JobOut)
def remove(job_id: JobIdPath, store: StoreDep, who: Operator) -> JobOut:
    """Hide from queue listings (still readable by id); a waiting job is canceled first."""
    return JobOut.of(store.job_remove(job_id, by=who.name), detail=True)


@router.delete("/{job_id}", response_model=JobOut)
def delete(job_id: JobIdPath, store: StoreDep, who: Operator) -> JobOut:
    """The same as remove."""
    return JobOut.of(store.job_remove(job_id, by=who.name), detail=True)


@router.get("/{job_id}/log", response_model=LogPage)
async def log(
    job_id: JobIdPath,
    request: Request,
    store: StoreDep,
    who: Viewer,
    after: Annotated[int, Query(ge=0, le=2**62, description="the last id you read")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    follow: bool = False,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None,
) -> Any:
    """Log lines by page (cursor ``after``), or followed live as server-sent events.

    A follower that reconnects with ``Last-Event-ID`` resumes after it, whatever ``after`` says.
    """
    if follow:
        await to_thread.run_sync(store.job_get, job_id)  # 404 before the stream starts

        stream = sse.follow_job(
            store,
            job_id,
            last_event_id=after if last_event_id is None else last_event_id,
            is_disconnected=request.is_disconnected,
            kinds=frozenset({"log"}),
        )
        return StreamingResponse(
            held(request, who, stream), media_type="text/event-stream", headers=SSE_HEADERS
        )
    events = await to_thread.run_sync(lambda: store.job_log(job_id, after=after, limit=limit))
    return LogPage(
        results=[EventOut.of(e) for e in events], next_after=events[-1].id if events else after
    )


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    job_id: JobIdPath,
    request: Request,
    store: StoreDep,
    who: Viewer,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None,
) -> StreamingResponse:
    """The job's state, every past event, then live state, progress and log, then ``close``."""
    await to_thread.run_sync(store.job_get, job_id)
    stream = sse.follow_job(
        store, job_id, last_event_id=last_event_id, is_disconnected=request.is_disconnected
    )
    return StreamingResponse(
        held(request, who, stream), media_type="text/event-stream", headers=SSE_HEADERS
    )


def held(request: Request, who: Principal, stream: AsyncIterator[str]) -> AsyncIterable[str]:
    """``stream`` counted against ``who``'s live event streams on this server: 429 past
    ``sse_per_user``."""
    subscribers: Subscribers = request.app.state.subscribers
    return subscribers.hold(who.name, stream)
