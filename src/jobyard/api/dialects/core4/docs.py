"""jobyard's jobs, types and log lines as core4 documents, and core4 queries as jobyard filters.

States (jobyard → core4):

============================  ==========  ==========  ==========================================
jobyard                       core4       highstate   why
============================  ==========  ==========  ==========================================
queued, scheduled, blocked    pending     waiting     waits to run (for run_at or parents)
running                       running     running
retrying                      failed      waiting     an attempt failed and tries are left
completed                     complete    (none)      journaled: no longer in the core4 queue
failed                        error       stopped     no tries left, or a non-retryable error
canceled                      killed      stopped     killed while running, or canceled waiting
============================  ==========  ==========  ==========================================

core4's ``deferred`` and ``inactive`` never occur: jobyard jobs do not defer. core4's queue
(``sys.queue``) is every unfinished job plus the failed and canceled ones nobody has removed or
restarted; everything else is the journal (``journal: true``). Priorities are turned around: core4
runs higher numbers first, jobyard lower ones, so core4's ``priority`` is ``100 - priority`` (the
jobyard default 100 is core4's default 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jobyard.api.dialects.core4.protocol import Core4Error, iso
from jobyard.core.models import EventRecord, Execution, Job, JobFilter, JobType
from jobyard.core.states import LIVE, JobStatus

STATE = {
    JobStatus.SCHEDULED: "pending",
    JobStatus.BLOCKED: "pending",
    JobStatus.QUEUED: "pending",
    JobStatus.RUNNING: "running",
    JobStatus.RETRYING: "failed",
    JobStatus.COMPLETED: "complete",
    JobStatus.FAILED: "error",
    JobStatus.CANCELED: "killed",
}
CORE4_STATES = ("pending", "running", "deferred", "failed", "complete", "error", "inactive",
                "killed")  # fmt: skip
HIGHSTATE = {"pending": "waiting", "deferred": "waiting", "failed": "waiting",
             "running": "running", "killed": "stopped", "inactive": "stopped",
             "error": "stopped"}  # fmt: skip
FINAL = frozenset({"complete", "error", "inactive", "killed"})
STOPPED = frozenset({JobStatus.FAILED, JobStatus.CANCELED})
QUEUE_STATUSES = LIVE | STOPPED  # what core4's sys.queue can hold
QUEUE_FIELDS = (  # core4's queue projection
    *("_id", "name", "started_at", "finished_at", "runtime", "force", "attempts_left"),
    *("enqueued", "priority", "state", "trial", "prog", "args", "attempts", "inactive_at"),
    *("zombie_at", "killed_at", "removed_at", "wall_at"),
)
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
DEFAULT_PRIORITY = 100


def is_id(text: str) -> bool:
    """A jobyard job id as core4 writes ids: a string of ASCII digits (that fits a BIGINT)."""
    return text.isascii() and text.isdigit() and len(text) < 19


def in_queue(job: Job) -> bool:
    """In core4's ``sys.queue`` (else journaled): unfinished, or stopped and not removed."""
    return job.status in LIVE or (job.status in STOPPED and job.removed_at is None)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _current(job: Job) -> Execution | None:
    return next((e for e in job.executions if e.id == job.execution_id), None)


def job_doc(job: Job) -> dict[str, Any]:
    """The raw ``sys.queue`` document of a job (``name``, not ``qual_name``; not enriched)."""
    killed_at = job.kill_requested_at or (
        job.canceled_at if job.status is JobStatus.CANCELED else None
    )
    if job.error:
        last_error: dict[str, Any] | None = {
            "exception": job.error.get("type"),
            "message": job.error.get("message"),
            "traceback": job.error.get("traceback"),
        }
    elif job.status is JobStatus.CANCELED and job.kill_requested_at is not None:
        last_error = {"exception": "JobKilledByWorker", "message": f"killed by {job.canceled_by}"}
    else:
        last_error = None
    execution = _current(job) if job.status is JobStatus.RUNNING else None
    locked = None
    if execution is not None:
        locked = {
            "at": execution.started_at,
            "heartbeat": execution.heartbeat_at,
            "hostname": execution.hostname,
            "pid": execution.pid,
            "worker": execution.worker_id,
            "username": execution.run_as,
            "progress": job.progress_desc,
        }
    waits = job.status in (JobStatus.SCHEDULED, JobStatus.RETRYING)
    return {
        "_id": str(job.id),
        "name": job.type,
        "args": job.args,
        "attempts": job.max_tries,
        "attempts_left": max(0, job.max_tries - job.tries),
        "trial": job.tries,
        "enqueued": {
            "at": job.created_at,
            "by": job.created_by,
            "parent_id": None if job.restart_of is None else str(job.restart_of),
            "child_id": None if job.restarted_as is None else str(job.restarted_as),
        },
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "runtime": _seconds(job.started_at, job.finished_at),
        "force": False,
        "priority": DEFAULT_PRIORITY - job.priority,
        "state": STATE[job.status],
        "prog": {"value": (job.progress or 0.0) / 100.0, "message": job.progress_desc},
        "query_at": job.run_at if waits else None,
        "locked": locked,
        "last_error": last_error,
        "tag": list(job.tags),
        "killed_at": killed_at,
        "removed_at": job.removed_at,
        "inactive_at": None,
        "zombie_at": None,
        "wall_at": None,
    }


