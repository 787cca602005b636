"""The statements of one PostgreSQL transaction, and what surrounds them: named SQL loaded
from queries.sql (``:name`` parameters turned into psycopg's), driver errors translated at this
boundary with their cause kept, and operations re-run after a conflict rolled them back.
"""

from __future__ import annotations

import functools
import operator
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg.types.json import set_json_loads

from jobyard.core.errors import Duplicate, Invalid, NotFound, StoreUnavailable
from jobyard.store.sql import load_migrations, load_queries
from jobyard.store.tx import Row

Conn = psycopg.Connection[DictRow]

# :name -> %(name)s. String literals, quoted identifiers, comments and `::` casts are passed over
# (only their % doubled); every other % is doubled, as psycopg reads a lone % as a placeholder.
_TOKENS = re.compile(
    r"""(?P<keep>'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::)|:(?P<name>[A-Za-z_]\w*)|%"""
)


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str, *, binary: bool = False) -> str:
    """SQL with ``:name`` parameters, as psycopg's ``%(name)s`` ("E'...'" strings unsupported).

    ``binary``: ``%(name)b``, sent in binary; psycopg dumps big arrays several times faster so.
    """
    placeholder = "b" if binary else "s"

    def replace(match: re.Match[str]) -> str:
        if match["name"]:
            return f"%({match['name']}){placeholder}"
        return match[0].replace("%", "%%")

    return _TOKENS.sub(replace, sql)


QUERIES = {
    name: to_psycopg(sql, binary=name.endswith("_many"))  # arrays only: see queries.sql
    for name, sql in load_queries("jobyard.store.postgres").items()
}
MIGRATIONS = load_migrations("jobyard.store.postgres")

# Writes that a bulk transaction sends by COPY: table, then column -> parameter of the named
# statement. COPY writes a page of rows per WAL record where INSERT writes one a row, and its
# rows stream with no statement to plan; PostgreSQL takes 20,000 new jobs about twice as fast.
COPIES: dict[str, tuple[str, dict[str, str]]] = {
    "job_insert_numbered": (
        "live_job",
        {
            "id": "id", "type": "type", "type_revision": "type_revision", "status": "status",
            "queue": "queue", "priority": "priority", "args": "args", "tags": "tags",
            "unique_key": "unique_key", "external_id": "external_id", "max_tries": "max_tries",
            "timeout": "timeout", "backoff": "backoff", "run_at": "run_at", "created_at": "now",
            "updated_at": "now", "restart_of": "restart_of", "created_by": "created_by",
            "cpus": "cpus", "mem": "mem", "disk": "disk", "type_concurrency": "type_concurrency",
            "concurrency_key": "concurrency_key", "concurrency_limit": "concurrency_limit",
        },
    ),
    "event_insert": ("event", {"job_id": "job_id", "at": "now", "kind": "kind", "data": "data"}),
}  # fmt: skip

_ATTEMPTS = 8  # tries of one operation that meets a deadlock or a serialization failure
_FIELDS = {  # unique constraint -> the field a Duplicate names
    "live_job_unique_key": "unique_key",
    "live_job_external_id": "external_id",
    "job_history_external_id": "external_id",
    "app_user_pkey": "name",
    "api_token_token_hash_key": "token_hash",
    "schedule_name_key": "name",
}
# A race between two writers of the same new row, not a user's duplicate: run the operation
# again and it sees the other's row (two processes registering one new type revision at once).
_RACES = {"job_type_rev_pkey", "recipe_type_rev_pkey"}
# Two claims that took one slot of a concurrency limit (limits.sql: the lock keeps them apart,
# the unique index keeps the limit): the claim runs again and sees the other's slot.
_RACES |= {"live_job_type_slot", "live_job_key_slot"}


class Retry(StoreUnavailable):
    """A transaction conflicted with another one and was rolled back; run it again."""


