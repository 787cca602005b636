"""/api/v1/schedules: cron expressions that enqueue a job type, one job per tick."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import PageQ, PerPageQ, StoreDep, page_links
from jobyard.api.schemas import ListOut
from jobyard.core.errors import Invalid
from jobyard.core.schedules import Schedule, ScheduleRun, ScheduleSpec

router = APIRouter(prefix="/schedules", tags=["schedules"])


class ScheduleOut(BaseModel):
    id: int
    name: str
    cron: str = Field(description="5 fields (minute hour day month weekday), 6 with seconds")
    timezone: str = Field(description="the IANA time zone the cron expression is read in")
    type: str = Field(description="the job type each tick enqueues")
    args: Any
    queue: str | None = Field(description="null: the job type's")
    priority: int | None = Field(description="null: the job type's")
    enabled: bool
    catch_up: str = Field(description="skip: missed ticks make no job; once: one job for all")
    description: str
    revision: int = Field(description="+1 on every edit")
    next_fire_at: datetime | None = Field(description="the next tick it will act on")
    last_fire_at: datetime | None = Field(description="the latest tick it acted on")
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, s: Schedule) -> ScheduleOut:
        return cls(
            id=s.id,
            **s.spec.to_dict(),
            revision=s.revision,
            next_fire_at=s.next_fire_at,
            last_fire_at=s.last_fire_at,
            created_at=s.created_at,
            updated_at=s.updated_at,
            created_by=s.created_by,
        )


class RunOut(BaseModel):
    fire_at: datetime = Field(description="the tick")
    recorded_at: datetime = Field(description="when an engine acted on it")
    job_id: int | None = Field(description="null: skipped, or the job could not be made")
    job_status: str | None = Field(description="the job's current state")
    missed: int = Field(description="earlier due ticks folded into this one or skipped with it")
    skipped: bool = Field(description="a tick that came too late (catch_up skip): no job")
    error: str | None = Field(description="why no job was made, when one should have been")

    @classmethod
    def of(cls, r: ScheduleRun) -> RunOut:
        return cls(
            fire_at=r.fire_at,
            recorded_at=r.recorded_at,
            job_id=r.job_id,
            job_status=None if r.job_status is None else r.job_status.value,
            missed=r.missed,
            skipped=r.job_id is None and r.error is None,
            error=r.error,
        )


class ScheduleDetailOut(ScheduleOut):
    next_runs: list[datetime] = Field(description="its next ticks, in its time zone")
    history: list[RunOut] = Field(description="the latest ticks it acted on, newest first")


SCHEDULE_BODY = {
    "description": "`{name, cron, type, args?, timezone?, queue?, priority?, enabled?, "
    "catch_up?, description?}`",
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
            "example": {
                "name": "nightly-report",
                "cron": "30 2 * * *",
                "timezone": "Europe/Berlin",
                "type": "reports.build",
                "args": {"period": "day"},
                "catch_up": "once",
            },
        }
    },
}
PATCH_BODY = {
    "description": "any fields of a schedule but its name",
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
            "example": {"enabled": False},
        }
    },
}


@router.get("", response_model=ListOut[ScheduleOut])
def list_schedules(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    type: Annotated[str | None, Query(max_length=200, description="of this job type")] = None,
    enabled: bool | None = None,
) -> ListOut[ScheduleOut]:
    items = [
        ScheduleOut.of(s)
        for s in store.schedule_list()
        if (type is None or s.spec.type == type) and (enabled is None or s.spec.enabled == enabled)
    ]
    start = (page - 1) * per_page
    nxt, prev = page_links(request, page=page, per_page=per_page, count=len(items))
    return ListOut[ScheduleOut](
        count=len(items), next=nxt, previous=prev, results=items[start : start + per_page]
    )


@router.post(
    "", status_code=201, response_model=ScheduleOut, openapi_extra={"requestBody": SCHEDULE_BODY}
)
def create_schedule(store: StoreDep, who: Operator, body: Annotated[Any, Body()]) -> ScheduleOut:
    """A new schedule; its first tick is the first one after now."""
    return ScheduleOut.of(store.schedule_create(ScheduleSpec.from_dict(body), created_by=who.name))


@router.get("/{name}", response_model=ScheduleDetailOut)
def get_schedule(
    name: str,
    store: StoreDep,
    _: Viewer,
    next: Annotated[int, Query(ge=0, le=100, description="how many next ticks")] = 5,
    history: Annotated[int, Query(ge=0, le=1000, description="how many past runs")] = 20,
) -> ScheduleDetailOut:
    """The schedule, its next ticks and its run history (each run's job and its state)."""
    schedule = store.schedule_get(name)
    runs = store.schedule_runs(name, limit=history) if history else []
    return ScheduleDetailOut(
        **ScheduleOut.of(schedule).model_dump(),
        next_runs=schedule.next_runs(next) if next and schedule.spec.enabled else [],
        history=[RunOut.of(r) for r in runs],
    )


@router.patch("/{name}", response_model=ScheduleOut, openapi_extra={"requestBody": PATCH_BODY})
def update_schedule(
    name: str, store: StoreDep, _: Operator, body: Annotated[Any, Body()]
) -> ScheduleOut:
    """Change any of its fields but the name; a new cron or time zone, or enabling it, starts
    from the first tick after now."""
    if not isinstance(body, dict):
        raise Invalid("the changes are an object of schedule fields", field="body")
    return ScheduleOut.of(store.schedule_update(name, body))


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_schedule(name: str, store: StoreDep, _: Operator) -> Response:
    """Remove the schedule and its run history; the jobs it made stay."""
    store.schedule_delete(name)
    return Response(status_code=204)
