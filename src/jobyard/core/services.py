"""Services: long-running job types the engine keeps running. Pure models and rules, no I/O.

A service is declared in an app (``@app.service`` or ``app.command_service``) and is a job type
of the same name: every start of an instance is a job of that type (so an execution in the
process table, with a log), enqueued by the engine's service duty (:mod:`jobyard.engine.services`)
with the unique key :func:`instance_key`. The database allows one unfinished job per key, so an
instance runs at most once across all workers and hosts; a service asks for N with ``instances``.

The duty keeps each service in its *desired* state (``start`` or ``stop``):

- start: dependencies first (an instance is not started while a dependency is not ready: the
  service reports ``waiting_depends``); an instance that ends is started again by its restart
  policy (``always``, ``on-failure``, ``never``) after its backoff;
- stop: dependents first, then the instances are killed;
- restart: instances are killed and started again at once; reload sends ``reload_signal`` to
  each instance's process group (command services), or restarts it.

An instance is *ready* when its readiness check passed on the worker running it: up for
``after`` seconds, a ``command`` that exits 0, or an ``url`` that answers 2xx/3xx. The state a
service reports follows Endian's jobsengine (seed 003): ``status`` start/stop (the last action),
``sub`` ok/err (how it went), ``schedule`` waiting / waiting_depends / executing.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid, JobyardError
from jobyard.core.models import JSON, check_json, check_name
from jobyard.core.states import ExecutionStatus, JobStatus

#: killed by the service duty on purpose (stop, restart, scale down, not ready in time)
BY_SERVICE = "service:"
KEY_PREFIX = "service:"
SERVICE_TAG = "service"
DEFAULT_BACKOFF = Backoff(base=1.0, factor=2.0, max=60.0, jitter=0.1)


class ServiceConflict(JobyardError):
    """The service is not in a state where the operation applies."""

    code = "invalid_transition"
    http_status = 409


class RestartPolicy(StrEnum):
    ALWAYS = "always"  # an instance that ends, however, is started again
    ON_FAILURE = "on-failure"  # only one that failed, was killed or lost; a clean exit stops
    NEVER = "never"  # an instance that ends stays down (the service stops)


class Action(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    RELOAD = "reload"


class Schedule(StrEnum):
    WAITING = "waiting"  # idle: up and ready, stopped, or waiting out a backoff
    WAITING_DEPENDS = "waiting_depends"  # a dependency is not ready
    EXECUTING = "executing"  # an action runs: instances starting, or being stopped


def _seconds(value: object, name: str, *, allow_zero: bool = True) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        raise Invalid(f"{name} must be a positive number of seconds", field=name)
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Readiness:
    """How the worker running an instance decides it is ready (one of three checks)."""

    after: float = 1.0  # seconds up, when there is no command and no url
    command: tuple[str, ...] = ()  # a probe argv (no shell): ready once it exits 0
    url: str | None = None  # an HTTP probe: ready once it answers 2xx or 3xx
    interval: float = 0.5  # seconds between probes
    timeout: float = 60.0  # seconds to become ready; else the start failed and is killed

    def __post_init__(self) -> None:
        _seconds(self.after, "ready.after")
        _seconds(self.interval, "ready.interval", allow_zero=False)
        _seconds(self.timeout, "ready.timeout", allow_zero=False)
        if isinstance(self.command, str) or not all(isinstance(a, str) for a in self.command):
            raise Invalid("ready.command is a list of arguments", field="ready.command")
        if self.url is not None and not (
            isinstance(self.url, str) and self.url.startswith(("http://", "https://"))
        ):
            raise Invalid("ready.url is an http:// or https:// URL", field="ready.url")
        if self.command and self.url:
            raise Invalid("give ready.command or ready.url, not both", field="ready")

    @property
    def kind(self) -> str:
        return "command" if self.command else "http" if self.url else "after"

    def to_dict(self) -> dict[str, JSON]:
        return {
            "after": self.after,
            "command": list(self.command),
            "url": self.url,
            "interval": self.interval,
            "timeout": self.timeout,
        }

    @classmethod
    def parse(cls, value: object) -> Readiness:
        """A Readiness, seconds up, an URL, an argv list, or a mapping of the fields."""
        if isinstance(value, Readiness):
            return value
        if isinstance(value, bool) or value is None:
            raise Invalid("ready is seconds, an URL, a command or an object", field="ready")
        if isinstance(value, int | float):
            return cls(after=float(value))
        if isinstance(value, str):
            return cls(url=value)
        if isinstance(value, list | tuple):
            return cls(command=tuple(value))
        if isinstance(value, Mapping):
            unknown = set(value) - {"after", "command", "url", "interval", "timeout"}
            if unknown:
                raise Invalid(f"unknown ready option {sorted(unknown)[0]!r}", field="ready")
            options = dict(value)
            if options.get("command") is not None:
                if isinstance(options["command"], str):
                    raise Invalid("ready.command is a list of arguments", field="ready.command")
                options["command"] = tuple(options["command"])
            else:
                options.pop("command", None)
            return cls(**options)
        raise Invalid("ready is seconds, an URL, a command or an object", field="ready")


def _signal_name(value: object) -> str | None:
    if value is None:
        return None
    name = value.name if isinstance(value, signal.Signals) else str(value).upper()
    if not name.startswith("SIG"):
        name = f"SIG{name}"
    if name not in signal.Signals.__members__:
        raise Invalid(f"unknown signal {value!r}", field="reload_signal")
    return name


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """A service as its app declares it; its instances run the job type of the same name."""

    name: str
    app: str | None = None  # the app that declared it
    restart: RestartPolicy = RestartPolicy.ALWAYS
    backoff: Backoff = DEFAULT_BACKOFF  # between restarts after failures
    ready: Readiness = field(default_factory=Readiness)
    depends_on: tuple[str, ...] = ()  # services that must be ready before it starts
    instances: int = 1  # copies running at once, cluster-wide
    autostart: bool = True  # desired state "start" when first registered
    args: JSON = field(default_factory=dict)  # the args of each instance's job
    reload_signal: str | None = None  # "SIGHUP": reload signals the process; else restarts it
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        if self.name.isdigit():
            raise Invalid("a service name needs a letter (numbers name jobs)", field="name")
        if self.app is not None:
            check_name(self.app, "app")
        try:
            object.__setattr__(self, "restart", RestartPolicy(self.restart))
        except ValueError as exc:
            raise Invalid("restart is always, on-failure or never", field="restart") from exc
        object.__setattr__(self, "ready", Readiness.parse(self.ready))
        object.__setattr__(self, "backoff", Backoff.parse(self.backoff))
        if isinstance(self.depends_on, str):
            raise Invalid("depends_on is a list of service names", field="depends_on")
        for dep in self.depends_on:
            check_name(dep, "depends_on")
        if self.name in self.depends_on:
            raise Invalid(f"service {self.name!r} depends on itself", field="depends_on")
        if isinstance(self.instances, bool) or not isinstance(self.instances, int):
            raise Invalid("instances must be a whole number", field="instances")
        if not 1 <= self.instances <= 1000:
            raise Invalid("instances must be from 1 to 1000", field="instances")
        check_json(self.args, "args")
        object.__setattr__(self, "reload_signal", _signal_name(self.reload_signal))

    def to_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "app": self.app,
            "restart": self.restart.value,
            "backoff": self.backoff.to_dict(),
            "ready": self.ready.to_dict(),
            "depends_on": list(self.depends_on),
            "instances": self.instances,
            "autostart": self.autostart,
            "args": self.args,
            "reload_signal": self.reload_signal,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceDefinition:
        return cls(
            name=data["name"],
            app=data.get("app"),
            restart=data.get("restart", "always"),
            backoff=Backoff.parse(data.get("backoff", DEFAULT_BACKOFF.to_dict())),
            ready=Readiness.parse(data.get("ready", {})),
            depends_on=tuple(data.get("depends_on", ())),
            instances=data.get("instances", 1),
            autostart=bool(data.get("autostart", True)),
            args=data.get("args", {}),
            reload_signal=data.get("reload_signal"),
            description=data.get("description", ""),
        )


@dataclass(frozen=True, slots=True)
class ServiceInstance:
    """One copy of a service: a slot, and the job that fills it now (or filled it last)."""

    slot: int
    job_id: int | None
    job_status: JobStatus | None
    execution_id: int | None
    execution_status: ExecutionStatus | None
    pid: int | None
    hostname: str | None
    worker_id: str | None
    started_at: datetime | None  # of the current execution
    ready_at: datetime | None  # its readiness check passed
    ended_at: datetime | None
    exit_code: int | None
    signal: int | None
    canceled_by: str | None  # who killed it, when a person or the duty did

    @property
    def active(self) -> bool:
        """Its job is unfinished: waiting to be claimed, or running."""
        return self.job_status is not None and not self.job_status.is_terminal

    @property
    def running(self) -> bool:
        return self.job_status is JobStatus.RUNNING and (
            self.execution_status is ExecutionStatus.RUNNING
        )

    @property
    def ready(self) -> bool:
        return self.running and self.ready_at is not None


@dataclass(frozen=True, slots=True)
class Service:
    """A service with its desired and reported state and its instances."""

    definition: ServiceDefinition
    desired: Action  # START or STOP
    status: Action  # START or STOP: the last action
    sub: str  # "ok" or "err": how the last action or instance went
    schedule: Schedule
    running_action: Action | None  # the action being carried out (schedule executing)
    action_started_at: datetime | None  # Endian t0
    action_ended_at: datetime | None  # Endian t1
    failures: int  # instance ends in a row that were failures (the backoff's count)
    restarts: int  # instances started again by the restart policy, in all
    next_start_at: datetime | None  # no new instance before this (backoff)
    waiting_for: tuple[str, ...]  # the dependencies that are not ready
    instances: tuple[ServiceInstance, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def ready(self) -> bool:
        """Every instance is running and ready."""
        up = [i for i in self.instances if i.slot < self.definition.instances and i.ready]
        return len(up) == self.definition.instances


@dataclass(frozen=True, slots=True)
class ServiceMessage:
    """An entry of the engine's messages (Endian ``get_messages``) or updates feed."""

    id: int
    at: float  # epoch seconds
    kind: str  # "message" or "update"
    service: str
    action: str  # start, stop, restart, reload (messages); start, stop, executing,
    #             waiting_depends (updates: the status)
    sub: str  # ok or err
    msg: str
    ok_counter: int  # successful actions so far
    err_counter: int  # failed actions so far
    forked_counter: int  # instances started so far
    startup_percentage: int  # services up of those that should be, 0-100


