"""Job and execution states, and the one table of allowed transitions.

Every state change in jobyard is an :class:`Event` applied to a :class:`JobStatus` through
:func:`transition`. The stores guard their SQL with :func:`sources` (``WHERE status IN …``), so the
table below is the single source of truth for what may happen to a job; a refused change raises
:class:`~jobyard.core.errors.InvalidTransition` naming the job, its state and the operation.

Job states, who moves a job out of each, and when it is pruned:

``scheduled``  waits for ``run_at``. The engine's releaser makes it ``queued`` when due; a person
               may cancel it. Lives in the live table.
``blocked``    waits for parent jobs (recipes). Released to ``queued`` when all parents complete;
               a person may cancel it. Lives in the live table.
``queued``     ready to run. A worker claims it (``running``); a person may cancel it.
``running``    an execution holds a lease. The worker completes or fails it; a kill cancels it; the
               reaper fails it when the lease expires; a worker shutting down releases it.
``retrying``   an attempt failed and tries are left; waits for ``run_at`` like ``scheduled``.
``completed``  terminal. Moves to history in the transaction that completes it; pruned by retention.
``failed``     terminal, no tries left or a non-retryable error. Requeue makes it ``queued`` again
               (``blocked`` for a recipe job whose parents have not all completed).
``canceled``   terminal, killed or canceled by a person. Requeue makes it ``queued`` again
               (``blocked`` as above).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from jobyard.core.errors import InvalidTransition


class JobStatus(StrEnum):
    SCHEDULED = "scheduled"
    BLOCKED = "blocked"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_waiting(self) -> bool:
        return self in WAITING


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
WAITING = frozenset({JobStatus.SCHEDULED, JobStatus.BLOCKED, JobStatus.QUEUED, JobStatus.RETRYING})
LIVE = frozenset(JobStatus) - TERMINAL


class ExecutionStatus(StrEnum):
    """One attempt: ``running`` until it ends in exactly one of the other states."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"  # killed by a person
    TIMED_OUT = "timed_out"  # ran past the job's timeout and was killed
    LOST = "lost"  # its worker stopped heartbeating and the lease expired
    RELEASED = "released"  # its worker shut down and gave the job back untouched


class Event(StrEnum):
    """Something that happens to a job; each maps source states to one target state."""

    RELEASE = "release"  # run_at reached (scheduled/retrying -> queued)
    UNBLOCK = "unblock"  # all parents completed
    CLAIM = "claim"  # a worker took it
    COMPLETE = "complete"
    RETRY = "retry"  # an attempt failed (error, timeout, lost) and tries are left
    FAIL = "fail"  # an attempt failed and no tries are left, or the error is not retryable
    KILL = "kill"  # a person stopped a running job; its worker confirmed the process is gone
    CANCEL = "cancel"  # a person canceled a job that was not running
    GIVE_BACK = "give_back"  # the worker shut down before the attempt finished
    REQUEUE = "requeue"  # a person put a failed or canceled job back in the queue
    REBLOCK = "reblock"  # requeue of a recipe job whose parents have not all completed


_WAITING_TO_CANCEL = (
    JobStatus.SCHEDULED,
    JobStatus.BLOCKED,
    JobStatus.QUEUED,
    JobStatus.RETRYING,
)

#: event -> (allowed source states, target state)
TRANSITIONS: Mapping[Event, tuple[frozenset[JobStatus], JobStatus]] = {
    Event.RELEASE: (frozenset({JobStatus.SCHEDULED, JobStatus.RETRYING}), JobStatus.QUEUED),
    Event.UNBLOCK: (frozenset({JobStatus.BLOCKED}), JobStatus.QUEUED),
    Event.CLAIM: (frozenset({JobStatus.QUEUED}), JobStatus.RUNNING),
    Event.COMPLETE: (frozenset({JobStatus.RUNNING}), JobStatus.COMPLETED),
    Event.RETRY: (frozenset({JobStatus.RUNNING}), JobStatus.RETRYING),
    Event.FAIL: (frozenset({JobStatus.RUNNING}), JobStatus.FAILED),
    Event.KILL: (frozenset({JobStatus.RUNNING}), JobStatus.CANCELED),
    Event.CANCEL: (frozenset(_WAITING_TO_CANCEL), JobStatus.CANCELED),
    Event.GIVE_BACK: (frozenset({JobStatus.RUNNING}), JobStatus.QUEUED),
    Event.REQUEUE: (frozenset({JobStatus.FAILED, JobStatus.CANCELED}), JobStatus.QUEUED),
    Event.REBLOCK: (frozenset({JobStatus.FAILED, JobStatus.CANCELED}), JobStatus.BLOCKED),
}


def sources(event: Event) -> frozenset[JobStatus]:
    """The states a job may be in for ``event`` to apply."""
    return TRANSITIONS[event][0]


def target(event: Event) -> JobStatus:
    return TRANSITIONS[event][1]


def transition(job_id: int, status: JobStatus | str, event: Event) -> JobStatus:
    """The state after ``event``; raises :class:`InvalidTransition` when it is not allowed."""
    current = JobStatus(status)
    allowed, to = TRANSITIONS[event]
    if current not in allowed:
        raise InvalidTransition(job_id=job_id, status=current.value, operation=event.value)
    return to


def status_values(statuses: Iterable[JobStatus]) -> list[str]:
    """Plain strings, sorted, for SQL parameters."""
    return sorted(s.value for s in statuses)
