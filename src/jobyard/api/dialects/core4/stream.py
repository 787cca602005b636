"""core4's server-sent events, read from jobyard's event log through ``sse.JobFollower``.

Each event is ``event: <name>\\ndata: <compact JSON>\\n\\n``: first a ``state`` event with the job
document, then every ``log`` line written so far (``mode: prelog``), then live ``state`` (each
state change and progress update, as the whole document) and ``log`` lines (``watchlog``; those read
after the job ended ``postlog``) until the job has ended, then ``close`` with the counts of events
sent. A finished job gets no live part. A quiet stream carries a ``: keepalive`` comment every
15 s, which SSE clients ignore.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from anyio import to_thread
from fastapi.responses import StreamingResponse

from jobyard.api.dialects.core4.docs import job_doc, log_doc
from jobyard.api.dialects.core4.protocol import dumps
from jobyard.api.sse import JobFollower
from jobyard.core.models import EventRecord, Job
from jobyard.store.base import Store

log = logging.getLogger("jobyard.api.core4")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _Events:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, name: str, data: Any) -> str:
        self.counts[name] = self.counts.get(name, 0) + 1
        return f"event: {name}\ndata: {dumps(data)}\n\n"


def _unknown_process(job: Job, e: EventRecord) -> bool:
    """True when the job as read does not yet know the process that wrote this line."""
    execution = next((x for x in job.executions if x.id == e.data.get("execution_id")), None)
    return execution is None or execution.hostname is None


async def _follow(
    store: Store, job_id: int, *, states: bool, is_disconnected: Callable[..., Any]
) -> AsyncIterator[str]:
    start = await to_thread.run_sync(store.event_last_id)  # at or below: already written
    job = await to_thread.run_sync(store.job_get, job_id)
    event = _Events()
    last_state = ""
    if states:
        last_state = dumps(job_doc(job))
        yield event("state", job_doc(job))
    kinds = frozenset({"state", "progress", "log"} if states else {"log"})
    follower = JobFollower(store, job_id, after=0, finished=job.status.is_terminal, kinds=kinds)
    ended = False
    refetch_after = 0.0  # the job is read again for a log line's host and user, once a second
    e: EventRecord | None
    async for e, _ in follower.events(is_disconnected):
        if e is None:
            yield ": keepalive\n\n"
        elif e.kind == "log":
            if _unknown_process(job, e) and time.monotonic() > refetch_after:
                job = await to_thread.run_sync(store.job_get, job_id)  # a new attempt
                refetch_after = time.monotonic() + 1.0
            mode = "prelog" if e.id <= start else "postlog" if ended else "watchlog"
            yield event("log", log_doc(e, job, mode))
        elif e.id > start:  # a state change or progress: the whole document again
            job = await to_thread.run_sync(store.job_get, job_id)
            ended = ended or job.status.is_terminal
            doc = job_doc(job)
            if dumps(doc) != last_state:
                last_state = dumps(doc)
                yield event("state", doc)
    if follower.job is None:
        return  # the client left
    if states and dumps(job_doc(follower.job)) != last_state:
        yield event("state", job_doc(follower.job))
    yield f"event: close\ndata: {dumps(event.counts)}\n\n"  # the counts before close


def stream(
    store: Store,
    job_id: int,
    *,
    states: bool,
    is_disconnected: Callable[..., Any],
    hold: Callable[[AsyncIterator[str]], AsyncIterable[str]] | None = None,
) -> StreamingResponse:
    """A job's core4 event stream; ``states=False`` sends only its log (and ``close``).

    ``hold`` counts the stream against its user's limit of live streams (429 past it)."""

    async def guarded() -> AsyncIterator[str]:
        try:
            async for chunk in _follow(
                store, job_id, states=states, is_disconnected=is_disconnected
            ):
                yield chunk
        except Exception:  # the reply has begun: log it and end the stream
            log.exception("core4 stream of job %d failed", job_id)

    body = guarded() if hold is None else hold(guarded())
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
