"""The Store protocol: every operation on jobyard's database, one method each.

Methods are named noun first so they sort by subject. Each docstring gives the source and target
states and the guarantee. ``now`` is taken from the store's clock (``Store.now()``); tests pass a
clock to the store to own time. Both backends (``sqlite/`` and ``postgres/``) implement this
exactly; ``tests/behaviour`` proves it against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobyard.core.models import (
    ApiToken,
    Claim,
    EventRecord,
    Execution,
    Heartbeat,
    Job,
    JobFilter,
    JobSpec,
    JobType,
    LogLine,
    Outcome,
    Page,
    PageRequest,
    QueueInfo,
    Role,
    TypeDefinition,
    User,
)
from jobyard.store.apps import AppsProtocol
from jobyard.store.catalog import CatalogProtocol
from jobyard.store.limits import LimitsProtocol
from jobyard.store.recipes import RecipeStoreProtocol
from jobyard.store.remote import RemoteProtocol
from jobyard.store.reporting import ReportingProtocol
from jobyard.store.retention import RetentionProtocol
from jobyard.store.schedules import ScheduleStoreProtocol
from jobyard.store.services import ServicesProtocol
from jobyard.store.stats import StatsProtocol


class Store(
    RemoteProtocol, CatalogProtocol, StatsProtocol, AppsProtocol, ServicesProtocol,
    RecipeStoreProtocol, ScheduleStoreProtocol, LimitsProtocol, ReportingProtocol,
    RetentionProtocol, Protocol,
):  # fmt: skip
    url: str

    def now(self) -> float:
        """The store's clock, epoch seconds."""
        ...

    def close(self) -> None: ...

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The highest migration applied; 0 for an empty database."""
        ...

    def schema_upgrade(self, target: int | None = None) -> list[int]:
        """Apply pending migrations up to ``target`` (all by default); returns those applied."""
        ...

    # -- job types ----------------------------------------------------------------------------

    def type_register(self, definition: TypeDefinition) -> JobType:
        """Store a definition. Same as the current one: nothing changes. Different: revision + 1."""
        ...

    def type_get(self, name: str) -> JobType:
        """The current revision; NotFound otherwise."""
        ...

    def type_list(self) -> list[JobType]: ...

    # -- enqueue and claim (hot path) ---------------------------------------------------------

    def job_enqueue(self, specs: Sequence[JobSpec], *, created_by: str | None = None) -> list[int]:
        """New jobs, all or none, in one transaction; returns their ids in order.

        Each job takes its type's defaults for options left unset, and the type's current revision.
        ``queued`` when due now, ``scheduled`` when run_at is in the future. A unique key taken by
        an unfinished job raises Duplicate, or returns that job's id with ``on_duplicate=return``;
        an external id taken by any job, finished or not, raises Duplicate. Unknown type: NotFound.
        """
        ...

    def job_claim(
        self,
        *,
        worker_id: str,
        queues: Sequence[str],
        types: Sequence[str],
        limit: int,
        lease: float,
        cpus: float | None = None,
        mem: float | None = None,
        disk: float | None = None,
    ) -> list[Claim]:
        """queued -> running for up to ``limit`` jobs, lowest priority number then oldest first.

        Only jobs of ``types`` in ``queues`` that are not paused, whose type is not paused, that
        together fit in ``cpus``, ``mem`` and ``disk`` (MiB; None: no limit), and whose type's
        and key's concurrency limits have room, cluster-wide (store/limits.py). Each claim starts
        an execution (the lease's fencing token) that expires ``lease`` seconds from now. Two
        workers never claim the same job.
        """
        ...

    def execution_started(
        self, execution_id: int, *, pid: int, ppid: int, hostname: str, run_as: str
    ) -> None:
        """Record the process that runs an execution (once its child has it)."""
        ...

    def execution_heartbeat(self, execution_ids: Sequence[int], *, lease: float) -> Heartbeat:
        """Renew the leases of running executions to at least now + ``lease`` (never shorter).

        Returns those a person asked to kill and those no longer current, so the worker can stop
        their processes.
        """
        ...

    def execution_reserve(self, execution_id: int, seconds: float) -> float:
        """Extend a lease to at least now + ``seconds``; returns its expiry. LeaseLost if stale."""
        ...

    def job_progress(self, execution_id: int, percent: float | None, desc: str | None) -> None:
        """Record progress of a running job (and an event). LeaseLost if the execution is stale."""
        ...

    def job_log_append(self, lines: Sequence[LogLine]) -> None:
        """Append log lines as events, in one transaction."""
        ...

    def job_finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """End executions, in one transaction; True for each that still held its job's lease.

        completed: running -> completed (to history). failed / timed_out: running -> retrying
        with backoff, or -> failed when no tries are left or the error is not retryable.
        canceled (a kill): running -> canceled. released: running -> queued, the try not counted.
        A stale outcome (the job moved on) changes nothing and is reported False.
        """
        ...

    # -- people's operations ------------------------------------------------------------------

    def job_get(self, job_id: int) -> Job:
        """A job, live or finished, with its executions. NotFound otherwise."""
        ...

    def job_list(self, filters: JobFilter, page: PageRequest) -> Page: ...

    def job_log(self, job_id: int, *, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        """Log lines of a job in order, after event id ``after``."""
        ...

    def job_kill(self, job_id: int, *, by: str | None = None) -> Job:
        """running: ask its worker to stop it (it becomes canceled when the process is gone).

        Waiting: cancel at once. Finished: InvalidTransition.
        """
        ...

    def job_cancel(self, job_id: int, *, by: str | None = None) -> Job:
        """scheduled / blocked / queued / retrying -> canceled. Else InvalidTransition."""
        ...

    def job_restart(self, job_id: int, *, by: str | None = None) -> Job:
        """A new job with the same type and args, linked both ways to the finished old one."""
        ...

    def job_remove(self, job_id: int, *, by: str | None = None) -> Job:
        """Hide a job from queue listings; a waiting job is canceled first. Running: refused."""
        ...

    def job_requeue(
        self,
        job_ids: Sequence[int],
        *,
        priority: int | None = None,
        extra_tries: int = 1,
        by: str | None = None,
    ) -> list[int]:
        """failed / canceled -> queued, with ``extra_tries`` more tries; returns those requeued."""
        ...

    def job_release_due(self, *, limit: int = 5000) -> int:
        """scheduled / retrying -> queued for jobs whose run_at has come; returns how many."""
        ...

    def job_next_due(self) -> float | None:
        """The earliest run_at of a scheduled or retrying job (epoch seconds); None: none."""
        ...

    # -- executions, events, queues -----------------------------------------------------------

    def execution_list(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[Execution]: ...

    def execution_reap(self, *, limit: int = 1000) -> int:
        """Running executions whose lease expired -> lost; their jobs retry or fail."""
        ...

    def execution_next_expiry(self) -> float | None:
        """When the first lease of a running execution runs out (epoch seconds); None: none."""
        ...

    def event_list(
        self, *, after: int = 0, job_id: int | None = None, limit: int = 1000
    ) -> list[EventRecord]: ...

    def event_last_id(self) -> int:
        """The newest event id; 0 when there is none."""
        ...

    def event_prune(self, *, older_than: float) -> int:
        """Delete events (and log lines) older than ``older_than`` seconds; returns how many."""
        ...

    def queue_pause(self, name: str) -> None: ...

    def queue_resume(self, name: str) -> None: ...

    def queue_list(self) -> list[QueueInfo]: ...

    # -- workers and leadership ---------------------------------------------------------------

    def worker_register(
        self, worker_id: str, *, hostname: str, pid: int, queues: Sequence[str], concurrency: int,
        types: Sequence[str] | None = None, cpus: float | None = None, mem: float | None = None,
        disk: float | None = None, heartbeat: float | None = None,
    ) -> None:  # fmt: skip
        """Record a worker: its queues and slots; what it runs (None: any type in its queues),
        its capacity (None: no limit) and its beat interval, for job_wait_reason."""
        ...

    def worker_beat(self, worker_id: str) -> None: ...

    def worker_stop(self, worker_id: str) -> None: ...

    def leader_acquire(self, duty: str, holder: str, *, ttl: float) -> bool:
        """Take or keep leadership of ``duty`` for ``ttl`` seconds; True if ``holder`` leads."""
        ...

    # -- users and API tokens (hashes only) ---------------------------------------------------

    def user_add(self, name: str, *, role: Role | str, password_hash: str) -> User:
        """A new user; Duplicate if the name is taken."""
        ...

    def user_get(self, name: str) -> User: ...

    def user_list(self) -> list[User]: ...

    def user_update(
        self, name: str, *, role: Role | str | None = None, password_hash: str | None = None
    ) -> User: ...

    def user_remove(self, name: str) -> None:
        """Remove a user and every token of theirs."""
        ...

    def token_create(self, user: str, *, token_hash: str, name: str) -> ApiToken: ...

    def token_lookup(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The live token with this hash and its user; None when unknown or revoked."""
        ...

    def token_list(self) -> list[ApiToken]: ...

    def token_revoke(self, token_id: int) -> None: ...

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until work may be ready in ``queues`` or ``timeout`` passes (NOTIFY or poll);
        True when a wake-up ended the wait, False when the timeout did."""
        ...

    @property
    def announces_work(self) -> bool:
        """Whether ``wait_for_work`` now hears of work that any process makes ready, so that
        an idle worker may wait for it instead of polling (False while PostgreSQL's LISTEN
        connection is down)."""
        ...
