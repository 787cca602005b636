"""Workers as people see them: jobyard's own and the clients of a wire protocol, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jobyard.core.errors import Invalid

#: a worker that has not beaten for this many seconds is lost (Faktory reaps it)
WORKER_SILENCE = 60.0


class WorkerKind(StrEnum):
    JOBYARD = "jobyard"  # `jobyard worker` (or the worker of `jobyard up`)
    FAKTORY = "faktory"  # a Faktory client connected with a wid


class WorkerState(StrEnum):
    """Where a worker is in its life. Only moves forward: running -> quiet -> stopping."""

    RUNNING = "running"  # claims and runs jobs
    QUIET = "quiet"  # an operator quieted it: it finishes what it runs and claims nothing more
    STOPPING = "stopping"  # an operator stopped it: it finishes (or gives back) and exits
    STOPPED = "stopped"  # it exited, or was silent for WORKER_SILENCE and was reaped
    LOST = "lost"  # it stopped beating without saying goodbye (a jobyard worker killed hard)

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    WorkerState.RUNNING: 0,
    WorkerState.QUIET: 1,
    WorkerState.STOPPING: 2,
    WorkerState.STOPPED: 3,
    WorkerState.LOST: 3,
}

#: the states an operator may ask for
CONTROLLABLE = (WorkerState.QUIET, WorkerState.STOPPING)


def worker_state(value: str) -> WorkerState:
    try:
        return WorkerState(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in WorkerState)
        raise Invalid(f"unknown worker state {value!r}; one of {names}", field="state") from exc


def forward(current: WorkerState, wanted: WorkerState) -> WorkerState:
    """The state after asking for ``wanted``: a worker's state never moves back."""
    return wanted if wanted.rank > current.rank else current


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker, of either kind, with what it runs now."""

    id: str  # jobyard's worker id, or the Faktory client's wid
    kind: WorkerKind
    hostname: str
    pid: int
    queues: tuple[str, ...]  # the queues it claims from (a Faktory worker: its last FETCH)
    concurrency: int  # 0 when the client does not say (Faktory)
    labels: tuple[str, ...]  # Faktory's labels; () for jobyard workers
    state: WorkerState
    started_at: datetime
    heartbeat_at: datetime  # its last beat
    stopped_at: datetime | None
    rss_kb: int | None  # memory the client reported in its last beat
    running: int  # executions it runs now