def translate(exc: psycopg.Error, *, conn: Conn, committed_unknown: bool) -> Exception:
    if isinstance(exc, errors.UniqueViolation):
        constraint = exc.diag.constraint_name or ""
        if constraint in _RACES:
            return Retry(f"concurrent insert into {exc.diag.table_name}: {exc}")
        field = _FIELDS.get(constraint, constraint)
        return Duplicate(f"{field} is taken: {exc}", field=field, constraint=constraint)
    if isinstance(exc, errors.ForeignKeyViolation):  # e.g. a token for a user removed meanwhile
        return NotFound(f"{exc.diag.message_detail or exc}")
    if isinstance(exc, errors.SerializationFailure | errors.DeadlockDetected):
        return Retry(f"transaction conflict: {exc}")
    if isinstance(exc, psycopg.DataError):
        return Invalid(f"PostgreSQL refused a value: {exc.diag.message_primary or exc}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        if conn.broken and not committed_unknown:  # a dead pooled connection: nothing was written
            return Retry(f"PostgreSQL connection lost: {exc}")
        return StoreUnavailable(f"PostgreSQL is unavailable: {exc}")
    return exc


def _json_text(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else data


def configure(conn: Conn) -> None:
    set_json_loads(_json_text, conn)  # json and jsonb come back as text, as from SQLite


def rollback(conn: Conn) -> None:
    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # a broken connection: the pool drops it


def _arrays(params: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of parameters -> one array per parameter, for a ``<name>_many`` statement."""
    return {key: [p[key] for p in params] for key in params[0]}


class PgTx:
    """Statements of one transaction. In pipeline mode (``_tx``) a statement whose result is
    read waits for it; the writes nobody reads (``many``, ``write``) are only sent, and their
    results come back with the next read or with COMMIT: one round trip for all of them.

    A bulk transaction (``copies``) runs without a pipeline, where COPY cannot, and sends the
    rows of ``many`` by COPY where ``COPIES`` has the statement."""

    def __init__(
        self, conn: Conn, pipeline: psycopg.Pipeline | None = None, *, copies: bool = False
    ) -> None:
        assert not (copies and pipeline), "COPY cannot run in pipeline mode"
        self.conn = conn
        self.cur = conn.cursor()
        self._writes = conn.cursor()  # results never read: kept apart from self.cur's
        self._pipeline = pipeline
        self._copies = copies

    def rows(self, query: str, /, **params: Any) -> list[Row]:
        return self.cur.execute(QUERIES[query], params).fetchall()

    def one(self, query: str, /, **params: Any) -> Row | None:
        return self.cur.execute(QUERIES[query], params).fetchone()

    def run(self, query: str, /, **params: Any) -> int:
        self.cur.execute(QUERIES[query], params)
        if self._pipeline is not None:
            self._pipeline.sync()  # the count is read: wait for it
        return self.cur.rowcount

    def write(self, query: str, /, **params: Any) -> None:
        """A statement whose result is not read: in pipeline mode, sent without waiting."""
        self._writes.execute(QUERIES[query], params)

    def many(self, query: str, params: Sequence[dict[str, Any]]) -> None:
        # one statement over arrays when the query has a _many form; else executemany, which
        # psycopg pipelines. Nothing is read, so in pipeline mode nothing waits here.
        if self._copies and len(params) > 1 and query in COPIES:
            self._copy(query, params)
        elif len(params) > 1 and f"{query}_many" in QUERIES:
            self._writes.execute(QUERIES[f"{query}_many"], _arrays(params))
        elif len(params) == 1:
            self._writes.execute(QUERIES[query], params[0])
        elif params:
            self._writes.executemany(QUERIES[query], params)

    def _copy(self, query: str, params: Sequence[dict[str, Any]]) -> None:
        table, columns = COPIES[query]
        values = operator.itemgetter(*columns.values())
        with self.cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(values(row))

    def rows_many(self, query: str, params: Sequence[dict[str, Any]]) -> list[Row]:
        """The rows ``<query>_many`` returns for all of ``params`` at once."""
        if not params:
            return []
        return self.cur.execute(QUERIES[f"{query}_many"], _arrays(params)).fetchall()

    def sql(self, text: str, params: dict[str, Any]) -> list[Row]:
        return self.cur.execute(to_psycopg(text), params).fetchall()


class Later:
    """Stands in for a Tx where the shared code only writes (``run``, its count unread): keeps
    the statements, to send them grouped by name in the order each name first came."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}

    def run(self, query: str, /, **params: Any) -> int:
        self.calls.setdefault(query, []).append(params)
        return 1

    def rows(self, query: str, /, **params: Any) -> list[Row]:
        raise TypeError(f"{query}: only writes can wait")

    def one(self, query: str, /, **params: Any) -> Row | None:
        raise TypeError(f"{query}: only writes can wait")

    def many(self, query: str, params: Sequence[dict[str, Any]]) -> None:
        for p in params:
            self.run(query, **p)

    def sql(self, text: str, params: dict[str, Any]) -> list[Row]:
        raise TypeError("only named writes can wait")

    def send(self, tx: PgTx) -> None:
        for query, params in self.calls.items():
            tx.many(query, params)


F = TypeVar("F", bound=Callable[..., Any])


def retrying(method: F) -> F:
    """Run ``method`` again when its transaction was rolled back by a conflict (``Retry``)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except Retry as exc:
                if attempt == _ATTEMPTS:  # a plain StoreUnavailable: callers must not retry it
                    raise StoreUnavailable(f"gave up after {attempt} tries: {exc}") from exc
                time.sleep(random.uniform(0, 0.005 * attempt))
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]
