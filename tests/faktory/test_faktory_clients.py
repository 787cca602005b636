"""Real Faktory clients against a real `jobyard up` with a password set.

PyPI ``faktory`` (cdrx), PyPI ``pyfaktory`` and npm ``faktory-worker`` each push jobs and run them
with their own worker, in a subprocess (their run loops end in sys.exit or process.exit). Every
job is acked once and readable through the REST API with its execution; a job whose handler
raises retries, then is dead with the client's message (and backtrace, where the client sends
one); the operator's stop reaches the worker at its next BEAT and it exits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fkwire import Wire

from support.servers import ADMIN_TOKEN, SRC, Server, free_port, wait_for

PASSWORD = "fk-pass-123"
CLIENTS = Path(__file__).parent / "clients"
NODE_DIR = CLIENTS / "node"
OK_JOBS = 5

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("faktory-up")
    port = free_port()
    server = Server(
        database_url=f"sqlite:///{folder}/jobyard.db",
        log_path=folder / "up.log",
        app=None,
        extra_args=["--faktory-port", str(port)],
        FAKTORY_PASSWORD=PASSWORD,
    )
    server.faktory_port = port  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(up: Server) -> Iterator[httpx.Client]:
    with up.client() as client:
        yield client


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """faktory-worker from the npm registry, installed once into the test's own folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the npm faktory-worker client needs them")
    modules = NODE_DIR / "node_modules"
    if not (modules / "faktory-worker" / "package.json").exists():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--silent"],
            cwd=NODE_DIR, check=True, timeout=300,
        )  # fmt: skip
    return modules


def url(up: Server) -> str:
    return f"tcp://:{PASSWORD}@127.0.0.1:{up.faktory_port}"  # type: ignore[attr-defined]


def start(client: str, up: Server, prefix: str, wid: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1")
    if client == "node":
        env["NODE_PATH"] = str(NODE_DIR / "node_modules")
        command = ["node", str(NODE_DIR / "node_worker.js")]
    else:
        command = [sys.executable, str(CLIENTS / f"{client}_worker.py")]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, url(up), prefix, wid, str(OK_JOBS)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip


def jobs(api: httpx.Client, queue: str, **params: Any) -> list[dict[str, Any]]:
    reply = api.get("/api/v1/jobs", params={"queue": queue, "per_page": 100, **params})
    reply.raise_for_status()
    return list(reply.json()["results"])


def detail(api: httpx.Client, job_id: int) -> dict[str, Any]:
    reply = api.get(f"/api/v1/jobs/{job_id}")
    reply.raise_for_status()
    return dict(reply.json())


def run_client(client: str, up: Server, api: httpx.Client, tmp_path: Path) -> None:
    prefix, wid = f"fk-{client}", f"wid-{client}-0001"
    log = tmp_path / f"{client}.log"
    proc = start(client, up, prefix, wid, log)
    try:
        _check(client, up, api, prefix, wid, proc, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def _check(
    client: str, up: Server, api: httpx.Client, prefix: str, wid: str,
    proc: subprocess.Popen[bytes], log: Path,
) -> None:  # fmt: skip
    def done() -> list[dict[str, Any]]:
        assert proc.poll() is None, log.read_text(errors="replace")
        found = jobs(api, prefix, status="completed")
        return found if len(found) == OK_JOBS else []

    completed = wait_for(done, timeout=60, message=f"{client}: every ok job completed")
    for job in completed:
        d = detail(api, job["id"])
        assert d["type"] == f"{prefix}.ok" and d["external_id"].startswith(f"{prefix}-ok-")
        (e,) = d["executions"]  # acked once, run once
        assert (e["status"], e["worker_id"]) == ("completed", wid)
        assert e["hostname"] and e["pid"]
    workers = api.get("/api/v1/workers", params={"kind": "faktory"}).json()
    (me,) = [w for w in workers if w["id"] == wid]
    assert (me["state"], me["queues"]) == ("running", [prefix])
    assert me["labels"] == ([] if client == "node" else ["python"])

    boom_jid = f"{prefix}-boom-01"

    def boom(status: str) -> dict[str, Any] | None:
        assert proc.poll() is None, log.read_text(errors="replace")
        found = [j for j in jobs(api, prefix) if j["external_id"] == boom_jid]
        return found[0] if found and found[0]["status"] == status else None

    first = wait_for(lambda: boom("retrying"), timeout=60, message=f"{client}: boom retrying")
    assert first["error"]["message"] == "boom 7"
    with Wire(up.faktory_port) as w:  # type: ignore[attr-defined]
        assert w.hello(PASSWORD) == "OK"  # retry now rather than in Faktory's 15-44 s
        assert w.call("MUTATE", {"cmd": "requeue", "target": "retries"}) == "OK"
    dead = wait_for(lambda: boom("failed"), timeout=60, message=f"{client}: boom dead")
    d = detail(api, dead["id"])
    assert [e["status"] for e in d["executions"]] == ["failed", "failed"]
    assert d["error"]["message"] == "boom 7"
    if client == "cdrx":
        assert d["error"]["type"] == "ValueError"  # cdrx sends no backtrace
    else:  # the client's own backtrace (pyfaktory's ends where the pool re-raised it)
        assert ("Error: boom 7" if client == "node" else 'File "') in d["error"]["traceback"]
        assert d["executions"][1]["traceback"] == d["error"]["traceback"]

    cli = subprocess.run(
        [sys.executable, "-m", "jobyard.cli.main", "workers", "--json", "--kind", "faktory",
         "--url", up.url, "--token", ADMIN_TOKEN],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(SRC)),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert wid in {w["id"] for w in json.loads(cli.stdout)}

    assert api.post(f"/api/v1/workers/{wid}/stop").json()["state"] == "stopping"
    proc.wait(timeout=60)  # told `terminate` at its next BEAT, it stops by itself
    wait_for(
        lambda: api.get(f"/api/v1/workers/{wid}").json()["state"] == "stopped",
        timeout=30, message=f"{client}: stopped",
    )  # fmt: skip


def test_cdrx_faktory_client(up: Server, api: httpx.Client, tmp_path: Path) -> None:
    run_client("cdrx", up, api, tmp_path)


def test_pyfaktory_client(up: Server, api: httpx.Client, tmp_path: Path) -> None:
    run_client("pyfaktory", up, api, tmp_path)


def test_npm_faktory_worker_client(
    up: Server, api: httpx.Client, tmp_path: Path, node_modules: Path
) -> None:
    run_client("node", up, api, tmp_path)


def test_killing_a_faktory_job_over_the_api(up: Server, api: httpx.Client) -> None:
    with Wire(up.faktory_port) as w:  # type: ignore[attr-defined]
        assert w.hello(PASSWORD, wid="wid-kill-0001") == "OK"
        job = {"jid": "jid-api-kill-01", "jobtype": "fk.kill", "args": [], "queue": "fk-kill"}
        assert w.call("PUSH", job) == "OK"
        assert json.loads(w.call("FETCH", "fk-kill"))["jid"] == "jid-api-kill-01"
        (found,) = jobs(api, "fk-kill")
        killed = api.post(f"/api/v1/jobs/{found['id']}/kill")
        assert killed.status_code == 200 and killed.json()["status"] == "canceled"  # at once
        assert w.call("ACK", {"jid": "jid-api-kill-01"}) == "OK"  # the client finished anyway
    d = detail(api, found["id"])
    assert d["status"] == "canceled"  # not revived
    assert [e["status"] for e in d["executions"]] == ["completed"]  # but recorded
