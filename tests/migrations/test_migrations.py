"""Migrations, on both backends: every earlier version upgrades to the latest, and a database
migrated step by step has exactly the schema of one migrated in one go (read from the catalog:
tables, columns, indexes, constraints, storage options, sequences), as procrastinate's
tests/migration/test_migration.py does.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobyard.store import open_store
from jobyard.store.postgres.store import MIGRATIONS as PG_MIGRATIONS
from jobyard.store.sqlite.store import MIGRATIONS as SQLITE_MIGRATIONS

# numbers may leave gaps (reserved by work that lands later): compare with the real list
VERSIONS = [v for v, _, _ in SQLITE_MIGRATIONS]
LATEST = VERSIONS[-1]

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: Any
) -> Iterator[Callable[[], str]]:
    """Makes empty databases of one backend (as many as a test asks for); drops them after."""
    made: list[str] = []
    if request.param == "postgresql" and postgres_databases is None:
        pytest.skip("PostgreSQL backend unavailable")

    def make() -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path}/db{len(made)}.db"
        else:
            url = postgres_databases.create(migrated=False)
        made.append(url)
        return url

    yield make
    if request.param == "postgresql":
        for url in made:
            postgres_databases.drop(url)


def schema(url: str) -> Snapshot:
    """What the catalog says about the schema: everything but the rows."""
    if url.startswith("sqlite"):
        return _sqlite_schema(url.removeprefix("sqlite:///"))
    return _postgres_schema(url)


def _sqlite_schema(path: str) -> Snapshot:
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        snapshot: Snapshot = {"objects": [(t, n, tbl) for t, n, tbl, _ in objects]}
        for kind, name, _, sql in objects:
            if kind == "index":
                snapshot[f"index {name}"] = [(sql,)]  # NULL for automatic (UNIQUE) indexes
                snapshot[f"index {name} columns"] = conn.execute(
                    "SELECT * FROM pragma_index_xinfo(?)", (name,)
                ).fetchall()
            elif kind == "table":
                for pragma in ("table_xinfo", "index_list", "foreign_key_list"):
                    snapshot[f"{pragma} {name}"] = conn.execute(
                        f"SELECT * FROM pragma_{pragma}(?)", (name,)
                    ).fetchall()
        snapshot["migrations"] = conn.execute(
            "SELECT version, name FROM schema_migration ORDER BY version"
        ).fetchall()
        return snapshot
    finally:
        conn.close()


_PG_CATALOG = {
    "columns": """
        SELECT table_name, ordinal_position, column_name, data_type, udt_name, is_nullable,
               column_default, collation_name, is_identity, identity_generation
          FROM information_schema.columns WHERE table_schema = 'public'
         ORDER BY table_name, ordinal_position""",
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, c.reloptions
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' ORDER BY c.relname""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
         WHERE schemaname = 'public' ORDER BY tablename, indexname""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' ORDER BY c.relname, k.conname""",
    "sequences": """
        SELECT s.sequencename, s.data_type, s.start_value, s.increment_by, s.cache_size,
               s.cycle, d.refobjid::regclass::text AS owned_by
          FROM pg_sequences s
          LEFT JOIN pg_depend d
            ON d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
           AND d.deptype IN ('a', 'i')
         WHERE s.schemaname = 'public' ORDER BY s.sequencename""",
    "migrations": "SELECT version, name FROM schema_migration ORDER BY version",
}


def _postgres_schema(url: str) -> Snapshot:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return {key: conn.execute(sql).fetchall() for key, sql in _PG_CATALOG.items()}


def upgrade(url: str, target: int | None = None) -> list[int]:
    store = open_store(url)
    try:
        return store.schema_upgrade(target)
    finally:
        store.close()


def version(url: str) -> int:
    store = open_store(url)
    try:
        return store.schema_version()
    finally:
        store.close()


def test_both_backends_have_the_same_migrations() -> None:
    assert [(v, n) for v, n, _ in PG_MIGRATIONS] == [(v, n) for v, n, _ in SQLITE_MIGRATIONS]
    assert LATEST >= 1


def test_an_empty_database_upgrades_to_the_latest(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    assert version(url) == 0
    assert upgrade(url) == VERSIONS
    assert version(url) == LATEST
    assert upgrade(url) == []  # nothing left to do, and nothing breaks


@pytest.mark.parametrize("start", [0, *VERSIONS])
def test_every_earlier_version_upgrades_to_the_same_schema_as_a_fresh_one(
    empty_database: Callable[[], str], start: int
) -> None:
    fresh = empty_database()
    upgrade(fresh)
    old = empty_database()
    assert upgrade(old, start) == [v for v in VERSIONS if v <= start]
    assert version(old) == start
    assert upgrade(old) == [v for v in VERSIONS if v > start]
    assert version(old) == LATEST
    assert schema(old) == schema(fresh)


def test_one_step_at_a_time_gives_the_schema_of_one_go(
    empty_database: Callable[[], str],
) -> None:
    fresh = empty_database()
    upgrade(fresh)
    stepwise = empty_database()
    for target in VERSIONS:
        assert upgrade(stepwise, target) == [target]
    assert schema(stepwise) == schema(fresh)


def test_an_upgrade_that_fails_changes_nothing(
    empty_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = empty_database()
    module = (
        "jobyard.store.sqlite.store" if url.startswith("sqlite") else "jobyard.store.postgres.store"
    )
    migrations = __import__(module, fromlist=["MIGRATIONS"]).MIGRATIONS
    broken = [*migrations, (migrations[-1][0] + 1, "broken", "CREATE TABLE no_such_syntax (;")]
    monkeypatch.setattr(f"{module}.MIGRATIONS", broken)
    with pytest.raises(Exception):  # noqa: B017 - the driver's syntax error, whatever its class
        upgrade(url)
    assert version(url) == 0  # the good migrations before it were rolled back with it


def test_two_processes_upgrading_at_once_apply_each_migration_once(
    empty_database: Callable[[], str],
) -> None:
    url = empty_database()
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            results.append(upgrade(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [[], VERSIONS]
    assert version(url) == LATEST
