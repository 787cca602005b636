"""Applications, services, the process table and the Posit Connect dialect, in-process.

The real `posit-sdk` client against `jobyard up` is in tests/dialects/test_connect.py; here every
route's shape, filter and error is checked against a store the test fills by hand.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobyard.core.models import JobSpec, LogLine, Outcome, TypeDefinition, TypeKind
from jobyard.core.processes import app_guid, execution_key
from jobyard.core.services import ServiceDefinition
from jobyard.core.states import ExecutionStatus
from jobyard.engine.services import Services

from .conftest import TOKEN, TYPE, Api, World, assert_error, bearer

V1 = "/api/v1"
APP = "apitest"
CONNECT_JOB_KEYS = {
    "id", "ppid", "pid", "key", "remote_id", "app_id", "variant_id", "bundle_id", "start_time",
    "end_time", "last_heartbeat_time", "queued_time", "queue_name", "tag", "exit_code", "status",
    "hostname", "cluster", "image", "run_as", "content_id", "content_guid",
}  # fmt: skip


def key(token: str = TOKEN["admin"]) -> dict[str, str]:
    return {"Authorization": f"Key {token}"}


@pytest.fixture
def world(api: Api) -> World:
    """A world whose type belongs to the app ``apitest``, its running job's process recorded."""
    api.store.app_register(APP, types=[TYPE])
    api.store.worker_register("w", hostname="host-1", pid=1, queues=["x"], concurrency=1)
    api.store.worker_advertise("w", cluster="east", image="img:7")
    w = api.world()
    for e in api.store.execution_list(limit=100):
        api.store.execution_started(e.id, pid=5000 + e.id, ppid=42, hostname="host-1", run_as="me")
    return w


def _services(api: Api) -> None:
    for name in ("db", "web"):
        api.store.type_register(TypeDefinition(name, TypeKind.PYTHON, "apitest:quick", max_tries=1))
    api.store.app_register("site", types=["db", "web"], services=["db", "web"])
    api.store.service_register(
        [
            ServiceDefinition("db", app="site", autostart=False, ready=0),
            ServiceDefinition("web", app="site", depends_on=("db",), autostart=False, ready=0),
        ]
    )


# -- applications -------------------------------------------------------------------------------


def test_apps_list_and_detail_by_name_or_guid(api: Api, world: World) -> None:
    _services(api)
    listed = api.get(f"{V1}/apps").json()
    assert listed["count"] == 2 and listed["next"] is None and listed["previous"] is None
    site = next(a for a in listed["results"] if a["name"] == "site")
    assert site["guid"] == app_guid("site") and site["services"] == ["db", "web"]
    assert set(site) == {"id", "name", "guid", "types", "services", "created_at", "updated_at"}
    assert api.get(f"{V1}/apps/{app_guid('site')}").json() == site
    types = api.get(f"{V1}/apps/site/types").json()
    assert [t["name"] for t in types["results"]] == ["db", "web"]
    jobs = api.get(f"{V1}/apps/{APP}/jobs").json()
    assert jobs["count"] == 4 and {j["type"] for j in jobs["results"]} == {TYPE}
    failed = api.get(f"{V1}/apps/{APP}/jobs", params={"status": "failed"}).json()
    assert [j["id"] for j in failed["results"]] == [world.failed]
    assert api.get(f"{V1}/apps/site/jobs").json()["count"] == 0
    services = api.get(f"{V1}/apps/site/services").json()
    assert [s["name"] for s in services["results"]] == ["db", "web"]
    assert_error(api.get(f"{V1}/apps/nope"), 404, "not_found")
    assert_error(api.get(f"{V1}/apps/nope/jobs"), 404, "not_found")


# -- services -----------------------------------------------------------------------------------


def test_services_are_listed_and_started_stopped_restarted_by_operators(api: Api) -> None:
    _services(api)
    body = api.get(f"{V1}/services").json()
    assert [s["name"] for s in body["results"]] == ["db", "web"]
    web = body["results"][1]
    assert (web["desired"], web["status"], web["sub"], web["schedule"]) == (
        "stop", "stop", "ok", "waiting",
    )  # fmt: skip
    assert web["definition"]["depends_on"] == ["db"] and web["definition"]["restart"] == "always"
    assert web["instances"] == [] and web["ready"] is False
    assert api.get(f"{V1}/services", params={"app": "other"}).json()["count"] == 0

    started = api.post(f"{V1}/services/web/start", role="operator")
    assert started.status_code == 202 and started.json()["desired"] == "start"
    assert api.get(f"{V1}/services/db").json()["desired"] == "start"  # its dependency too
    Services(api.store).run_once()
    db = api.get(f"{V1}/services/db").json()
    assert db["schedule"] == "executing" and db["running_action"] == "start"
    assert db["instances"][0]["job_status"] == "queued" and db["instances"][0]["key"] is None
    web = api.get(f"{V1}/services/web").json()
    assert web["schedule"] == "waiting_depends" and web["waiting_for"] == ["db"]

    stopped = api.post(f"{V1}/services/db/stop", role="operator").json()
    assert stopped["desired"] == "stop"
    assert api.get(f"{V1}/services/web").json()["desired"] == "stop"  # what depends on it too
    error = assert_error(api.post(f"{V1}/services/db/reload"), 409, "invalid_transition")
    assert "stopped" in error["message"]
    assert api.post(f"{V1}/services/db/restart").json()["desired"] == "start"
    assert_error(api.post(f"{V1}/services/nope/start"), 404, "not_found")
    assert_error(api.post(f"{V1}/services/db/explode"), 422, "invalid")
    assert_error(api.post(f"{V1}/services/db/start", role="viewer"), 403, "forbidden")