def enrich(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """core4's ``enrich_job``: ``highstate``, ``flag``, ``age``, and ``name`` as ``qual_name``."""
    out = {k: v for k, v in doc.items() if k != "name"}
    out["qual_name"] = doc["name"]
    out["highstate"] = HIGHSTATE.get(doc["state"])
    out["flag"] = {
        "zombie": doc["zombie_at"] is not None,
        "killed": doc["killed_at"] is not None,
        "removed": doc["removed_at"] is not None,
        "nonstop": doc["wall_at"] is not None,
    }
    out["age"] = (now - doc["enqueued"]["at"]).total_seconds()
    return out


def queue_item(job: Job, now: datetime) -> dict[str, Any]:
    doc = job_doc(job)
    return enrich({k: doc[k] for k in QUEUE_FIELDS}, now)


def detail(job: Job, now: datetime) -> dict[str, Any]:
    doc = enrich(job_doc(job), now)
    doc["journal"] = not in_queue(job)
    return doc


def log_doc(e: EventRecord, job: Job, mode: str | None = None) -> dict[str, Any]:
    """A log line as a ``sys.log`` document; ``mode`` as core4's stream marks it."""
    data = e.data
    level = str(data.get("level") or ("ERROR" if data.get("stream") == "stderr" else "INFO"))
    level = "WARNING" if level.upper() == "WARN" else level.upper()
    execution = next((x for x in job.executions if x.id == data.get("execution_id")), None)
    doc: dict[str, Any] = {
        "_id": str(e.id),
        "created": e.at,
        "message": data.get("text", ""),
        "level": level,
        "levelno": LEVELS.get(level, 20),
        "username": execution.run_as if execution else None,
        "hostname": execution.hostname if execution else None,
        "identifier": str(job.id),
        "qual_name": job.type,
        "epoch": e.at.timestamp(),
    }
    if mode is not None:
        doc["mode"] = mode
    return doc


def type_doc(t: JobType) -> dict[str, Any]:
    """A job type as core4's ``sys.job`` registry lists it (jobyard keeps no author)."""
    return {
        "_id": t.name,
        "author": None,
        "created_at": t.created_at if t.revision == 1 else None,  # only the revision's time
        "doc": t.definition.description,
        "schedule": None,
        "tag": list(t.definition.tags),
        "updated_at": t.created_at,
    }


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- queries --------------------------------------------------------------------------------

QUEUE_SORTS = {"_id": "id", "qual_name": "type", "name": "type", "state": "status",
               "priority": "priority", "enqueued.at": "created_at"}  # fmt: skip


def sort_pairs(sort: list[Any]) -> list[tuple[str, int]]:
    """``[["key", 1], ["other", -1]]`` (or one ``["key", -1]``) as (key, direction) pairs."""
    pairs = [sort] if len(sort) == 2 and isinstance(sort[0], str) else sort
    out = []
    for pair in pairs:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or pair[1] not in (1, -1)
        ):
            raise Core4Error(400, "sort is a list of [key, 1 or -1] pairs")
        out.append((pair[0], int(pair[1])))
    return out


def queue_sort(sort: list[Any]) -> str:
    """core4's queue sort as jobyard's one sort key (``-`` first for descending)."""
    pairs = sort_pairs(sort)
    if len(pairs) != 1 or pairs[0][0] not in QUEUE_SORTS:
        raise Core4Error(400, f"jobyard sorts the queue by one of {', '.join(QUEUE_SORTS)}")
    key, direction = pairs[0]
    if key == "priority":
        direction = -direction  # core4's priority runs the other way
    return ("-" if direction < 0 else "") + QUEUE_SORTS[key]


