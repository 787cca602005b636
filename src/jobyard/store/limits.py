"""Limits: the part of SqlStore that claims within resources and concurrency limits, keeps unique
keys for a while, pauses job types and says why a job waits.

A claim has two paths (``_claim_steps``):

* ``job_claim`` — one statement per backend (``_claim_fast``) — takes jobs under no concurrency
  limit whose running totals fit the worker's free resources, walking only the index of such
  jobs; it also says whether jobs under a limit with room wait in the worker's queues.
* When they do, ``_claim_general`` claims in a transaction that counts: it picks candidates of
  both kinds best first, takes the lock of each limit it would fill (``limits_lock``; a no-op on
  SQLite, where ``BEGIN IMMEDIATE`` already serialises), reads the slots in use, and takes jobs
  while their limits have a free slot and the worker's resources last. A running job under a
  limit holds a slot number, and a partial unique index over (type or key, slot) of running
  jobs is the database constraint that keeps the limit (see ``postgres/queries/limits.sql``).

After a claim found jobs under a limit waiting, the next claims of the same queues and types go
straight to the counting path, in priority order over both kinds, until one finds none: so a
worker busy with unlimited jobs does not starve the limited ones, and unlimited work pays for the
counting path only while limited work with room waits beside it.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Invalid, NotFound
from jobyard.core.limits import LimitUse, Resources, WaitReason, WorkerView, wait_reason
from jobyard.core.models import Claim, Job, JobSpec, JobType
from jobyard.core.settings import Settings
from jobyard.core.states import JobStatus
from jobyard.core.workers import WORKER_SILENCE, WorkerKind
from jobyard.store.tx import Row, Tx

log = logging.getLogger("jobyard.store")

ROUNDS = 4  # candidate reads of one counting claim, when full limits crowded out the first ones
PRUNE = 100  # expired unique windows deleted when a new one is taken
DEFAULT_BEAT = Settings().heartbeat  # a worker that did not say how often it beats
# a worker is live while it beat within three of its intervals, and never less than this many
# seconds: an idle worker beats less often, and on a loaded machine fast beats (tenths of a
# second) run late without the worker dying
LIVE_FLOOR = 15.0  # three beats of an idle worker (worker/loop.py IDLE_BEAT)


class LimitsProtocol(Protocol):
    def type_set_paused(self, name: str, paused: bool) -> JobType:
        """Pause (or resume) a job type: its jobs stay queued and no worker claims them until it
        is resumed. No new revision. NotFound when there is no such type."""
        ...

    def job_wait_reason(self, job_id: int) -> WaitReason | None:
        """Why a job waits (scheduled, retrying, blocked, queue or type paused, its concurrency
        limit full, no live worker for it or none with the resources, or ready for a free slot);
        None when it is running or finished. NotFound when there is no such job."""
        ...


def _reserved(claims: Iterable[Claim]) -> Resources:
    total = Resources()
    for c in claims:
        total = total.plus(Resources(c.cpus, c.mem, c.disk))
    return total


def _needs(row: Row) -> Resources:
    return Resources(float(row["cpus"]), float(row["mem"]), float(row["disk"]))


def _amount(value: Any) -> float:
    """A worker's capacity column: NULL is no limit."""
    return float("inf") if value is None else float(value)


