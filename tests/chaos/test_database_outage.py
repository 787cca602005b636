"""PostgreSQL goes away for 10 s mid-drain, then comes back: workers and servers reconnect by
themselves, the drain completes, nothing is lost and no job runs twice at once.

The outage is a TCP proxy (support/proxy.py) between jobyard and the shared server, cut by the
test: every connection is reset and new ones are refused, as when PostgreSQL restarts. The
shared server itself is never stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobyard.store import Store
from support.chaos import (
    CASE_TIMEOUT,
    WORKER_ENV,
    assert_ledger,
    chaos_worker,
    check_ledger,
    completed,
    enqueue_work,
    record_ledger,
    register,
    size,
    wait_drained,
)
from support.proxy import TcpProxy
from support.servers import Server, wait_for

OUTAGE = 10.0  # seconds


pytestmark = [pytest.mark.slow, pytest.mark.early, pytest.mark.timeout(CASE_TIMEOUT)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_away_for_ten_seconds_mid_drain(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    total = size(400, 5000)
    ids = enqueue_work(store, total, ms=50)
    starts = tmp_path / "starts"
    proxy, through = TcpProxy.in_front_of(database_url)
    env = {**WORKER_ENV, "JOBYARD_CHAOS_STARTS": str(starts)}
    workers = [chaos_worker(through, tmp_path / f"w{i}.log", starts=starts) for i in range(2)]
    server = Server(
        database_url=through,
        log_path=tmp_path / "server.log",
        command="server",
        extra_args=["--faktory-port", "0"],
        **env,
    )
    recoveries: list[float] = []
    outages = size(1, 5)
    try:
        for round in range(outages):
            mark = total * (round + 1) // (outages + 2)
            wait_for(
                lambda m=mark: completed(store) >= m, timeout=120, message="the drain to move on"
            )
            proxy.cut()
            time.sleep(OUTAGE)
            stalled = completed(store)
            proxy.heal()
            healed = time.monotonic()
            wait_for(
                lambda s=stalled: completed(store) > s or s == total,
                timeout=60,
                message="jobs to complete again after the database came back",
            )
            with server.client() as http:
                wait_for(
                    lambda: http.get("/api/v1/jobs", params={"per_page": 1}).status_code == 200,
                    timeout=30,
                    message="the server to answer from the database",
                )
            recoveries.append(time.monotonic() - healed)
            assert all(w.proc.poll() is None for w in workers), f"a worker died in round {round}"
            assert server.proc.poll() is None, server.log()
        wait_drained(store, ids, timeout=300, what="after the outages")
    finally:
        for w in workers:
            w.stop()
        server.stop()
        proxy.close()
    ledger = check_ledger(store, ids, starts_file=starts)
    record_ledger(
        f"PostgreSQL away {OUTAGE:.0f} s mid-drain",
        "postgresql",
        "TCP cut",
        outages,
        ledger,
        recovery_s=max(recoveries),
    )
    assert_ledger(ledger)
    assert proxy.connections > 0
    assert [w.proc.returncode for w in workers] == [0, 0], [w.log()[-3000:] for w in workers]
