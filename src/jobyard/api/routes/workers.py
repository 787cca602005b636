"""/api/v1/workers: jobyard's workers and Faktory's, their state; quiet or stop a Faktory one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import StoreDep
from jobyard.core.workers import WorkerInfo, WorkerKind, WorkerState

router = APIRouter(prefix="/workers", tags=["workers"])
WorkerIdPath = Annotated[str, Path(min_length=1, max_length=200, description="a worker id or wid")]


class WorkerOut(BaseModel):
    id: str = Field(description="jobyard's worker id, or a Faktory client's wid")
    kind: str = Field(description="jobyard or faktory")
    hostname: str
    pid: int
    queues: list[str] = Field(description="its queues (a Faktory worker: those of its last FETCH)")
    concurrency: int = Field(description="0 when the client does not say (Faktory)")
    labels: list[str]
    state: str = Field(description="running, quiet, stopping, stopped or lost")
    started_at: datetime
    heartbeat_at: datetime = Field(description="its last beat")
    stopped_at: datetime | None
    rss_kb: int | None = Field(description="memory the client reported in its last beat")
    running: int = Field(description="executions it runs now")

    @classmethod
    def of(cls, w: WorkerInfo) -> WorkerOut:
        return cls(
            id=w.id,
            kind=w.kind.value,
            hostname=w.hostname,
            pid=w.pid,
            queues=list(w.queues),
            concurrency=w.concurrency,
            labels=list(w.labels),
            state=w.state.value,
            started_at=w.started_at,
            heartbeat_at=w.heartbeat_at,
            stopped_at=w.stopped_at,
            rss_kb=w.rss_kb,
            running=w.running,
        )


@router.get("", response_model=list[WorkerOut])
def list_workers(
    store: StoreDep,
    _: Viewer,
    include_stopped: Annotated[
        bool, Query(description="also workers stopped or silent for more than an hour")
    ] = False,
    kind: WorkerKind | None = None,
    state: WorkerState | None = None,
) -> list[WorkerOut]:
    """Workers of both kinds, newest first: by default those seen within the last hour."""
    found = store.worker_list(include_stopped=include_stopped)
    return [
        WorkerOut.of(w)
        for w in found
        if (kind is None or w.kind is kind) and (state is None or w.state is state)
    ]


@router.get("/{worker_id}", response_model=WorkerOut)
def get_worker(worker_id: WorkerIdPath, store: StoreDep, _: Viewer) -> WorkerOut:
    return WorkerOut.of(store.worker_get(worker_id))


@router.post("/{worker_id}/quiet", response_model=WorkerOut)
def quiet_worker(worker_id: WorkerIdPath, store: StoreDep, _: Operator) -> WorkerOut:
    """A Faktory worker finishes what it runs and fetches nothing more (told at its next BEAT;
    its FETCHes get nothing from now on)."""
    return WorkerOut.of(store.worker_control(worker_id, WorkerState.QUIET))


@router.post("/{worker_id}/stop", response_model=WorkerOut)
def stop_worker(worker_id: WorkerIdPath, store: StoreDep, _: Operator) -> WorkerOut:
    """A Faktory worker is told ``terminate`` at its next BEAT: it finishes (or fails) what it
    runs and exits. A state never moves back: a stopping worker cannot be quieted."""
    return WorkerOut.of(store.worker_control(worker_id, WorkerState.STOPPING))