class LimitsStore(ABC):
    """Mixed into SqlStore; relies on its transactions, hooks and row readers."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    now: Callable[[], float]
    _list: Callable[[Iterable[Any]], Any]
    _announce: Callable[[Tx, Iterable[str]], None]
    _wake_local: Callable[[], None]
    _job: Callable[..., Job]
    _job_type: Callable[[Row], JobType]
    _limit_hints: dict[tuple[tuple[str, ...], tuple[str, ...]], bool]

    # -- hooks a backend provides -----------------------------------------------------------

    def _fast_tx(self) -> AbstractContextManager[Tx]:
        """Where one statement runs on its own (``_claim_fast``, a beat, a leadership claim): a
        transaction (PostgreSQL: the statement alone, in autocommit)."""
        return self._tx()

    @abstractmethod
    def _claim_fast(
        self, tx: Tx, *, now: float, worker_id: str, queues: Sequence[str],
        types: Sequence[str], limit: int, lease: float, free: Resources,
    ) -> tuple[list[Claim], bool]:  # fmt: skip
        """job_claim: (claims, whether jobs under a limit with room wait too)."""

    @abstractmethod
    def _claim_apply(
        self, tx: Tx, picks: Sequence[tuple[int, int | None, int | None]], *, now: float,
        worker_id: str, lease: float,
    ) -> list[Claim]:  # fmt: skip
        """queued -> running for ``(job id, type slot, key slot)`` picks; their claims."""

    # -- claims -----------------------------------------------------------------------------

    def _hint(self, queues: Sequence[str], types: Sequence[str]) -> tuple[Any, bool]:
        hints = self.__dict__.setdefault("_limit_hints", {})
        key = (tuple(sorted(set(queues))), tuple(sorted(set(types))))
        return key, hints.get(key, True)

    def _claim_steps(
        self, *, worker_id: str, queues: Sequence[str], types: Sequence[str], limit: int,
        lease: float, free: Resources,
    ) -> list[Claim]:  # fmt: skip
        """job_claim outside a transaction: the fast path in its own (one statement on
        PostgreSQL), and the counting path in another only when limited work waits."""
        key, counting = self._hint(queues, types)
        args: dict[str, Any] = {
            "worker_id": worker_id,
            "queues": queues,
            "types": types,
            "lease": lease,
        }
        if counting:
            with self._tx() as tx:
                claims, seen = self._claim_general(
                    tx, now=self.now(), limit=limit, free=free, with_unlimited=True, **args
                )
            self._limit_hints[key] = seen
            return claims
        with self._fast_tx() as tx:
            claims, waiting = self._claim_fast(tx, now=self.now(), limit=limit, free=free, **args)
        if not waiting:
            return claims
        self._limit_hints[key] = True
        room = limit - len(claims)
        if room <= 0:
            return claims
        try:
            with self._tx() as tx:
                more, _ = self._claim_general(
                    tx, now=self.now(), limit=room, free=free.minus(_reserved(claims)),
                    with_unlimited=False, **args,
                )  # fmt: skip
        except Exception:
            if not claims:
                raise
            # what the first step claimed is committed: hand it over, never lose it
            log.warning("claiming limited jobs failed; %d claimed", len(claims), exc_info=True)
            return claims
        return claims + more

    def _claim(
        self, tx: Tx, *, now: float, worker_id: str, queues: Sequence[str],
        types: Sequence[str], limit: int, lease: float, free: Resources | None = None,
    ) -> list[Claim]:  # fmt: skip
        """A claim inside an open transaction (a remote client's fetch): both paths in it."""
        free = free or Resources.unlimited()
        key, counting = self._hint(queues, types)
        args: dict[str, Any] = {
            "worker_id": worker_id,
            "queues": queues,
            "types": types,
            "lease": lease,
        }
        if counting:
            claims, seen = self._claim_general(
                tx, now=now, limit=limit, free=free, with_unlimited=True, **args
            )
            self._limit_hints[key] = seen
            return claims
        claims, waiting = self._claim_fast(tx, now=now, limit=limit, free=free, **args)
        if waiting:
            self._limit_hints[key] = True
            if len(claims) < limit:
                more, _ = self._claim_general(
                    tx, now=now, limit=limit - len(claims), free=free.minus(_reserved(claims)),
                    with_unlimited=False, **args,
                )  # fmt: skip
                claims += more
        return claims

    def _claim_general(
        self, tx: Tx, *, now: float, worker_id: str, queues: Sequence[str],
        types: Sequence[str], limit: int, lease: float, free: Resources, with_unlimited: bool,
    ) -> tuple[list[Claim], bool]:  # fmt: skip
        """Claims that count what runs under each limit: (claims, whether limited jobs with
        room were among the candidates)."""
        picks: list[tuple[int, int | None, int | None]] = []
        locked: set[tuple[str, str]] = set()
        used: dict[tuple[str, str], set[int]] = {}
        skip_types: set[str] = set()
        skip_keys: set[str] = set()
        seen_ids: set[int] = set()
        limited_seen = False
        left = free
        for round_ in range(ROUNDS):
            room = limit - len(picks)
            if room <= 0:
                break
            rows = tx.rows(
                "claim_candidates", queues=self._list(queues), types=self._list(types),
                cpus=left.cpus, mem=left.mem, disk=left.disk, limit=room,
                with_unlimited=with_unlimited and round_ == 0,
                skip_ids=self._list(sorted(seen_ids)), skip_types=self._list(sorted(skip_types)),
                skip_keys=self._list(sorted(skip_keys)),
            )  # fmt: skip
            seen_ids.update(int(r["id"]) for r in rows)
            scopes = _scopes(rows)
            limited_seen = limited_seen or bool(scopes)
            self._lock_limits(tx, scopes - locked, locked, used)
            crowded = False
            for row in rows:
                if len(picks) == limit:
                    break
                needs = _needs(row)
                if not needs.fits(left):
                    continue
                slots: list[int] = []
                for scope, name, cap in _limits_of(row):
                    taken = used.get((scope, name))
                    if taken is None or len(taken) >= cap:  # not ours to fill now, or full
                        (skip_types if scope == "type" else skip_keys).add(name)
                        crowded = True
                        break
                    slots.append(min(set(range(1, cap + 1)) - taken))
                else:
                    type_slot = key_slot = None
                    for (scope, name, _), slot in zip(_limits_of(row), slots, strict=True):
                        used[(scope, name)].add(slot)
                        if scope == "type":
                            type_slot = slot
                        else:
                            key_slot = slot
                    picks.append((int(row["id"]), type_slot, key_slot))
                    left = left.minus(needs)
            if not crowded:
                break
        if not picks:
            return [], limited_seen
        # started now, after the slots in use were read: an execution never starts before the
        # end of the one whose slot it took, so execution records show the limit holding
        now = max(now, self.now())
        claims = self._claim_apply(tx, picks, now=now, worker_id=worker_id, lease=lease)
        return claims, limited_seen

    def _lock_limits(
        self,
        tx: Tx,
        scopes: set[tuple[str, str]],
        locked: set[tuple[str, str]],
        used: dict[tuple[str, str], set[int]],
    ) -> None:
        """Try the locks of ``scopes``; for those taken, read the slots in use (after)."""
        if not scopes:
            return
        ordered = sorted(scopes)
        rows = tx.rows(
            "limits_lock",
            scopes=self._list(s for s, _ in ordered),
            names=self._list(n for _, n in ordered),
        )
        fresh = {(r["scope"], r["name"]) for r in rows if r["locked"]}
        if not fresh:
            return
        locked |= fresh
        for scope in fresh:
            used[scope] = set()
        held = tx.rows(
            "claim_slots_in_use",
            types=self._list(sorted(n for s, n in fresh if s == "type")),
            keys=self._list(sorted(n for s, n in fresh if s == "key")),
        )
        for r in held:
            used[(r["scope"], r["name"])].add(int(r["slot"]))

    # -- unique keys held for a while -------------------------------------------------------

    def _unique_window(self, tx: Tx, spec: JobSpec, job_id: int, *, now: float) -> Row | None:
        """After a job with a unique key was inserted: None when it may stay, else the job that
        holds the key for a while (``{"id", "until"}``). A job with ``unique_for`` takes the key
        for that long; it is read after the insert, whose index entry on the key keeps any
        other job with the key out until this transaction ends (see the tests)."""
        assert spec.unique_key is not None
        if spec.unique_for is None:
            row = tx.one("unique_window_holder", unique_key=spec.unique_key, now=now)
            if row is None:
                return None
            return {"id": int(row["job_id"]), "until": row["expires_at"]}
        taken = tx.one(
            "unique_window_take", unique_key=spec.unique_key, job_id=job_id,
            expires_at=now + spec.unique_for, now=now,
        )  # fmt: skip
        if taken is not None:
            tx.run("unique_window_prune", now=now, limit=PRUNE)
            return None
        row = tx.one("unique_window_holder", unique_key=spec.unique_key, now=now)
        assert row is not None  # held, and this transaction cannot see it expire
        return {"id": int(row["job_id"]), "until": row["expires_at"]}

    # -- paused types -----------------------------------------------------------------------

    def type_set_paused(self, name: str, paused: bool) -> JobType:
        if not isinstance(paused, bool):
            raise Invalid("paused is true or false", field="paused")
        with self._tx() as tx:
            if not tx.run("type_set_paused", name=name, paused=paused):
                raise NotFound(f"no job type {name!r}", field="type", type=name)
            if not paused:
                self._announce(tx, [r["queue"] for r in tx.rows("type_ready_queues", type=name)])
            row = tx.one("type_current", name=name)
        if not paused:
            self._wake_local()
        assert row is not None
        return self._job_type(row)

    # -- why is it waiting? -----------------------------------------------------------------

    def job_wait_reason(self, job_id: int) -> WaitReason | None:
        now = self.now()
        with self._tx(write=False) as tx:
            row = tx.one("job_get", id=job_id)
            if row is None:
                raise NotFound(f"no job {job_id}", job_id=job_id)
            job = self._job(row)
            if not job.status.is_waiting:
                return None
            queue = tx.one("wait_queue_paused", name=job.queue)
            type_row = tx.one("type_current", name=job.type)
            limits = []
            if job.type_concurrency is not None:
                n = tx.rows("limit_running_type", type=job.type)[0]["n"]
                limits.append(LimitUse("type", job.type, job.type_concurrency, int(n)))
            if job.concurrency_key is not None and job.concurrency_limit is not None:
                n = tx.rows("limit_running_key", key=job.concurrency_key)[0]["n"]
                limits.append(LimitUse("key", job.concurrency_key, job.concurrency_limit, int(n)))
            workers = self._live_workers(tx, now)
        parents = None
        if job.status is JobStatus.BLOCKED:
            parents = self._pending_parents(job_id)
        return wait_reason(
            job,
            queue_paused=bool(queue and queue["paused"]),
            type_paused=bool(type_row and type_row.get("paused")),
            parents=parents,
            limits=limits,
            workers=workers,
        )

    def _pending_parents(self, job_id: int) -> list[int] | None:
        """The parents (recipes) that have not completed; None when the store cannot say."""
        read = getattr(self, "job_parents", None)
        if read is None:
            return None
        return [p.job_id for p in read(job_id) if p.status is not JobStatus.COMPLETED]

    def _live_workers(self, tx: Tx, now: float) -> list[WorkerView]:
        """jobyard's workers that beat within three of their beat intervals (at least LIVE_FLOOR
        seconds), and clients of a wire protocol (Faktory) that beat within WORKER_SILENCE, the
        window their reaper gives them; those run only the remote types."""
        rows = tx.rows("wait_workers_live", now=now, horizon=WORKER_SILENCE)
        reserved = {r["worker_id"]: r for r in tx.rows("wait_workers_reserved")}
        remote: tuple[str, ...] | None = None
        workers = []
        for r in rows:
            if r["kind"] == WorkerKind.FAKTORY.value:
                if remote is None:
                    remote = tuple(t["name"] for t in tx.rows("remote_type_names"))
                types: tuple[str, ...] | None = remote
            else:
                interval = r["heartbeat_interval"] or DEFAULT_BEAT
                if r["heartbeat_at"] < now - max(3 * interval, LIVE_FLOOR):
                    continue
                listed = _loads(r["types"])
                types = None if listed is None else tuple(listed)
            capacity = Resources(_amount(r["cpus"]), _amount(r["mem"]), _amount(r["disk"]))
            held = reserved.get(r["id"])
            workers.append(
                WorkerView(
                    id=r["id"],
                    queues=tuple(_loads(r["queues"])),
                    types=types,
                    capacity=capacity,
                    free=capacity.minus(Resources() if held is None else _needs(held)),
                    slots=int(r["concurrency"]) or 1_000_000,  # 0: the client did not say
                    running=0 if held is None else int(held["running"]),
                )
            )
        return workers


def _limits_of(row: Row) -> list[tuple[str, str, int]]:
    """The (scope, name, limit) limits a candidate job is under."""
    limits = []
    if row["type_concurrency"] is not None:
        limits.append(("type", row["type"], int(row["type_concurrency"])))
    if row["concurrency_key"] is not None:
        limits.append(("key", row["concurrency_key"], int(row["concurrency_limit"] or 1)))
    return limits


def _scopes(rows: Iterable[Row]) -> set[tuple[str, str]]:
    return {(scope, name) for row in rows for scope, name, _ in _limits_of(row)}


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
