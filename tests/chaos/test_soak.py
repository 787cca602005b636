"""Load held: a steady enqueue rate with server-sent-event followers attached, for 2 minutes
(make test) or 30 (make chaos). Sampled throughout: the resident memory and open file
descriptors of every jobyard process, the database connections, and queue latency (enqueue to
start). Asserted afterwards, with generous bounds and never a speed: no process's memory or
descriptors keep growing, connections stay bounded, latency does not climb, every job ran once.

Light on CPU by design (a few jobs a second), so it can run beside the rest of the suite; it is
marked ``early`` so xdist starts it first.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from jobyard.store import Store
from support.chaos import (
    CASE_TIMEOUT,
    LONG,
    WORKER_ENV,
    Record,
    assert_ledger,
    backend_of,
    check_ledger,
    record,
    register,
    size,
    wait_drained,
)
from support.servers import ADMIN_TOKEN, Server, wait_for

DURATION = size(120, 1800)  # seconds of load
EVERY = size(3, 15)  # seconds between samples
RATE = size(4, 20)  # jobs enqueued per second
FOLLOWERS = 4
WARM_UP = 0.3  # the first part of the samples: imports, pools and caches fill up


pytestmark = [pytest.mark.slow, pytest.mark.early, pytest.mark.timeout(DURATION + CASE_TIMEOUT)]


@dataclass
class Samples:
    at: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)  # role -> MiB
    fds: dict[str, list[int]] = field(default_factory=dict)
    connections: list[int] = field(default_factory=list)


def _proc(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_text()


def _roles(up: int) -> dict[str, list[int]]:
    """`jobyard up`, its worker, and the worker's job processes (pool children, warden)."""
    roles: dict[str, list[int]] = {"up": [up], "worker": [], "jobs": []}
    for child in _proc(up, f"task/{up}/children").split():
        roles["worker"].append(int(child))
        for grandchild in _proc(int(child), f"task/{child}/children").split():
            roles["jobs"].append(int(grandchild))
    return roles


