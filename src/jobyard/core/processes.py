"""Applications and the process table: pure models, no I/O.

An **application** is the :class:`~jobyard.app.App` that registered a set of job types and
services; it has a name and a stable guid (Posit Connect calls it *content*). A row of the
**process table** is one execution (one process) with what it ran for: its job's type, queue and
tags, its application, the service it was an instance of, and where it ran (the cluster and
image its worker advertised).

Every execution has a **key**: a short string that names it in URLs (Connect's ``job key``). It
is the execution id scrambled by a bijection on 64-bit integers and written in base 62, so keys
look random, never collide, and need no column: :func:`execution_id_of` reads the id back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from jobyard.core.errors import Invalid
from jobyard.core.models import Execution, check_name, epoch
from jobyard.core.states import ExecutionStatus, JobStatus

#: the namespace of application guids: uuid5(APP_NAMESPACE, name), the same in every database
APP_NAMESPACE = uuid.UUID("6f1c2a52-8d0b-5e7f-9a43-3b1d6c0e9f21")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_WIDTH = 11  # 62**11 > 2**64
_MASK = 2**64 - 1
_MULT = 0x9E3779B97F4A7C15  # odd, so multiplying is a bijection modulo 2**64
_INVERSE = pow(_MULT, -1, 2**64)


def app_guid(name: str) -> str:
    """The stable guid of the application ``name``."""
    return str(uuid.uuid5(APP_NAMESPACE, check_name(name, "app")))


def execution_key(execution_id: int) -> str:
    """The key of an execution: 11 characters of base 62."""
    x = (execution_id * _MULT) & _MASK
    x ^= x >> 32  # its own inverse: the high half is unchanged
    digits = []
    for _ in range(_KEY_WIDTH):
        x, r = divmod(x, 62)
        digits.append(_ALPHABET[r])
    return "".join(reversed(digits))


def execution_id_of(key: str) -> int | None:
    """The execution id a key names; None when the text is not a key."""
    if len(key) != _KEY_WIDTH or any(c not in _ALPHABET for c in key):
        return None
    x = 0
    for c in key:
        x = x * 62 + _ALPHABET.index(c)
    if x > _MASK:
        return None
    x ^= x >> 32
    execution_id = (x * _INVERSE) & _MASK
    if not 0 < execution_id < 2**63:
        return None
    return execution_id


@dataclass(frozen=True, slots=True)
class AppInfo:
    """An application, as the workers that run it registered it."""

    id: int  # a small number, for dialects that want one (Connect's app_id)
    name: str
    guid: str  # stable: uuid5 of the name
    types: tuple[str, ...]  # the job types it registered (services included)
    services: tuple[str, ...]  # the services among them
    created_at: datetime  # first registration
    updated_at: datetime  # latest registration (a worker of the app started)


@dataclass(frozen=True, slots=True)
class Process:
    """A row of the process table: one execution and what it ran for."""

    execution: Execution
    key: str  # execution_key(execution.id)
    type: str | None  # the job's type (None once its job was pruned)
    type_revision: int | None
    queue: str | None
    tags: tuple[str, ...]
    job_status: JobStatus | None
    current: bool  # the job's latest execution (False: a later attempt replaced it)
    app: str | None  # the application of its type
    app_guid: str | None
    app_id: int | None
    service: str | None  # the service this execution was an instance of
    cluster: str | None  # where its worker runs (advertised by the worker)
    image: str | None


@dataclass(frozen=True, slots=True)
class ProcessFilter:
    """Filters of the process table; an empty tuple matches everything."""

    apps: tuple[str, ...] = ()  # application names or guids
    statuses: tuple[ExecutionStatus, ...] = ()
    hosts: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    tag: str | None = None
    job_id: int | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("started_after", "started_before"):
            value = getattr(self, name)
            if value is not None:
                try:
                    epoch(value)
                except Invalid as exc:
                    raise Invalid(f"{name} must be a time with a time zone", field=name) from exc


PROCESS_SORTS = ("id", "started_at", "ended_at", "job_id", "hostname", "status")


@dataclass(frozen=True, slots=True)
class ProcessPage:
    count: int
    page: int
    per_page: int
    results: tuple[Process, ...]


def execution_status(value: str) -> ExecutionStatus:
    try:
        return ExecutionStatus(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in ExecutionStatus)
        raise Invalid(
            f"unknown execution status {value!r}; one of {names}", field="status"
        ) from exc
