"""The PostgreSQL store's SQL text: parameter conversion and statement names (no database)."""

from __future__ import annotations

import re

import pytest

from jobyard.store.postgres.store import QUERIES as PG
from jobyard.store.postgres.store import to_psycopg
from jobyard.store.sqlite.store import QUERIES as SQLITE

# statements only the PostgreSQL store has: bulk forms, the NOTIFY, asynchronous commit, the
# one-statement enqueue and the ids a COPY takes first
PG_ONLY = {
    "job_ids_next",
    "job_insert_numbered_many",
    "event_insert_many",
    "execution_end_many",
    "execution_started_many",
    "tx_commit_async",
    "job_to_history_many",
    "job_delete_live_many",
    "queue_announce",
    "job_enqueue_one",
}

# and only the SQLite store's: where it takes the ids of a run of new jobs
SQLITE_ONLY = {"job_id_last"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT :a, :b_2", "SELECT %(a)s, %(b_2)s"),
        ("SELECT x::text, CAST(:a AS jsonb)", "SELECT x::text, CAST(%(a)s AS jsonb)"),
        ("SELECT ':not_a_param', :a", "SELECT ':not_a_param', %(a)s"),
        ("SELECT 'it''s :x', :a", "SELECT 'it''s :x', %(a)s"),
        ('SELECT ":quoted", :a', 'SELECT ":quoted", %(a)s'),
        (
            "-- a comment with :x and 100%\nSELECT :a",
            "-- a comment with :x and 100%%\nSELECT %(a)s",
        ),
        (
            "SELECT 1 WHERE s LIKE '10%' AND n % 2 = :a",
            "SELECT 1 WHERE s LIKE '10%%' AND n %% 2 = %(a)s",
        ),
        ("SELECT '\\', :a", "SELECT '\\', %(a)s"),  # standard strings: a backslash is a character
        ("SELECT arr[1:2]", "SELECT arr[1:2]"),
    ],
)
def test_named_parameters_become_psycopg_placeholders(sql: str, expected: str) -> None:
    assert to_psycopg(sql) == expected


def test_binary_placeholders() -> None:
    assert to_psycopg("SELECT :a", binary=True) == "SELECT %(a)b"
    for name, sql in PG.items():  # the bulk statements take arrays, all sent in binary
        other = "s" if name.endswith("_many") else "b"
        assert not re.search(rf"%\(\w+\){other}", sql), name


def test_postgres_has_every_statement_of_sqlite() -> None:
    assert set(SQLITE) - set(PG) == SQLITE_ONLY
    assert set(PG) - set(SQLITE) == PG_ONLY


def test_each_pg_statement_names_the_parameters_of_its_sqlite_twin() -> None:
    # the shared code passes one set of parameters to both backends' statements
    def names(sql: str) -> set[str]:
        return set(re.findall(r"%\((\w+)\)[sb]", to_psycopg(sql)))

    for name, sqlite_sql in SQLITE.items():
        if name in SQLITE_ONLY:
            continue
        assert names(PG[name]) <= names(sqlite_sql) | {"lease_expires_at", "worker_id"}, name


def test_no_stray_percent_or_colon_parameter_left() -> None:
    for name, sql in PG.items():
        without = re.sub(r"%\(\w+\)[sb]|%%|'(?:[^']|'')*'|--[^\n]*", "", sql)
        assert "%" not in without, name
        assert not re.search(r"(?<!:):[A-Za-z_]", without), name


def _names(sql: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sb]", to_psycopg(sql)))


def test_each_many_statement_takes_the_parameters_of_its_single_form() -> None:
    for name in PG_ONLY:
        if name.endswith("_many"):
            assert _names(PG[name]) == _names(SQLITE[name.removesuffix("_many")]), name


def test_the_grouped_finish_passes_what_the_shared_finish_passes() -> None:
    from jobyard.core.models import Outcome
    from jobyard.core.states import ExecutionStatus
    from jobyard.store.postgres.store import _end_params

    keys = set(_end_params(Outcome(1, ExecutionStatus.COMPLETED), 0.0))
    assert keys == _names(SQLITE["execution_end"])
