"""/api/v1/apps: the applications, and their job types, jobs and services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from jobyard.api.appschemas import AppOut, ServiceOut
from jobyard.api.auth import Viewer
from jobyard.api.deps import PageQ, PerPageQ, StoreDep, page_links
from jobyard.api.routes.jobs import job_filter
from jobyard.api.schemas import JobOut, JobTypeOut, ListOut
from jobyard.core.models import SORTABLE, PageRequest

router = APIRouter(prefix="/apps", tags=["apps"])


@router.get("", response_model=ListOut[AppOut])
def list_apps(request: Request, store: StoreDep, _: Viewer) -> ListOut[AppOut]:
    """Every application a worker registered, by name."""
    apps = [AppOut.of(a) for a in store.app_list()]
    return ListOut[AppOut](count=len(apps), next=None, previous=None, results=apps)


@router.get("/{app}", response_model=AppOut)
def get_app(app: str, store: StoreDep, _: Viewer) -> AppOut:
    """An application by name or guid."""
    return AppOut.of(store.app_get(app))


@router.get("/{app}/types", response_model=ListOut[JobTypeOut])
def app_types(app: str, store: StoreDep, _: Viewer) -> ListOut[JobTypeOut]:
    names = set(store.app_get(app).types)
    types = [JobTypeOut.of(t) for t in store.type_list() if t.name in names]
    return ListOut[JobTypeOut](count=len(types), next=None, previous=None, results=types)


@router.get("/{app}/jobs", response_model=ListOut[JobOut])
def app_jobs(
    app: str,
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    sort: Annotated[
        str, Query(description=f"one of {', '.join(SORTABLE)}; '-' first for descending")
    ] = "-id",
    status: Annotated[list[str] | None, Query(description="comma-separated states")] = None,
    queue: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    include_removed: bool = False,
) -> ListOut[JobOut]:
    """The jobs of the application's types (service instances included), newest first."""
    types = list(store.app_get(app).types)
    filters = job_filter(
        status, types or ["-"], queue, tag, created_after, created_before, search, include_removed
    )
    found = store.job_list(filters, PageRequest(page=page, per_page=per_page, sort=sort))
    nxt, prev = page_links(request, page=page, per_page=per_page, count=found.count)
    return ListOut[JobOut](
        count=found.count, next=nxt, previous=prev, results=[JobOut.of(j) for j in found.results]
    )


@router.get("/{app}/services", response_model=ListOut[ServiceOut])
def app_services(app: str, store: StoreDep, _: Viewer) -> ListOut[ServiceOut]:
    name = store.app_get(app).name
    services = [ServiceOut.of(s) for s in store.service_list(app=name)]
    return ListOut[ServiceOut](count=len(services), next=None, previous=None, results=services)
