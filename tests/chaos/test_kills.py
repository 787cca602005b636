"""SIGKILL at random moments of a drain, repeated: a worker, a job's process, `jobyard up`,
and a `jobyard server`. Afterwards, from the database: every job finished exactly once, and no
two attempts of a job overlapped (support/chaos.py, check_ledger).

Only the one process is killed, never its process group: whatever it started must go by itself.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from jobyard.store import Store
from support.chaos import (
    CASE_TIMEOUT,
    WORKER_ENV,
    assert_ledger,
    backend_of,
    chaos_worker,
    check_ledger,
    completed,
    enqueue_work,
    record_ledger,
    register,
    size,
    wait_drained,
)
from support.servers import JobyardProcess, Server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(CASE_TIMEOUT)]


def _worker(url: str, log: Path, starts: Path) -> JobyardProcess:
    return chaos_worker(url, log, starts=starts)


def _session_gone(sid: int) -> bool:
    """No process is left in session ``sid`` (zombies not counted)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            return False
    return True


def _kill_alone(process: JobyardProcess) -> None:
    """SIGKILL the process only; everything it started must be gone within 10 s."""
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)
    wait_for(
        lambda: _session_gone(process.proc.pid),
        timeout=10,
        message=f"what {process.log_path.name} had started to die with it",
    )
    process.stop()


