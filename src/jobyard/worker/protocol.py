"""Messages between the three parts of a worker.

    job code ──(child channel)──▶ supervisor thread ──(events)──▶ store loop ──▶ Store
    job code ◀─(child channel)─── supervisor thread ◀─(commands)── store loop

The *child channel* is a socket pair per pool child carrying pickled messages: :class:`Assignment`
and :class:`Reply` to the child; :class:`~jobyard.core.models.LogLine`, :class:`Progress`,
:class:`ReserveRequest` and :class:`Done` from it. The supervisor turns what it sees (messages,
output pipes, process exits) into events for the store loop: :class:`Started`, ``LogLine``,
``Progress``, ``ReserveRequest`` and :class:`Ended`. Only the store loop calls the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobyard.core.models import JSON, Outcome


@dataclass(frozen=True, slots=True)
class Assignment:
    """A claimed execution handed to a pool child."""

    job_id: int
    execution_id: int
    type: str
    args: JSON
    attempt: int
    max_tries: int
    timeout: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """How job code ended, as the child saw it."""

    ok: bool
    result_json: str | None = None  # the JSON text of the result, checked in the child
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retryable: bool = True
    cancelled: bool = False  # JobCancelled was raised in the job
    peak_rss: int | None = None  # bytes, the child's peak since the job began
    reusable: bool = True  # False: the job left threads or processes behind that may write on


@dataclass(frozen=True, slots=True)
class Done:
    execution_id: int
    report: Report


@dataclass(frozen=True, slots=True)
class Progress:
    execution_id: int
    percent: float | None
    desc: str | None


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """``ctx.reserve(seconds)``: the child waits for the :class:`Reply` with the same id."""

    execution_id: int
    request_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Reply:
    request_id: int
    value: float | None  # the new lease expiry
    error_code: str | None = None  # a JobyardError code when the store refused
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    """An execution's process exists: ``pid`` runs it."""

    execution_id: int
    pid: int
    run_as: str | None = None  # the OS user it runs as, when not the worker's own


@dataclass(frozen=True, slots=True)
class Ended:
    """An execution's processes are gone. ``outcome`` is None when it must not be reported."""

    execution_id: int
    outcome: Outcome | None


class StopReason(StrEnum):
    """Why the supervisor stops an execution; decides its outcome unless the job completed."""

    KILL = "kill"  # a person asked (heartbeat reply): canceled
    TIMEOUT = "timeout"  # it ran past its timeout: timed_out
    RELEASE = "release"  # the worker shuts down: released, the try not counted
    GONE = "gone"  # the store no longer knows it as current: no outcome at all
