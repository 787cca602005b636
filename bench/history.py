"""The history workload: jobyard's drain with many finished jobs retained, or none.

``make_template(retained)`` builds a database once per bench run, ``bench_jobyard_history``: the
schema, the bench type, and ``retained`` finished jobs as a bulk SQL insert (one job_history row,
one ended execution and two state events each, as a real run leaves them), their events rolled
up into the counters as a running engine would have done long ago, then VACUUM ANALYZE. (Left
unfolded, the drain's engine spent the run catching up on millions of old events: a measure of
the roll-up, not of the hot path.)
Each repetition clones it (``CREATE DATABASE ... TEMPLATE``) instead of re-inserting.
"""

from __future__ import annotations

import sys

import psycopg

from bench.adapters.base import Adapter, NotApplicable
from bench.common import PG_ADMIN_URL, pg_recreate, pg_url

TEMPLATE = "bench_jobyard_history"


def _fill(url: str, retained: int) -> None:
    from jobyard import JobSpec, open_store

    store = open_store(url)
    try:
        [probe] = store.job_enqueue([JobSpec(type="bench.noop", args={"n": -1})])
        _insert_finished(url, retained, probe)
        while store.stats_fold():  # what a running engine would have counted long ago
            pass
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _insert_finished(url: str, retained: int, probe: int) -> None:
    """``retained`` finished jobs shaped like ``probe`` (then deleted), in three bulk inserts."""
    with psycopg.connect(url, autocommit=True) as conn:
        common = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'live_job'"
                " AND column_name IN (SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'job_history') ORDER BY ordinal_position"
            )
        ]
        t0 = "(EXTRACT(EPOCH FROM now()) - 86400 + (g - 1000000000) / 20.0)"
        override = {
            "id": "g", "status": "'completed'", "args": "jsonb_build_object('n', g)",
            "tries": "1", "started_at": t0, "finished_at": t0, "updated_at": t0,
            "created_at": t0, "run_at": t0, "execution_id": "g",
        }  # fmt: skip
        cols = ", ".join(common)
        values = ", ".join(override.get(c, f"j.{c}") for c in common)
        with conn.transaction():
            conn.execute(
                f"INSERT INTO job_history ({cols}) SELECT {values}"
                " FROM live_job j, generate_series(1000000000, 1000000000 + %s - 1) g"
                " WHERE j.id = %s",
                (retained, probe),
            )
            conn.execute(
                "INSERT INTO execution (id, job_id, attempt, status, worker_id, hostname, pid,"
                " ppid, run_as, queued_at, started_at, ended_at, heartbeat_at, lease_expires_at)"
                f" SELECT g, g, 1, 'completed', 'bench-history', 'bench', 1, 1, 'bench', {t0},"
                f" {t0}, {t0}, {t0}, {t0} FROM generate_series(1000000000, 1000000000 + %s - 1) g",
                (retained,),
            )
            conn.execute(
                "INSERT INTO event (job_id, at, kind, data) SELECT g, "
                f"{t0}, 'state', CAST(s AS json) FROM generate_series(1000000000,"
                ' 1000000000 + %s - 1) g, (VALUES (\'{"status":"queued"}\'),'
                ' (\'{"status":"completed"}\')) AS v(s)',
                (retained,),
            )
            conn.execute("DELETE FROM live_job WHERE id = %s", (probe,))
            # its event is seconds old: the roll-up would stop short of it (and all after it)
            conn.execute("DELETE FROM event WHERE job_id = %s", (probe,))


def make_template(retained: int) -> str:
    from bench.adapters import load

    adapter = load("jobyard-pg")
    url = pg_recreate(TEMPLATE)
    adapter.url = url  # type: ignore[misc]
    adapter.setup = lambda: None  # type: ignore[method-assign]
    from bench.adapters.jobyard_app import JobyardAdapter

    JobyardAdapter.setup(adapter)
    _fill(url, retained)
    return TEMPLATE


def prepare(adapter: Adapter, retained: int, *, template: str | None) -> None:
    """A fresh ``bench_jobyard``: a clone of the template (``retained`` > 0) or empty."""
    if adapter.name != "jobyard-pg":
        raise NotApplicable("the history workload runs jobyard on PostgreSQL only")
    if retained == 0:
        adapter.setup()
        return
    from bench.adapters.jobyard_pg import DATABASE

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}" TEMPLATE "{template or TEMPLATE}"')
    assert adapter.url == pg_url(DATABASE)  # type: ignore[attr-defined]


if __name__ == "__main__":
    print(make_template(int(sys.argv[1])))
