"""Remote jobs and workers: the part of SqlStore that serves wire-protocol clients (Faktory).

A remote job is a job of a remote type (``TypeKind.REMOTE``), stored in the same tables as every
other job; its protocol's extra fields ride along in the ``remote`` column (see
:mod:`jobyard.core.remote`). A remote client's worker claims with ``remote_claim`` (by type names,
without an App), finishes with ``remote_finish`` and beats with ``remote_worker_beat``. Workers of
both kinds are listed and controlled here (``worker_list``, ``worker_control``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import (
    Claim,
    Execution,
    Job,
    JobSpec,
    JobType,
    Outcome,
    QueueInfo,
    TypeDefinition,
    TypeKind,
    check_json,
    utc,
)
from jobyard.core.remote import REMOTE_SETS, RemoteJob, RemoteRecord
from jobyard.core.states import Event, ExecutionStatus, JobStatus, transition
from jobyard.core.workers import (
    CONTROLLABLE,
    WORKER_SILENCE,
    WorkerInfo,
    WorkerKind,
    WorkerState,
    forward,
    worker_state,
)
from jobyard.store.tx import Row, Tx

_SET_STATUS = {"scheduled": JobStatus.SCHEDULED, "retries": JobStatus.RETRYING}
_WAITING = ("queued", "scheduled", "retrying", "blocked")
_BATCH = 10_000  # rows one FLUSH, QUEUE REMOVE or MUTATE step handles
RECENT = 3600.0  # seconds a stopped or silent worker stays in the default worker list


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class RemoteProtocol(Protocol):
    """The Store operations of remote jobs and of workers (mixed into ``Store``)."""

    def remote_type_ensure(self, definition: TypeDefinition) -> JobType:
        """The remote type of that name, registered from ``definition`` if there is none.

        Invalid when the name belongs to a python or command type: jobyard's own workers run
        those, and a remote client must not take them.
        """
        ...

    def remote_type_names(self) -> list[str]: ...

    def remote_enqueue(
        self, jobs: Sequence[RemoteJob], *, created_by: str | None = None
    ) -> list[int]:
        """As job_enqueue, all or none, keeping each job's protocol meta beside it."""
        ...

    def remote_claim(
        self,
        *,
        worker_id: str,
        queues: Sequence[str],
        hostname: str | None,
        pid: int | None,
        lease: float,
    ) -> RemoteRecord | None:
        """queued -> running for one job of a remote type, from the first queue that has one.

        Queues are tried in the order given (Faktory's FETCH), paused ones skipped. The execution
        is reserved for the job's ``meta.lease`` seconds, or ``lease``; it is never heartbeated,
        so an expired reservation makes it ``lost`` and the job retries (the reaper's rule).
        """
        ...

    def remote_find(
        self, *, external_id: str | None = None, job_id: int | None = None
    ) -> RemoteRecord | None:
        """A job, live or finished, by its external id (a Faktory jid) or id; None if none."""
        ...

    def remote_finish(self, outcome: Outcome) -> bool:
        """job_finish for one outcome; a failed job whose meta says ``discard`` is then removed.

        The execution records the outcome even when its job already ended (a remote job killed
        over the API): True only when the job itself moved.
        """
        ...

    def remote_release(self, job_ids: Sequence[int]) -> list[int]:
        """scheduled / retrying -> queued now; returns those released."""
        ...

    def remote_set(
        self, name: str, *, external_ids: Sequence[str] | None = None, limit: int = 1000
    ) -> list[RemoteRecord]:
        """Jobs of remote types in a Faktory set: ``scheduled``, ``retries`` (retrying) or
        ``dead`` (failed or canceled, not removed); only those ``external_ids`` when given."""
        ...

    def remote_counts(self) -> dict[str, int]:
        """Jobs of remote types: queued, scheduled, retries, working and dead."""
        ...

    def remote_queue_latency(self, queues: Sequence[str]) -> dict[str, float]:
        """Seconds the oldest queued job of each queue has waited (0 for an empty queue)."""
        ...

    def remote_remove(
        self,
        *,
        queues: Sequence[str] | None = None,
        finished: bool = False,
        by: str | None = None,
    ) -> int:
        """Cancel and remove waiting jobs of remote types (in ``queues``, or all); ``finished``:
        remove every finished one from the lists too (FLUSH). Running jobs are left alone."""
        ...

    def remote_worker_hello(
        self, worker_id: str, *, hostname: str, pid: int, labels: Sequence[str]
    ) -> None:
        """A client worker connected: registered, or back from stopped; its state is kept."""
        ...

    def remote_worker_beat(
        self, worker_id: str, *, state: WorkerState | None = None, rss_kb: int | None = None
    ) -> WorkerState | None:
        """Record a beat (a state the client reports moves it forward); returns the state an
        operator wants it in. None for an unknown worker."""
        ...

    def remote_worker_queues(self, worker_id: str, queues: Sequence[str]) -> None: ...

    def remote_worker_reap(self, *, silence: float = WORKER_SILENCE) -> list[str]:
        """Client workers silent for ``silence`` seconds -> stopped; returns their ids."""
        ...

    def worker_get(self, worker_id: str) -> WorkerInfo:
        """One worker of either kind; NotFound otherwise."""
        ...

    def worker_list(self, *, include_stopped: bool = False, limit: int = 1000) -> list[WorkerInfo]:
        """Workers of both kinds, newest first: those seen within the last hour, or all."""
        ...

    def worker_control(self, worker_id: str, state: WorkerState | str) -> WorkerInfo:
        """Ask a live Faktory worker to go quiet or stop (its next BEAT tells it). A state never
        moves back; a stopped or lost worker, or a jobyard worker, is Invalid."""
        ...