def _chosen(key: str, cond: Any, universe: Iterable[str] | None = None) -> set[str]:
    """The values a filter condition lets through: a value, ``$eq``, ``$in``, ``$ne``, ``$nin``."""
    if not isinstance(cond, Mapping):
        return {str(cond)}
    chosen = set(universe) if universe is not None else None
    for op, value in cond.items():
        if op == "$eq":
            picked = {str(value)}
        elif op == "$in" and isinstance(value, list):
            picked = {str(v) for v in value}
        elif op in ("$ne", "$nin") and universe is not None:
            drop = {str(v) for v in (value if isinstance(value, list) else [value])}
            picked = set(universe) - drop
        else:
            raise Core4Error(400, f"filter operator [{op}] on [{key}] is not supported")
        chosen = picked if chosen is None else chosen & picked
    return chosen or set()


def queue_filter(query: Mapping[str, Any]) -> JobFilter | None:
    """core4's queue filter (a Mongo query) as a jobyard filter; None when nothing can match.

    jobyard filters the queue by ``state``, ``qual_name`` (or ``name``) and ``_id``.
    """
    statuses = set(QUEUE_STATUSES)
    types: set[str] | None = None
    ids: set[int] | None = None
    for key, cond in query.items():
        if key == "state":
            states = _chosen(key, cond, CORE4_STATES)
            statuses &= {s for s, name in STATE.items() if name in states}
        elif key in ("qual_name", "name"):
            picked = _chosen(key, cond)
            types = picked if types is None else types & picked
        elif key == "_id":
            picked_ids = {int(v) for v in _chosen(key, cond) if is_id(v)}
            ids = picked_ids if ids is None else ids & picked_ids
        else:
            raise Core4Error(
                400, f"filter on [{key}] is not supported: use state, qual_name or _id"
            )
    if not statuses or types == set() or ids == set():
        return None
    return JobFilter(
        statuses=tuple(sorted(statuses)),
        types=tuple(sorted(types or ())),
        ids=tuple(sorted(ids or ())),
    )


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _comparable(value: Any, other: Any) -> Any:
    return iso(value) if isinstance(value, datetime) and isinstance(other, str) else value


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda v, x: v == x,
    "$ne": lambda v, x: v != x,
    "$in": lambda v, x: v in x or (isinstance(v, list) and any(i in x for i in v)),
    "$nin": lambda v, x: v not in x,
    "$gt": lambda v, x: v is not None and v > x,
    "$gte": lambda v, x: v is not None and v >= x,
    "$lt": lambda v, x: v is not None and v < x,
    "$lte": lambda v, x: v is not None and v <= x,
    "$exists": lambda v, x: (v is not None) == bool(x),
}


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """A small Mongo query matcher for documents in memory (the job registry, a log)."""
    for key, cond in query.items():
        if key in ("$and", "$or") and isinstance(cond, list):
            results = (matches(doc, q) for q in cond if isinstance(q, Mapping))
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        value = _get(doc, key)
        if not isinstance(cond, Mapping) or not any(str(k).startswith("$") for k in cond):
            if not (value == cond or (isinstance(value, list) and cond in value)):
                return False
            continue
        for op, arg in cond.items():
            if op == "$regex":
                flags = re.IGNORECASE if "i" in str(cond.get("$options", "")) else 0
                if not isinstance(value, str) or not re.search(str(arg), value, flags):
                    return False
            elif op == "$options":
                continue
            elif op in _OPS:
                try:
                    if not _OPS[op](_comparable(value, arg), arg):
                        return False
                except TypeError:
                    return False
            else:
                raise Core4Error(400, f"filter operator [{op}] is not supported")
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        return (1, int(value)) if is_id(value) else (2, value)  # ids sort as numbers
    if isinstance(value, datetime):
        return (2, iso(value))
    return (3, repr(value))


def sort_docs(docs: list[dict[str, Any]], pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    for key, direction in reversed(pairs):
        docs = sorted(docs, key=lambda d: _sort_key(_get(d, key)), reverse=direction < 0)
    return docs


def glob(search: str) -> re.Pattern[str]:
    """core4's search: case-insensitive, unanchored, ``*`` any text, ``?`` one character."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in search)
    return re.compile(pattern, re.IGNORECASE)
