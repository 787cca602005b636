"""The engine leader SIGKILLed: another instance takes every duty within 20 s, and a cron
schedule over the failover makes exactly one job per tick (none lost, none doubled).

The schedule ticks every 20 s, longer than a failover (a leader's row lives 15 s,
engine/runner.py LEADER_TTL): each tick is due while some engine leads, on time or a few
seconds late. Ticks closer together than a failover are folded by the schedule's catch-up
policy instead (docs/operations/guarantees.md).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from jobyard.core.models import JobSpec
from jobyard.core.schedules import ScheduleSpec
from jobyard.core.states import JobStatus
from jobyard.store import Store
from support.chaos import CASE_TIMEOUT, LONG, Record, backend_of, record, register, size
from support.servers import Server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.early, pytest.mark.timeout(CASE_TIMEOUT)]
TAKEOVER = 20.0  # seconds a new leader may take
TICK = 20  # seconds between the schedule's ticks


def _leaders(database_url: str) -> dict[str, str]:
    """key -> holder of the leadership rows that have not expired (by the database's own clock);
    the engine keeps one, ``engine``, whose holder runs every duty."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute("SELECT duty, holder, expires_at FROM leader").fetchall()
        now = time.time()
        return {d: h for d, h, e in rows if e > now}
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT duty, holder FROM leader "
            "WHERE expires_at > extract(epoch FROM clock_timestamp())"
        ).fetchall()
    return dict(rows)


def _pid(holder: str) -> int:
    return int(holder.split(":")[1])  # host:pid:nonce (engine/runner.py)


def _engine(database_url: str, log: Path) -> Server:
    return Server(
        database_url=database_url,
        log_path=log,
        command="server",
        extra_args=["--engine", "--faktory-port", "0"],
    )


@pytest.mark.parametrize(
    "database_url", ["postgresql", "sqlite"] if LONG else ["postgresql"], indirect=True
)
def test_leader_killed_duties_move_and_cron_ticks_once(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    engines = [_engine(database_url, tmp_path / "engine0.log")]
    wait_for(lambda: "engine" in _leaders(database_url), timeout=30, message="a leader")
    engines.append(_engine(database_url, tmp_path / "engine1.log"))
    store.schedule_create(
        ScheduleSpec(name="every20", cron=f"*/{TICK} * * * * *", type="chaos.work", args={"n": 0})
    )
    takeovers: list[float] = []
    began = datetime.now(UTC)
    try:
        for i in range(size(1, 4)):
            wait_for(
                lambda n=i: len(store.schedule_runs("every20")) > n,
                timeout=TICK + 10,
                message="a tick before the kill",
            )
            holders = _leaders(database_url)
            leader = next(e for e in engines if _pid(holders["engine"]) == e.proc.pid)
            leader.proc.kill()
            leader.proc.wait(10)
            killed = time.monotonic()
            survivor = next(e for e in engines if e is not leader)
            wait_for(
                lambda s=survivor: _pid(_leaders(database_url).get("engine", "?:0")) == s.proc.pid,
                timeout=TAKEOVER + 5,
                interval=0.2,
                message="the survivor to lead every duty",
            )
            takeovers.append(time.monotonic() - killed)
            # the survivor runs the other duties too: its releaser makes a due job queued
            [due] = store.job_enqueue(
                [JobSpec(type="chaos.work", args={"n": 1}, queue="chaos-nobody", delay=0.5)]
            )
            wait_for(
                lambda j=due: store.job_get(j).status is JobStatus.QUEUED,
                timeout=10,
                message="the new leader's releaser",
            )
            store.job_cancel(due)
            leader.stop()
            engines = [survivor, _engine(database_url, tmp_path / f"engine{i + 2}.log")]
        ticks_seen = len(store.schedule_runs("every20"))
        wait_for(
            lambda: len(store.schedule_runs("every20")) >= ticks_seen + 1,
            timeout=TICK + 10,
            message="a tick after the last failover",
        )
    finally:
        for e in engines:
            e.stop()
    runs = sorted(store.schedule_runs("every20", limit=1000), key=lambda r: r.fire_at)
    record(
        Record(
            case="engine leader SIGKILL",
            backend=backend_of(database_url),
            fault="SIGKILL",
            injected=len(takeovers),
            jobs=len(runs),
            lost=sum(r.job_id is None for r in runs),
            overlapping=0,
            recovery_s=max(takeovers),
            note=f"{len(runs)} cron ticks, one job each",
        )
    )
    assert max(takeovers) <= TAKEOVER, takeovers
    assert all(r.job_id is not None for r in runs), runs  # no tick skipped
    jobs = [r.job_id for r in runs]
    assert len(set(jobs)) == len(jobs)  # no tick doubled
    first = runs[0].fire_at
    assert first - began < timedelta(seconds=TICK + 1)
    # consecutive: no tick between the first and the last is missing
    assert [r.fire_at for r in runs] == [
        first + timedelta(seconds=TICK * k) for k in range(len(runs))
    ], runs
    made = [store.job_get(j) for j in jobs if j is not None]
    assert all(job.type == "chaos.work" for job in made)
