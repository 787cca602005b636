"""Endian's jobsengine calls (seed 003), over jobyard's services, reading the server's database.

```python
from jobyard import endian

endian.init()  # $JOBYARD_DATABASE_URL, else ./jobyard.db; or init("/var/lib/jobyard")
endian.get_jobs()["jobs"]["web"]  # {"name", "status", "sub", "schedule", "t0", "t1", ...}
endian.get_messages()  # {"messages": [...], "time": ...}
endian.get_updates(timeout=30.0)  # {"updates": [...], "time": ...}
endian.send_cmd_to_engine("restart web")
```

A *job* here is a jobyard service: ``status`` is ``start`` or ``stop`` (its last action),
``sub`` ``ok`` or ``err``, ``schedule`` ``waiting``, ``waiting_depends`` or ``executing`` (then
with ``running_action`` and ``pid``), ``t0`` and ``t1`` the start and end of its last action in
epoch seconds (0.0 for never). Messages are the engine's, oldest first, each with the ok / err /
forked counters and the startup percentage; updates are its feed of service changes, newest
first, those older than ``timeout`` seconds left out.

The module functions use the engine :func:`init` made (the seed's interface is a module); an
:class:`Engine` over any store does the same without module state.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from jobyard.core.errors import Invalid
from jobyard.core.services import Action, Schedule, Service
from jobyard.core.settings import DEFAULT_DATABASE_URL
from jobyard.store import Store, open_store

__all__ = [
    "Engine",
    "get_jobs",
    "get_messages",
    "get_updates",
    "init",
    "send_cmd_to_engine",
]

ACTIONS = tuple(a.value for a in Action)


def _no_unknown(params: dict[str, Any], known: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise Invalid(f"unknown parameter {unknown[0]!r}", field=unknown[0])


def _epoch(moment: Any) -> float:
    return 0.0 if moment is None else round(float(moment.timestamp()), 3)


def job_status(service: Service) -> dict[str, Any]:
    """One service as Endian's get_jobs shows a job."""
    entry: dict[str, Any] = {
        "name": service.name,
        "status": service.status.value,
        "sub": service.sub,
        "schedule": service.schedule.value,
        "t0": _epoch(service.action_started_at),
        "t1": _epoch(service.action_ended_at),
    }
    if service.schedule is Schedule.EXECUTING:
        entry["running_action"] = (service.running_action or Action.START).value
        pids = [i.pid for i in service.instances if i.active and i.pid is not None]
        entry["pid"] = pids[0] if pids else None
    return entry


class Engine:
    """The jobsengine calls over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_jobs(self, **params: Any) -> dict[str, Any]:
        """``{"jobs": {name: status}}``; ``name`` (one or a list) or ``app`` narrow it."""
        _no_unknown(params, ("name", "app"))
        names = params.get("name")
        wanted = {names} if isinstance(names, str) else set(names or ())
        services = self.store.service_list(app=params.get("app"))
        return {"jobs": {s.name: job_status(s) for s in services if not wanted or s.name in wanted}}

    def get_messages(self, **params: Any) -> dict[str, Any]:
        """The last ``limit`` (100) messages, oldest first, and the time now."""
        _no_unknown(params, ("limit",))
        limit = params.get("limit", 100)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise Invalid("limit must be a whole number from 1 to 10000", field="limit")
        found = self.store.service_messages(kind="message", limit=limit)
        return {
            "messages": [
                {
                    "sub": m.sub,
                    "timestamp": round(m.at, 3),
                    "startup_percentage": f"{m.startup_percentage}%",
                    "forked_counter": m.forked_counter,
                    "msg": m.msg,
                    "job": m.service,
                    "err_counter": m.err_counter,
                    "action": m.action,
                    "ok_counter": m.ok_counter,
                }
                for m in reversed(found)
            ],
            "time": int(self.store.now()),
        }

    def get_updates(self, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Updates of the last ``timeout`` seconds, newest first, and the time now."""
        _no_unknown(params, ("limit",))
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise Invalid("timeout must be a number of seconds", field="timeout")
        now = self.store.now()
        found = self.store.service_messages(
            kind="update", since=now - float(timeout), limit=int(params.get("limit", 1000))
        )
        return {
            "updates": [
                {"status": m.action, "msg": m.msg, "name": m.service, "time": round(m.at, 3)}
                for m in found
            ],
            "time": int(now),
        }

    def send_cmd_to_engine(self, cmd: str, options: Any = None) -> dict[str, Any]:
        """``"<action> <job>"`` with action start, stop, restart or reload; returns the job's
        status as it is now. ``options.dryrun`` only checks the command."""
        if not isinstance(cmd, str) or len(cmd.split()) != 2:
            raise Invalid("a command is '<action> <job>', e.g. 'restart web'", field="cmd")
        action, name = cmd.split()
        if action not in ACTIONS:
            raise Invalid(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", field="cmd")
        service = self.store.service_get(name)  # NotFound for an unknown job
        if getattr(options, "dryrun", False):
            return job_status(service)
        by = "endian"
        do = {
            "start": self.store.service_start,
            "stop": self.store.service_stop,
            "restart": self.store.service_restart,
            "reload": self.store.service_reload,
        }[action]
        return job_status(do(name, by=by))


_engine: Engine | None = None
_opened: Store | None = None  # the store init() opened (closed by the next init)


def database_url(root: str | os.PathLike[str] | None) -> str:
    """``root``: a database URL, a directory holding jobyard.db, or a database file."""
    if root is None:
        return os.environ.get("JOBYARD_DATABASE_URL") or DEFAULT_DATABASE_URL
    text = os.fspath(root)
    if "://" in text:
        return text
    path = os.path.abspath(text)
    if os.path.isdir(path):
        path = os.path.join(path, "jobyard.db")
    return f"sqlite:///{path}"


def init(root: str | os.PathLike[str] | Store | None = None) -> Engine:
    """Point the module at jobyard's database (see :func:`database_url`), or at a store."""
    global _engine, _opened
    if _opened is not None:
        _opened.close()
        _opened = None
    if root is not None and not isinstance(root, str | os.PathLike):
        _engine = Engine(root)
        return _engine
    _opened = open_store(database_url(root))
    _engine = Engine(_opened)
    return _engine


def _current() -> Engine:
    return _engine if _engine is not None else init()


def get_jobs(**params: Any) -> dict[str, Any]:
    return _current().get_jobs(**params)


def get_messages(**params: Any) -> dict[str, Any]:
    return _current().get_messages(**params)


def get_updates(timeout: float = 30.0, **params: Any) -> dict[str, Any]:
    return _current().get_updates(timeout, **params)


def send_cmd_to_engine(cmd: str, options: Any = None) -> dict[str, Any]:
    return _current().send_cmd_to_engine(cmd, options)


get_jobs.__doc__ = Engine.get_jobs.__doc__
get_messages.__doc__ = Engine.get_messages.__doc__
get_updates.__doc__ = Engine.get_updates.__doc__
send_cmd_to_engine.__doc__ = Engine.send_cmd_to_engine.__doc__