class RemoteStore:
    """Mixed into SqlStore; relies on its transactions and shared job logic."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    now: Callable[[], float]
    _list: Callable[[Iterable[Any]], Any]
    _claim: Callable[..., list[Claim]]
    _finish: Callable[[Tx, Sequence[Outcome], float], list[bool]]
    _enqueue: Callable[..., tuple[list[int], set[str]]]
    _cancel: Callable[..., None]
    _to_history: Callable[..., None]
    _state_event: Callable[..., dict[str, Any]]
    _announce: Callable[[Tx, Iterable[str]], None]
    _wake_local: Callable[[], None]
    _job: Callable[..., Job]
    _execution: Callable[[Row], Execution]
    type_get: Callable[[str], JobType]
    type_register: Callable[[TypeDefinition], JobType]
    queue_list: Callable[[], list[QueueInfo]]

    # -- types ----------------------------------------------------------------------------

    def remote_type_ensure(self, definition: TypeDefinition) -> JobType:
        if definition.kind is not TypeKind.REMOTE:
            raise Invalid("a remote type has kind 'remote'", field="kind")
        try:
            current = self.type_get(definition.name)
        except NotFound:
            return self.type_register(definition)
        if current.definition.kind is not TypeKind.REMOTE:
            raise Invalid(
                f"job type {definition.name!r} is a {current.definition.kind.value} type that "
                "jobyard's own workers run; a remote client cannot push or fetch it",
                field="jobtype",
            )
        return current

    def remote_type_names(self) -> list[str]:
        with self._tx(write=False) as tx:
            return [r["name"] for r in tx.rows("remote_type_names")]

    # -- jobs -----------------------------------------------------------------------------

    def remote_enqueue(
        self, jobs: Sequence[RemoteJob], *, created_by: str | None = None
    ) -> list[int]:
        jobs = list(jobs)
        if not jobs:
            return []
        metas = [check_json(j.meta, "meta") for j in jobs]
        specs: list[JobSpec] = [j.spec for j in jobs]
        now = self.now()
        with self._tx() as tx:
            ids, queues = self._enqueue(tx, specs, now=now, created_by=created_by)
            for job_id, meta in zip(ids, metas, strict=True):
                tx.run("remote_set_meta", id=job_id, remote=meta)
        if queues:
            self._wake_local()
        return ids

    def remote_claim(
        self,
        *,
        worker_id: str,
        queues: Sequence[str],
        hostname: str | None,
        pid: int | None,
        lease: float,
    ) -> RemoteRecord | None:
        if not queues:
            return None
        with self._tx(write=False) as tx:  # a read first: an idle FETCH takes no write lock
            types = [r["name"] for r in tx.rows("remote_type_names")]
            ready = types and tx.one(
                "remote_ready", queues=self._list(queues), types=self._list(types)
            )
        if not ready:
            return None
        now = self.now()
        with self._tx() as tx:
            for queue in dict.fromkeys(queues):  # in the order given, each once
                claims = self._claim(
                    tx, now=now, worker_id=worker_id, queues=[queue], types=types,
                    limit=1, lease=lease,
                )  # fmt: skip
                if claims:
                    break
            else:
                return None
            claim = claims[0]
            row = tx.one("job_get", id=claim.job_id)
            assert row is not None
            record = self._record(row)
            seconds = record.lease or lease
            tx.run(
                "remote_reserve", execution_id=claim.execution_id, until=now + seconds,
                hostname=hostname, pid=pid,
            )  # fmt: skip
        return record

    def remote_find(
        self, *, external_id: str | None = None, job_id: int | None = None
    ) -> RemoteRecord | None:
        with self._tx(write=False) as tx:
            if external_id is not None:
                row = tx.one("remote_job_by_external_id", external_id=external_id)
            elif job_id is not None:
                row = tx.one("job_get", id=job_id)
            else:
                raise Invalid("give an external id or a job id", field="jid")
            if row is None:
                return None
            executions = tx.rows("executions_of_job", job_id=row["id"])
        record = self._record(row)
        job = self._job(row, tuple(self._execution(e) for e in executions))
        return RemoteRecord(job=job, meta=record.meta)

    def remote_finish(self, outcome: Outcome) -> bool:
        now = self.now()
        with self._tx() as tx:
            moved = self._finish(tx, [outcome], now)[0]
            if moved and outcome.status is not ExecutionStatus.COMPLETED:
                self._discard_failed(tx, outcome.execution_id, now)
        return moved

    def _discard_failed(self, tx: Tx, execution_id: int, now: float) -> None:
        row = tx.sql("SELECT job_id FROM execution WHERE id = :id", {"id": execution_id})
        if not row:
            return
        job = tx.one("job_get", id=row[0]["job_id"])
        if job is None or job["status"] != JobStatus.FAILED.value:
            return
        if _loads(job["remote"] or "{}").get("discard") is True:
            if tx.run("job_remove_history", id=job["id"], by="retry: 0", now=now):
                tx.run(
                    "event_insert",
                    **self._state_event(job["id"], "failed", now, removed=True, by="retry: 0"),
                )

    def remote_release(self, job_ids: Sequence[int]) -> list[int]:
        if not job_ids:
            return []
        now = self.now()
        with self._tx() as tx:
            rows = tx.rows("remote_release", ids=self._list(job_ids), now=now)
            if rows:
                tx.many("event_insert", [self._state_event(r["id"], "queued", now) for r in rows])
                self._announce(tx, {r["queue"] for r in rows})
        if rows:
            self._wake_local()
        return sorted(int(r["id"]) for r in rows)

    def remote_set(
        self, name: str, *, external_ids: Sequence[str] | None = None, limit: int = 1000
    ) -> list[RemoteRecord]:
        if name not in REMOTE_SETS:
            raise Invalid(f"a set is one of {', '.join(REMOTE_SETS)}", field="target")
        params = {
            "every": external_ids is None,
            "external_ids": self._list(external_ids or ()),
            "limit": limit,
        }
        with self._tx(write=False) as tx:
            params["types"] = self._list(r["name"] for r in tx.rows("remote_type_names"))
            if name == "dead":
                rows = tx.rows("remote_dead_set", **params)
            else:
                rows = tx.rows("remote_live_set", status=_SET_STATUS[name].value, **params)
        return [self._record(r) for r in rows]

    def remote_counts(self) -> dict[str, int]:
        counts = {"queued": 0, "scheduled": 0, "retries": 0, "working": 0, "dead": 0}
        names = {"queued": "queued", "scheduled": "scheduled", "retrying": "retries"}
        names["running"] = "working"
        with self._tx(write=False) as tx:
            types = self._list(r["name"] for r in tx.rows("remote_type_names"))
            for r in tx.rows("remote_live_counts", types=types):
                if r["status"] in names:
                    counts[names[r["status"]]] += int(r["n"])
            dead = tx.one("remote_dead_count", types=types)
        counts["dead"] = int(dead["n"]) if dead else 0
        return counts

    def remote_queue_latency(self, queues: Sequence[str]) -> dict[str, float]:
        now = self.now()
        with self._tx(write=False) as tx:
            rows = tx.rows("remote_queue_latency", queues=self._list(queues))
        oldest = {r["queue"]: float(r["oldest"]) for r in rows}
        return {q: max(0.0, now - oldest[q]) if q in oldest else 0.0 for q in queues}

    def remote_remove(
        self,
        *,
        queues: Sequence[str] | None = None,
        finished: bool = False,
        by: str | None = None,
    ) -> int:
        removed = 0
        while True:
            now = self.now()
            with self._tx() as tx:
                types = self._list(r["name"] for r in tx.rows("remote_type_names"))
                rows = tx.rows(
                    "remote_waiting", types=types, statuses=self._list(_WAITING),
                    every=queues is None, queues=self._list(queues or ()), limit=_BATCH,
                )  # fmt: skip
                for row in rows:
                    live = tx.one("job_live_lock", id=row["id"])
                    if live is not None and live["status"] != JobStatus.RUNNING.value:
                        self._cancel(tx, live, by=by, now=now, removed=True)
                        removed += 1
                if finished and len(rows) < _BATCH:
                    removed += tx.run("remote_hide_history", types=types, by=by, now=now)
            if len(rows) < _BATCH:
                return removed

    # -- the kill of a running remote job (called by job_kill) -----------------------------

    def _kill_remote(self, tx: Tx, job_id: int, *, by: str | None, now: float) -> bool:
        """A remote job has no worker of ours to stop it: it ends canceled at once.

        Its execution keeps running until the client's ACK or FAIL (recorded on it), or until
        its reservation expires (``lost``); neither revives the job.
        """
        row = tx.one("job_get", id=job_id)
        if row is None or row["status"] != JobStatus.RUNNING.value:
            return False
        current = tx.one("type_current", name=row["type"])
        if current is None or _loads(current["definition"]).get("kind") != TypeKind.REMOTE:
            return False
        status = transition(job_id, row["status"], Event.KILL)
        self._to_history(tx, job_id, status, now=now, canceled_by=by)
        tx.run(
            "event_insert",
            **self._state_event(job_id, status.value, now, execution_id=row["execution_id"], by=by),
        )
        return True

    # -- workers --------------------------------------------------------------------------

    def remote_worker_hello(
        self, worker_id: str, *, hostname: str, pid: int, labels: Sequence[str]
    ) -> None:
        with self._tx() as tx:
            tx.run(
                "remote_worker_hello", id=worker_id, hostname=hostname, pid=pid,
                labels=_json(list(labels)), kind=WorkerKind.FAKTORY.value, now=self.now(),
            )  # fmt: skip

    def remote_worker_beat(
        self, worker_id: str, *, state: WorkerState | None = None, rss_kb: int | None = None
    ) -> WorkerState | None:
        with self._tx() as tx:
            row = tx.one("worker_get", id=worker_id)
            if row is None:
                return None
            current = worker_state(row["state"])
            if state is not None and state in CONTROLLABLE:
                current = forward(current, state)
            tx.run(
                "remote_worker_beat", id=worker_id, now=self.now(), rss_kb=rss_kb,
                state=current.value,
            )  # fmt: skip
        return current

    def remote_worker_queues(self, worker_id: str, queues: Sequence[str]) -> None:
        with self._tx() as tx:
            tx.run("remote_worker_queues", id=worker_id, queues=_json(list(queues)))

    def remote_worker_reap(self, *, silence: float = WORKER_SILENCE) -> list[str]:
        now = self.now()
        with self._tx() as tx:
            return [r["id"] for r in tx.rows("remote_worker_reap", now=now, before=now - silence)]

    def worker_get(self, worker_id: str) -> WorkerInfo:
        with self._tx(write=False) as tx:
            row = tx.one("worker_get", id=worker_id)
            running = tx.rows("worker_running_counts") if row is not None else []
        if row is None:
            raise NotFound(f"no worker {worker_id!r}", field="worker_id")
        counts = {r["worker_id"]: int(r["n"]) for r in running}
        return self._worker(row, counts.get(worker_id, 0), self.now())

    def worker_list(self, *, include_stopped: bool = False, limit: int = 1000) -> list[WorkerInfo]:
        now = self.now()
        with self._tx(write=False) as tx:
            rows = tx.rows("worker_list", every=include_stopped, since=now - RECENT, limit=limit)
            counts = {r["worker_id"]: int(r["n"]) for r in tx.rows("worker_running_counts")}
        return [self._worker(r, counts.get(r["id"], 0), now) for r in rows]

    def worker_control(self, worker_id: str, state: WorkerState | str) -> WorkerInfo:
        wanted = worker_state(state) if isinstance(state, str) else state
        if wanted not in CONTROLLABLE:
            raise Invalid("a worker can be asked to go quiet or to stop", field="state")
        with self._tx() as tx:
            row = tx.one("worker_get", id=worker_id)
            if row is None:
                raise NotFound(f"no worker {worker_id!r}", field="worker_id")
            info = self._worker(row, 0, self.now())
            if info.kind is not WorkerKind.FAKTORY:
                raise Invalid(
                    f"worker {worker_id!r} is a jobyard worker: stop it with SIGTERM to its "
                    "process (a second one stops it at once); quiet and stop over the API "
                    "reach Faktory workers",
                    field="worker_id",
                )
            if info.state in (WorkerState.STOPPED, WorkerState.LOST):
                raise Invalid(
                    f"worker {worker_id!r} is {info.state.value}: there is nothing to control",
                    field="worker_id",
                    state=info.state.value,
                )
            tx.run("worker_set_state", id=worker_id, state=forward(info.state, wanted).value)
        return self.worker_get(worker_id)

    # -- rows to models -------------------------------------------------------------------

    def _record(self, row: Row) -> RemoteRecord:
        meta = _loads(row.get("remote")) or {}
        return RemoteRecord(job=self._job(row), meta=meta if isinstance(meta, dict) else {})

    @staticmethod
    def _worker(row: Row, running: int, now: float) -> WorkerInfo:
        state = worker_state(row.get("state") or WorkerState.RUNNING.value)
        if row["stopped_at"] is not None:
            state = WorkerState.STOPPED
        elif row["heartbeat_at"] < now - WORKER_SILENCE:
            state = WorkerState.LOST
        return WorkerInfo(
            id=row["id"],
            kind=WorkerKind(row.get("kind") or WorkerKind.JOBYARD.value),
            hostname=row["hostname"],
            pid=int(row["pid"]),
            queues=tuple(_loads(row["queues"]) or ()),
            concurrency=int(row["concurrency"]),
            labels=tuple(str(x) for x in (_loads(row.get("labels")) or ())),
            state=state,
            started_at=utc(row["started_at"]),  # type: ignore[arg-type]
            heartbeat_at=utc(row["heartbeat_at"]),  # type: ignore[arg-type]
            stopped_at=utc(row["stopped_at"]),
            rss_kb=row.get("rss_kb"),
            running=running,
        )
