"""/api/v1/queues: depth per queue, pause and resume."""

from __future__ import annotations

from fastapi import APIRouter

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import StoreDep
from jobyard.api.schemas import QueueOut
from jobyard.core.errors import NotFound

router = APIRouter(prefix="/queues", tags=["queues"])


@router.get("", response_model=list[QueueOut])
def list_queues(store: StoreDep, _: Viewer) -> list[QueueOut]:
    return [_out(q) for q in store.queue_list()]


def _out(q: object) -> QueueOut:
    return QueueOut.model_validate(q, from_attributes=True)


def _one(store: StoreDep, name: str) -> QueueOut:
    for q in store.queue_list():
        if q.name == name:
            return _out(q)
    raise NotFound(f"no queue {name!r}", field="name")


@router.post("/{name}/pause", response_model=QueueOut)
def pause(name: str, store: StoreDep, _: Operator) -> QueueOut:
    """Its jobs stay queued and no worker claims them until it is resumed."""
    store.queue_pause(name)
    return _one(store, name)


@router.post("/{name}/resume", response_model=QueueOut)
def resume(name: str, store: StoreDep, _: Operator) -> QueueOut:
    store.queue_resume(name)
    return _one(store, name)
