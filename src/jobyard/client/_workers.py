"""Workers: their operations, once (see ``_base``); replies read into core's WorkerInfo."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jobyard.client._base import Call, _seg, query
from jobyard.core.workers import WorkerInfo, WorkerKind, WorkerState


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def worker_from(d: Mapping[str, Any]) -> WorkerInfo:
    return WorkerInfo(
        id=d["id"],
        kind=WorkerKind(d["kind"]),
        hostname=d["hostname"],
        pid=d["pid"],
        queues=tuple(d["queues"]),
        concurrency=d["concurrency"],
        labels=tuple(d["labels"]),
        state=WorkerState(d["state"]),
        started_at=datetime.fromisoformat(d["started_at"]),
        heartbeat_at=datetime.fromisoformat(d["heartbeat_at"]),
        stopped_at=_at(d.get("stopped_at")),
        rss_kb=d.get("rss_kb"),
        running=d["running"],
    )


def _workers(d: Any) -> list[WorkerInfo]:
    return [worker_from(x) for x in d]


def workers(
    *, include_stopped: bool = False, kind: str | None = None, state: str | None = None
) -> Call[list[WorkerInfo]]:
    """Workers of both kinds (jobyard's and Faktory's), newest first: those seen within the
    last hour, or all with ``include_stopped``."""
    params = query(include_stopped=include_stopped or None, kind=kind, state=state)
    return Call("GET", "/workers", _workers, params)


def worker(worker_id: str) -> Call[WorkerInfo]:
    """One worker by id (a Faktory worker: its wid)."""
    return Call("GET", f"/workers/{_seg(worker_id)}", worker_from)


def quiet_worker(worker_id: str) -> Call[WorkerInfo]:
    """A Faktory worker finishes what it runs and fetches nothing more."""
    return Call("POST", f"/workers/{_seg(worker_id)}/quiet", worker_from)


def stop_worker(worker_id: str) -> Call[WorkerInfo]:
    """A Faktory worker finishes what it runs and exits (told ``terminate`` at its next BEAT)."""
    return Call("POST", f"/workers/{_seg(worker_id)}/stop", worker_from)
