"""Resources, concurrency limits, and why a job waits: values and pure functions, no I/O.

A job needs ``cpus``, ``mem`` and ``disk`` (MiB), resolved from its type at enqueue. A worker has
a capacity of each and claims only jobs that fit what it has free: its capacity minus what its
running jobs reserved. A job type may run at most ``concurrency`` jobs at once, cluster-wide, and
so may the jobs that share a ``concurrency_key`` (at most ``concurrency_limit`` each).

:func:`wait_reason` answers "why is this job not running?" from what the store read about it,
its queue, its type, its limits and the live workers, and returns one :class:`WaitReason`: the
first that holds, in the order of :class:`WaitCode`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from jobyard.core.errors import Invalid
from jobyard.core.states import JobStatus

if TYPE_CHECKING:
    from jobyard.core.models import Job

_EPSILON = 1e-9  # 0.1 + 0.2 cpus fit in 0.3


def check_amount(value: object, field: str, *, finite: bool = False) -> float:
    """A resource amount: a number >= 0 (``inf`` stands for "no limit" unless ``finite``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field} must be a number of at least 0", field=field)
    amount = float(value)
    if math.isnan(amount) or amount < 0 or (finite and math.isinf(amount)):
        raise Invalid(f"{field} must be a number of at least 0", field=field)
    return amount


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of each resource: what a job needs, or what a worker has (``inf``: no limit)."""

    cpus: float = 0.0
    mem: float = 0.0  # MiB
    disk: float = 0.0  # MiB

    def __post_init__(self) -> None:
        for name in ("cpus", "mem", "disk"):
            object.__setattr__(self, name, check_amount(getattr(self, name), name))

    @classmethod
    def unlimited(cls) -> Resources:
        return cls(math.inf, math.inf, math.inf)

    @classmethod
    def of(cls, cpus: float | None, mem: float | None, disk: float | None) -> Resources:
        """From optional amounts; one left as None has no limit."""
        return cls(
            math.inf if cpus is None else cpus,
            math.inf if mem is None else mem,
            math.inf if disk is None else disk,
        )

    def fits(self, available: Resources) -> bool:
        """Whether this much fits in ``available``."""
        return (
            self.cpus <= available.cpus + _EPSILON
            and self.mem <= available.mem + _EPSILON
            and self.disk <= available.disk + _EPSILON
        )

    def minus(self, used: Resources) -> Resources:
        """What is left of this after ``used`` (never below 0)."""
        return Resources(
            max(0.0, self.cpus - used.cpus),
            max(0.0, self.mem - used.mem),
            max(0.0, self.disk - used.disk),
        )

    def plus(self, other: Resources) -> Resources:
        return Resources(self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk)

    @property
    def is_zero(self) -> bool:
        return self.cpus == 0 and self.mem == 0 and self.disk == 0

    def describe(self) -> str:
        """``2 cpus, 512 MiB memory`` (the amounts that are not 0; "nothing" when all are)."""
        parts = []
        if self.cpus:
            parts.append(f"{_num(self.cpus)} cpu{'' if self.cpus == 1 else 's'}")
        if self.mem:
            parts.append(f"{_num(self.mem)} MiB memory")
        if self.disk:
            parts.append(f"{_num(self.disk)} MiB disk")
        return ", ".join(parts) or "nothing"

    def to_dict(self) -> dict[str, float | None]:
        """JSON: ``None`` stands for no limit."""
        return {k: (None if math.isinf(v) else v) for k, v in self._items()}

    def _items(self) -> list[tuple[str, float]]:
        return [("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk)]


def _num(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value:g}"


def check_limit(value: object, field: str) -> int:
    """A concurrency limit: how many may run at once, 1 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise Invalid(f"{field} must be a whole number from 1 to 1000000", field=field)
    return value


class WaitCode(StrEnum):
    """Why a job waits; :func:`wait_reason` checks them in this order and reports the first."""

    SCHEDULED = "scheduled"  # run_at is in the future
    RETRYING = "retrying"  # an attempt failed; backing off until run_at
    BLOCKED = "blocked"  # parents (recipe jobs) have not all completed
    QUEUE_PAUSED = "queue_paused"
    TYPE_PAUSED = "type_paused"
    CONCURRENCY_FULL = "concurrency_full"  # its type or its concurrency key runs at its limit
    NO_WORKER = "no_worker"  # no live worker claims from its queue (and runs its type)
    NO_RESOURCES = "no_resources"  # no live worker serving it has the cpus, mem or disk it needs
    READY = "ready"  # nothing holds it back: it waits for a free slot of a worker


@dataclass(frozen=True, slots=True)
class WaitReason:
    """Why a job is not running now."""

    code: WaitCode
    message: str  # for people: names the queue, type, key, parents or resources at fault
    until: datetime | None = None  # scheduled / retrying: when it becomes ready
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON: what the message says

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "message": self.message,
            "until": None if self.until is None else self.until.isoformat(),
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitReason:
        until = data.get("until")
        return cls(
            code=WaitCode(data["code"]),
            message=str(data.get("message", "")),
            until=None if until is None else datetime.fromisoformat(until),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True, slots=True)
