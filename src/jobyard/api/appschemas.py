"""Bodies of the applications, process table and services routes (also their OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from jobyard.api.schemas import ExecutionOut
from jobyard.core.processes import AppInfo, Process, execution_key
from jobyard.core.services import Service, ServiceInstance, ServiceMessage


class AppOut(BaseModel):
    id: int
    name: str
    guid: str = Field(description="stable: the same for this name in every database")
    types: list[str] = Field(description="the job types it registered, services included")
    services: list[str]
    created_at: datetime
    updated_at: datetime = Field(description="the latest registration (a worker started)")

    @classmethod
    def of(cls, a: AppInfo) -> AppOut:
        return cls(
            id=a.id, name=a.name, guid=a.guid, types=list(a.types), services=list(a.services),
            created_at=a.created_at, updated_at=a.updated_at,
        )  # fmt: skip


class ProcessOut(ExecutionOut):
    """A row of the process table: an execution and what it ran for, and where."""

    key: str = Field(description="names the execution in URLs (Connect's job key)")
    type: str | None
    type_revision: int | None
    queue: str | None
    tags: list[str]
    job_status: str | None
    current: bool = Field(description="the job's latest execution")
    app: str | None
    app_guid: str | None
    service: str | None = Field(description="the service it was an instance of")
    cluster: str | None = Field(description="as its worker advertised (--cluster)")
    image: str | None = Field(description="as its worker advertised (--image)")

    @classmethod
    def of(cls, p: Process) -> ProcessOut:
        base = ExecutionOut.model_validate(p.execution).model_dump()
        return cls(
            **base, key=p.key, type=p.type, type_revision=p.type_revision, queue=p.queue,
            tags=list(p.tags), job_status=None if p.job_status is None else p.job_status.value,
            current=p.current, app=p.app, app_guid=p.app_guid, service=p.service,
            cluster=p.cluster, image=p.image,
        )  # fmt: skip


class InstanceOut(BaseModel):
    slot: int
    job_id: int | None
    job_status: str | None
    execution_id: int | None
    key: str | None = Field(description="the execution's key")
    execution_status: str | None
    pid: int | None
    hostname: str | None
    worker_id: str | None
    started_at: datetime | None
    ready: bool
    ready_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    signal: int | None
    canceled_by: str | None

    @classmethod
    def of(cls, i: ServiceInstance) -> InstanceOut:
        return cls(
            slot=i.slot, job_id=i.job_id,
            job_status=None if i.job_status is None else i.job_status.value,
            execution_id=i.execution_id,
            key=None if i.execution_id is None else execution_key(i.execution_id),
            execution_status=None if i.execution_status is None else i.execution_status.value,
            pid=i.pid, hostname=i.hostname, worker_id=i.worker_id, started_at=i.started_at,
            ready=i.ready, ready_at=i.ready_at, ended_at=i.ended_at, exit_code=i.exit_code,
            signal=i.signal, canceled_by=i.canceled_by,
        )  # fmt: skip


class ServiceOut(BaseModel):
    name: str
    app: str | None
    description: str
    definition: dict[str, Any] = Field(
        description="restart, backoff, ready, depends_on, instances, autostart, args, reload_signal"
    )
    desired: str = Field(description="start or stop: what was asked for")
    status: str = Field(description="start or stop: the last action")
    sub: str = Field(description="ok or err: how it went")
    schedule: str = Field(description="waiting, waiting_depends or executing")
    running_action: str | None = Field(description="start, stop, restart or reload")
    action_started_at: datetime | None
    action_ended_at: datetime | None
    ready: bool = Field(description="every instance is running and passed its readiness check")
    failures: int = Field(description="failed instance ends in a row (the backoff's count)")
    restarts: int = Field(description="instances started again by the restart policy")
    next_start_at: datetime | None = Field(description="no new instance before this (backoff)")
    waiting_for: list[str] = Field(description="dependencies that are not ready")
    instances: list[InstanceOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Service) -> ServiceOut:
        d = s.definition
        definition = {k: v for k, v in d.to_dict().items() if k not in ("name", "app")}
        definition.pop("description", None)
        return cls(
            name=d.name, app=d.app, description=d.description, definition=definition,
            desired=s.desired.value, status=s.status.value, sub=s.sub,
            schedule=s.schedule.value,
            running_action=None if s.running_action is None else s.running_action.value,
            action_started_at=s.action_started_at, action_ended_at=s.action_ended_at,
            ready=s.ready and not s.waiting_for and s.desired.value == "start",
            failures=s.failures, restarts=s.restarts, next_start_at=s.next_start_at,
            waiting_for=list(s.waiting_for), instances=[InstanceOut.of(i) for i in s.instances],
            created_at=s.created_at, updated_at=s.updated_at,
        )  # fmt: skip


class ServiceMessageOut(BaseModel):
    id: int
    at: datetime
    timestamp: float = Field(description="the same moment, epoch seconds")
    kind: str = Field(description="message (an action ended) or update (a service changed)")
    service: str
    action: str = Field(
        description="messages: the action; updates: the status (start, stop, executing, "
        "waiting_depends)"
    )
    sub: str
    msg: str
    ok_counter: int
    err_counter: int
    forked_counter: int
    startup_percentage: int

    @classmethod
    def of(cls, m: ServiceMessage) -> ServiceMessageOut:
        return cls(
            id=m.id, at=datetime.fromtimestamp(m.at, UTC), timestamp=m.at, kind=m.kind,
            service=m.service, action=m.action, sub=m.sub, msg=m.msg, ok_counter=m.ok_counter,
            err_counter=m.err_counter, forked_counter=m.forked_counter,
            startup_percentage=m.startup_percentage,
        )  # fmt: skip
