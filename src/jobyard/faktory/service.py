"""What each Faktory command does to jobyard's store: blocking calls, run off the event loop.

The listener (``server.py``) parses lines and writes replies; everything here takes parsed
values and returns what to answer, or raises :class:`FaktoryError`. Nothing here keeps jobs: a
Faktory job is a jobyard job, and every state lives in the store, so any number of listeners
(one per ``jobyard server``) may serve the same clients.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jobyard.core.errors import InvalidTransition, JobyardError, LeaseLost, NotFound
from jobyard.core.models import Outcome, check_name
from jobyard.core.remote import RemoteRecord
from jobyard.core.settings import Settings
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.core.tracking import tracking_state
from jobyard.core.workers import WorkerState
from jobyard.faktory.payload import (
    DEFAULT_RESERVE,
    RESERVE_MIN,
    jid_of,
    native_id,
    parse_fail,
    parse_job,
    parse_time,
    remote_type,
    rfc3339,
    to_faktory,
)
from jobyard.faktory.protocol import FaktoryError, dumps
from jobyard.store.base import Store

SERVER_VERSION = "1.10.0"  # the Faktory release whose protocol this speaks (for INFO)
MUTATE_LIMIT = 100_000  # jobs one MUTATE looks at
_SETS = {"retries": "retries", "scheduled": "scheduled", "dead": "dead"}
_CLIENT_STATES = {"quiet": WorkerState.QUIET, "terminate": WorkerState.STOPPING}
_REPLY_STATES = {WorkerState.QUIET: "quiet", WorkerState.STOPPING: "terminate"}


@dataclass(frozen=True, slots=True)
class FaktoryConfig:
    """How the listener behaves; defaults are Faktory's."""

    password: str | None = None  # clients must prove they know it (HI / HELLO)
    fetch_timeout: float = 2.0  # seconds FETCH blocks when every queue is empty
    reserve_default: float = DEFAULT_RESERVE  # a job's reservation when it names none
    reserve_min: float = RESERVE_MIN  # reservations are never shorter (Faktory: 60 s)
    reap_interval: float = 15.0  # seconds between checks for silent workers
    silence: float = 60.0  # a worker silent this long is gone
    # wrong passwords per client address in 300 s before its connections are refused unheard
    handshake_failures: int = 10


@dataclass
class Peer:
    """One client connection, as the commands need it."""

    id: int
    hostname: str = ""
    pid: int = 0
    wid: str | None = None
    queues: tuple[str, ...] = ()

    @property
    def worker_id(self) -> str:
        return self.wid or f"faktory-connection-{self.id}"


@dataclass
class Stats:
    processed: int = 0
    failures: int = 0
    commands: int = 0
    connections: int = 0
    started: float = field(default_factory=time.time)


