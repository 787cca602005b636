"""The PostgreSQL backend: any number of servers and workers on many hosts, one database.

Connections come from a psycopg pool in autocommit mode. A transaction is an explicit ``BEGIN``
(READ COMMITTED for writes, a REPEATABLE READ snapshot for reads) ... ``COMMIT`` in pipeline mode,
so BEGIN leaves with the first statement and COMMIT with the writes nobody reads (``tx.py``). The
claim is one statement and runs without BEGIN/COMMIT: one round trip. Bulk enqueue and grouped
finishes send arrays to ``<name>_many`` statements. jsonb and json come back as text, as from
SQLite, so the shared code reads both alike. A forked child never touches its parent's
connections. Wake-ups: ``pg_notify`` inside the transaction that made work ready, received by one
LISTEN thread per store (``listener.py``).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from jobyard.core.errors import Invalid, NotFound, StoreUnavailable
from jobyard.core.limits import Resources
from jobyard.core.models import Claim, Outcome
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store.postgres.enqueue import EnqueueOne
from jobyard.store.postgres.listener import Listener
from jobyard.store.postgres.tx import (
    MIGRATIONS,
    QUERIES,
    Conn,
    Later,
    PgTx,
    configure,
    retrying,
    rollback,
    to_psycopg,
    translate,
)
from jobyard.store.sqlstore import SqlStore
from jobyard.store.tx import Row, Tx

__all__ = ["MIGRATIONS", "QUERIES", "PostgresStore", "to_psycopg"]

_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
_SCHEMA_LOCK = 0x6A6F_6279_6172_6401  # pg_advisory_xact_lock key of schema_upgrade ("jobyard")
_CLOCK_RESYNC = 60.0  # seconds between readings of the database server's clock


def _end_params(o: Outcome, now: float) -> dict[str, Any]:
    """The parameters of execution_end, as SqlStore._finish passes them."""
    return {
        "execution_id": o.execution_id,
        "status": o.status.value,
        "now": now,
        "exit_code": o.exit_code,
        "signal": o.signal,
        "peak_rss": o.peak_rss,
        "error_type": o.error_type,
        "error_message": o.error_message,
        "traceback": o.traceback,
        "stopped_by": o.stopped_by,
    }


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # \u0000, not \\u0000
_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(o: Outcome) -> Outcome:
    """An outcome PostgreSQL can store. jsonb refuses NUL (\\u0000) and lone surrogates in a
    string: such a result fails its own execution (as SqlStore does for a result that is not
    JSON), instead of every outcome of the batch. Text columns refuse NUL: error texts get
    U+FFFD in its place."""

    def clean(text: str | None) -> str | None:
        return text.replace("\x00", "\ufffd") if text is not None else None

    texts = (o.error_type, o.error_message, o.traceback, o.stopped_by)
    if any(t is not None and "\x00" in t for t in texts):
        o = replace(
            o,
            error_type=clean(o.error_type),
            error_message=clean(o.error_message),
            traceback=clean(o.traceback),
            stopped_by=clean(o.stopped_by),
        )
    if o.status is ExecutionStatus.COMPLETED and o.result is not None:
        text = json.dumps(o.result, ensure_ascii=False)
        if _NUL_ESCAPE.search(text) or _SURROGATE.search(text):
            return replace(
                o,
                status=ExecutionStatus.FAILED,
                result=None,
                error_type="InvalidResult",
                error_message="the job returned a result PostgreSQL cannot store: a string "
                "with a NUL character (\\u0000) or a lone surrogate",
                retryable=False,
            )
    return o


def _claim_of(r: Row, lease_expires_at: float) -> Claim:
    """A claim from a row of job_claim or claim_apply."""
    return Claim(
        job_id=r["id"],
        execution_id=r["execution_id"],
        type=r["type"],
        type_revision=r["type_revision"],
        args=json.loads(r["args"]),
        attempt=r["tries"],
        max_tries=r["max_tries"],
        timeout=r["timeout"],
        lease_expires_at=lease_expires_at,
        cpus=r["cpus"],
        mem=r["mem"],
        disk=r["disk"],
    )


class PostgresStore(EnqueueOne, SqlStore):
    queries = QUERIES
    _stats_settle = 5.0  # store/stats.py: ids may commit out of order here

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None) -> None:
        # Leases, heartbeats and the reaper compare times written by processes on many hosts:
        # all of them must come from one clock, the database server's. A worker whose own clock
        # is minutes off would otherwise write leases that expired before they began, or reap
        # everyone else's live ones (tests/chaos/test_clock.py).
        super().__init__(url, clock=clock or self._database_now)
        self._clock_anchor: tuple[float, float] | None = None  # (database epoch, monotonic)
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        try:  # jobyard's own options; the rest of the URL is libpq's
            self._pool_size = int(options.pop("pool_size", "10"))
            self._pool_timeout = float(options.pop("pool_timeout", "10"))
        except ValueError as exc:
            raise Invalid("pool_size and pool_timeout are numbers", field="database_url") from exc
        options.setdefault("connect_timeout", "10")
        self._conninfo = urlunsplit(parts._replace(query=urlencode(options)))
        self._pid = os.getpid()
        self._pool: ConnectionPool[Conn] | None = None
        self._listener: Listener | None = None
        self._lock = threading.Lock()
        self._abandoned: list[object] = []
        self._notified: dict[str, int] = {}  # queue -> _note_seq of its latest notification
        self._note_seq = 0

    def _database_now(self) -> float:
        """The database server's clock, read once a minute and carried forward by this
        process's monotonic clock in between, which a wall-clock jump does not move."""
        anchor = self._clock_anchor
        if anchor is None or time.monotonic() - anchor[1] >= _CLOCK_RESYNC:
            try:
                anchor = self._read_database_clock()
            except StoreUnavailable:
                if anchor is None:
                    raise
            self._clock_anchor = anchor
        return anchor[0] + time.monotonic() - anchor[1]

    def _read_database_clock(self) -> tuple[float, float]:
        with self._connection() as conn:
            before = time.monotonic()
            try:
                row = conn.execute(
                    "SELECT extract(epoch FROM clock_timestamp())::float8 AS now"
                ).fetchone()
            except psycopg.Error as exc:
                rollback(conn)
                raise translate(exc, conn=conn, committed_unknown=False) from exc
            after = time.monotonic()
        assert row is not None
        return float(row["now"]), (before + after) / 2

    # -- connections ----------------------------------------------------------------------

    def _check_fork(self) -> None:
        if os.getpid() == self._pid:
            return
        # A forked child: the pool's threads and the listener did not come along, and the
        # sockets are shared with the parent. Keep the parent's objects referenced and never
        # close them here (psycopg closes a connection only in the process that opened it).
        self._abandoned.append((self._pool, self._listener))
        self._pid = os.getpid()
        self._pool = None
        self._listener = None
        self._lock = threading.Lock()
        self._work = threading.Condition()
        self._seen = threading.local()

    def _get_pool(self) -> ConnectionPool[Conn]:
        self._check_fork()
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self._conninfo,
                        connection_class=psycopg.Connection[DictRow],
                        kwargs={"autocommit": True, "row_factory": dict_row},
                        configure=configure,
                        min_size=1,
                        max_size=max(1, self._pool_size),
                        open=False,
                        name="jobyard",
                    )
                    self._pool.open(wait=False)
                pool = self._pool
        return pool

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        pool = self._get_pool()
        try:
            conn = pool.getconn(timeout=self._pool_timeout)
        except PoolTimeout as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            yield conn
        finally:
            pool.putconn(conn)

    @contextmanager
    def _tx(self, *, write: bool = True, bulk: bool = False) -> Iterator[Tx]:
        # Pipeline mode: BEGIN goes out with the first statement, and COMMIT with the writes
        # whose results nobody read; leaving the block waits for all of them. A bulk
        # transaction pays a round trip a statement instead, to send its rows by COPY.
        with self._connection() as conn:
            committing = False
            try:
                with nullcontext() if bulk else conn.pipeline() as pipeline:
                    conn.execute(_BEGIN_WRITE if write else _BEGIN_READ)
                    yield PgTx(conn, pipeline, copies=bulk)
                    committing = True
                    conn.execute("COMMIT")
            except psycopg.Error as exc:
                rollback(conn)
                raise translate(exc, conn=conn, committed_unknown=committing) from exc
            except BaseException:
                rollback(conn)
                raise

    @contextmanager
    def _statement(self) -> Iterator[PgTx]:
        """One statement, its own transaction (autocommit): no BEGIN or COMMIT round trips."""
        with self._connection() as conn:
            try:
                yield PgTx(conn)
            except psycopg.Error as exc:
                raise translate(exc, conn=conn, committed_unknown=True) from exc

    def close(self) -> None:
        if os.getpid() != self._pid:
            self._check_fork()
            return
        with self._lock:
            listener, self._listener = self._listener, None
            pool, self._pool = self._pool, None
        if listener is not None:
            listener.stop()
        if pool is not None:
            pool.close()

    # -- dialect hooks --------------------------------------------------------------------

    def _list(self, values: Iterable[Any]) -> Any:
        return list(values)

    def _in(self, param: str, kind: str = "text") -> str:
        sql_type = "bigint" if kind == "int" else "text"
        return f"(SELECT unnest(CAST(:{param} AS {sql_type}[])))"

    def _tag_clause(self, param: str) -> str:
        return f"j.tags @> jsonb_build_array(CAST(:{param} AS text))"

    def _like(self) -> str:
        return "ILIKE"  # SQLite's LIKE ignores case

    def _fast_tx(self) -> AbstractContextManager[Tx]:
        return self._statement()  # job_claim is one statement: one round trip

    def _claim_fast(
        self, tx: Tx, *, now: float, worker_id: str, queues: Sequence[str],
        types: Sequence[str], limit: int, lease: float, free: Resources,
    ) -> tuple[list[Claim], bool]:  # fmt: skip
        rows = tx.rows(
            "job_claim", now=now, queues=list(queues), types=list(types), limit=limit,
            worker_id=worker_id, lease_expires_at=now + lease, cpus=free.cpus, mem=free.mem,
            disk=free.disk,
        )  # fmt: skip
        waiting = bool(rows and rows[0]["limited_waiting"])
        return [_claim_of(r, now + lease) for r in rows if r["id"] is not None], waiting

    def _claim_apply(
        self, tx: Tx, picks: Sequence[tuple[int, int | None, int | None]], *, now: float,
        worker_id: str, lease: float,
    ) -> list[Claim]:  # fmt: skip
        rows = tx.rows(
            "claim_apply", id=[p[0] for p in picks], type_slot=[p[1] for p in picks],
            key_slot=[p[2] for p in picks], now=now, worker_id=worker_id,
            lease_expires_at=now + lease,
        )  # fmt: skip
        return [_claim_of(r, now + lease) for r in rows]

    def _job_ids(self, tx: Tx, count: int) -> list[int]:
        [row] = tx.rows("job_ids_next", count=count)
        return list(row["ids"])

    def _finish(self, tx: Tx, outcomes: Sequence[Outcome], now: float) -> list[bool]:
        # The shared _finish, with its writes grouped: the same locks and decisions
        # (_apply_outcome), but a batch of outcomes costs a few round trips, not three each.
        assert isinstance(tx, PgTx)
        if not outcomes:  # the reaper found nothing
            return []
        outcomes = [_storable(o) for o in outcomes]
        rows = tx.rows("jobs_for_executions", ids=[o.execution_id for o in outcomes])
        current = {r["execution_id"]: r for r in rows}
        first: dict[int, int] = {}  # an execution named twice: the first outcome counts
        for i, o in enumerate(outcomes):
            first.setdefault(o.execution_id, i)
        ends = [_end_params(outcomes[i], now) for i in sorted(first.values())]
        ended = {r["id"] for r in tx.rows_many("execution_end", ends)}
        later = Later()
        results: list[bool] = []
        events: list[dict[str, Any]] = []
        for i, o in enumerate(outcomes):
            row = current.get(o.execution_id)
            held = first[o.execution_id] == i and o.execution_id in ended
            if not held or row is None or row["status"] != JobStatus.RUNNING:
                results.append(False)
                continue
            events.append(self._apply_outcome(later, row, o, now))
            results.append(True)
        later.send(tx)  # sent with the events and COMMIT: one round trip
        if events:
            tx.many("event_insert", events)
        self._announce(tx, self._freed_queues(current, outcomes, results))
        self._release_children(tx, self._completed_parents(current, outcomes, results), now)
        return results

    def _locate(self, tx: Tx, job_id: int) -> tuple[Row | None, Row | None]:
        # READ COMMITTED: the job may move between the two reads (live -> history as it ends,
        # history -> live as someone requeues it), and a lock that waited for a row that then
        # moved finds nothing. Look once more before saying it does not exist.
        for _ in range(2):
            live = tx.one("job_live_lock", id=job_id)
            if live is not None:
                return live, None
            done = tx.one("job_history_status", id=job_id)
            if done is not None:
                return None, done
        raise NotFound(f"no job {job_id}", job_id=job_id)

    # -- wake-ups -------------------------------------------------------------------------

    def _announce(self, tx: Tx, queues: Iterable[str]) -> None:
        names = sorted(set(queues))
        if names:
            assert isinstance(tx, PgTx)
            tx.write("queue_announce", queues=names)

    def _on_notify(self, queue: str) -> None:
        with self._work:
            self._note_seq += 1
            self._notified[queue] = self._note_seq
            self._work.notify_all()

    @property
    def announces_work(self) -> bool:
        listener = self._listener
        return listener is not None and listener.listening

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        self._check_fork()
        if self._listener is None:
            with self._lock:
                if self._listener is None:
                    self._listener = Listener(
                        self._conninfo, on_notify=self._on_notify, on_connect=self._wake_local
                    )
        wanted = set(queues)
        with self._work:
            # what this thread had seen when it last returned: a wake-up that came while it
            # was busy (between its claim and this call) is not missed
            work = getattr(self._seen, "work", self._work_seq)
            note = getattr(self._seen, "note", self._note_seq)
            woken = self._work.wait_for(
                lambda: (
                    self._work_seq != work or any(self._notified.get(q, 0) > note for q in wanted)
                ),
                timeout=timeout,
            )
            self._seen.work, self._seen.note = self._work_seq, self._note_seq
        return woken

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self._tx(write=False) as tx:
            rows = tx.sql("SELECT to_regclass('schema_migration') IS NOT NULL AS present", {})
            if not rows[0]["present"]:
                return 0
            rows = tx.sql("SELECT MAX(version) AS v FROM schema_migration", {})
        return int(rows[0]["v"] or 0)

    def schema_upgrade(self, target: int | None = None) -> list[int]:
        applied: list[int] = []
        with self._connection() as conn:
            try:
                conn.execute("BEGIN")
                # two processes upgrading at once: the second waits here, then finds it done
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY,"
                    " name text NOT NULL, applied_at double precision NOT NULL)"
                )
                done = {r["version"] for r in conn.execute("SELECT version FROM schema_migration")}
                for version, name, sql in MIGRATIONS:
                    if version in done or (target is not None and version > target):
                        continue
                    conn.execute(sql)  # no parameters: a script of many statements
                    conn.execute(
                        "INSERT INTO schema_migration (version, name, applied_at)"
                        " VALUES (%s, %s, %s)",
                        (version, name, self.now()),
                    )
                    applied.append(version)
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                rollback(conn)
                raise translate(exc, conn=conn, committed_unknown=True) from exc
            except BaseException:
                rollback(conn)
                raise
        return applied


