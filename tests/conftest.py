"""Shared fixtures: a fresh store per test on each backend.

SQLite: a copy of a migrated file in tmp_path. PostgreSQL: a migrated database, cloned from a
template or reset to it (every test starts empty). Under CI=true an unreachable PostgreSQL fails
the run instead of skipping.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobyard.store import Store, open_store
from support import chaos_report

sys.path.insert(0, str(Path(__file__).parent / "apps"))

PG_URL = os.environ.get("JOBYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


def _pg_admin_url(database: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{database}"


class PostgresDatabases:
    """Creates a migrated template once per session; hands out fresh migrated databases.

    Cloning the template costs a few hundred milliseconds on a busy machine, so a database a
    test is done with is put back as new (``give_back``) and lent again: every table is
    truncated, the rows the migrations seeded are copied back, and every sequence is set where
    the template has it. A database that cannot be reset is dropped instead. ``create`` clones
    one that the caller keeps (a server under test) and drops with ``drop``.
    """

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self.prefix = f"jobyard_t{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._free: list[str] = []  # reset databases, ready to lend
        self._lent: set[str] = set()
        self._admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
        try:
            self._drop(self.template)
            self._admin.execute(f'CREATE DATABASE "{self.template}"')
            store = open_store(_pg_admin_url(self.template))
            try:
                store.schema_upgrade()
            finally:
                store.close()
            self._tables, self._seeds, self._sequences = self._read_template()
        except BaseException:
            # no half-made template, and no open connection left to trip filterwarnings=error
            self.close()
            raise

    def _read_template(
        self,
    ) -> tuple[list[str], dict[str, bytes], list[tuple[str, int | None]]]:
        """The tables, the rows the migrations put in them, and where each sequence stands."""
        with self._psycopg.connect(_pg_admin_url(self.template)) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
            )]  # fmt: skip
            seeds: dict[str, bytes] = {}
            for table in tables:
                with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                    rows = b"".join(bytes(chunk) for chunk in copy)
                if rows:
                    seeds[table] = rows
            sequences = [(str(r[0]), r[1]) for r in conn.execute(
                "SELECT quote_ident(sequencename), last_value FROM pg_sequences "
                "WHERE schemaname = 'public'"
            )]  # fmt: skip
        return tables, seeds, sequences

    def _drop(self, name: str) -> None:
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create(self, *, migrated: bool = True) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        self._drop(name)
        if migrated:
            self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        else:
            self._admin.execute(f'CREATE DATABASE "{name}"')
        return _pg_admin_url(name)

    def drop(self, url: str) -> None:
        self._drop(url.rpartition("/")[2])

    def lend(self) -> str:
        """A migrated database as new: one given back, or a fresh clone."""
        url = self._free.pop() if self._free else self.create()
        self._lent.add(url)
        return url

    def give_back(self, url: str) -> None:
        """Reset ``url`` to the template's state for the next test; drop it if that fails."""
        self._lent.discard(url)
        try:
            self._reset(url)
        except Exception:
            self.drop(url)
        else:
            self._free.append(url)

    def _reset(self, url: str) -> None:
        name = url.rpartition("/")[2]
        # whatever the test left connected (a killed process's session, a leaked pool) goes
        self._admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        with self._psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SET lock_timeout = '5s'")
            conn.execute(f"TRUNCATE {', '.join(self._tables)} RESTART IDENTITY CASCADE")
            for table, rows in self._seeds.items():
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(rows)
            for sequence, last_value in self._sequences:
                if last_value is None:
                    conn.execute(f"ALTER SEQUENCE {sequence} RESTART")
                else:
                    conn.execute("SELECT setval(%s, %s, true)", (sequence, last_value))

    def close(self) -> None:
        try:
            for url in [*self._free, *self._lent]:
                self.drop(url)
            self._drop(self.template)
        finally:
            self._admin.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    try:
        databases = PostgresDatabases()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and PostgreSQL at {PG_URL} is unreachable: {exc}")
        databases = None
        _pg_unavailable.append(str(exc))
    yield databases
    if databases is not None:
        databases.close()


_pg_unavailable: list[str] = []


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, closed (no WAL left beside it), for tests to copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "jobyard.db"
    store = open_store(f"sqlite:///{path}")
    store.schema_upgrade()
    store.close()
    return path


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[str]:
    """A URL of a fresh, migrated database of the backend named by the ``backend`` param."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "jobyard.db")
        yield f"sqlite:///{tmp_path}/jobyard.db"
        return
    if postgres_databases is None:
        pytest.skip(f"PostgreSQL backend unavailable: {_pg_unavailable[0]}")
    url = postgres_databases.lend()
    yield url
    postgres_databases.give_back(url)


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[..., Store]]:
    """Open stores on the test's database (several may share it); all are closed afterwards."""
    opened: list[Store] = []

    def make(**kwargs: object) -> Store:
        store = open_store(database_url, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


def pytest_sessionstart(session: pytest.Session) -> None:
    chaos_report.start(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    chaos_report.finish(session.config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long, mostly idle cases (marked ``early``) first: xdist hands them out at once, and they
    run beside the rest instead of after it."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database runs on both backends, unless it picks one itself."""
    if "database_url" in metafunc.fixturenames and "database_url" not in {
        m.args[0] for m in metafunc.definition.iter_markers("parametrize")
    }:
        metafunc.parametrize("database_url", BACKENDS, indirect=True)