class Faktory:
    """The commands, over one store. Thread-safe: the listener calls it from a thread pool."""

    def __init__(
        self, store: Store, settings: Settings, config: FaktoryConfig | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.config = config or FaktoryConfig()
        self.stats = Stats()
        self._lock = threading.Lock()
        self._types: set[str] = set()  # remote types known to exist
        # wid -> jid -> execution id: which attempt an ACK or FAIL from that worker ends
        self._reserved: dict[str, dict[str, int]] = {}

    # -- producers ------------------------------------------------------------------------

    def push(self, data: Any) -> None:
        pushed = parse_job(data, reserve_min=self.config.reserve_min)
        self._ensure_type(pushed.jobtype)
        try:
            self.store.remote_enqueue([pushed.job], created_by="faktory")
        except NotFound:  # the type went away since it was cached
            self._types.discard(pushed.jobtype)
            self._ensure_type(pushed.jobtype)
            self.store.remote_enqueue([pushed.job], created_by="faktory")

    def push_bulk(self, items: Any) -> dict[str, str]:
        """Each job pushed on its own, as Faktory does; returns ``{jid: error}`` of failures."""
        if not isinstance(items, list):
            raise FaktoryError("PUSHB needs a JSON array of jobs")
        errors: dict[str, str] = {}
        for index, item in enumerate(items):
            jid = item.get("jid") if isinstance(item, dict) else None
            key = jid if isinstance(jid, str) and jid else f"#{index}"
            try:
                self.push(item)
            except FaktoryError as exc:
                errors[key] = exc.message
            except JobyardError as exc:
                errors[key] = exc.message
        return errors

    def _ensure_type(self, name: str) -> None:
        if name in self._types:
            return
        definition = remote_type(name)
        try:
            self.store.remote_type_ensure(definition)
        except JobyardError as exc:
            raise FaktoryError(exc.message) from exc
        self._types.add(name)

    # -- workers --------------------------------------------------------------------------

    def hello(self, peer: Peer, labels: Sequence[str]) -> None:
        if peer.wid:
            self.store.remote_worker_hello(
                peer.wid, hostname=peer.hostname, pid=peer.pid, labels=labels
            )

    def goodbye(self, peer: Peer, *, last: bool) -> None:
        """A connection closed. The jobs it fetched stay reserved in the store (an ACK from a
        new connection still finds them); the last connection of a worker stops the worker."""
        if not peer.wid or last:
            with self._lock:
                self._reserved.pop(peer.worker_id, None)
        if peer.wid and last:
            self.store.worker_stop(peer.wid)

    def worker_state(self, peer: Peer) -> WorkerState:
        if not peer.wid:
            return WorkerState.RUNNING
        try:
            return self.store.worker_get(peer.wid).state
        except NotFound:
            return WorkerState.RUNNING

    def fetch_once(self, peer: Peer, queues: Sequence[str]) -> dict[str, Any] | None:
        """One claim from the first of ``queues`` that has a job; None when none has."""
        if peer.wid and tuple(queues) != peer.queues:
            self.store.remote_worker_queues(peer.wid, queues)
            peer.queues = tuple(queues)
        record = self.store.remote_claim(
            worker_id=peer.worker_id,
            queues=queues,
            hostname=peer.hostname or None,
            pid=peer.pid or None,
            lease=max(self.config.reserve_default, self.config.reserve_min),
        )
        if record is None:
            return None
        if record.job.execution_id is not None:
            with self._lock:
                self._reserved.setdefault(peer.worker_id, {})[jid_of(record.job)] = (
                    record.job.execution_id
                )
        return to_faktory(record)

    def beat(self, data: dict[str, Any]) -> str | None:
        """BEAT: None while running, else the state to tell the worker."""
        wid = data.get("wid")
        if not isinstance(wid, str) or not wid:
            raise FaktoryError("BEAT needs a wid")
        reported = data.get("current_state")
        rss = data.get("rss_kb")
        state = self.store.remote_worker_beat(
            wid,
            state=_CLIENT_STATES.get(reported) if isinstance(reported, str) else None,
            rss_kb=rss if isinstance(rss, int) and not isinstance(rss, bool) and rss >= 0 else None,
        )
        if state is None:
            raise FaktoryError(f"unknown worker {wid}")
        reply = _REPLY_STATES.get(state)
        return dumps({"state": reply}) if reply else None

    def reap(self) -> list[str]:
        return self.store.remote_worker_reap(silence=self.config.silence)

    # -- ACK and FAIL ---------------------------------------------------------------------

    def ack(self, peer: Peer, data: dict[str, Any]) -> None:
        jid = data.get("jid")
        if not isinstance(jid, str) or not jid:
            raise FaktoryError("ACK needs a jid")
        execution_id = self._reservation(peer, jid)
        if execution_id is None:
            return  # Faktory answers OK to an ACK of a job it does not know
        self.store.remote_finish(Outcome(execution_id, ExecutionStatus.COMPLETED))
        with self._lock:
            self.stats.processed += 1

    def fail(self, peer: Peer, data: dict[str, Any]) -> None:
        failure = parse_fail(data)
        execution_id = self._reservation(peer, failure.jid)
        if execution_id is None:
            raise FaktoryError(f"Job not found {failure.jid}")
        self.store.remote_finish(
            Outcome(
                execution_id,
                ExecutionStatus.FAILED,
                error_type=failure.errtype,
                error_message=failure.message,
                traceback=failure.backtrace,
            )
        )
        with self._lock:
            self.stats.processed += 1
            self.stats.failures += 1

    def _reservation(self, peer: Peer, jid: str) -> int | None:
        """The running execution an ACK or FAIL of ``jid`` ends: the one this worker fetched,
        else the job's current one (another listener may have handed it out)."""
        with self._lock:
            mine = self._reserved.get(peer.worker_id, {}).pop(jid, None)
            if peer.worker_id in self._reserved and not self._reserved[peer.worker_id]:
                del self._reserved[peer.worker_id]
        if mine is not None:
            return mine
        record = self.find(jid)
        if record is None:
            return None
        for execution in reversed(record.job.executions):
            if execution.status is ExecutionStatus.RUNNING:
                return execution.id
        return None

    def find(self, jid: str) -> RemoteRecord | None:
        record = self.store.remote_find(external_id=jid)
        job_id = native_id(jid)
        if record is None and job_id is not None:
            record = self.store.remote_find(job_id=job_id)
            if record is not None and record.job.external_id is not None:
                return None  # jobyard-<id> names only jobs without a jid of their own
        return record

    # -- tracking -------------------------------------------------------------------------

    def track_get(self, jid: str) -> dict[str, Any]:
        jid = jid.strip()
        if not jid:
            raise FaktoryError("GETSTATUS needs a jid")
        record = self.find(jid)
        if record is None or not record.tracked:
            return {"jid": jid, "state": "unknown"}
        job = record.job
        finished_for = None
        if job.finished_at is not None:
            finished_for = self.store.now() - job.finished_at.timestamp()
        state = tracking_state(
            job.status, finished_for=finished_for, retention=self.settings.tracking_retention
        )
        if state == "unknown":
            return {"jid": jid, "state": "unknown"}
        status: dict[str, Any] = {"jid": jid, "state": state, "updated_at": rfc3339(job.updated_at)}
        if job.progress is not None:
            status["percent"] = int(job.progress) if job.progress.is_integer() else job.progress
        if job.progress_desc:
            status["desc"] = job.progress_desc
        return status

    def track_set(self, data: dict[str, Any]) -> None:
        """SETSTATUS / TRACK SET: percent, desc, and a longer reservation (never shorter)."""
        jid = data.get("jid")
        if not isinstance(jid, str) or not jid:
            raise FaktoryError("SETSTATUS needs a jid")
        percent, desc = data.get("percent"), data.get("desc")
        ok = isinstance(percent, int | float) and not isinstance(percent, bool)
        if percent is not None and (not ok or not 0 <= percent <= 100):
            raise FaktoryError("percent must be a number from 0 to 100")
        if desc is not None and not isinstance(desc, str):
            raise FaktoryError("desc must be a string")
        seconds = self._reserve_seconds(data)
        record = self.find(jid)
        if record is None:
            raise FaktoryError(f"unknown job {jid}")
        if not record.tracked:
            raise FaktoryError(f'job {jid} is not tracked: push it with custom {{"track":1}}')
        job = record.job
        if job.status is not JobStatus.RUNNING or job.execution_id is None:
            raise FaktoryError(f"job {jid} is {job.status.value}, not working")
        try:
            if percent is not None or desc is not None:
                self.store.job_progress(
                    job.execution_id,
                    job.progress if percent is None else float(percent),
                    job.progress_desc if desc is None else desc[:1000],
                )
            if seconds is not None and seconds > 0:
                self.store.execution_reserve(job.execution_id, seconds)
        except (LeaseLost, InvalidTransition) as exc:
            raise FaktoryError(f"job {jid} is no longer working: {exc.message}") from exc

    def _reserve_seconds(self, data: dict[str, Any]) -> float | None:
        if data.get("reserve_for") is not None:
            value = data["reserve_for"]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise FaktoryError("reserve_for must be a number of seconds")
            return min(float(value), 86400.0)
        until = data.get("reserve_until")
        if until is None or until == "":
            return None
        if not isinstance(until, str):
            raise FaktoryError("reserve_until must be an RFC 3339 time")
        moment = parse_time(until, "reserve_until")
        return min(moment.timestamp() - self.store.now(), 86400.0)

    # -- administration -------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        counts = self.store.remote_counts()
        queues = {q.name: q.queued for q in self.store.queue_list()}
        now = datetime.now(UTC)
        with self._lock:
            stats = Stats(**vars(self.stats))
        return {
            "now": rfc3339(now),
            "server_utc_time": now.strftime("%H:%M:%S UTC"),
            "faktory": {
                "total_failures": stats.failures,
                "total_processed": stats.processed,
                "total_enqueued": sum(queues.values()),
                "total_queues": len(queues),
                "queues": queues,
                "sets": {
                    "scheduled": counts["scheduled"],
                    "retries": counts["retries"],
                    "dead": counts["dead"],
                    "working": counts["working"],
                },
                "tasks": {},
            },
            "server": {
                "description": "jobyard (Faktory protocol)",
                "faktory_version": SERVER_VERSION,
                "uptime": int(time.time() - stats.started),
                "connections": stats.connections,
                "command_count": stats.commands,
                "used_memory_mb": 0,
            },
        }

    def flush(self) -> None:
        """Every job of the remote types leaves the lists, except those running now."""
        self.store.remote_remove(finished=True, by="faktory FLUSH")
        with self._lock:
            self.stats.processed = self.stats.failures = 0

    def queue(self, payload: str) -> dict[str, float] | None:
        """QUEUE PAUSE, RESUME or REMOVE (None: +OK), or LATENCY (seconds per queue)."""
        words = payload.split()
        if len(words) < 2:
            raise FaktoryError(
                "QUEUE needs PAUSE, RESUME, REMOVE or LATENCY and queue names (or *)"
            )
        action, names = words[0].upper(), words[1:]
        existing = [q.name for q in self.store.queue_list()]
        if names == ["*"]:
            names = existing
        else:
            for name in names:
                check_name(name, "queue")
        if action == "PAUSE":
            for name in names:
                if name in existing:  # Faktory pauses only queues that exist
                    self.store.queue_pause(name)
        elif action == "RESUME":
            for name in names:
                if name in existing:
                    self.store.queue_resume(name)
        elif action == "REMOVE":
            if names:
                self.store.remote_remove(queues=names, by="faktory QUEUE REMOVE")
        elif action == "LATENCY":
            return self.store.remote_queue_latency(names)
        else:
            raise FaktoryError(
                f"unknown QUEUE command {action[:20]}: use PAUSE, RESUME, REMOVE or LATENCY"
            )
        return None

    def mutate(self, data: dict[str, Any]) -> None:
        cmd, target = data.get("cmd"), data.get("target")
        if cmd not in ("clear", "kill", "discard", "requeue"):
            raise FaktoryError("MUTATE cmd is clear, kill, discard or requeue")
        if target not in _SETS:
            raise FaktoryError("MUTATE target is retries, scheduled or dead")
        flt = data.get("filter") or {}
        if not isinstance(flt, dict):
            raise FaktoryError("MUTATE filter must be an object")
        jids = flt.get("jids") if cmd != "clear" else None
        if jids is not None and (
            not isinstance(jids, list) or not all(isinstance(j, str) for j in jids)
        ):
            raise FaktoryError("MUTATE filter.jids must be a list of strings")
        pattern = flt.get("regexp") if cmd != "clear" else None
        jobtype = flt.get("jobtype") if cmd != "clear" else None
        records = self.store.remote_set(
            _SETS[target], external_ids=jids or None, limit=MUTATE_LIMIT
        )
        if jobtype:
            records = [r for r in records if r.job.type == jobtype]
        if isinstance(pattern, str) and pattern:
            records = [r for r in records if fnmatch.fnmatchcase(dumps(to_faktory(r)), pattern)]
        ids = [r.job.id for r in records]
        if cmd == "requeue" and target != "dead":
            self.store.remote_release(ids)
            return
        for job_id in ids:
            try:
                if cmd == "requeue":
                    self.store.job_requeue([job_id], by="faktory MUTATE requeue")
                elif cmd == "kill" and target != "dead":
                    self.store.job_cancel(job_id, by="faktory MUTATE kill")
                elif cmd in ("clear", "discard"):
                    self.store.job_remove(job_id, by=f"faktory MUTATE {cmd}")
            except (InvalidTransition, NotFound):
                continue  # it moved on meanwhile (claimed, finished, removed)