# Every operation that touches the database re-runs when its transaction was rolled back by a
# conflict. Each runs exactly one transaction that writes (then maybe reads), so running it again
# after a rollback is safe; an operation never retries after its commit.
for _name in (
    "type_register", "type_get", "type_list", "job_enqueue", "job_claim", "execution_started",
    "execution_heartbeat", "execution_reserve", "job_progress", "job_log_append", "job_finish",
    "job_get", "job_list", "job_log", "job_kill", "job_cancel", "job_restart", "job_remove",
    "job_requeue", "job_release_due", "execution_list", "execution_reap", "event_list",
    "event_prune", "queue_pause", "queue_resume", "queue_list", "worker_register", "worker_beat",
    "worker_stop", "leader_acquire", "schema_version", "schema_upgrade", "event_last_id",
    "user_add", "user_get", "user_list", "user_update", "user_remove", "token_create",
    "token_lookup", "token_list", "token_revoke",
    # store/remote.py
    "remote_type_ensure", "remote_type_names", "remote_enqueue", "remote_claim", "remote_find",
    "remote_finish", "remote_release", "remote_set", "remote_counts", "remote_remove",
    "remote_queue_latency",
    "remote_worker_hello", "remote_worker_beat", "remote_worker_queues", "remote_worker_reap",
    "worker_get", "worker_list", "worker_control",
    # store/catalog.py and store/stats.py
    "type_create", "type_update", "type_revisions", "type_archive", "type_unarchive",
    "type_by_id", "ident_ids", "ident_key", "queue_status", "load_sample", "load_history",
    "load_prune", "stats_fold", "stats_snapshot",
    # store/apps.py and store/services.py
    "app_register", "app_list", "app_get", "worker_advertise", "process_list", "process_get",
    "execution_log_tail", "service_register", "service_list", "service_get", "service_rows",
    "service_start", "service_stop", "service_restart", "service_reload", "service_ready",
    "service_signals_take", "service_signal_request", "service_apply", "service_messages",
    "service_message_prune",
    # store/recipes.py and store/schedules.py
    "recipe_type_register", "recipe_type_get", "recipe_type_list", "recipe_create", "recipe_get",
    "recipe_list", "recipe_cancel", "recipe_requeue", "job_links", "job_parents",
    "schedule_create", "schedule_get", "schedule_list", "schedule_update", "schedule_delete",
    "schedule_due", "schedule_fire", "schedule_runs", "schedule_run_prune",
    # store/limits.py and store/reporting.py
    "execution_started_many", "type_set_paused", "job_wait_reason",
    # store/retention.py
    "job_history_prune",
):  # fmt: skip
    setattr(PostgresStore, _name, retrying(getattr(PostgresStore, _name)))
del _name
