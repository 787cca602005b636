"""/api/v1/services: long-running jobs the engine keeps running; start, stop, restart, reload."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from jobyard.api.appschemas import ServiceMessageOut, ServiceOut
from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import StoreDep
from jobyard.api.schemas import ListOut

router = APIRouter(prefix="/services", tags=["services"])


@router.get("", response_model=ListOut[ServiceOut])
def list_services(
    store: StoreDep,
    _: Viewer,
    app: Annotated[str | None, Query(max_length=200, description="only this app's")] = None,
) -> ListOut[ServiceOut]:
    """Every service with its desired and reported state and its instances, by name."""
    services = [ServiceOut.of(s) for s in store.service_list(app=app)]
    return ListOut[ServiceOut](count=len(services), next=None, previous=None, results=services)


@router.get("/messages", response_model=list[ServiceMessageOut])
def messages(
    store: StoreDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ServiceMessageOut]:
    """The engine's latest messages, oldest first: an action ended, with the counters then."""
    found = store.service_messages(kind="message", limit=limit)
    return [ServiceMessageOut.of(m) for m in reversed(found)]


@router.get("/updates", response_model=list[ServiceMessageOut])
def updates(
    store: StoreDep,
    _: Viewer,
    timeout: Annotated[
        float, Query(gt=0, le=7 * 86400, description="seconds before an update expires")
    ] = 30.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ServiceMessageOut]:
    """Updates newer than ``timeout`` seconds, newest first."""
    found = store.service_messages(kind="update", since=store.now() - timeout, limit=limit)
    return [ServiceMessageOut.of(m) for m in found]


@router.get("/{name}", response_model=ServiceOut)
def get_service(name: str, store: StoreDep, _: Viewer) -> ServiceOut:
    return ServiceOut.of(store.service_get(name))


@router.post("/{name}/{action}", response_model=ServiceOut, status_code=202)
def act(
    name: str,
    action: Literal["start", "stop", "restart", "reload"],
    store: StoreDep,
    who: Operator,
) -> ServiceOut:
    """Ask for an action; the engine carries it out (start: dependencies first; stop:
    dependents first). Returns the service as it is now."""
    do = {
        "start": store.service_start,
        "stop": store.service_stop,
        "restart": store.service_restart,
        "reload": store.service_reload,
    }[action]
    return ServiceOut.of(do(name, by=who.name))
