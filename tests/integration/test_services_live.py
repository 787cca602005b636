"""Services with real processes: `jobyard up` (and workers) running tests/apps/svcapp.py.

- Three services A <- B <- C (C depends on B, B on A): starting C starts A, B, C in order; killing
  B's process restarts it while C reports ``waiting_depends``; stopping A stops C, B, A in that
  order; the Endian calls, reading the same database, return the seed's shapes at every step;
  and every execution shows in `jobyard ps` with its pid, host and exit status.
- Two workers and one single-instance service: never two copies running, also when the worker
  running it is SIGKILLed and the other takes it over after the lease.

Each service process leaves a file ``<name>.<pid>`` in the test's folder, so the test can see
every copy that ever ran and check which are alive.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobyard import endian
from jobyard.client import Client
from jobyard.core.services import Service
from support.remote import FAST_ENV, database, run_cli, wait_until
from support.servers import ADMIN_TOKEN, JobyardProcess, Server

A, B, C = "svc.a", "svc.b", "svc.c"
JOB_KEYS = {"name", "status", "sub", "schedule", "t0", "t1"}
ENV = {**FAST_ENV, "JOBYARD_SERVICE_INTERVAL": "0.1"}  # the service duty's rounds: 10 a second
WORKER = ["worker", "--app", "svcapp:app", "--no-engine", "--concurrency", "1"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def copies(folder: Path, name: str) -> list[int]:
    """Pids of every copy of ``name`` that ever started."""
    return sorted(int(p.suffix[1:]) for p in folder.glob(f"{name}.*"))


def check_shapes(jobs: dict[str, Any]) -> None:
    for entry in jobs["jobs"].values():
        if entry["schedule"] == "executing":
            assert set(entry) == JOB_KEYS | {"running_action", "pid"}, entry
        else:
            assert set(entry) == JOB_KEYS, entry
        assert entry["status"] in ("start", "stop") and entry["sub"] in ("ok", "err")
        assert isinstance(entry["t0"], float) and isinstance(entry["t1"], float)


def running_pid(service: Service) -> int | None:
    pids = [i.pid for i in service.instances if i.running and i.pid]
    return pids[0] if pids else None


@pytest.fixture(params=["sqlite", "postgresql"])
def up(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: Any) -> Iterator[Any]:
    pids = tmp_path / "pids"
    pids.mkdir()
    with database(request.param, tmp_path, postgres_databases) as url:
        server = Server(
            database_url=url, log_path=tmp_path / "server.log", app="svcapp:app",
            SVC_DIR=str(pids), **ENV,
        )  # fmt: skip
        engine = endian.init(url)
        try:
            yield server, url, pids, engine
        finally:
            engine.store.close()
            server.stop()


def test_three_services_start_in_order_restart_and_stop_in_reverse(up: Any, tmp_path: Path) -> None:
    server, _, pids, _ = up
    client = Client(server.url, token=ADMIN_TOKEN)
    cli_env = {"JOBYARD_URL": server.url, "JOBYARD_TOKEN": ADMIN_TOKEN}
    wait_until(lambda: len(endian.get_jobs()["jobs"]) == 4, what="the services to register")
    check_shapes(endian.get_jobs())

    started = run_cli(("start", C), home=tmp_path, env=cli_env, input=None, timeout=60)
    assert started.code == 0 and "start requested" in started.out, started

    def all_up() -> bool:
        jobs = endian.get_jobs()
        check_shapes(jobs)
        return all(
            (jobs["jobs"][n]["status"], jobs["jobs"][n]["sub"], jobs["jobs"][n]["schedule"])
            == ("start", "ok", "waiting")
            for n in (A, B, C)
        )

    wait_until(all_up, what="A, B and C to start")
    jobs = endian.get_jobs()["jobs"]
    assert jobs[A]["t1"] <= jobs[B]["t0"] and jobs[B]["t1"] <= jobs[C]["t0"]
    first = {n: client.service(n).instances[0] for n in (A, B, C)}
    assert first[A].started_at < first[B].started_at < first[C].started_at  # type: ignore[operator]
    messages = endian.get_messages()["messages"]
    assert [m["msg"] for m in messages] == ["SVC.A-I-Start", "SVC.B-I-Start", "SVC.C-I-Start"]
    assert [m["startup_percentage"] for m in messages] == ["33%", "67%", "100%"]

    # kill B's process: it comes back, and C waits for it meanwhile
    b = running_pid(client.service(B))
    assert b is not None and copies(pids, B) == [b] and alive(b)
    seen = []
    os.kill(b, signal.SIGKILL)

    def back() -> bool:
        jobs = endian.get_jobs()
        check_shapes(jobs)
        seen.append(jobs["jobs"][C]["schedule"])
        pid = running_pid(client.service(B))
        return pid not in (None, b) and all_up()

    wait_until(back, what="B to start again", every=0.02)
    assert "waiting_depends" in seen, seen
    assert len(copies(pids, B)) == 2 and not alive(b)
    updates = endian.get_updates(timeout=60)["updates"]
    said = [(u["name"], u["status"]) for u in updates]
    assert (C, "waiting_depends") in said and (B, "stop") in said
    assert all(set(u) == {"name", "status", "time", "msg"} for u in updates)
    assert [u["time"] for u in updates] == sorted((u["time"] for u in updates), reverse=True)
    oldest = updates[-1]["time"]
    # a quarter second of margin: the server's clock is the database's, a few ms off this one
    shorter = endian.get_updates(timeout=time.time() - oldest - 0.25)["updates"]
    assert len(shorter) < len(updates)  # those older than the timeout have expired
    exits = [m for m in endian.get_messages()["messages"] if m["msg"] == "SVC.B-E-Exit"]
    assert len(exits) == 1 and exits[0]["sub"] == "err" and exits[0]["err_counter"] == 1

    # stop A: what depends on it stops first
    assert client.stop_service(A).desired.value == "stop"

    def all_down() -> bool:
        jobs = endian.get_jobs()["jobs"]
        return all(
            jobs[n]["status"] == "stop" and jobs[n]["schedule"] == "waiting" for n in (A, B, C)
        )

    wait_until(all_down, what="A, B and C to stop")
    ended = {n: client.service(n).instances[0].ended_at for n in (A, B, C)}
    assert ended[C] <= ended[B] <= ended[A]  # type: ignore[operator]
    assert not any(alive(p) for n in (A, B, C) for p in copies(pids, n))
    last = [m["msg"] for m in endian.get_messages()["messages"][-3:]]
    assert last == ["SVC.C-I-Stop", "SVC.B-I-Stop", "SVC.A-I-Stop"]

    # every execution of the run, in `jobyard ps`, with its pid, host and how it ended
    ps = run_cli(("ps", "--app", "svcapp", "--json"), home=tmp_path, env=cli_env, input=None,
                 timeout=60)  # fmt: skip
    assert ps.code == 0, ps
    rows = json.loads(ps.out)["results"]
    assert len(rows) == 4 and {r["type"] for r in rows} == {A, B, C}
    for row in rows:
        e = row["execution"]
        assert e["pid"] and e["hostname"] and e["ended_at"] and row["service"] == row["type"]
        assert e["exit_code"] is not None or e["signal"] is not None, row
    killed = [r for r in rows if r["execution"]["pid"] == b]
    assert killed[0]["execution"]["signal"] == 9 and killed[0]["execution"]["status"] == "failed"
    table = run_cli(("ps",), home=tmp_path, env=cli_env, input=None, timeout=60)
    assert table.code == 0 and str(b) in table.out and "signal 9" in table.out, table.out
    client.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_copy_of_a_service_across_workers_even_when_one_is_killed(
    backend: str, tmp_path: Path, postgres_databases: Any
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**ENV, "JOBYARD_LEASE": "2", "SVC_DIR": str(pids)}
    with database(backend, tmp_path, postgres_databases) as url:
        server = Server(database_url=url, log_path=tmp_path / "server.log", command="server",
                        app=None, extra_args=["--engine"], **env)  # fmt: skip
        workers = [
            JobyardProcess(
                [*WORKER, "--cluster", f"cluster-{i}", "--image", f"image:{i}"],
                database_url=url,
                log_path=tmp_path / f"worker{i}.log",
                **env,
            )
            for i in (1, 2)
        ]
        most = [0]
        stop = threading.Event()

        def watch() -> None:  # the number of copies alive, every 20 ms
            while not stop.is_set():
                most[0] = max(most[0], sum(alive(p) for p in copies(pids, "svc.solo")))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        client = Client(server.url, token=ADMIN_TOKEN)
        try:
            # a worker registers its app, then its types, then its services
            wait_until(
                lambda: any(s.name == "svc.solo" for s in client.services()),
                what="the workers to register their services",
            )
            client.start_service("svc.solo")

            def runs_on() -> str | None:
                s = client.service("svc.solo")
                up = [i for i in s.instances if i.ready]
                return up[0].worker_id if up and s.schedule.value == "waiting" else None

            first = wait_until(runs_on, what="svc.solo to start")
            [victim] = [w for w in workers if f"-{w.proc.pid}-" in first]
            os.kill(victim.proc.pid, signal.SIGKILL)  # the worker only; its warden ends the copy
            second = wait_until(
                lambda: (w := runs_on()) not in (None, first) and w, timeout=60,
                what="the other worker to take svc.solo over",
            )  # fmt: skip
            assert second != first
            time.sleep(0.5)  # the new copy runs a while: still one
            assert most[0] == 1, f"{most[0]} copies of svc.solo ran at once"
            assert len(copies(pids, "svc.solo")) == 2
            rows = client.executions(service="svc.solo", sort="id").results
            assert [r.execution.status.value for r in rows] == ["lost", "running"]
            assert [r.cluster for r in rows] == [
                f"cluster-{1 if victim is workers[0] else 2}",
                f"cluster-{2 if victim is workers[0] else 1}",
            ]
            assert rows[1].image and rows[1].execution.pid in copies(pids, "svc.solo")
        finally:
            stop.set()
            watcher.join()
            client.close()
            for w in workers:
                w.stop()
            server.stop()
