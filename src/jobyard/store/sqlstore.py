"""The logic both SQL backends share; each backend supplies its SQL and its connections.

Every operation runs in one transaction. The SQL of each backend lives in its ``queries.sql``
under the same names; what differs beyond that (claiming, list parameters, wake-ups) is a small
hook a backend overrides. State changes are decided by :mod:`jobyard.core.states` and guarded in
SQL by the job's status and current execution (the lease's fencing token).
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from jobyard.core.backoff import Backoff, after_failure
from jobyard.core.errors import Duplicate, Invalid, InvalidTransition, LeaseLost, NotFound
from jobyard.core.limits import Resources
from jobyard.core.models import (
    Claim,
    EventRecord,
    Execution,
    Heartbeat,
    Job,
    JobFilter,
    JobSpec,
    JobType,
    LogLine,
    OnDuplicate,
    Outcome,
    Page,
    PageRequest,
    QueueInfo,
    TypeDefinition,
    check_json,
    check_name,
    epoch,
    utc,
)
from jobyard.core.states import (
    TERMINAL,
    Event,
    ExecutionStatus,
    JobStatus,
    transition,
)
from jobyard.store.apps import AppsStore
from jobyard.store.auth import AuthStore
from jobyard.store.catalog import CatalogStore
from jobyard.store.limits import LimitsStore
from jobyard.store.recipes import RecipeStore
from jobyard.store.remote import RemoteStore
from jobyard.store.reporting import ReportingStore
from jobyard.store.retention import RetentionStore
from jobyard.store.schedules import ScheduleStore
from jobyard.store.services import ServicesStore
from jobyard.store.stats import StatsStore
from jobyard.store.tx import Row, Tx

#: how a worker may report that an execution ended (``lost`` is the reaper's word)
_REPORTED = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.RELEASED,
    }
)
#: jobs in one enqueue from which it runs as a bulk transaction (``_tx``): on PostgreSQL its
#: rows go by COPY, which pays back its extra round trips from about here (on one machine:
#: 100 jobs 7.3 ms by COPY against 6.8 pipelined, 200 jobs 10.8 against 12.1)
BULK_ENQUEUE = 150


# The same few texts for most jobs (a type's tags and backoff, a bare state event): a bulk
# enqueue spent a third of its Python time writing them again for every job.
@functools.lru_cache(maxsize=256)
def _tags_text(tags: tuple[str, ...]) -> str:
    return _dumps(list(tags))


@functools.lru_cache(maxsize=256)
def _backoff_text(backoff: Backoff) -> str:
    return _dumps(backoff.to_dict())


@functools.lru_cache(maxsize=32)
def _status_text(status: str) -> str:
    return _dumps({"status": status})


def _dumps(value: Any) -> str:
    # ensure_ascii=False: JSON text keeps "Zürich" as written, so search (LIKE over the stored
    # text) finds it, as PostgreSQL's jsonb text does
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (JSON input may carry "\ud800") is not UTF-8: keep it \u-escaped
        return json.dumps(value, separators=(",", ":"))
    return text


def _args_text(spec: JobSpec) -> str:
    """A spec's args as stored: the text checked when the spec was made, which is what
    ``_dumps`` writes unless it escaped a character beyond ASCII."""
    text = spec.args_json
    return text if "\\u" not in text else _dumps(json.loads(text))


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _json_or_failure(o: Outcome) -> Outcome:
    """A result that is not JSON (NaN, a set) fails its own execution, not the whole batch.

    Retrying would return the same value, so the failure is not retryable. Checked the same way
    on every backend, before anything is written.
    """
    if o.status is not ExecutionStatus.COMPLETED:
        return o
    try:
        check_json(o.result, "result")
    except Invalid as exc:
        return replace(
            o,
            status=ExecutionStatus.FAILED,
            result=None,
            error_type="InvalidResult",
            error_message=f"the job returned a result that is not JSON: {exc.message}",
            retryable=False,
        )
    return o


def _error_dict(o: Outcome) -> dict[str, Any] | None:
    if o.error_type is None and o.error_message is None:
        return None
    return {"type": o.error_type, "message": o.error_message, "traceback": o.traceback}


class SqlStore(
    AuthStore,
    RemoteStore,
    CatalogStore,
    StatsStore,
    AppsStore,
    ServicesStore,
    RecipeStore,
    ScheduleStore,
    LimitsStore,
    ReportingStore,
    RetentionStore,
):
    """A Store over a SQL database; subclasses give it connections and dialect hooks."""

    url: str
    queries: dict[str, str]

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None) -> None:
        self.url = url
        self._clock = clock or time.time
        self._work = threading.Condition()
        self._work_seq = 0
        self._seen = threading.local()  # per waiting thread: the wake-ups it has already seen

    # -- hooks a backend provides ---------------------------------------------------------

    @abstractmethod
    def _tx(self, *, write: bool = True, bulk: bool = False) -> AbstractContextManager[Tx]:
        """A transaction; ``write=False`` may run on a read-only connection. ``bulk``: it
        writes many rows, and a backend may trade round trips for a faster way to send them."""

    @abstractmethod
    def _list(self, values: Iterable[Any]) -> Any:
        """A list parameter as the backend's SQL reads it."""

    @abstractmethod
    def _in(self, param: str, kind: str = "text") -> str:
        """SQL for ``IN (...)`` over a list parameter."""

    @abstractmethod
    def _tag_clause(self, param: str) -> str:
        """SQL matching jobs (alias ``j``) that carry the tag in parameter ``param``."""

    def _like(self) -> str:
        return "LIKE"

    def _announce(self, tx: Tx, queues: Iterable[str]) -> None:
        """Inside the transaction that made work ready: tell other processes (PostgreSQL)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend's connections."""

    # -- clock and wake-ups ---------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def _wake_local(self) -> None:
        with self._work:
            self._work_seq += 1
            self._work.notify_all()

    @property
    def announces_work(self) -> bool:
        return False  # only this process's own wake-ups reach wait_for_work

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        # In-process wake-ups (embedded: enqueue and worker share the store); other processes
        # are caught by the timeout, which is the poll interval. Counted from what this thread
        # had seen when it last returned, so that a wake-up that came while it was claiming
        # (after its claim found nothing, before this call) is not missed.
        with self._work:
            seen = getattr(self._seen, "work", self._work_seq)
            woken = self._work.wait_for(lambda: self._work_seq != seen, timeout=timeout)
            self._seen.work = self._work_seq
        return woken

    # -- job types ------------------------------------------------------------------------

    def type_register(self, definition: TypeDefinition) -> JobType:
        with self._tx() as tx:
            return self._type_put(tx, definition, tx.one("type_current", name=definition.name))

    def type_get(self, name: str) -> JobType:
        with self._tx(write=False) as tx:
            row = tx.one("type_current", name=name)
        if row is None:
            raise NotFound(f"no job type {name!r}", field="type", type=name)
        return self._job_type(row)

    def type_list(self) -> list[JobType]:
        with self._tx(write=False) as tx:
            return [self._job_type(r) for r in tx.rows("type_list")]

    @staticmethod
    def _job_type(row: Row) -> JobType:
        definition = TypeDefinition.from_dict(_loads(row["definition"]))
        return JobType(
            definition,
            row["revision"],
            utc(row["created_at"]),  # type: ignore[arg-type]
            id=row.get("id"),
            archived_at=utc(row.get("archived_at")),
            paused=bool(row.get("paused")),
        )

    # -- enqueue --------------------------------------------------------------------------

    def job_enqueue(self, specs: Sequence[JobSpec], *, created_by: str | None = None) -> list[int]:
        specs = list(specs)
        if not specs:
            return []
        now = self.now()
        with self._tx(bulk=len(specs) >= BULK_ENQUEUE) as tx:
            ids, queues = self._enqueue(tx, specs, now=now, created_by=created_by)
        if queues:
            self._wake_local()
        return ids

    def _enqueue(
        self, tx: Tx, specs: Sequence[JobSpec], *, now: float, created_by: str | None
    ) -> tuple[list[int], set[str]]:
        """job_enqueue inside an open transaction: (ids, queues that got work)."""
        types: dict[str, JobType] = {}
        for name in sorted({s.type for s in specs}):
            row = tx.one("type_current", name=name)
            if row is None:
                raise NotFound(f"unknown job type {name!r}", field="type", type=name)
            types[name] = self._job_type(row)
        self._check_specs(specs, types)  # archived types; args against the type's interface
        ids: list[int] = []
        events: list[dict[str, Any]] = []
        queues: set[str] = set()
        jobs = [
            (spec, self._new_job(spec, types[spec.type], now=now, created_by=created_by))
            for spec in specs
        ]
        for (_, params), (job_id, created) in zip(jobs, self._insert_jobs(tx, jobs), strict=True):
            ids.append(job_id)
            if created:
                queues.add(params["queue"])
                events.append(self._state_event(job_id, params["status"], now))
        # a write nobody reads: on PostgreSQL it goes out with the COMMIT, no round trip of its own
        tx.many("queue_ensure", [{"name": queue, "now": now} for queue in sorted(queues)])
        if events:
            tx.many("event_insert", events)
        self._announce(tx, queues)
        return ids, queues

    def _new_job(
        self, spec: JobSpec, job_type: JobType, *, now: float, created_by: str | None
    ) -> dict[str, Any]:
        d = job_type.definition
        run_at = epoch(spec.run_at) if spec.run_at is not None else now + (spec.delay or 0.0)
        assert run_at is not None
        return {
            "type": d.name,
            "type_revision": job_type.revision,
            "status": (JobStatus.QUEUED if run_at <= now else JobStatus.SCHEDULED).value,
            "queue": spec.queue or d.queue,
            "priority": d.priority if spec.priority is None else spec.priority,
            "args": _args_text(spec),
            "tags": _tags_text(tuple(d.tags if spec.tags is None else spec.tags)),
            "unique_key": spec.unique_key,
            "external_id": spec.external_id,
            "max_tries": spec.max_tries or d.max_tries,
            "timeout": spec.timeout if spec.timeout is not None else d.timeout,
            "backoff": _backoff_text(spec.backoff or d.backoff),
            "run_at": run_at,
            "now": now,
            "restart_of": None,
            "created_by": created_by,
            "cpus": d.cpus if spec.cpus is None else spec.cpus,
            "mem": d.mem if spec.mem is None else spec.mem,
            "disk": d.disk if spec.disk is None else spec.disk,
            "type_concurrency": d.concurrency,
            "concurrency_key": spec.concurrency_key,
            "concurrency_limit": None
            if spec.concurrency_key is None
            else spec.concurrency_limit or 1,
        }

    def _insert_jobs(
        self, tx: Tx, jobs: Sequence[tuple[JobSpec, dict[str, Any]]]
    ) -> list[tuple[int, bool]]:
        """Insert new jobs in order: ``(id, created)`` each. Runs of jobs without a unique key
        go in bulk (their ids taken first); a job with one goes alone, as its outcome depends on the
        rows before it. Same results and errors, in the same order, as one by one."""
        done: list[tuple[int, bool]] = []
        run: list[tuple[JobSpec, dict[str, Any]]] = []
        for spec, params in jobs:
            if spec.unique_key is None:
                run.append((spec, params))
                continue
            done.extend(self._insert_run(tx, run))
            run = []
            done.append(self._insert_job(tx, spec, params))
        done.extend(self._insert_run(tx, run))
        return done

    def _insert_run(
        self, tx: Tx, run: Sequence[tuple[JobSpec, dict[str, Any]]]
    ) -> list[tuple[int, bool]]:
        if len(run) <= 1:
            return [self._insert_job(tx, spec, params) for spec, params in run]
        wanted = [spec.external_id for spec, _ in run if spec.external_id is not None]
        if wanted:
            rows = tx.rows("job_external_ids_taken", external_ids=self._list(wanted))
            taken = {r["external_id"] for r in rows}
            for external_id in wanted:  # the first taken one, counting those earlier in the run
                if external_id in taken:
                    raise Duplicate(f"external id {external_id!r} is taken", field="external_id")
                taken.add(external_id)
        ids = self._job_ids(tx, len(run))
        for (_, params), job_id in zip(run, ids, strict=True):
            params["id"] = job_id
        tx.many("job_insert_numbered", [params for _, params in run])
        return [(job_id, True) for job_id in ids]

    @abstractmethod
    def _job_ids(self, tx: Tx, count: int) -> list[int]:
        """``count`` ids for new jobs, ascending and never given before (``job_insert_numbered``
        inserts jobs with the ids they were given)."""

    def _insert_job(self, tx: Tx, spec: JobSpec, params: dict[str, Any]) -> tuple[int, bool]:
        if spec.external_id is not None and tx.one(
            "job_external_id_taken", external_id=spec.external_id
        ):
            raise Duplicate(f"external id {spec.external_id!r} is taken", field="external_id")
        if spec.unique_key is None:
            row = tx.one("job_insert", **params)
            assert row is not None
            return int(row["id"]), True
        row = tx.one("job_insert_unique", **params)
        if row is not None:
            # held for a while by an earlier job (unique_for, store/limits.py): undo the insert
            existing = self._unique_window(tx, spec, int(row["id"]), now=params["now"])
            if existing is None:
                return int(row["id"]), True
            tx.run("job_delete_live", id=row["id"])
            taken = f"taken until {utc(existing['until']).isoformat()} by job"  # type: ignore[union-attr]
        else:
            existing = tx.one("job_id_by_unique_key", unique_key=spec.unique_key)
            if existing is None:  # finished between the two statements: the key is free again
                return self._insert_job(tx, spec, params)
            taken = "taken by unfinished job"
        if spec.on_duplicate is OnDuplicate.RETURN:
            return int(existing["id"]), False
        raise Duplicate(
            f"unique key {spec.unique_key!r} is {taken} {existing['id']}",
            field="unique_key",
            job_id=existing["id"],
        )

    @staticmethod
    def _state_event(job_id: int, status: str, now: float, **data: Any) -> dict[str, Any]:
        extra = {k: v for k, v in data.items() if v is not None}
        text = _dumps({"status": status, **extra}) if extra else _status_text(status)
        return {"job_id": job_id, "now": now, "kind": "state", "data": text}

    # -- claim, heartbeat, progress, log --------------------------------------------------

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
        if limit <= 0 or not queues or not types:
            return []
        return self._claim_steps(  # store/limits.py
            worker_id=worker_id, queues=queues, types=types, limit=limit, lease=lease,
            free=Resources.of(cpus, mem, disk),
        )  # fmt: skip

    def execution_started(
        self, execution_id: int, *, pid: int, ppid: int, hostname: str, run_as: str
    ) -> None:
        with self._tx() as tx:
            tx.run(
                "execution_started", execution_id=execution_id, pid=pid, ppid=ppid,
                hostname=hostname, run_as=run_as,
            )  # fmt: skip

    def _next_moment(self, query: str) -> float | None:
        """The time ``query`` reads (``at``; None: nothing waits): one statement on its own, the
        question an idle duty asks instead of opening a transaction to look for work."""
        with self._fast_tx() as tx:
            row = tx.one(query)
        return None if row is None or row["at"] is None else float(row["at"])

    def job_next_due(self) -> float | None:
        return self._next_moment("job_next_due")

    def execution_next_expiry(self) -> float | None:
        return self._next_moment("execution_next_expiry")

    def _commit_async(self, tx: Tx) -> None:
        """This transaction's COMMIT does not wait for its WAL to reach disk (PostgreSQL; SQLite
        has no such switch). Only for writes that promise nothing: the next synchronous commit,
        a job's finish, flushes them with it (store/reporting.py)."""
        if "tx_commit_async" in self.queries:
            tx.many("tx_commit_async", [{}])

    def execution_heartbeat(self, execution_ids: Sequence[int], *, lease: float) -> Heartbeat:
        if not execution_ids:
            return Heartbeat(kill=(), gone=())
        now = self.now()
        ids = self._list(execution_ids)
        with self._tx() as tx:
            # a renewal lost with a crash of the database leaves a lease a beat older, far from
            # expiring: the worker's store loop need not wait for an fsync every second
            self._commit_async(tx)
            tx.run("execution_heartbeat", ids=ids, now=now, until=now + lease)
            current = tx.rows("execution_current", ids=ids)
        alive = {r["execution_id"] for r in current}
        return Heartbeat(
            kill=tuple(r["execution_id"] for r in current if r["kill_requested_at"] is not None),
            gone=tuple(i for i in execution_ids if i not in alive),
        )

    def execution_reserve(self, execution_id: int, seconds: float) -> float:
        if not seconds > 0:
            raise Invalid("reserve seconds must be positive", field="seconds")
        now = self.now()
        with self._tx() as tx:
            row = tx.one("execution_reserve", execution_id=execution_id, until=now + seconds)
        if row is None:
            raise LeaseLost(f"execution {execution_id} no longer holds its job's lease")
        return float(row["lease_expires_at"])

    def job_progress(self, execution_id: int, percent: float | None, desc: str | None) -> None:
        if percent is not None and not 0 <= percent <= 100:
            raise Invalid("progress percent must be from 0 to 100", field="percent")
        now = self.now()
        with self._tx() as tx:
            row = tx.one(
                "job_progress", execution_id=execution_id, percent=percent, desc=desc, now=now
            )
            if row is None:
                raise LeaseLost(f"execution {execution_id} no longer holds its job's lease")
            data = {"percent": percent, "desc": desc, "execution_id": execution_id}
            tx.run("event_insert", job_id=row["id"], now=now, kind="progress", data=_dumps(data))

    def job_log_append(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        events = []
        for line in lines:
            data: dict[str, Any] = {
                "stream": line.stream,
                "text": line.text,
                "execution_id": line.execution_id,
            }
            if line.level is not None:
                data["level"] = line.level
            events.append(
                {"job_id": line.job_id, "now": line.at, "kind": "log", "data": _dumps(data)}
            )
        with self._tx() as tx:
            tx.many("event_insert", events)

    # -- finishing ------------------------------------------------------------------------

    def job_finish(self, outcomes: Sequence[Outcome]) -> list[bool]:
        if not outcomes:
            return []
        for o in outcomes:
            if o.status not in _REPORTED:
                # running or lost would end the execution in a state that is not an end
                raise Invalid(
                    f"an outcome is {', '.join(sorted(_REPORTED))}, not {o.status}",
                    field="status",
                )
        with self._tx() as tx:
            return self._finish(tx, [_json_or_failure(o) for o in outcomes], self.now())

    def execution_reap(self, *, limit: int = 1000) -> int:
        now = self.now()
        with self._tx() as tx:
            expired = tx.rows("execution_expired", now=now, limit=limit)
            outcomes = [
                Outcome(
                    execution_id=r["id"],
                    status=ExecutionStatus.LOST,
                    error_type="LeaseExpired",
                    error_message="the worker stopped heartbeating and the lease expired",
                )
                for r in expired
            ]
            self._finish(tx, outcomes, now)
        return len(outcomes)

    def _finish(self, tx: Tx, outcomes: Sequence[Outcome], now: float) -> list[bool]:
        rows = tx.rows("jobs_for_executions", ids=self._list(o.execution_id for o in outcomes))
        current = {r["execution_id"]: r for r in rows}
        results: list[bool] = []
        events: list[dict[str, Any]] = []
        for o in outcomes:
            ended = tx.run(
                "execution_end",
                execution_id=o.execution_id,
                status=o.status.value,
                now=now,
                exit_code=o.exit_code,
                signal=o.signal,
                peak_rss=o.peak_rss,
                error_type=o.error_type,
                error_message=o.error_message,
                traceback=o.traceback,
                stopped_by=o.stopped_by,
            )
            row = current.get(o.execution_id)
            if not ended or row is None or row["status"] != JobStatus.RUNNING:
                results.append(False)
                continue
            events.append(self._apply_outcome(tx, row, o, now))
            results.append(True)
        if events:
            tx.many("event_insert", events)
        self._announce(tx, self._freed_queues(current, outcomes, results))
        self._release_children(tx, self._completed_parents(current, outcomes, results), now)
        return results

    @staticmethod
    def _freed_queues(
        current: dict[Any, Row], outcomes: Sequence[Outcome], results: Sequence[bool]
    ) -> set[str]:
        """Queues where these finishes let a waiting job run: a job given back is queued
        again, and a job under a concurrency limit gave up its slot. Announced, since idle
        workers wait for announcements (their safety poll is seconds apart)."""
        freed = set()
        for o, applied in zip(outcomes, results, strict=True):
            row = current.get(o.execution_id)
            if applied and row is not None:
                if o.status is ExecutionStatus.RELEASED or row["limited"]:
                    freed.add(str(row["queue"]))
        return freed

    def _apply_outcome(self, tx: Tx, row: Row, o: Outcome, now: float) -> dict[str, Any]:
        job_id, execution_id = row["id"], row["execution_id"]
        killed = row["kill_requested_at"] is not None
        run_at = None
        if o.status is ExecutionStatus.COMPLETED and not killed:
            event = Event.COMPLETE
        elif o.status is ExecutionStatus.CANCELED or killed:
            event = Event.KILL
        elif o.status is ExecutionStatus.RELEASED:
            event = Event.GIVE_BACK
        else:
            decision = after_failure(
                tries=row["tries"],
                max_tries=row["max_tries"],
                retryable=o.retryable,
                backoff=Backoff.parse(_loads(row["backoff"])),
                now=now,
            )
            event, run_at = decision.event, decision.run_at
        status = transition(job_id, row["status"], event)
        error = _error_dict(o)
        by = o.stopped_by or row["kill_requested_by"]
        if event is Event.RETRY:
            tx.run(
                "job_retry", id=job_id, execution_id=execution_id, run_at=run_at,
                error=_dumps(error), now=now,
            )  # fmt: skip
        elif event is Event.GIVE_BACK:
            tx.run("job_give_back", id=job_id, execution_id=execution_id, now=now)
        else:
            self._to_history(
                tx, job_id, status, now=now,
                result=_dumps(o.result) if event is Event.COMPLETE else None,
                error=_dumps(error) if error and event is Event.FAIL else None,
                canceled_by=by if event is Event.KILL else None,
            )  # fmt: skip
        return self._state_event(
            job_id, status.value, now, execution_id=execution_id, run_at=run_at,
            error=None if error is None else {k: error[k] for k in ("type", "message")},
            by=by if event is Event.KILL else None,
        )  # fmt: skip

    def _to_history(
        self,
        tx: Tx,
        job_id: int,
        status: JobStatus,
        *,
        now: float,
        result: str | None = None,
        error: str | None = None,
        canceled_by: str | None = None,
        removed_by: str | None = None,
        removed: bool = False,
    ) -> None:
        canceled = status is JobStatus.CANCELED
        tx.run(
            "job_to_history",
            id=job_id,
            status=status.value,
            now=now,
            result=result,
            error=error,
            canceled_by=canceled_by if canceled else None,
            canceled_at=now if canceled else None,
            removed_at=now if removed else None,
            removed_by=removed_by if removed else None,
        )
        tx.run("job_delete_live", id=job_id)

    # -- people's operations ----------------------------------------------------------------

    def _locate(self, tx: Tx, job_id: int) -> tuple[Row | None, Row | None]:
        """(live row, history row) of a job; NotFound when it is in neither."""
        live = tx.one("job_live_lock", id=job_id)
        if live is not None:
            return live, None
        done = tx.one("job_history_status", id=job_id)
        if done is None:
            raise NotFound(f"no job {job_id}", job_id=job_id)
        return None, done

    def job_kill(self, job_id: int, *, by: str | None = None) -> Job:
        now = self.now()
        with self._tx() as tx:
            live, done = self._locate(tx, job_id)
            if live is None:
                assert done is not None
                transition(job_id, done["status"], Event.KILL)  # raises: already finished
            elif live["status"] == JobStatus.RUNNING:
                tx.run("job_request_kill", id=job_id, by=by, now=now)
                data = {"kill_requested": True, "by": by}
                tx.run("event_insert", job_id=job_id, now=now, kind="state", data=_dumps(
                    {"status": "running", **data}
                ))  # fmt: skip
                self._kill_remote(tx, job_id, by=by, now=now)  # no worker of ours to wait for
            else:
                self._cancel(tx, live, by=by, now=now)
        return self.job_get(job_id)

    def job_cancel(self, job_id: int, *, by: str | None = None) -> Job:
        now = self.now()
        with self._tx() as tx:
            live, done = self._locate(tx, job_id)
            status = (live or done or {})["status"]
            transition(job_id, status, Event.CANCEL)
            assert live is not None
            self._cancel(tx, live, by=by, now=now)
        return self.job_get(job_id)

    def _cancel(
        self, tx: Tx, live: Row, *, by: str | None, now: float, removed: bool = False
    ) -> None:
        status = transition(live["id"], live["status"], Event.CANCEL)
        self._to_history(
            tx, live["id"], status, now=now, canceled_by=by, removed=removed, removed_by=by
        )
        tx.run(
            "event_insert",
            **self._state_event(live["id"], status.value, now, by=by, removed=removed or None),
        )

    def job_restart(self, job_id: int, *, by: str | None = None) -> Job:
        now = self.now()
        with self._tx() as tx:
            old = tx.one("job_get", id=job_id)
            if old is None:
                raise NotFound(f"no job {job_id}", job_id=job_id)
            if JobStatus(old["status"]) not in TERMINAL:
                raise InvalidTransition(job_id=job_id, status=old["status"], operation="restart")
            current = tx.one("type_current", name=old["type"])
            revision = old["type_revision"] if current is None else current["revision"]
            row = tx.one(
                "job_insert",
                type=old["type"],
                type_revision=revision,
                status=JobStatus.QUEUED.value,
                queue=old["queue"],
                priority=old["priority"],
                args=_dumps(_loads(old["args"])),
                tags=_dumps(_loads(old["tags"])),
                unique_key=None,
                external_id=None,
                max_tries=old["max_tries"],
                timeout=old["timeout"],
                backoff=_dumps(_loads(old["backoff"])),
                run_at=now,
                now=now,
                restart_of=job_id,
                created_by=by,
                cpus=old["cpus"],
                mem=old["mem"],
                disk=old["disk"],
                type_concurrency=old["type_concurrency"]
                if current is None
                else self._job_type(current).definition.concurrency,
                concurrency_key=old["concurrency_key"],
                concurrency_limit=old["concurrency_limit"],
            )
            assert row is not None
            new_id = int(row["id"])
            tx.run("job_set_restarted_as", id=job_id, new_id=new_id, now=now)
            tx.many(
                "event_insert",
                [
                    self._state_event(new_id, "queued", now, restart_of=job_id, by=by),
                    self._state_event(job_id, old["status"], now, restarted_as=new_id, by=by),
                ],
            )
            self._announce(tx, [old["queue"]])
        self._wake_local()
        return self.job_get(new_id)

    def job_remove(self, job_id: int, *, by: str | None = None) -> Job:
        now = self.now()
        with self._tx() as tx:
            live, done = self._locate(tx, job_id)
            if live is not None:
                if live["status"] == JobStatus.RUNNING:
                    raise InvalidTransition(job_id=job_id, status="running", operation="remove")
                self._cancel(tx, live, by=by, now=now, removed=True)
            elif tx.run("job_remove_history", id=job_id, by=by, now=now):
                assert done is not None
                tx.run(
                    "event_insert",
                    **self._state_event(job_id, done["status"], now, removed=True, by=by),
                )
        return self.job_get(job_id)

    def job_requeue(
        self,
        job_ids: Sequence[int],
        *,
        priority: int | None = None,
        extra_tries: int = 1,
        by: str | None = None,
    ) -> list[int]:
        if extra_tries < 1:
            raise Invalid("extra_tries must be at least 1", field="extra_tries")
        now = self.now()
        requeued: list[int] = []
        with self._tx() as tx:
            # every job locked first, in id order: two requeues of the same jobs in different
            # orders wait for each other instead of deadlocking (PostgreSQL broke each such
            # deadlock only after its deadlock_timeout, and under load one could give up)
            located: dict[int, tuple[Row | None, Row | None]] = {}
            for job_id in sorted(set(job_ids)):
                with contextlib.suppress(NotFound):  # raised below, in the caller's order
                    located[job_id] = self._locate(tx, job_id)
            queues = set()
            for job_id in job_ids:
                # located again: a job that is not there (NotFound), or named twice
                if job_id in located:
                    live, done = located.pop(job_id)
                else:
                    live, done = self._locate(tx, job_id)
                transition(job_id, (live or done or {})["status"], Event.REQUEUE)
                tx.run(
                    "job_to_live", id=job_id, priority=priority, extra_tries=extra_tries, now=now
                )
                tx.run("job_delete_history", id=job_id)
                queues.add(tx.one("job_live_lock", id=job_id)["queue"])  # type: ignore[index]
                status = self._requeue_status(tx, job_id, now)  # a recipe job may wait again
                tx.run("event_insert", **self._state_event(job_id, status.value, now, by=by))
                requeued.append(job_id)
            self._announce(tx, queues)
        if requeued:
            self._wake_local()
        return requeued

    def job_release_due(self, *, limit: int = 5000) -> int:
        now = self.now()
        with self._tx() as tx:
            released = tx.rows("job_release_due", now=now, limit=limit)
            if released:
                tx.many(
                    "event_insert", [self._state_event(r["id"], "queued", now) for r in released]
                )
                self._announce(tx, {r["queue"] for r in released})
        if released:
            self._wake_local()
        return len(released)

    # -- reading --------------------------------------------------------------------------

    def job_get(self, job_id: int) -> Job:
        with self._tx(write=False) as tx:
            row = tx.one("job_get", id=job_id)
            if row is None:
                raise NotFound(f"no job {job_id}", job_id=job_id)
            executions = tx.rows("executions_of_job", job_id=job_id)
        return self._job(row, tuple(self._execution(e) for e in executions))

    def job_list(self, filters: JobFilter, page: PageRequest) -> Page:
        where, params = self._job_filter(filters)
        statuses = set(filters.statuses)
        if statuses and statuses <= TERMINAL:
            source = "job_history"
        elif statuses and not statuses & TERMINAL:
            source = "live_job"
        else:
            source = "(SELECT * FROM live_job UNION ALL SELECT * FROM job_history)"
        field = page.sort.lstrip("-")
        direction = "DESC" if page.sort.startswith("-") else "ASC"
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        base = f"FROM {source} j{clause}"
        params.update(limit=page.per_page, offset=(page.page - 1) * page.per_page)
        with self._tx(write=False) as tx:
            count = tx.sql(f"SELECT COUNT(*) AS n {base}", params)[0]["n"]
            rows = tx.sql(
                f"SELECT * {base} ORDER BY j.{field} {direction}, j.id {direction} "
                "LIMIT :limit OFFSET :offset",
                params,
            )
        return Page(
            count=int(count),
            page=page.page,
            per_page=page.per_page,
            results=tuple(self._job(r) for r in rows),
        )

    def _job_filter(self, f: JobFilter) -> tuple[list[str], dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        if f.statuses:
            where.append(f"j.status IN {self._in('statuses')}")
            params["statuses"] = self._list(s.value for s in f.statuses)
        if f.types:
            where.append(f"j.type IN {self._in('types')}")
            params["types"] = self._list(f.types)
        if f.queues:
            where.append(f"j.queue IN {self._in('queues')}")
            params["queues"] = self._list(f.queues)
        if f.ids:
            where.append(f"j.id IN {self._in('ids', 'int')}")
            params["ids"] = self._list(f.ids)
        if f.external_ids:
            where.append(f"j.external_id IN {self._in('external_ids')}")
            params["external_ids"] = self._list(f.external_ids)
        if f.tag is not None:
            where.append(self._tag_clause("tag"))
            params["tag"] = f.tag
        if f.created_after is not None:
            where.append("j.created_at >= :created_after")
            params["created_after"] = epoch(f.created_after)
        if f.created_before is not None:
            where.append("j.created_at < :created_before")
            params["created_before"] = epoch(f.created_before)
        if f.updated_after is not None:
            where.append("j.updated_at >= :updated_after")
            params["updated_after"] = epoch(f.updated_after)
        if f.updated_before is not None:
            where.append("j.updated_at <= :updated_before")
            params["updated_before"] = epoch(f.updated_before)
        if f.search:
            like = self._like()
            where.append(
                f"(CAST(j.args AS TEXT) {like} :search ESCAPE '\\' "
                f"OR CAST(j.error AS TEXT) {like} :search ESCAPE '\\' "
                f"OR j.type {like} :search ESCAPE '\\')"
            )
            escaped = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["search"] = f"%{escaped}%"
        if not f.include_removed:
            where.append("j.removed_at IS NULL")
        return where, params

    def job_log(self, job_id: int, *, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        with self._tx(write=False) as tx:
            rows = tx.rows("job_log", job_id=job_id, after=after, limit=limit)
            if not rows and after == 0 and tx.one("job_get", id=job_id) is None:
                raise NotFound(f"no job {job_id}", job_id=job_id)
        return [self._event(r) for r in rows]

    def execution_list(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[Execution]:
        where, params = [], {"limit": limit}
        if job_id is not None:
            where.append("job_id = :job_id")
            params["job_id"] = job_id
        if status is not None:
            where.append("status = :status")
            params["status"] = ExecutionStatus(status).value  # type: ignore[assignment]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._tx(write=False) as tx:
            rows = tx.sql(f"SELECT * FROM execution{clause} ORDER BY id DESC LIMIT :limit", params)
        return [self._execution(r) for r in rows]

    def event_list(
        self, *, after: int = 0, job_id: int | None = None, limit: int = 1000
    ) -> list[EventRecord]:
        with self._tx(write=False) as tx:
            if job_id is None:
                rows = tx.rows("event_list", after=after, limit=limit)
            else:
                rows = tx.rows("event_list_job", job_id=job_id, after=after, limit=limit)
        return [self._event(r) for r in rows]

    def event_last_id(self) -> int:
        with self._tx(write=False) as tx:
            rows = tx.sql("SELECT COALESCE(MAX(id), 0) AS n FROM event", {})
        return int(rows[0]["n"])

    def event_prune(self, *, older_than: float) -> int:
        with self._tx() as tx:
            return tx.run("event_prune", before=self.now() - older_than)

    # -- queues, workers, leadership --------------------------------------------------------

    def queue_pause(self, name: str) -> None:
        self._queue_set(name, paused=True)

    def queue_resume(self, name: str) -> None:
        self._queue_set(name, paused=False)
        self._wake_local()

    def _queue_set(self, name: str, *, paused: bool) -> None:
        check_name(name, "queue")
        with self._tx() as tx:
            tx.run("queue_set_paused", name=name, paused=paused, now=self.now())
            if not paused:
                self._announce(tx, [name])

    def queue_list(self) -> list[QueueInfo]:
        with self._tx(write=False) as tx:
            rows = tx.rows("queue_list")
        return [
            QueueInfo(
                name=r["name"],
                paused=bool(r["paused"]),
                queued=int(r["queued"]),
                running=int(r["running"]),
                waiting=int(r["waiting"]),
            )
            for r in rows
        ]

    def worker_register(
        self, worker_id: str, *, hostname: str, pid: int, queues: Sequence[str], concurrency: int,
        types: Sequence[str] | None = None, cpus: float | None = None, mem: float | None = None,
        disk: float | None = None, heartbeat: float | None = None,
    ) -> None:  # fmt: skip
        with self._tx() as tx:
            tx.run(
                "worker_register", id=worker_id, hostname=hostname, pid=pid,
                queues=_dumps(list(queues)), concurrency=concurrency, now=self.now(),
            )  # fmt: skip
            tx.run(
                "worker_capacity", id=worker_id, cpus=cpus, mem=mem, disk=disk,
                queues=_dumps(list(queues)), concurrency=concurrency,
                types=None if types is None else _dumps(list(types)), heartbeat_interval=heartbeat,
            )  # fmt: skip

    def worker_beat(self, worker_id: str) -> None:
        # one statement, every second of a worker's life: its own transaction (PostgreSQL: no
        # BEGIN/COMMIT, and no wait for its WAL; one beat lost is one beat older)
        with self._fast_tx() as tx:
            tx.run("worker_beat", id=worker_id, now=self.now())

    def worker_stop(self, worker_id: str) -> None:
        with self._tx() as tx:
            tx.run("worker_stop", id=worker_id, now=self.now())

    def leader_acquire(self, duty: str, holder: str, *, ttl: float) -> bool:
        now = self.now()
        with self._fast_tx() as tx:  # one statement
            row = tx.one("leader_acquire", duty=duty, holder=holder, expires_at=now + ttl, now=now)
        return row is not None and row["holder"] == holder

    # -- rows to models ---------------------------------------------------------------------

    @staticmethod
    def _job(row: Row, executions: tuple[Execution, ...] = ()) -> Job:
        error = _loads(row["error"])
        return Job(
            id=int(row["id"]),
            type=row["type"],
            type_revision=row["type_revision"],
            status=JobStatus(row["status"]),
            queue=row["queue"],
            priority=row["priority"],
            args=_loads(row["args"]),
            tags=tuple(_loads(row["tags"])),
            unique_key=row["unique_key"],
            external_id=row["external_id"],
            tries=row["tries"],
            max_tries=row["max_tries"],
            timeout=row["timeout"],
            backoff=Backoff.parse(_loads(row["backoff"])),
            run_at=utc(row["run_at"]),  # type: ignore[arg-type]
            created_at=utc(row["created_at"]),  # type: ignore[arg-type]
            started_at=utc(row["started_at"]),
            finished_at=utc(row["finished_at"]),
            updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
            result=_loads(row["result"]),
            error=error,
            progress=row["progress"],
            progress_desc=row["progress_desc"],
            execution_id=row["execution_id"],
            kill_requested_at=utc(row["kill_requested_at"]),
            kill_requested_by=row["kill_requested_by"],
            canceled_by=row["canceled_by"],
            canceled_at=utc(row["canceled_at"]),
            removed_at=utc(row["removed_at"]),
            removed_by=row["removed_by"],
            restart_of=row["restart_of"],
            restarted_as=row["restarted_as"],
            created_by=row["created_by"],
            executions=executions,
            cpus=row.get("cpus") or 0.0,
            mem=row.get("mem") or 0.0,
            disk=row.get("disk") or 0.0,
            type_concurrency=row.get("type_concurrency"),
            concurrency_key=row.get("concurrency_key"),
            concurrency_limit=row.get("concurrency_limit"),
        )

    @staticmethod
    def _execution(row: Row) -> Execution:
        return Execution(
            id=int(row["id"]),
            job_id=int(row["job_id"]),
            attempt=row["attempt"],
            status=ExecutionStatus(row["status"]),
            worker_id=row["worker_id"],
            hostname=row["hostname"],
            pid=row["pid"],
            ppid=row["ppid"],
            run_as=row["run_as"],
            queued_at=utc(row["queued_at"]),
            started_at=utc(row["started_at"]),  # type: ignore[arg-type]
            ended_at=utc(row["ended_at"]),
            heartbeat_at=utc(row["heartbeat_at"]),
            lease_expires_at=utc(row["lease_expires_at"]),  # type: ignore[arg-type]
            exit_code=row["exit_code"],
            signal=row["signal"],
            peak_rss=row["peak_rss"],
            error_type=row["error_type"],
            error_message=row["error_message"],
            traceback=row["traceback"],
            stopped_by=row["stopped_by"],
        )

    @staticmethod
    def _event(row: Row) -> EventRecord:
        return EventRecord(
            id=int(row["id"]),
            job_id=row["job_id"],
            at=utc(row["at"]),  # type: ignore[arg-type]
            kind=row["kind"],
            data=_loads(row["data"]),
        )
