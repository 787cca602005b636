"""The embedded backend: one SQLite file in WAL mode, shared by the processes of one host.

Writes take the database lock up front (``BEGIN IMMEDIATE``) so a transaction never fails half-way
on a lock upgrade; a writer waits for the lock (threads of one process in turn, processes by
looking again every millisecond or two) up to ``LOCK_WAIT``, so "database is locked" never reaches
a user. Each thread has its own connection.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobyard.core.errors import Duplicate, Invalid, StoreUnavailable
from jobyard.core.limits import Resources
from jobyard.core.models import Claim
from jobyard.store.sql import load_migrations, load_queries
from jobyard.store.sqlstore import SqlStore
from jobyard.store.tx import Row, Tx

QUERIES = load_queries("jobyard.store.sqlite")
MIGRATIONS = load_migrations("jobyard.store.sqlite")

_LOCK_RETRIES = 50  # switching a new file to WAL: about 50 * 0.1 s, with jitter
# seconds a writer waits for the write lock before the database counts as unavailable
LOCK_WAIT = 30.0
# the longest pause between two tries for the write lock held by another process. SQLite's own
# busy handler backs off to 100 ms sleeps, so under steady writes from several processes a
# waiter kept missing a lock that was free for most of each sleep (enqueues 300 ms late)
_LOCK_LOOK_MAX = 0.002
# seconds between looks at the file's change counter while a worker waits for work: how late
# at most a job enqueued by another process (the server of `jobyard up`) is seen. The first
# looks after a change come quicker, then slow down to CHANGE_POLL: jobs arriving in a stream
# start within a few ms, and an idle worker looks 50 times a second
CHANGE_POLL = 0.02
_CHANGE_POLL_FIRST = 0.003


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite:///:memory:``-free."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise Invalid(f"not a sqlite URL: {url!r}", field="database_url")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        raise Invalid("a sqlite URL needs a file path: sqlite:///path/to/jobyard.db")
    return path


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, query: str, /, **params: Any) -> list[Row]:
        return [dict(r) for r in self.conn.execute(QUERIES[query], params).fetchall()]

    def one(self, query: str, /, **params: Any) -> Row | None:
        row = self.conn.execute(QUERIES[query], params).fetchone()
        return None if row is None else dict(row)

    def run(self, query: str, /, **params: Any) -> int:
        return self.conn.execute(QUERIES[query], params).rowcount

    def many(self, query: str, params: Sequence[dict[str, Any]]) -> None:
        self.conn.executemany(QUERIES[query], params)

    def sql(self, text: str, params: dict[str, Any]) -> list[Row]:
        return [dict(r) for r in self.conn.execute(text, params).fetchall()]


class SqliteStore(SqlStore):
    queries = QUERIES

    def __init__(self, url: str, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__(url, clock=clock)
        self.path = sqlite_path(url)
        options = parse_qs(urlsplit(url).query)
        self._synchronous = options.get("synchronous", ["FULL"])[0].upper()
        if self._synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise Invalid("synchronous is off, normal, full or extra", field="synchronous")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._pid = os.getpid()
        # the threads of this process take their turn at writing here, where a finished
        # writer wakes the next at once, rather than each polling SQLite's lock
        self._writer = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._pid == os.getpid():
            return conn
        if self._pid != os.getpid():
            # a forked child never reuses its parent's connections, nor its writers' turn
            self._pid = os.getpid()
            self._writer = threading.Lock()
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise StoreUnavailable(f"no directory {directory!r} for the database {self.path!r}")
        try:
            conn = sqlite3.connect(
                self.path, timeout=LOCK_WAIT, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000)}")
            self._enable_wal(conn)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {self.path!r}: {exc}") from exc
        self._local.conn = conn
        self._local.patient = True
        with self._all_lock:
            self._all.append(conn)
        return conn

    @property
    def announces_work(self) -> bool:
        return True  # every commit, of any process, moves the change counter it watches

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        # SQLite has no notifications across processes. Its change counter (PRAGMA
        # data_version: it moves when another connection commits; in WAL mode a read of the
        # shared-memory index, no disk and no lock) is looked at every CHANGE_POLL, so a job
        # another process enqueues is claimed within that, not a poll interval later. Any
        # commit ends the wait, and the claim after it finds out whether there is work.
        # In-process wake-ups come through the condition, as on every backend. The counter
        # is remembered per thread from its last look, so a commit while it was claiming
        # ends its next wait at once.
        conn = self._conn()
        version = _data_version(conn)
        changed = version != getattr(self._seen, "version", version)
        deadline = time.monotonic() + timeout
        with self._work:
            seen = getattr(self._seen, "work", self._work_seq)
        woken = False
        pause = _CHANGE_POLL_FIRST
        while not changed and not woken:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._work:
                woken = self._work.wait_for(
                    lambda: self._work_seq != seen, timeout=min(remaining, pause)
                )
            if not woken:
                latest = _data_version(conn)
                changed, version = latest != version, latest
                pause = min(pause * 1.5, CHANGE_POLL)
        with self._work:
            self._seen.work = self._work_seq
        self._seen.version = version
        return changed or woken

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite does not always wait
        # busy_timeout for it: two processes opening a fresh file at once would see "locked".
        for attempt in range(_LOCK_RETRIES):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.02 + random.random() * 0.05 * min(attempt + 1, 5))
        conn.execute("PRAGMA journal_mode=WAL")

    @contextmanager
    def _tx(self, *, write: bool = True, bulk: bool = False) -> Iterator[Tx]:
        conn = self._conn()
        with self._writing(conn) if write else self._reading(conn):
            try:
                yield _SqliteTx(conn)
            except sqlite3.Error as exc:
                _rollback(conn)
                translated = self._translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self._translate(exc) from exc

    @contextmanager
    def _reading(self, conn: sqlite3.Connection) -> Iterator[None]:
        # a deferred BEGIN takes no lock; WAL readers wait only for a crashed file's recovery
        self._patience(conn, True)
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        yield

    @contextmanager
    def _writing(self, conn: sqlite3.Connection) -> Iterator[None]:
        """This process's writer's turn, then the file's write lock (``BEGIN IMMEDIATE``); the
        caller commits or rolls back inside."""
        deadline = time.monotonic() + LOCK_WAIT
        if not self._writer.acquire(timeout=LOCK_WAIT):
            raise StoreUnavailable(f"the database {self.path!r} stayed locked (by this process)")
        try:
            # without a busy handler a taken lock answers "busy" at once, and the wait is ours
            self._patience(conn, False)
            pause = _LOCK_LOOK_MAX / 16
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise self._translate(exc) from exc
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(f"the database {self.path!r} stayed locked")
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, _LOCK_LOOK_MAX)
            yield
        finally:
            self._writer.release()

    def _patience(self, conn: sqlite3.Connection, patient: bool) -> None:
        """SQLite's busy handler (up to LOCK_WAIT) for reads, none for ``BEGIN IMMEDIATE``;
        switched only when a thread goes from one to the other."""
        if self._local.patient != patient:
            conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000) if patient else 0}")
            self._local.patient = patient

    @staticmethod
    def _translate(exc: sqlite3.Error) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            column = str(exc).rsplit(".", 1)[-1]
            return Duplicate(f"{column} is taken: {exc}", field=column)
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            return StoreUnavailable(f"the database's disk is full ({exc}); nothing was written")
        return exc

    def _list(self, values: Iterable[Any]) -> Any:
        return json.dumps(list(values))

    def _in(self, param: str, kind: str = "text") -> str:
        return f"(SELECT value FROM json_each(:{param}))"

    def _tag_clause(self, param: str) -> str:
        return f"EXISTS (SELECT 1 FROM json_each(j.tags) WHERE value = :{param})"

    def _job_ids(self, tx: Tx, count: int) -> list[int]:
        # BEGIN IMMEDIATE holds the write lock: nobody else takes ids until this commits
        last = tx.one("job_id_last")
        assert last is not None
        return list(range(last["id"] + 1, last["id"] + 1 + count))

    def _claim_fast(
        self, tx: Tx, *, now: float, worker_id: str, queues: Sequence[str],
        types: Sequence[str], limit: int, lease: float, free: Resources,
    ) -> tuple[list[Claim], bool]:  # fmt: skip
        params = {
            "queues": self._list(queues), "types": self._list(types), "cpus": free.cpus,
            "mem": free.mem, "disk": free.disk,
        }  # fmt: skip
        picked = tx.rows("job_claim", now=now, limit=limit, **params)
        claims = self._start(tx, picked, now=now, worker_id=worker_id, lease=lease)
        left = free
        for c in claims:
            left = left.minus(Resources(c.cpus, c.mem, c.disk))
        params.update(cpus=left.cpus, mem=left.mem, disk=left.disk)
        waiting = tx.rows("claim_limited_waiting", **params)[0]["waiting"]
        return claims, bool(waiting)

    def _claim_apply(
        self, tx: Tx, picks: Sequence[tuple[int, int | None, int | None]], *, now: float,
        worker_id: str, lease: float,
    ) -> list[Claim]:  # fmt: skip
        picked = []
        for job_id, type_slot, key_slot in picks:
            row = tx.one("claim_apply", id=job_id, type_slot=type_slot, key_slot=key_slot, now=now)
            if row is not None:
                picked.append(row)
        return self._start(tx, picked, now=now, worker_id=worker_id, lease=lease)

    def _start(
        self, tx: Tx, picked: Sequence[Row], *, now: float, worker_id: str, lease: float
    ) -> list[Claim]:
        """An execution and a state event for each job just made running; their claims."""
        claims = []
        events = []
        for job in sorted(picked, key=lambda r: r["id"]):
            row = tx.one(
                "execution_insert", job_id=job["id"], attempt=job["tries"], worker_id=worker_id,
                queued_at=job["run_at"], now=now, lease_expires_at=now + lease,
            )  # fmt: skip
            assert row is not None
            execution_id = int(row["id"])
            tx.run("job_set_execution", execution_id=execution_id, job_id=job["id"])
            events.append(
                self._state_event(
                    job["id"], "running", now, execution_id=execution_id, worker_id=worker_id
                )
            )
            claims.append(
                Claim(
                    job_id=job["id"],
                    execution_id=execution_id,
                    type=job["type"],
                    type_revision=job["type_revision"],
                    args=json.loads(job["args"]),
                    attempt=job["tries"],
                    max_tries=job["max_tries"],
                    timeout=job["timeout"],
                    lease_expires_at=now + lease,
                    cpus=job["cpus"],
                    mem=job["mem"],
                    disk=job["disk"],
                )
            )
        if events:
            tx.many("event_insert", events)
        return claims

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self._tx(write=False) as tx:
            exists = tx.sql(
                "SELECT 1 AS x FROM sqlite_master "
                "WHERE type = 'table' AND name = 'schema_migration'",
                {},
            )
            if not exists:
                return 0
            rows = tx.sql("SELECT MAX(version) AS v FROM schema_migration", {})
        return int(rows[0]["v"] or 0)

    def schema_upgrade(self, target: int | None = None) -> list[int]:
        applied = []
        conn = self._conn()
        with self._writing(conn):
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migration "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT version FROM schema_migration")}
                for version, name, sql in MIGRATIONS:
                    if version in done or (target is not None and version > target):
                        continue
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)",
                        (version, name, self.now()),
                    )
                    applied.append(version)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return applied

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if sqlite3.complete_statement("\n".join(current)):
            statements.append("\n".join(current).strip())
            current = []
    if "\n".join(current).strip():
        statements.append("\n".join(current).strip())
    return statements


def _data_version(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("PRAGMA data_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read the database's change counter: {exc}") from exc


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already: on some errors (a full disk,
    out of memory) it rolls back by itself, and a second ROLLBACK would raise "no transaction
    is active" in place of the error that matters (tests/chaos/test_sqlite.py)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
