"""What the client returns: core models where the API sends one, small frozen dataclasses else.

Jobs, executions, job types, queues and tokens are the same :mod:`jobyard.core.models` classes
the store hands around, so code moves between the store and the client unchanged. Each
``*_from`` function reads one JSON reply of the native API; fields a newer server adds are
ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from jobyard.client._recipes import links_from
from jobyard.core.backoff import Backoff
from jobyard.core.limits import WaitReason
from jobyard.core.models import (
    ApiToken,
    Execution,
    Job,
    JobType,
    QueueInfo,
    Role,
    TypeDefinition,
)
from jobyard.core.states import ExecutionStatus, JobStatus

T = TypeVar("T")

__all__ = [
    "ApiToken",
    "Event",
    "Execution",
    "Health",
    "Job",
    "JobType",
    "LogPage",
    "NewToken",
    "Page",
    "QueueInfo",
    "Tracking",
    "UserInfo",
    "Version",
]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: the items, how many match in all, and links to the neighbours."""

    count: int  # items matching the filters, on every page
    next: str | None  # URL of the next page, if any
    previous: str | None  # URL of the previous page, if any
    results: tuple[T, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """An entry of the event log, as a log page lists it or a live stream sends it.

    ``kind`` is ``state``, ``progress`` or ``log``. A job follow also sends a ``state`` with
    ``job`` set first (the job as it is now, with no ``id``), and ends with ``close``, whose data
    is the final ``status`` and a count of the events sent.
    """

    kind: str
    data: dict[str, Any]
    id: int | None = None  # the event-log id (None for the opening snapshot)
    job_id: int | None = None
    at: datetime | None = None
    job: Job | None = None  # the opening snapshot of a follow

    @property
    def status(self) -> str | None:
        """The job's status, for ``state`` and ``close`` events."""
        value = self.data.get("status")
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        """The line, for ``log`` events."""
        return str(self.data.get("text", ""))

    @property
    def percent(self) -> float | None:
        """For ``progress`` events."""
        value = self.data.get("percent")
        return None if value is None else float(value)

    @property
    def desc(self) -> str | None:
        """For ``progress`` events."""
        value = self.data.get("desc")
        return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class LogPage:
    """Log lines after a cursor; pass ``next_after`` as ``after`` to read on."""

    lines: tuple[Event, ...]
    next_after: int


@dataclass(frozen=True, slots=True)
class Tracking:
    """A job's tracking status (``unknown``, ``enqueued``, ``working``, ``success``, ...)."""

    jid: str
    state: str
    updated_at: datetime | None
    percent: float | None
    desc: str | None


@dataclass(frozen=True, slots=True)
class Health:
    status: str  # "ok" or "unavailable"
    database: str  # "ok", or why it cannot be reached
    backend: str  # "sqlite" or "postgresql"
    schema_version: int


@dataclass(frozen=True, slots=True)
class Version:
    version: str  # of the jobyard package on the server
    api: str  # "v1"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the API shows one: never a password or its hash."""

    name: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``value`` is the secret, shown this once."""

    token: ApiToken
    value: str = field(repr=False)


# -- reading replies --------------------------------------------------------------------------


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(value)


def execution_from(d: Mapping[str, Any]) -> Execution:
    return Execution(
        id=d["id"],
        job_id=d["job_id"],
        attempt=d["attempt"],
        status=ExecutionStatus(d["status"]),
        worker_id=d.get("worker_id"),
        hostname=d.get("hostname"),
        pid=d.get("pid"),
        ppid=d.get("ppid"),
        run_as=d.get("run_as"),
        queued_at=_dt(d.get("queued_at")),
        started_at=_at(d["started_at"]),
        ended_at=_dt(d.get("ended_at")),
        heartbeat_at=_dt(d.get("heartbeat_at")),
        lease_expires_at=_at(d["lease_expires_at"]),
        exit_code=d.get("exit_code"),
        signal=d.get("signal"),
        peak_rss=d.get("peak_rss"),
        error_type=d.get("error_type"),
        error_message=d.get("error_message"),
        traceback=d.get("traceback"),
        stopped_by=d.get("stopped_by"),
    )


def job_from(d: Mapping[str, Any]) -> Job:
    progress = d.get("progress") or {}
    return Job(
        id=d["id"],
        type=d["type"],
        type_revision=d["type_revision"],
        status=JobStatus(d["status"]),
        queue=d["queue"],
        priority=d["priority"],
        args=d.get("args"),
        tags=tuple(d.get("tags") or ()),
        unique_key=d.get("unique_key"),
        external_id=d.get("external_id"),
        tries=d["tries"],
        max_tries=d["max_tries"],
        timeout=d.get("timeout"),
        backoff=Backoff(**d["backoff"]),
        run_at=_at(d["run_at"]),
        created_at=_at(d["created_at"]),
        started_at=_dt(d.get("started_at")),
        finished_at=_dt(d.get("finished_at")),
        updated_at=_at(d["updated_at"]),
        result=d.get("result"),
        error=d.get("error"),
        progress=progress.get("percent"),
        progress_desc=progress.get("desc"),
        execution_id=d.get("execution_id"),
        kill_requested_at=_dt(d.get("kill_requested_at")),
        kill_requested_by=d.get("kill_requested_by"),
        canceled_by=d.get("canceled_by"),
        canceled_at=_dt(d.get("canceled_at")),
        removed_at=_dt(d.get("removed_at")),
        removed_by=d.get("removed_by"),
        restart_of=d.get("restart_of"),
        restarted_as=d.get("restarted_as"),
        created_by=d.get("created_by"),
        executions=tuple(execution_from(e) for e in d.get("executions") or ()),
        cpus=d.get("cpus") or 0.0,
        mem=d.get("mem") or 0.0,
        disk=d.get("disk") or 0.0,
        type_concurrency=d.get("type_concurrency"),
        concurrency_key=d.get("concurrency_key"),
        concurrency_limit=d.get("concurrency_limit"),
        waiting=None if d.get("waiting") is None else WaitReason.from_dict(d["waiting"]),
        links=links_from(d),
    )


def job_type_from(d: Mapping[str, Any]) -> JobType:
    return JobType(
        definition=TypeDefinition.from_dict(d),
        revision=d["revision"],
        created_at=_at(d["created_at"]),
        id=d.get("id"),
        archived_at=_dt(d.get("archived_at")),
        paused=bool(d.get("paused", False)),
    )


def event_from(d: Mapping[str, Any]) -> Event:
    return Event(
        kind=d["kind"],
        data=dict(d.get("data") or {}),
        id=d["id"],
        job_id=d.get("job_id"),
        at=_dt(d.get("at")),
    )


def log_page_from(d: Mapping[str, Any]) -> LogPage:
    return LogPage(
        lines=tuple(event_from(e) for e in d["results"]), next_after=int(d["next_after"])
    )


def queue_from(d: Mapping[str, Any]) -> QueueInfo:
    return QueueInfo(
        name=d["name"],
        paused=d["paused"],
        queued=d["queued"],
        running=d["running"],
        waiting=d["waiting"],
    )


def tracking_from(d: Mapping[str, Any]) -> Tracking:
    return Tracking(
        jid=d["jid"],
        state=d["state"],
        updated_at=_dt(d.get("updated_at")),
        percent=d.get("percent"),
        desc=d.get("desc"),
    )


def health_from(d: Mapping[str, Any]) -> Health:
    return Health(
        status=d["status"],
        database=d["database"],
        backend=d["backend"],
        schema_version=d["schema_version"],
    )


def version_from(d: Mapping[str, Any]) -> Version:
    return Version(version=d["version"], api=d["api"])


def user_from(d: Mapping[str, Any]) -> UserInfo:
    return UserInfo(name=d["name"], role=Role(d["role"]), created_at=_at(d["created_at"]))


def token_from(d: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        id=d["id"],
        user=d["user"],
        name=d["name"],
        created_at=_at(d["created_at"]),
        revoked_at=_dt(d.get("revoked_at")),
    )


def new_token_from(d: Mapping[str, Any]) -> NewToken:
    return NewToken(token=token_from(d), value=d["token"])


def page_from(item: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], Page[T]]:
    def parse(d: Any) -> Page[T]:
        return Page(
            count=d["count"],
            next=d.get("next"),
            previous=d.get("previous"),
            results=tuple(item(x) for x in d["results"]),
        )

    return parse


def list_from(item: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], list[T]]:
    def parse(d: Any) -> list[T]:
        return [item(x) for x in d]

    return parse