def test_messages_and_updates_of_the_engine(api: Api) -> None:
    _services(api)
    api.post(f"{V1}/services/db/start")
    Services(api.store).run_once()
    updates = api.get(f"{V1}/services/updates").json()
    assert [(u["service"], u["action"]) for u in updates] == [("db", "executing")]
    u = updates[0]
    assert u["kind"] == "update" and u["msg"] == "Job db starting (1 instance forked)"
    assert u["forked_counter"] == 1 and abs(u["timestamp"] - time.time()) < 60
    assert api.get(f"{V1}/services/messages").json() == []  # nothing ended yet
    assert_error(api.get(f"{V1}/services/updates", params={"timeout": 0}), 422, "invalid")
    time.sleep(0.05)
    assert api.get(f"{V1}/services/updates", params={"timeout": 0.01}).json() == []


# -- the process table --------------------------------------------------------------------------


def test_executions_are_a_paginated_process_table(api: Api, world: World) -> None:
    body = api.get(f"{V1}/executions").json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    row = next(r for r in body["results"] if r["id"] == world.running_execution)
    assert row["key"] == execution_key(world.running_execution)
    assert (row["status"], row["pid"], row["ppid"], row["hostname"], row["run_as"]) == (
        "running", 5000 + row["id"], 42, "host-1", "me",
    )  # fmt: skip
    assert (row["app"], row["app_guid"], row["cluster"], row["image"]) == (
        APP, app_guid(APP), "east", "img:7",  # as worker "w", which claimed it, advertised
    )  # fmt: skip
    assert row["type"] == TYPE and row["queue"] == world.queue and row["current"] is True
    assert row["job_status"] == "running" and row["service"] is None

    page = api.get(f"{V1}/executions", params={"per_page": 2, "sort": "id"}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and "page=2" in page["next"]
    assert api.get(page["next"], headers=bearer(TOKEN["admin"])).json()["previous"]
    only = api.get(f"{V1}/executions", params={"status": "failed", "app": APP}).json()
    assert only["count"] == 1 and only["results"][0]["error_type"] == "ValueError"
    assert api.get(f"{V1}/executions", params={"host": "host-2"}).json()["count"] == 0
    assert api.get(f"{V1}/executions", params={"queue": world.queue}).json()["count"] == 3
    assert api.get(f"{V1}/executions", params={"app": "nobody"}).json()["count"] == 0
    later = api.get(f"{V1}/executions", params={"started_after": "2999-01-01T00:00:00Z"}).json()
    assert later["count"] == 0

    by_key = api.get(f"{V1}/executions/{row['key']}").json()
    assert by_key == api.get(f"{V1}/executions/{row['id']}").json() == row
    for junk in ("zzzzzzzzzzz", "0", "99999999999999999999", "²", "%20", "9" * 5000):
        assert_error(api.get(f"{V1}/executions/{junk}"), 404, "not_found")


# -- the Posit Connect dialect ------------------------------------------------------------------


def _content(api: Api) -> str:
    return f"/__api__/v1/content/{app_guid(APP)}"


def test_connect_content_and_its_jobs(api: Api, world: World) -> None:
    content = api.client.get(f"{_content(api)}?include=owner,tags,vanity_url", headers=key())
    assert content.status_code == 200, content.text
    body = content.json()
    assert body["guid"] == app_guid(APP) and body["name"] == APP and "owner" in body
    assert isinstance(body["id"], str)

    jobs = api.client.get(f"{_content(api)}/jobs", headers=key()).json()
    assert len(jobs) == 3 and all(set(j) == CONNECT_JOB_KEYS for j in jobs)
    by_status = {j["status"] for j in jobs}
    assert by_status == {0, 2}
    running = next(j for j in jobs if j["status"] == 0)
    assert running["key"] == execution_key(world.running_execution)
    assert running["id"] == str(world.running_execution) and running["pid"].isdigit()
    assert running["ppid"] == "42" and running["variant_id"] == str(world.running)
    assert running["exit_code"] is None and running["end_time"] is None
    assert running["start_time"].endswith("Z") and "T" in running["start_time"]
    assert running["queue_name"] == world.queue and running["tag"] == "unknown"
    assert running["content_guid"] == app_guid(APP) and running["app_id"].isdigit()
    failed = next(j for j in jobs if j["variant_id"] == str(world.failed))
    assert failed["status"] == 2 and failed["end_time"].endswith("Z")

    active = api.client.get(f"{_content(api)}/jobs", params={"status": 0}, headers=key()).json()
    assert [j["key"] for j in active] == [running["key"]]
    one = api.client.get(f"{_content(api)}/jobs/{running['key']}", headers=key()).json()
    assert one == running
    found = api.client.get(f"{_content(api)}/jobs", params={"key": running["key"]}, headers=key())
    assert found.json() == [running]


def _connect_error(response: Any, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "error", "payload"} and body["payload"] is None, body
    assert body["code"] == code and isinstance(body["error"], str) and body["error"]
    return body


def test_connect_kill_log_errors_and_legacy_routes(api: Api, world: World) -> None:
    running = execution_key(world.running_execution)
    done = next(
        e.id for e in api.store.execution_list(limit=10) if e.status is ExecutionStatus.COMPLETED
    )
    killed = api.client.delete(f"{_content(api)}/jobs/{running}", headers=key())
    assert killed.status_code == 200, killed.text
    body = killed.json()
    assert body["result"] == "Order to kill job registered" and body["job_key"] == running
    assert body["job_id"] == world.running_execution and isinstance(body["app_id"], int)
    assert body["app_guid"] == app_guid(APP) and len(body["guid"]) == 8
    assert api.store.job_get(world.running).kill_requested_by == "admin"
    error = _connect_error(
        api.client.delete(f"{_content(api)}/jobs/{execution_key(done)}", headers=key()), 409, 163
    )
    assert error["error"] == "The specified job cannot be terminated because it is not active"
    _connect_error(api.client.delete(f"{_content(api)}/jobs/{running}", headers=key("x")), 401, 22)
    viewer = key(TOKEN["viewer"])
    _connect_error(api.client.delete(f"{_content(api)}/jobs/{running}", headers=viewer), 403, 22)

    _connect_error(api.client.get(f"{_content(api)}/jobs/nope", headers=key()), 404, 4)
    _connect_error(api.client.get("/__api__/v1/content/no-such-guid", headers=key()), 404, 4)
    _connect_error(api.client.get("/__api__/v1/content/no-such/jobs", headers=key()), 404, 4)
    _connect_error(api.client.get(f"{_content(api)}/jobs"), 401, 22)

    api.store.job_log_append(
        [
            LogLine(world.running, world.running_execution, time.time(), "stdout", f"line {i}")
            for i in range(5)
        ]
        + [LogLine(world.running, world.running_execution, time.time(), "log", "said", "INFO")]
    )
    log = api.client.get(
        f"{_content(api)}/jobs/{running}/log", params={"maxLogLines": 3}, headers=key()
    ).json()
    entries = log["entries"]
    assert [(e["source"], e["data"]) for e in entries] == [
        ("stdout", "line 3"), ("stdout", "line 4"), ("stderr", "said"),
    ]  # fmt: skip
    assert entries[0]["timestamp"].endswith("Z") and "." in entries[0]["timestamp"]
    for bad in (0, 5001, "x"):
        _connect_error(
            api.client.get(
                f"{_content(api)}/jobs/{running}/log", params={"maxLogLines": bad}, headers=key()
            ),
            400,
            3,
        )

    legacy = api.client.get(f"/__api__/applications/{app_guid(APP)}/jobs", headers=key()).json()
    assert len(legacy) == 3 and all(isinstance(j["id"], int) for j in legacy)
    assert {j["finalized"] for j in legacy} == {False, True}
    assert all(isinstance(j["start_time"], int) for j in legacy)
    detail = api.client.get(
        f"/__api__/applications/{app_guid(APP)}/job/{running}", headers=key()
    ).json()
    assert detail["stdout"].startswith("line 0\n") and detail["stderr"] == "said\n"

    settings = api.client.get("/__api__/server_settings").json()  # open, like /api/v1/version
    assert settings["version"] == "2025.01.0"


def test_connect_status_one_is_a_process_whose_job_runs_again(api: Api) -> None:
    api.store.type_register(
        TypeDefinition("again", TypeKind.PYTHON, "apitest:quick", max_tries=3, queue="again")
    )
    api.store.app_register(APP, types=["again"])
    [job_id] = api.store.job_enqueue([JobSpec(type="again")])
    [claim] = api.store.job_claim(worker_id="w", queues=["again"], types=["again"], limit=1,
                                  lease=30)  # fmt: skip
    api.store.job_finish([Outcome(claim.execution_id, ExecutionStatus.FAILED, exit_code=1)])
    jobs = api.client.get(f"{_content(api)}/jobs", headers=key()).json()
    assert [(j["variant_id"], j["status"], j["exit_code"]) for j in jobs] == [(str(job_id), 1, 1)]