class Drain:
    """Faults at random moments while a drain runs; times to recover after each."""

    def __init__(self, store: Store, total: int) -> None:
        self.store = store
        self.total = total
        self.injected = 0
        self.recoveries: list[float] = []
        self.rng = random.Random(os.getpid() ^ time.time_ns())

    def run(self, faults: int, inject: Callable[[], bool]) -> None:
        """``inject`` returns False when there was nothing left to hit (the drain ended)."""
        for _ in range(faults):
            target = self.rng.randint(1, max(1, self.total // (faults + 1)))
            start = completed(self.store)
            wait_for(
                lambda s=start, t=target: completed(self.store) >= min(self.total, s + t),
                timeout=120,
                interval=0.1,
                message="the drain to move on",
            )
            if completed(self.store) >= self.total:
                break
            if not inject():
                break
            self.injected += 1
            killed_at, before = time.monotonic(), completed(self.store)
            wait_for(
                lambda b=before: completed(self.store) > b or b >= self.total,
                timeout=60,
                interval=0.1,
                message="work to flow again after the fault",
            )
            self.recoveries.append(time.monotonic() - killed_at)


def _finish(store: Store, ids: list[int], starts: Path, drain: Drain, case: str, url: str) -> None:
    wait_drained(store, ids, timeout=300, what=f"after {case}")
    ledger = check_ledger(store, ids, starts_file=starts)
    record_ledger(
        case,
        backend_of(url),
        "SIGKILL",
        drain.injected,
        ledger,
        recovery_s=max(drain.recoveries, default=None),
    )
    assert_ledger(ledger)
    assert drain.injected > 0, "the drain ended before any fault"


def test_two_workers_drain_every_job_once(store: Store, database_url: str, tmp_path: Path) -> None:
    register(store)
    starts = tmp_path / "starts"
    workers = [_worker(database_url, tmp_path / f"w{i}.log", starts) for i in range(2)]
    try:
        # both up before the work arrives, or the first may take it all
        wait_for(lambda: len(store.worker_list()) == 2, timeout=30, message="two workers")
        ids = enqueue_work(store, size(300, 5000), ms=5)
        wait_drained(store, ids, timeout=300)
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.log() for w in workers]
    ledger = check_ledger(store, ids, starts_file=starts)
    assert_ledger(ledger)
    assert ledger.attempts == len(ids)  # no fault, no second attempt
    workers_seen = {e.worker_id for e in store.execution_list(limit=len(ids))}
    assert len(workers_seen) == 2  # both workers took part


def test_workers_and_job_processes_killed_at_random_moments(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    """Faults take turns: a worker (restarted at once), then a job's process (its worker
    carries on), each at a random moment of the drain."""
    register(store)
    total = size(300, 5000)
    ids = enqueue_work(store, total, ms=10)
    starts = tmp_path / "starts"
    workers = [_worker(database_url, tmp_path / f"w{i}.log", starts) for i in range(2)]
    drain = Drain(store, total)
    kinds: list[str] = []

    def kill_worker() -> bool:
        i = drain.rng.randrange(len(workers))
        _kill_alone(workers[i])
        workers[i] = _worker(database_url, tmp_path / f"w{len(kinds) + 2}.log", starts)
        return True

    def kill_child() -> bool:
        def running_pid() -> int | None:
            if completed(store) >= total:
                return -1  # the last jobs finished meanwhile: nothing left to hit
            live = [e.pid for e in store.execution_list(status="running", limit=10) if e.pid]
            return drain.rng.choice(live) if live else None

        pid = wait_for(running_pid, timeout=30, message="a job's process")
        if pid == -1:
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it finished meanwhile: pick another
            return kill_child()
        return True

    def kill() -> bool:
        kinds.append("worker" if len(kinds) % 2 == 0 else "job process")
        return (kill_worker if kinds[-1] == "worker" else kill_child)()

    try:
        drain.run(size(2, 24), kill)
        _finish(store, ids, starts, drain, "worker / job process SIGKILL mid-drain", database_url)
    finally:
        for w in workers:
            w.stop()
    assert "job process" in kinds, kinds  # both kinds of fault were injected


def test_jobyard_up_killed_at_random_moments(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    total = size(300, 5000)
    ids = enqueue_work(store, total, ms=5)
    starts = tmp_path / "starts"
    env = {**WORKER_ENV, "JOBYARD_CHAOS_STARTS": str(starts)}

    def up(i: int) -> Server:
        return Server(
            database_url=database_url,
            log_path=tmp_path / f"up{i}.log",
            app="chaosapp:app",
            extra_args=["--concurrency", "2", "--faktory-port", "0"],
            **env,
        )

    servers = [up(0)]
    drain = Drain(store, total)

    def kill() -> bool:
        _kill_alone(servers[-1])  # its worker must not outlive it
        servers.append(up(len(servers)))
        return True

    try:
        drain.run(size(2, 10), kill)
        _finish(store, ids, starts, drain, "jobyard up SIGKILL mid-drain", database_url)
    finally:
        for s in servers:
            s.stop()


def test_servers_killed_while_clients_enqueue(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    """Clients enqueue through two `jobyard server`s that are killed at random: every job a
    server acknowledged (201) is in the database and runs once; a refused request is retried
    by the client, as any client of a server that went away does."""
    register(store)
    starts = tmp_path / "starts"
    servers: list[Server] = []

    def server(i: int) -> Server:
        return Server(
            database_url=database_url,
            log_path=tmp_path / f"server{i}.log",
            command="server",
            extra_args=["--faktory-port", "0"],
            **WORKER_ENV,
        )

    servers += [server(0), server(1)]
    worker = _worker(database_url, tmp_path / "worker.log", starts)
    total = size(300, 5000)
    acknowledged: list[int] = []
    refused = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal refused
        n = 0
        while n < total and not stop.is_set():
            target = servers[n % 2]
            body = [{"type": "chaos.work", "args": {"n": n + i, "ms": 5}} for i in range(10)]
            try:
                with target.client() as http:
                    reply = http.post("/api/v1/jobs", json=body)
            except httpx.HTTPError:
                refused += 1
                time.sleep(0.05)
                continue
            assert reply.status_code == 201, reply.text
            acknowledged.extend(reply.json()["ids"])
            n += 10

    thread = threading.Thread(target=client)
    thread.start()
    drain = Drain(store, total)

    def kill() -> bool:
        i = drain.rng.randrange(2)
        _kill_alone(servers[i])
        servers[i] = server(len(servers) + 1)
        return True

    try:
        drain.run(size(2, 10), kill)
        thread.join(120)
        assert not thread.is_alive()
        _finish(
            store,
            sorted(acknowledged),
            starts,
            drain,
            "jobyard server SIGKILL while enqueuing",
            database_url,
        )
    finally:
        stop.set()
        thread.join(10)
        worker.stop()
        for s in servers:
            s.stop()
    assert len(acknowledged) == total