def instance_key(service: str, slot: int) -> str:
    """The unique key of a slot's job: one unfinished job per slot, cluster-wide."""
    return f"{KEY_PREFIX}{service}#{slot}"


def parse_instance_key(key: str | None) -> tuple[str, int] | None:
    if not key or not key.startswith(KEY_PREFIX) or "#" not in key:
        return None
    name, _, slot = key[len(KEY_PREFIX) :].rpartition("#")
    return (name, int(slot)) if slot.isascii() and slot.isdigit() and name else None


def dependency_order(definitions: Iterable[ServiceDefinition]) -> list[ServiceDefinition]:
    """Dependencies before dependents (then by name); Invalid naming a cycle if there is one.

    A dependency that is not among ``definitions`` is left out of the order (it may belong to
    another app, or be gone); the duty treats it as not ready.
    """
    by_name = {d.name: d for d in definitions}
    order: list[ServiceDefinition] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: placed

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise Invalid(
                f"services depend on each other: {' -> '.join(cycle)}", field="depends_on"
            )
        state[name] = 1
        for dep in sorted(by_name[name].depends_on):
            if dep in by_name:
                visit(dep, [*path, name])
        state[name] = 2
        order.append(by_name[name])

    for name in sorted(by_name):
        visit(name, [])
    return order


def closure(start: str, edges: Mapping[str, Sequence[str]]) -> list[str]:
    """``start`` and everything reachable from it along ``edges`` (name -> names)."""
    seen = [start]
    i = 0
    while i < len(seen):
        for nxt in sorted(edges.get(seen[i], ())):
            if nxt not in seen:
                seen.append(nxt)
        i += 1
    return seen


def startup_percentage(wanted: int, ready: int) -> int:
    """Services up, as a whole percentage of those that should be (100 when none should)."""
    return 100 if wanted <= 0 else min(100, round(100 * ready / wanted))


def message_text(service: str, *, ok: bool, word: str) -> str:
    """Endian's message form: ``ULOGD-I-Start`` (I for information, E for an error)."""
    return f"{service.upper()}-{'I' if ok else 'E'}-{word}"
