"""The Posit Connect dialect with the real client: PyPI's `posit-sdk` against `jobyard up`.

The content is the app of tests/apps/svcapp.py; its job ``svc.sleep`` is the process the client
lists, finds, reads the log of and kills (``destroy``), as a Connect user would an app's process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from posit import connect
from posit.connect.errors import ClientError

from jobyard.core.processes import app_guid
from support.remote import serve, wait_until
from support.servers import ADMIN_TOKEN, Server

GUID = app_guid("svcapp")
STRINGS = ("id", "ppid", "pid", "key", "app_id", "variant_id", "bundle_id", "hostname", "run_as")


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: Any
) -> Iterator[Server]:
    with serve(request.param, tmp_path, postgres_databases, app="svcapp:app") as running:
        yield running


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def still(job: Any) -> dict[str, Any]:
    """A running job's fields but the one that moves: its last heartbeat."""
    return {k: v for k, v in dict(job).items() if k != "last_heartbeat_time"}


def rfc3339(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_posit_sdk_lists_finds_reads_and_kills_the_processes_of_an_app(server: Server) -> None:
    with server.client() as http:
        job_id = http.post("/api/v1/jobs", json={"type": "svc.sleep", "args": {"seconds": 60}})
        job_id = job_id.json()["ids"][0]

        def started() -> Any:
            executions = http.get(f"/api/v1/jobs/{job_id}").json()["executions"]
            return executions and executions[-1]["pid"] and executions[-1]

        execution = wait_until(started, what="the job's process to start")

    client = connect.Client(url=server.url, api_key=ADMIN_TOKEN)
    assert client.version == "2025.01.0"
    content = client.content.get(GUID)
    assert content["guid"] == GUID and content["name"] == "svcapp"

    jobs = content.jobs
    mine = [j for j in jobs if j["variant_id"] == str(job_id)]
    assert len(mine) == 1
    job = mine[0]
    for name in STRINGS:
        assert isinstance(job[name], str), (name, job[name])
    assert job["pid"] == str(execution["pid"]) and job["id"] == str(execution["id"])
    assert job["status"] == 0 and job["exit_code"] is None and job["end_time"] is None
    assert rfc3339(job["start_time"]) <= rfc3339(job["last_heartbeat_time"])
    assert rfc3339(job["queued_time"]) <= rfc3339(job["start_time"])
    assert job["queue_name"] == "default" and job["tag"] == "build_report"
    assert job["content_guid"] == GUID and job["remote_id"] is None

    key = job["key"]
    assert still(jobs.find(key)) == still(job)
    assert still(jobs.find_by(status=0)) == still(job)
    assert still(jobs.find_by(key=key)) == still(job)

    def logged() -> list[dict[str, Any]]:
        reply = client.get(f"v1/content/{GUID}/jobs/{key}/log", params={"maxLogLines": 10})
        return [e for e in reply.json()["entries"] if e["data"] == "sleeping"]

    [entry] = wait_until(logged, what="the job's first line in its log")
    assert entry["source"] == "stdout" and rfc3339(entry["timestamp"])

    with pytest.raises(ClientError) as missing:
        jobs.find("nope")
    assert missing.value.http_status == 404 and missing.value.error_code == 4

    pid = int(job["pid"])
    assert alive(pid)
    jobs.find(key).destroy()
    wait_until(lambda: not alive(pid), what="destroy() to kill the process")
    ended = wait_until(lambda: jobs.find(key)["status"] == 2 and jobs.find(key), what="the end")
    assert ended["end_time"] and ended["exit_code"] is not None
    assert jobs.find_by(status=0) is None
    with server.client() as http:
        done = http.get(f"/api/v1/jobs/{job_id}").json()
    assert done["status"] == "canceled" and done["canceled_by"] == "admin"

    with pytest.raises(ClientError) as again:
        jobs.find(key).destroy()
    assert again.value.http_status == 409 and again.value.error_code == 163
