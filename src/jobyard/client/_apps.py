"""Applications, services and the process table: their operations, once (see ``_base``).

The replies are read into the same :mod:`jobyard.core` classes the store hands around:
:class:`~jobyard.core.processes.AppInfo`, :class:`~jobyard.core.processes.Process`,
:class:`~jobyard.core.services.Service` and :class:`~jobyard.core.services.ServiceMessage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from jobyard.client import models as m
from jobyard.client._base import Call, _seg, query
from jobyard.core.models import Job, JobType
from jobyard.core.processes import AppInfo, Process
from jobyard.core.services import (
    Action,
    Schedule,
    Service,
    ServiceDefinition,
    ServiceInstance,
    ServiceMessage,
)
from jobyard.core.states import ExecutionStatus, JobStatus


class ProcessFilters(TypedDict, total=False):
    """Filters of the process table; a sequence (or a comma-separated string) matches any."""

    app: str | Sequence[str]  # application names or guids
    status: str | ExecutionStatus | Sequence[str | ExecutionStatus]
    host: str | Sequence[str]
    queue: str | Sequence[str]
    worker: str | Sequence[str]
    type: str | Sequence[str]
    service: str | Sequence[str]
    tag: str
    job_id: int
    started_after: datetime
    started_before: datetime
    sort: str  # id, started_at, ended_at, job_id, hostname or status; "-" descending


# -- reading replies --------------------------------------------------------------------------


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def app_from(d: Mapping[str, Any]) -> AppInfo:
    return AppInfo(
        id=d["id"],
        name=d["name"],
        guid=d["guid"],
        types=tuple(d.get("types") or ()),
        services=tuple(d.get("services") or ()),
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
    )


def process_from(d: Mapping[str, Any]) -> Process:
    status = d.get("job_status")
    return Process(
        execution=m.execution_from(d),
        key=d["key"],
        type=d.get("type"),
        type_revision=d.get("type_revision"),
        queue=d.get("queue"),
        tags=tuple(d.get("tags") or ()),
        job_status=None if status is None else JobStatus(status),
        current=bool(d.get("current")),
        app=d.get("app"),
        app_guid=d.get("app_guid"),
        app_id=None,
        service=d.get("service"),
        cluster=d.get("cluster"),
        image=d.get("image"),
    )


def instance_from(d: Mapping[str, Any]) -> ServiceInstance:
    job_status = d.get("job_status")
    execution_status = d.get("execution_status")
    return ServiceInstance(
        slot=d["slot"],
        job_id=d.get("job_id"),
        job_status=None if job_status is None else JobStatus(job_status),
        execution_id=d.get("execution_id"),
        execution_status=None if execution_status is None else ExecutionStatus(execution_status),
        pid=d.get("pid"),
        hostname=d.get("hostname"),
        worker_id=d.get("worker_id"),
        started_at=_dt(d.get("started_at")),
        ready_at=_dt(d.get("ready_at")),
        ended_at=_dt(d.get("ended_at")),
        exit_code=d.get("exit_code"),
        signal=d.get("signal"),
        canceled_by=d.get("canceled_by"),
    )


def service_from(d: Mapping[str, Any]) -> Service:
    definition = {**d["definition"], "name": d["name"], "app": d.get("app")}
    definition["description"] = d.get("description", "")
    action = d.get("running_action")
    return Service(
        definition=ServiceDefinition.from_dict(definition),
        desired=Action(d["desired"]),
        status=Action(d["status"]),
        sub=d["sub"],
        schedule=Schedule(d["schedule"]),
        running_action=None if action is None else Action(action),
        action_started_at=_dt(d.get("action_started_at")),
        action_ended_at=_dt(d.get("action_ended_at")),
        failures=d.get("failures", 0),
        restarts=d.get("restarts", 0),
        next_start_at=_dt(d.get("next_start_at")),
        waiting_for=tuple(d.get("waiting_for") or ()),
        instances=tuple(instance_from(i) for i in d.get("instances") or ()),
        created_at=datetime.fromisoformat(d["created_at"]),
        updated_at=datetime.fromisoformat(d["updated_at"]),
    )


def message_from(d: Mapping[str, Any]) -> ServiceMessage:
    return ServiceMessage(
        id=d["id"],
        at=float(d["timestamp"]),
        kind=d["kind"],
        service=d["service"],
        action=d["action"],
        sub=d["sub"],
        msg=d["msg"],
        ok_counter=d["ok_counter"],
        err_counter=d["err_counter"],
        forked_counter=d["forked_counter"],
        startup_percentage=d["startup_percentage"],
    )


def _results(item: Any) -> Any:
    def parse(d: Any) -> list[Any]:
        return [item(x) for x in d["results"]]

    return parse


# -- the operations ---------------------------------------------------------------------------


def executions(*, page: int, per_page: int, filters: Mapping[str, Any]) -> Call[m.Page[Process]]:
    """The process table: one page of executions matching :class:`ProcessFilters`, newest first
    unless ``sort`` says, each with its pid, host, times, exit code or signal, app and service."""
    params = query(page=page, per_page=per_page, **filters)
    return Call("GET", "/executions", m.page_from(process_from), params)


def execution(execution: int | str) -> Call[Process]:
    """One execution of the process table, by id or by key."""
    return Call("GET", f"/executions/{_seg(str(execution))}", process_from)


def apps() -> Call[list[AppInfo]]:
    """Every application a worker registered: name, stable guid, job types and services."""
    return Call("GET", "/apps", _results(app_from))


def app(name: str) -> Call[AppInfo]:
    """An application by name or guid."""
    return Call("GET", f"/apps/{_seg(name)}", app_from)


def app_types(name: str) -> Call[list[JobType]]:
    """The job types of an application (its services' types included)."""
    return Call("GET", f"/apps/{_seg(name)}/types", _results(m.job_type_from))


def app_jobs(
    name: str, *, page: int, per_page: int, filters: Mapping[str, Any]
) -> Call[m.Page[Job]]:
    """One page of the jobs of an application's types (JobFilters but ``type``)."""
    params = query(page=page, per_page=per_page, **filters)
    return Call("GET", f"/apps/{_seg(name)}/jobs", m.page_from(m.job_from), params)


def services(*, app: str | None) -> Call[list[Service]]:
    """Every service (of one application), with its desired and reported state and instances."""
    return Call("GET", "/services", _results(service_from), query(app=app))


def service(name: str) -> Call[Service]:
    """One service, with its instances."""
    return Call("GET", f"/services/{_seg(name)}", service_from)


def service_action(name: str, action: str) -> Call[Service]:
    """Ask the engine to start, stop, restart or reload a service; returns it as it is now.

    start starts its dependencies first; stop stops what depends on it first.
    """
    return Call("POST", f"/services/{_seg(name)}/{action}", service_from)


def service_messages(*, limit: int) -> Call[list[ServiceMessage]]:
    """The engine's latest messages, oldest first (an action ended: ok or err, with counters)."""
    return Call("GET", "/services/messages", m.list_from(message_from), query(limit=limit))


def service_updates(*, timeout: float, limit: int) -> Call[list[ServiceMessage]]:
    """Service updates of the last ``timeout`` seconds, newest first."""
    params = query(timeout=timeout, limit=limit)
    return Call("GET", "/services/updates", m.list_from(message_from), params)
