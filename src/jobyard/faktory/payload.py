"""Faktory's job payload, to and from jobyard's jobs (no I/O).

A Faktory job is a jobyard job of a remote type named by its ``jobtype``:

============  ===================================================================================
Faktory       jobyard
============  ===================================================================================
jid           the job's external id (unique for ever); a native job is ``jobyard-<id>``
jobtype       the job type (registered as a remote type on first push)
args          args (a native job's args that are not a list arrive as a one-element list)
queue         queue (default ``default``)
priority      priority: Faktory's 1-9, higher first, becomes ``105 - p`` (5 -> jobyard's 100)
at            run_at (RFC 3339; empty or past: now)
retry         max_tries = retry + 1 (25 by default); 0 discards on failure, -1 goes to dead
reserve_for   the execution's lease, clamped to [reserve_min, 86400] (1800 by default)
custom        kept as sent; ``custom.track == 1`` makes the job trackable over the protocol
backtrace     kept as sent: the lines of backtrace a client should report
============  ===================================================================================

Unknown fields are dropped, as Faktory drops them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobyard.core.backoff import FAKTORY, Backoff
from jobyard.core.errors import Invalid
from jobyard.core.models import NAME_RE, Job, JobSpec, TypeDefinition, TypeKind
from jobyard.core.remote import RemoteJob, RemoteRecord
from jobyard.faktory.protocol import FaktoryError

PROTOCOL = "faktory"  # a remote type's target
DEFAULT_RETRY = 25
DEFAULT_RESERVE = 1800.0
RESERVE_MAX = 86400.0
RESERVE_MIN = 60.0
MAX_TRIES = 10_000  # jobyard's bound; a bigger retry count keeps its meta but stops there
ERRTYPE_MAX, MESSAGE_MAX, BACKTRACE_MAX = 100, 1000, 50  # Faktory's cuts of a FAIL
NATIVE_JID = re.compile(r"^jobyard-([1-9][0-9]{0,18})$")


def remote_type(name: str) -> TypeDefinition:
    """The type a Faktory push registers: Faktory's retries and backoff as its defaults."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise FaktoryError(
            "jobtype must be 1-200 characters of letters, digits, '_', '.', ':' or '-'"
        )
    return TypeDefinition(
        name=name,
        kind=TypeKind.REMOTE,
        target=PROTOCOL,
        max_tries=DEFAULT_RETRY + 1,
        backoff=Backoff(kind=FAKTORY),
        description="run by Faktory workers",
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FaktoryError(f"{field} must be an RFC 3339 time, not {value[:60]!r}") from exc
    if moment.tzinfo is None:
        raise FaktoryError(f"{field} must be an RFC 3339 time with a zone (Z or +hh:mm)")
    return moment


def _int(data: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaktoryError(f"{name} must be an integer from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class Pushed:
    jid: str
    jobtype: str
    job: RemoteJob


def parse_job(data: Any, *, reserve_min: float = RESERVE_MIN) -> Pushed:
    """A pushed job, checked as Faktory checks it; FaktoryError naming the field otherwise."""
    if not isinstance(data, dict):
        raise FaktoryError("a job must be a JSON object")
    jid = data.get("jid")
    if not isinstance(jid, str) or len(jid) < 8:
        raise FaktoryError("jobs must have a reasonable jid parameter")
    if len(jid) > 255 or any(c in jid for c in "\r\n\0"):
        raise FaktoryError("jid must be at most 255 characters, without line breaks")
    jobtype = data.get("jobtype")
    if not isinstance(jobtype, str) or not jobtype:
        raise FaktoryError("jobs must have a jobtype parameter")
    if not NAME_RE.match(jobtype):
        raise FaktoryError(
            "jobtype must be 1-200 characters of letters, digits, '_', '.', ':' or '-'"
        )
    args = data.get("args")
    if not isinstance(args, list):
        raise FaktoryError("jobs must have an args parameter: an array")
    queue = data.get("queue") or "default"
    if not isinstance(queue, str) or not NAME_RE.match(queue):
        raise FaktoryError("queue must be 1-200 characters of letters, digits, '_', '.', ':', '-'")
    retry = _int(data, "retry", DEFAULT_RETRY, low=-1, high=2**31 - 1)
    reserve_for = _int(data, "reserve_for", 0, low=0, high=2**31 - 1)
    if reserve_for > RESERVE_MAX:
        raise FaktoryError("jobs cannot be reserved for more than one day")
    priority = data.get("priority")
    if priority is not None:
        priority = _int(data, "priority", 5, low=0, high=9)
    custom = data.get("custom")
    if custom is not None and not isinstance(custom, dict):
        raise FaktoryError("custom must be a JSON object")
    at = data.get("at") or ""
    if not isinstance(at, str):
        raise FaktoryError("at must be an RFC 3339 time")
    run_at = parse_time(at, "at") if at else None
    backtrace = data.get("backtrace")
    lease = min(max(float(reserve_for or DEFAULT_RESERVE), reserve_min), RESERVE_MAX)
    meta: dict[str, Any] = {
        "lease": lease,
        "retry": retry,
        "discard": retry == 0,
        "track": isinstance(custom, dict) and custom.get("track") == 1,
    }
    for name, value in (
        ("reserve_for", data.get("reserve_for")),
        ("custom", custom),
        ("at", at or None),
        ("priority", priority),
        ("backtrace", backtrace if isinstance(backtrace, int) else None),
        ("created_at", data.get("created_at") if isinstance(data.get("created_at"), str) else None),
    ):
        if value is not None:
            meta[name] = value
    try:
        spec = JobSpec(
            type=jobtype,
            args=args,
            queue=queue,
            priority=None if priority is None else 105 - priority,
            run_at=run_at,
            max_tries=min(max(retry, 0) + 1, MAX_TRIES),
            backoff=Backoff(kind=FAKTORY),
            external_id=jid,
        )
    except Invalid as exc:
        raise FaktoryError(exc.message) from exc
    return Pushed(jid=jid, jobtype=jobtype, job=RemoteJob(spec=spec, meta=meta))


def jid_of(job: Job) -> str:
    return job.external_id or f"jobyard-{job.id}"


def native_id(jid: str) -> int | None:
    """The job id a ``jobyard-<id>`` jid names (a native job fetched by a Faktory worker)."""
    match = NATIVE_JID.match(jid)
    return int(match[1]) if match else None


def _args(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if value is None or value == {}:
        return []
    return [value]


def to_faktory(record: RemoteRecord) -> dict[str, Any]:
    """The job as a Faktory worker receives it from FETCH."""
    job, meta = record.job, record.meta
    retry = meta.get("retry", job.max_tries - 1)
    payload: dict[str, Any] = {
        "jid": jid_of(job),
        "jobtype": job.type,
        "args": _args(job.args),
        "queue": job.queue,
        "created_at": meta.get("created_at") or rfc3339(job.created_at),
        "enqueued_at": rfc3339(max(job.run_at, job.created_at)),
        "retry": retry,
    }
    for name in ("reserve_for", "at", "priority", "custom", "backtrace"):
        if meta.get(name) is not None:
            payload[name] = meta[name]
    if job.error and job.tries > 1:
        count = job.tries - 2  # failures before the last one
        payload["failure"] = {
            "retry_count": count,
            "remaining": max(retry - count, 0),
            "failed_at": rfc3339(job.run_at),
            "errtype": job.error.get("type") or "unknown",
            "message": job.error.get("message") or "",
            "backtrace": (job.error.get("traceback") or "").splitlines(),
        }
    return payload


@dataclass(frozen=True, slots=True)
class Failure:
    jid: str
    errtype: str
    message: str
    backtrace: str | None


def parse_fail(data: dict[str, Any]) -> Failure:
    """FAIL's payload, cut as Faktory cuts it: errtype 100, message 1000 characters, 50 lines."""
    jid = data.get("jid")
    if not isinstance(jid, str) or not jid:
        raise FaktoryError("FAIL needs a jid")
    errtype = str(data.get("errtype") or "").strip()[:ERRTYPE_MAX] or "unknown"
    message = str(data.get("message") or "").strip()[:MESSAGE_MAX] or "unknown"
    lines = data.get("backtrace")
    backtrace = None
    if isinstance(lines, list) and lines:
        backtrace = "\n".join(str(line).rstrip("\n") for line in lines[:BACKTRACE_MAX])
    elif isinstance(lines, str) and lines:
        backtrace = "\n".join(lines.splitlines()[:BACKTRACE_MAX])
    return Failure(jid=jid, errtype=errtype, message=message, backtrace=backtrace)
