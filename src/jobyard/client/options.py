"""What the client's operations accept beyond plain arguments, typed once for both clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Required, TypedDict

from jobyard.core.states import JobStatus


class EnqueueOptions(TypedDict, total=False):
    """What a job may set beyond its type and args; the rest comes from the type's defaults."""

    queue: str
    priority: int  # lower runs first
    run_at: datetime | str  # not before this time (timezone-aware)
    delay: float  # or: not before this many seconds from now
    timeout: float  # seconds per attempt
    max_tries: int
    backoff: float | Mapping[str, float]  # base seconds, or {base, factor, max, jitter}
    tags: Sequence[str]
    unique_key: str  # at most one unfinished job per key
    on_duplicate: str  # "refuse" (Duplicate) or "return" (the unfinished job's id)
    external_id: str  # your own id for it, unique for ever
    unique_for: float  # seconds the unique key stays taken after the job's creation
    cpus: float  # resources it needs of its worker (the type's unless given)
    mem: float  # MiB
    disk: float  # MiB
    concurrency_key: str  # jobs sharing a key run at most concurrency_limit at once
    concurrency_limit: int  # (default 1)


class JobRequest(EnqueueOptions, total=False):
    """One job of ``enqueue_many``."""

    type: Required[str]
    args: Any


class JobFilters(TypedDict, total=False):
    """Filters of the jobs list; a sequence (or a comma-separated string) matches any of it."""

    status: str | JobStatus | Sequence[str | JobStatus]
    type: str | Sequence[str]
    queue: str | Sequence[str]
    tag: str
    search: str  # text in args, error or type
    created_after: datetime
    created_before: datetime
    include_removed: bool
    sort: str  # id, created_at, updated_at, priority, status, type or queue; "-" descending


class TypeFilters(TypedDict, total=False):
    """Filters of the job types list."""

    search: str  # text in the name or description
    queue: str | Sequence[str]
    kind: str  # "python" or "command"
    tag: str
    sort: str  # name, queue, priority, revision or created_at; "-" descending
    category: str | Sequence[str]
    include_archived: bool  # archived types too (left out by default)
