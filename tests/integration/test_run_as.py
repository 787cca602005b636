"""`jobyard worker --run-as USER` on a root worker: command jobs run as USER, recorded as such.

Real processes on both backends: `jobyard server` and, beside it, `jobyard worker --run-as
nobody` (the tests run as root; skipped otherwise). A command job runs with nobody's uid and
group and none of root's groups, in a fresh working folder nobody owns (0700) that is gone
afterwards, and its execution says ``run_as: nobody``; a Python job runs as the worker (root)
and says so. An unknown user stops the worker at start with a clear error.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.remote import FAST_ENV, database, wait_until
from support.servers import JobyardProcess, Server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs a worker running as root")
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp(f"run-as-{request.param}")
    with database(request.param, folder, postgres_databases) as url:
        server = Server(database_url=url, log_path=folder / "server.log", command="server",
                        app=None, extra_args=["--engine"], **FAST_ENV)  # fmt: skip
        worker = JobyardProcess(
            ["worker", "--app", "runasapp:app", "--queues", "runas", "--run-as", "nobody",
             "--concurrency", "2", "--no-engine", "--database-url", url],
            database_url=url, log_path=folder / "worker.log", **FAST_ENV,
        )  # fmt: skip
        try:
            with server.client() as http:
                wait_until(
                    lambda: http.get("/api/v1/types/runas.report").status_code == 200,
                    what=f"the worker to register its types:\n{worker.log()}",
                )
                yield http
        finally:
            worker.stop()
            server.stop()


def run(http: httpx.Client, type_: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the finished job, its one execution)."""
    response = http.post("/api/v1/jobs", json={"type": type_})
    assert response.status_code == 201, response.text
    job_id = response.json()["ids"][0]

    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = http.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "failed") else None

    job = wait_until(finished, what=f"job {job_id} to finish")
    [execution] = http.get("/api/v1/executions", params={"job_id": job_id}).json()["results"]
    return job, execution


def test_a_command_job_runs_as_the_user_in_a_folder_it_owns(site: httpx.Client) -> None:
    job, execution = run(site, "runas.report")
    lines = site.get(f"/api/v1/jobs/{job['id']}/log").json()["results"]
    assert job["status"] == "completed", lines
    [report] = [json.loads(e["data"]["text"]) for e in lines if e["data"]["text"].startswith("{")]
    assert (report["uid"], report["user"]) == (NOBODY.pw_uid, "nobody")
    assert set(report["groups"]) <= {NOBODY.pw_gid}  # none of root's groups
    assert (report["owner"], report["mode"]) == (NOBODY.pw_uid, "0o700")
    assert (report["env_user"], report["home"]) == ("nobody", NOBODY.pw_dir)
    assert not Path(report["cwd"]).exists()
    assert execution["run_as"] == "nobody"


def test_a_python_job_runs_as_the_worker(site: httpx.Client) -> None:
    job, execution = run(site, "runas.python")
    assert job["status"] == "completed"
    assert job["result"] == {"uid": 0, "user": "root"}
    assert execution["run_as"] == "root"


def test_an_unknown_user_stops_the_worker_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jobyard.db"
    worker = JobyardProcess(
        ["worker", "--app", "runasapp:app", "--run-as", "no-such-user-xq", "--database-url", url],
        database_url=url, log_path=tmp_path / "worker.log",
    )  # fmt: skip
    try:
        assert worker.proc.wait(timeout=60) != 0
    finally:
        worker.stop()
    assert "run_as: no user 'no-such-user-xq'" in worker.log()