def _rss_mib(pid: int) -> float:
    for line in _proc(pid, "status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _connections(database_url: str) -> int:
    if backend_of(database_url) == "sqlite":
        return 0  # no server: its files are counted among the descriptors
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres") as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (per unit of x)."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _follow(url: str, stop: threading.Event, seen: list[int]) -> None:
    """A follower of every event; reconnects if the stream ends, as a dashboard does."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    while not stop.is_set():
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(5, read=2)) as http,
                http.stream("GET", f"{url}/api/v1/events", headers=headers) as reply,
            ):
                for line in reply.iter_lines():
                    if line.startswith("data:"):
                        seen[0] += 1
                    if stop.is_set():
                        return
        except httpx.HTTPError:  # a read timeout when the system is quiet: go round again
            continue


@pytest.mark.parametrize(
    "database_url", ["postgresql", "sqlite"] if LONG else ["postgresql"], indirect=True
)
def test_soak_memory_descriptors_connections_and_latency_stay_flat(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    up = Server(
        database_url=database_url,
        log_path=tmp_path / "up.log",
        app="chaosapp:app",
        extra_args=["--concurrency", "2", "--faktory-port", "0"],
        **WORKER_ENV,
    )
    stop = threading.Event()
    seen = [0]
    followers = [
        threading.Thread(target=_follow, args=(up.url, stop, seen), daemon=True)
        for _ in range(FOLLOWERS)
    ]
    samples = Samples()
    ids: list[int] = []
    try:
        wait_for(lambda: _roles(up.proc.pid)["jobs"], timeout=30, message="the worker's pool")
        for f in followers:
            f.start()
        began = time.monotonic()
        next_sample = began
        with up.client() as http:
            n = 0
            while (now := time.monotonic()) < began + DURATION:
                due = int((now - began) * RATE)
                if n < due:  # a steady rate: catch up in one request if we fell behind
                    body = [
                        {"type": "chaos.work", "args": {"n": i, "ms": 5}} for i in range(n, due)
                    ]
                    reply = http.post("/api/v1/jobs", json=body)
                    assert reply.status_code == 201, reply.text
                    ids += reply.json()["ids"]
                    n = due
                if now >= next_sample:
                    _sample(samples, up.proc.pid, database_url, now - began)
                    next_sample += EVERY
                time.sleep(0.1)
        wait_drained(store, ids, timeout=120, what="after the soak")
        assert up.proc.poll() is None, up.log()[-3000:]
    finally:
        stop.set()
        up.stop()
        for f in followers:
            f.join(10)
    latency = _latencies(store, ids)
    _judge(samples, latency, seen[0], database_url, check_ledger(store, ids))


def _sample(samples: Samples, up: int, database_url: str, at: float) -> None:
    roles = _roles(up)
    samples.at.append(at)
    for role, pids in roles.items():
        samples.rss.setdefault(role, []).append(sum(_rss_mib(p) for p in pids))
        samples.fds.setdefault(role, []).append(sum(_fds(p) for p in pids))
    samples.connections.append(_connections(database_url))


def _latencies(store: Store, ids: list[int]) -> list[float]:
    """Seconds from enqueue to start, per job, in enqueue order."""
    out = []
    for job_id in ids:
        job = store.job_get(job_id)
        first = min(job.executions, key=lambda e: e.started_at)
        out.append((first.started_at - job.created_at).total_seconds())
    return out


def _judge(
    samples: Samples, latency: list[float], events_seen: int, database_url: str, ledger: object
) -> None:
    skip = int(len(samples.at) * WARM_UP)
    xs = [x / 60 for x in samples.at[skip:]]  # minutes
    slopes = {role: _slope(xs, mib[skip:]) for role, mib in samples.rss.items()}
    steepest = max(slopes.values())
    third = len(latency) // 3
    early, late = statistics.median(latency[:third]), statistics.median(latency[-third:])
    record(
        Record(
            case=f"soak {DURATION // 60} min, {RATE} jobs/s, {FOLLOWERS} SSE followers",
            backend=backend_of(database_url),
            fault="load held",
            injected=0,
            jobs=len(latency),
            lost=len(ledger.lost),  # type: ignore[attr-defined]
            overlapping=len(ledger.overlapping),  # type: ignore[attr-defined]
            memory_slope_kib_min=steepest * 1024,
            note="RSS MiB/min "
            + ", ".join(f"{r} {s:+.2f}" for r, s in slopes.items())
            + f"; fds {', '.join(f'{r} {v[skip]}->{v[-1]}' for r, v in samples.fds.items())}"
            + f"; DB connections {min(samples.connections)}-{max(samples.connections)}"
            + f"; queue latency median {early * 1000:.0f} -> {late * 1000:.0f} ms"
            + f"; {events_seen} events followed",
        )
    )
    assert_ledger(ledger)  # type: ignore[arg-type]
    assert events_seen > 0, "the followers saw nothing"
    # memory: a leak of even 1 KiB a job grows without end; growth within the window must stay
    # within what allocators settle to (generous: 2 MiB a minute, or 8 MiB in all)
    span = xs[-1] - xs[0]
    for role, mib in samples.rss.items():
        growth = slopes[role] * span
        assert growth < max(8.0, 2.0 * span), (role, slopes[role], mib)
    # descriptors: a per-request or per-job leak would add hundreds; a thread pool filling up
    # (SQLite opens a connection per thread) adds a bounded few
    for role, count in samples.fds.items():
        assert max(count[skip:]) <= count[skip] + 64, (role, count)
    if samples.connections[skip:] and backend_of(database_url) == "postgresql":
        after = samples.connections[skip:]
        assert max(after) <= max(samples.connections[: skip + 1]) + 5, samples.connections
    # latency: not a speed, only that it does not climb as the run goes on
    assert late <= 5 * early + 5.0, (early, late)
