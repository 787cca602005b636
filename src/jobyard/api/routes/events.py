"""/api/v1/events: every event in the system, live, as server-sent events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from jobyard.api import sse
from jobyard.api.auth import Viewer
from jobyard.api.deps import StoreDep, csv
from jobyard.api.routes.jobs import SSE_HEADERS, held
from jobyard.core.errors import Invalid

router = APIRouter(prefix="/events", tags=["events"])
KINDS = {"state", "progress", "log"}


@router.get(
    "", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}}
)
async def stream(
    request: Request,
    store: StoreDep,
    who: Viewer,
    job_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    kind: Annotated[list[str] | None, Query(description="state, progress and/or log")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="start after this id")] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**62)] = None,
) -> StreamingResponse:
    """From now on (or after ``after`` / ``Last-Event-ID``), until the client goes away."""
    kinds = set(csv(kind))
    if kinds - KINDS:
        raise Invalid(f"unknown event kind {sorted(kinds - KINDS)[0]!r}", field="kind")
    start = last_event_id if last_event_id is not None else after
    events = sse.follow_all(
        store, after=start, job_id=job_id, kinds=kinds, is_disconnected=request.is_disconnected
    )
    return StreamingResponse(
        held(request, who, events), media_type="text/event-stream", headers=SSE_HEADERS
    )