class LimitUse:
    """A concurrency limit that applies to a job, and how many of its jobs run now."""

    scope: str  # "type" (the job type's limit) or "key" (the job's concurrency_key)
    key: str  # the type name or the concurrency key
    limit: int
    running: int

    @property
    def full(self) -> bool:
        return self.running >= self.limit


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A live worker as the wait check sees it."""

    id: str
    queues: tuple[str, ...]
    types: tuple[str, ...] | None  # None: it runs any type in its queues
    capacity: Resources  # what it has (inf: it did not say)
    free: Resources  # capacity minus what its running jobs reserved
    slots: int  # jobs it runs at once
    running: int  # jobs it runs now

    def serves(self, queue: str, type: str) -> bool:
        return queue in self.queues and (self.types is None or type in self.types)


def wait_reason(
    job: Job,
    *,
    queue_paused: bool,
    type_paused: bool,
    parents: Sequence[int] | None = None,
    limits: Sequence[LimitUse] = (),
    workers: Sequence[WorkerView] = (),
) -> WaitReason | None:
    """Why ``job`` waits; None when it is not waiting (running or finished).

    ``parents``: ids of the parents that have not completed (None: not known, for a blocked job).
    ``limits``: the concurrency limits of its type and key. ``workers``: every live worker.
    """
    status = job.status
    if status is JobStatus.SCHEDULED:
        when = job.run_at.isoformat()
        return WaitReason(WaitCode.SCHEDULED, f"scheduled to run at {when}", until=job.run_at)
    if status is JobStatus.RETRYING:
        tries = f"try {job.tries} of {job.max_tries} failed"
        return WaitReason(
            WaitCode.RETRYING,
            f"{tries}; backing off until {job.run_at.isoformat()}",
            until=job.run_at,
            details={"tries": job.tries, "max_tries": job.max_tries},
        )
    if status is JobStatus.BLOCKED:
        if parents:
            ids = ", ".join(str(p) for p in parents)
            message = f"blocked until its parent job{'s' if len(parents) > 1 else ''} {ids} "
            message += "complete" if len(parents) > 1 else "completes"
        else:
            message = "blocked until its parent jobs complete"
        return WaitReason(WaitCode.BLOCKED, message, details={"parents": list(parents or ())})
    if status is not JobStatus.QUEUED:
        return None
    return _queued(job, queue_paused, type_paused, limits, workers)


def _queued(
    job: Job,
    queue_paused: bool,
    type_paused: bool,
    limits: Sequence[LimitUse],
    workers: Sequence[WorkerView],
) -> WaitReason:
    queue, type_ = job.queue, job.type
    if queue_paused:
        return WaitReason(
            WaitCode.QUEUE_PAUSED, f"queue {queue!r} is paused", details={"queue": queue}
        )
    if type_paused:
        return WaitReason(
            WaitCode.TYPE_PAUSED, f"job type {type_!r} is paused", details={"type": type_}
        )
    for use in limits:
        if use.full:
            what = "job type" if use.scope == "type" else "concurrency key"
            return WaitReason(
                WaitCode.CONCURRENCY_FULL,
                f"{what} {use.key!r} is at its limit: {use.running} of {use.limit} running",
                details={
                    "scope": use.scope,
                    "key": use.key,
                    "limit": use.limit,
                    "running": use.running,
                },
            )
    in_queue = [w for w in workers if queue in w.queues]
    serving = [w for w in in_queue if w.serves(queue, type_)]
    if not serving:
        if in_queue:
            message = (
                f"{len(in_queue)} live worker{'s' if len(in_queue) > 1 else ''} claim from queue "
                f"{queue!r}, but none runs job type {type_!r}"
            )
        else:
            message = f"no live worker claims from queue {queue!r}"
        return WaitReason(WaitCode.NO_WORKER, message, details={"queue": queue, "type": type_})
    needs = Resources(job.cpus, job.mem, job.disk)
    able = [w for w in serving if needs.fits(w.capacity)]
    if not able:
        largest = max(serving, key=lambda w: (w.capacity.cpus, w.capacity.mem, w.capacity.disk))
        return WaitReason(
            WaitCode.NO_RESOURCES,
            f"it needs {needs.describe()}; no live worker serving it has that much "
            f"(the largest, {largest.id}, has {_capacity(largest.capacity)})",
            details={"needs": needs.to_dict(), "workers": len(serving)},
        )
    free = [w for w in able if needs.fits(w.free)]
    ready = [w for w in free if w.running < w.slots]
    if ready:
        plural = "s" if len(ready) > 1 else ""
        message = f"queued: {len(ready)} live worker{plural} can claim it now"
    elif free:
        message = f"queued, waiting for a free slot: {len(free)} worker" + (
            "s that can run it are" if len(free) > 1 else " that can run it is"
        ) + " busy"  # fmt: skip
    else:
        message = (
            f"queued, waiting for resources: it needs {needs.describe()}, which the "
            f"{len(able)} worker{'s' if len(able) > 1 else ''} that can run it have in use"
        )
    return WaitReason(
        WaitCode.READY,
        message,
        details={"workers": len(able), "claimable_now": len(ready), "resources_busy": not free},
    )


def _capacity(r: Resources) -> str:
    return f"{_num(r.cpus)} cpus, {_num(r.mem)} MiB memory, {_num(r.disk)} MiB disk"
