"""The Scale dialect: seed 004's requests, with its example bodies, answered in Scale's shapes.

In-process (``create_app`` under a TestClient) on both backends; one test replays the seed's
calls with ``requests`` against a real ``jobyard up``. Ids and times aside, every example request
and response of the seed is checked here: the keys of each model, statuses, pagination, errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from api.conftest import Api
from jobyard.core.models import Outcome
from jobyard.core.states import ExecutionStatus
from jobyard.engine.sampler import Sampler
from jobyard.store import Store
from support.servers import ADMIN_PASSWORD, Server

S = "/scale"
# the seed's examples: every key of each model
JOB_TYPE_KEYS = {
    "id", "name", "version", "title", "description", "is_system", "is_long_running",
    "is_active", "is_operational", "is_paused", "icon_code", "uses_docker", "docker_privileged",
    "docker_image", "priority", "timeout", "max_tries", "cpus_required", "mem_required",
    "disk_out_const_required", "disk_out_mult_required", "created", "archived", "paused",
    "last_modified",
}  # fmt: skip
JOB_TYPE_BASE_KEYS = {
    "id", "name", "version", "title", "description", "is_system", "is_long_running",
    "is_active", "is_operational", "is_paused", "icon_code",
}  # fmt: skip
JOB_KEYS = {
    "id", "job_type", "job_type_rev", "event", "error", "status", "priority", "num_exes",
    "timeout", "max_tries", "cpus_required", "mem_required", "disk_in_required",
    "disk_out_required", "created", "queued", "started", "ended", "last_status_change",
    "last_modified",
}  # fmt: skip
JOB_DETAIL_KEYS = JOB_KEYS | {"data", "results", "input_files", "recipes", "job_exes", "products"}
REV_KEYS = {"id", "job_type", "revision_num", "interface", "created"}
EXE_KEYS = {
    "id", "status", "command_arguments", "timeout", "pre_started", "pre_completed",
    "pre_exit_code", "job_started", "job_completed", "job_exit_code", "post_started",
    "post_completed", "post_exit_code", "created", "queued", "started", "ended", "last_modified",
    "job", "node", "error",
}  # fmt: skip
PAGE_KEYS = {"count", "next", "previous", "results"}
LOAD_KEYS = {"time", "pending_count", "queued_count", "running_count"}
STATUS_KEYS = {
    "count", "longest_queued", "job_type_name", "job_type_version", "highest_priority",
    "is_job_type_paused",
}  # fmt: skip

# a Scale job type (its interface as the seed's job_type_rev shows it), created over the dialect
KML = {
    "name": "kml-footprint", "version": "1.0.0", "title": "KML Footprint",
    "description": "Creates a KML representation of the data", "category": "footprint",
    "priority": 2, "timeout": 600, "max_tries": 1, "cpus_required": 0.5, "mem_required": 128.0,
    "disk_out_const_required": 0.0,
    "interface": {
        "version": "1.0",
        "command": "/usr/local/bin/python2.7 /app/parser/manage.py create_footprint_kml",
        "command_arguments": "${Param 1} ${job_output_dir}",
        "input_data": [
            {"name": "Param 1", "type": "property"},
            {"name": "Param 2", "type": "file", "media_types": ["text/plain"]},
        ],
        "output_data": [
            {"media_type": "application/vnd.google-earth.kml+xml", "type": "file",
             "name": "Param 3"},
        ],
    },
}  # fmt: skip
# the seed's new-job body, verbatim but for the job type id
JOB_DATA = {
    "version": "1.0",
    "input_data": [{"name": "Param 1", "value": "HELLO"}, {"name": "Param 2", "file_id": 9876}],
    "output_data": [{"name": "Param 3", "workspace_id": 15}],
}


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    api = Api(store)
    yield api
    api.close()


def make_type(api: Api, **changes: Any) -> dict[str, Any]:
    made = api.post(f"{S}/job-types/", json={**KML, **changes})
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def new_job(api: Api, type_id: int, data: Any = JOB_DATA) -> Any:
    return api.post(f"{S}/queue/new-job/", json={"job_type_id": type_id, "job_data": data})


def is_time(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("Z") and bool(dt.datetime.fromisoformat(value))


def test_job_types_create_list_and_detail(api: Api) -> None:
    body = make_type(api)
    assert JOB_TYPE_KEYS <= set(body) and {"interface", "revision_num"} <= set(body)
    assert (body["name"], body["version"], body["is_active"], body["revision_num"]) == (
        "kml-footprint", "1.0.0", True, 1,
    )  # fmt: skip
    assert body["interface"]["input_data"][1] == {
        "name": "Param 2", "type": "file", "required": True, "media_types": ["text/plain"],
    }  # fmt: skip
    assert body["interface"]["command_arguments"] == "${Param 1} ${job_output_dir}"
    listed = api.get(f"{S}/job-types/", role="viewer").json()
    assert set(listed) == PAGE_KEYS and listed["count"] == 2  # with the test app's type
    detail = api.get(f"{S}/v3/job-types/{body['id']}/").json()
    assert detail["id"] == body["id"] and is_time(detail["created"])
    again = api.post(f"{S}/job-types/", json=KML)
    assert again.status_code == 400 and "exists" in again.json()["detail"]
    broken = api.post(f"{S}/job-types/", json={**KML, "interface": {}})
    assert broken.status_code == 400 and set(broken.json()) == {"detail"}
    assert api.get(f"{S}/job-types/999999/").json() == {"detail": "Not found."}


def test_new_job_answers_with_job_details_and_a_queued_execution(api: Api) -> None:
    type_id = make_type(api)["id"]
    made = new_job(api, type_id)
    assert made.status_code == 201, made.text
    job = made.json()
    assert JOB_DETAIL_KEYS <= set(job)
    assert JOB_TYPE_KEYS <= set(job["job_type"]) and REV_KEYS <= set(job["job_type_rev"])
    assert (job["status"], job["num_exes"], job["priority"]) == ("QUEUED", 0, 2)
    assert job["data"]["input_data"] == JOB_DATA["input_data"]
    [exe] = job["job_exes"]
    assert EXE_KEYS <= set(exe) and exe["status"] == "QUEUED" and exe["job"] == {"id": job["id"]}
    assert made.headers["location"] == f"{S}/job-executions/{exe['id']}/"
    assert all(is_time(job[k]) for k in ("created", "queued", "last_modified"))
    assert job["started"] is None and job["ended"] is None
    detail = api.get(made.headers["location"], role="viewer").json()
    assert detail["status"] == "QUEUED" and JOB_KEYS <= set(detail["job"])
    assert api.get(f"{S}/jobs/{job['id']}/").json()["id"] == job["id"]
    # bad requests, as Scale answers them
    assert new_job(api, type_id, {"input_data": [{"name": "Param 1"}]}).json() == (
        "Invalid job information."
    )
    assert new_job(api, type_id, {"input_data": [{"name": "Nope", "value": 1}]}).status_code == 400
    assert new_job(api, 999999).json() == {"detail": "Not found."}
    missing = api.post(f"{S}/queue/new-job/", json={"job_data": JOB_DATA})
    assert missing.json() == {"detail": 'Missing required parameter: "job_type_id"'}
    wrong = api.post(f"{S}/queue/new-job/", json={"job_type_id": "x", "job_data": {}})
    assert wrong.json() == {"detail": 'Parameter must be a valid integer: "job_type_id"'}


def test_executions_are_numbered_per_job_and_keep_their_id(api: Api) -> None:
    type_id = make_type(api)["id"]
    job = new_job(api, type_id).json()
    queued_id = job["job_exes"][0]["id"]
    [claim] = api.store.job_claim(
        worker_id="w", queues=["default"], types=["kml-footprint"], limit=1, lease=60
    )
    api.store.job_finish(
        [
            Outcome(
                execution_id=claim.execution_id, status=ExecutionStatus.COMPLETED, result={"n": 1}
            )
        ]
    )
    done = api.get(f"{S}/jobs/{job['id']}/").json()
    assert done["status"] == "COMPLETED" and done["num_exes"] == 1
    assert [(e["id"], e["status"]) for e in done["job_exes"]] == [(queued_id, "COMPLETED")]
    assert done["results"] == {"version": "1.0", "output_data": [{"name": "n", "value": 1}]}
    exe = api.get(f"{S}/job-executions/{queued_id}/").json()
    assert exe["status"] == "COMPLETED" and exe["results"]["output_data"] == [
        {"name": "n", "value": 1}
    ]
    assert api.get(f"{S}/job-executions/{queued_id + 1}/").status_code == 404
    assert api.get(f"{S}/jobs/999999/").json() == {"detail": "Not found."}


def test_queue_status_groups_queued_jobs_by_type(api: Api) -> None:
    type_id = make_type(api)["id"]
    for _ in range(3):
        new_job(api, type_id)
    api.enqueue(priority=1)  # the test app's type: higher priority, listed first
    status = api.get(f"{S}/queue/status/", role="viewer").json()
    assert set(status) == {"queue_status"}
    first, kml = status["queue_status"]
    assert set(kml) == STATUS_KEYS
    assert (kml["count"], kml["job_type_name"], kml["job_type_version"]) == (
        3, "kml-footprint", "1.0.0",
    )  # fmt: skip
    assert kml["highest_priority"] == 2 and kml["is_job_type_paused"] is False
    assert is_time(kml["longest_queued"]) and first["highest_priority"] == 1


def test_load_over_time_with_scale_time_rules(api: Api) -> None:
    type_id = make_type(api)["id"]
    new_job(api, type_id)
    Sampler(api.store).run_once()
    page = api.get(f"{S}/load/", params={"started": "P31D"}, role="viewer")
    assert page.status_code == 200, page.text
    body = page.json()
    assert set(body) == PAGE_KEYS and body["count"] == 1
    [point] = body["results"]
    assert set(point) == LOAD_KEYS and point["queued_count"] == 1 and is_time(point["time"])
    by_type = api.get(f"{S}/load/", params=[("started", "PT1H"), ("job_type_id", str(type_id)),
                                             ("job_type_id", "999")])  # fmt: skip
    assert by_type.json()["count"] == 1
    other = api.get(f"{S}/load/", params={"started": "PT1H", "job_type_name": "nothing"})
    assert other.json()["count"] == 0
    assert api.get(f"{S}/load/").status_code == 200  # default: since midnight 7 days ago
    too_long = {"detail": "Time range must be between 0 and 31 days, 0:00:00"}
    explicit = {"started": "2015-01-01T00:00:00Z", "ended": "2015-02-02T00:00:00Z"}
    assert api.get(f"{S}/load/", params=explicit).json() == too_long
    assert api.get(f"{S}/load/", params={"started": "P32D"}).json() == too_long
    bad_start = "Invalid ISO timestamp format for parameter: started"
    for params, detail in (
        ({"started": "2015-01-01T00:00:00-05:00"}, bad_start),
        ({"started": "2015-01-01T00:00:00"}, bad_start),
        ({"started": "P1Y"}, bad_start),
        ({"started": "PT1H", "ended": "soon"}, "Invalid ISO timestamp format for parameter: ended"),
        ({"started": "PT1H", "ended": "PT1H"}, "Start and end values must be different"),
        ({"started": "PT1H", "ended": "PT2H"}, "Start time must come before end time"),
        (
            {"started": "PT1H", "job_type_id": "x"},
            'Parameter must be a valid integer: "job_type_id"',
        ),
    ):
        response = api.get(f"{S}/load/", params=params)
        assert (response.status_code, response.json()) == (400, {"detail": detail}), params
    ok = api.get(f"{S}/load/", params={"started": "2015-01-01T00:00:00+00:00",
                                       "ended": "2015-01-31T00:00:00Z"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["count"] == 0


def failed_job(api: Api, type_id: int) -> int:
    job_id: int = new_job(api, type_id).json()["id"]
    [claim] = api.store.job_claim(
        worker_id="w", queues=["default"], types=["kml-footprint"], limit=1, lease=60
    )
    assert claim.job_id == job_id
    api.store.job_finish(
        [
            Outcome(
                execution_id=claim.execution_id,
                status=ExecutionStatus.FAILED,
                error_type="ValueError",
                error_message="boom",
            )
        ]
    )
    return job_id


def test_requeue_jobs_with_scale_semantics(api: Api) -> None:
    type_id = make_type(api)["id"]
    failed = failed_job(api, type_id)
    assert api.get(f"{S}/jobs/{failed}/").json()["status"] == "FAILED"
    canceled = new_job(api, type_id).json()["id"]
    api.store.job_cancel(canceled)
    done = failed_job(api, type_id)
    api.store.job_requeue([done])  # then complete it: COMPLETED jobs are left alone
    [claim] = api.store.job_claim(
        worker_id="w", queues=["default"], types=["kml-footprint"], limit=1, lease=60
    )
    api.store.job_finish([Outcome(execution_id=claim.execution_id,
                                  status=ExecutionStatus.COMPLETED)])  # fmt: skip
    response = api.post(
        f"{S}/queue/requeue-jobs/",
        json={"job_type_ids": [type_id], "priority": 1},
        role="operator",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PAGE_KEYS and body["count"] == 3
    by_id = {j["id"]: j for j in body["results"]}
    assert all(JOB_KEYS <= set(j) and JOB_TYPE_BASE_KEYS <= set(j["job_type"])
               for j in by_id.values())  # fmt: skip
    assert by_id[failed]["status"] == "QUEUED"
    assert (by_id[failed]["max_tries"], by_id[failed]["num_exes"], by_id[failed]["priority"]) == (
        2, 1, 1,
    )  # max_tries = num_exes + 1; the new priority  # fmt: skip
    # never queued: back as it was (no parents to wait for, so ready), its tries and priority kept
    assert by_id[canceled]["status"] in ("PENDING", "QUEUED")
    assert (by_id[canceled]["max_tries"], by_id[canceled]["priority"]) == (1, 2)
    assert by_id[done]["status"] == "COMPLETED"
    nothing = api.post(f"{S}/queue/requeue-jobs/", json={"job_ids": [999999]})
    assert (nothing.status_code, nothing.json()) == (404, {"detail": "Not found."})
    by_status = api.post(f"{S}/v3/queue/requeue-jobs/", json={"status": "CANCELED"})
    assert by_status.status_code == 404  # nothing is canceled any more
    bad = api.post(f"{S}/queue/requeue-jobs/", json={"status": "LOST"})
    assert bad.status_code == 400 and "status" in bad.json()["detail"]


def test_pages_are_one_based_with_absolute_links(api: Api) -> None:
    type_id = make_type(api)["id"]
    for _ in range(3):
        failed_job(api, type_id)
    first = api.post(f"{S}/queue/requeue-jobs/?page_size=2", json={"status": "FAILED"}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    assert first["next"].startswith("http://testserver/scale/queue/requeue-jobs/")
    assert "page=2" in first["next"]
    listed = api.get(f"{S}/job-types/", params={"page": 2, "page_size": 1}).json()
    assert listed["previous"] == "http://testserver/scale/job-types/?page_size=1"
    assert listed["next"] is None
    assert api.get(f"{S}/job-types/", params={"page": 9}).json() == {"detail": "Invalid page."}


def test_signing_in_as_for_the_native_api(api: Api) -> None:
    refused = api.get(f"{S}/queue/status/", role=None)
    assert refused.status_code == 401 and set(refused.json()) == {"detail"}
    viewer = api.post(f"{S}/queue/new-job/", json={"job_type_id": 1}, role="viewer")
    assert viewer.status_code == 403 and "operator" in viewer.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_seed_replayed_against_jobyard_up(database_url: str, tmp_path: Path) -> None:
    """The seed's calls with ``requests``, on a real server: versioned and unversioned."""
    server = Server(database_url=database_url, log_path=tmp_path / "log", app=None)
    auth = ("admin", ADMIN_PASSWORD)
    try:
        base = server.url + "/scale/v3"
        made = requests.post(f"{base}/job-types/", json=KML, auth=auth, timeout=10)
        assert made.status_code == 201, made.text
        job = requests.post(
            f"{base}/queue/new-job/",
            json={"job_type_id": made.json()["id"], "job_data": JOB_DATA},
            auth=auth, timeout=10,
        )  # fmt: skip
        assert job.status_code == 201 and JOB_DETAIL_KEYS <= set(job.json())
        exe = requests.get(server.url + job.headers["Location"], auth=auth, timeout=10)
        assert exe.status_code == 200 and exe.json()["status"] == "QUEUED"
        status = requests.get(f"{server.url}/scale/queue/status/", auth=auth, timeout=10).json()
        assert [s["count"] for s in status["queue_status"]] == [1]
        load = requests.get(f"{base}/load/", params={"started": "P31D"}, auth=auth, timeout=10)
        assert load.status_code == 200 and set(load.json()) == PAGE_KEYS
        over = requests.get(f"{base}/load/", params={"started": "P32D"}, auth=auth, timeout=10)
        assert over.status_code == 400
        assert over.json() == {"detail": "Time range must be between 0 and 31 days, 0:00:00"}
        requeue = requests.post(f"{base}/queue/requeue-jobs/", json={"status": "FAILED"},
                                auth=auth, timeout=10)  # fmt: skip
        assert requeue.status_code == 404 and requeue.json() == {"detail": "Not found."}
    finally:
        server.stop()


RECIPE_KEYS = {"id", "recipe_type", "event", "created", "completed", "last_modified", "data",
               "input_files", "jobs"}  # fmt: skip
RECIPE_TYPE_KEYS = {"id", "name", "version", "description", "is_active", "definition", "created",
                    "last_modified", "archived"}  # fmt: skip


def test_recipe_types_and_new_recipe(api: Api) -> None:
    interface = {**KML["interface"], "input_data": [{"name": "input_file", "type": "property"}],
                 "command_arguments": "${input_file}"}  # fmt: skip
    make_type(api, interface=interface)
    definition = {
        "version": "1.0",
        "input_data": [{"name": "input_file", "type": "property", "required": True}],
        "jobs": [
            {"name": "kml", "job_type": {"name": "kml-footprint", "version": "1.0.0"},
             "recipe_inputs": [{"recipe_input": "input_file", "job_input": "input_file"}]},
            {"name": "again", "job_type": {"name": "kml-footprint"},
             "recipe_inputs": [{"recipe_input": "input_file", "job_input": "input_file"}],
             "dependencies": [{"name": "kml"}]},
        ],
    }  # fmt: skip
    made = api.post(
        f"{S}/recipe-types/",
        json={"name": "MyRecipe", "version": "1.0.0", "description": "A recipe",
              "definition": definition},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    recipe_type = made.json()
    assert RECIPE_TYPE_KEYS <= set(recipe_type)
    assert made.headers["location"] == f"{S}/recipe-types/{recipe_type['id']}/"
    listed = api.get(f"{S}/recipe-types/", role="viewer").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == recipe_type["id"]
    assert api.get(f"{S}/recipe-types/{recipe_type['id']}/").json()["name"] == "MyRecipe"
    broken = {**definition, "jobs": [{**definition["jobs"][1], "dependencies": [{"name": "x"}]}]}
    refused = api.post(f"{S}/recipe-types/", json={"name": "Bad", "definition": broken})
    assert refused.status_code == 400 and set(refused.json()) == {"detail"}

    data = {"version": "1.0", "input_data": [{"name": "input_file", "value": "a.txt"}],
            "workspace_id": 12}  # fmt: skip
    created = api.post(
        f"{S}/queue/new-recipe/", json={"recipe_type_id": recipe_type["id"], "recipe_data": data}
    )
    assert created.status_code == 201, created.text
    recipe = created.json()
    assert RECIPE_KEYS <= set(recipe)
    assert created.headers["location"] == f"{S}/recipes/{recipe['id']}/"
    statuses = {j["job_name"]: j["job"]["status"] for j in recipe["jobs"]}
    assert statuses == {"kml": "QUEUED", "again": "PENDING"}
    assert all(JOB_KEYS <= set(j["job"]) for j in recipe["jobs"])
    # the first job fails: the second is BLOCKED, as Scale says of a job behind a failed one
    failed = {j["job_name"]: j["job"]["id"] for j in recipe["jobs"]}["kml"]
    [claim] = api.store.job_claim(
        worker_id="w", queues=["default"], types=["kml-footprint"], limit=1, lease=60
    )
    assert claim.job_id == failed
    api.store.job_finish([Outcome(execution_id=claim.execution_id, status=ExecutionStatus.FAILED,
                                  error_type="E", error_message="x")])  # fmt: skip
    again = api.get(created.headers["location"]).json()
    assert {j["job_name"]: j["job"]["status"] for j in again["jobs"]} == {
        "kml": "FAILED", "again": "BLOCKED",
    }  # fmt: skip
    second = {j["job_name"]: j["job"]["id"] for j in recipe["jobs"]}["again"]
    detail = api.get(f"{S}/jobs/{second}/").json()
    assert detail["status"] == "BLOCKED"
    assert [(r["id"], r["recipe_type"]["name"]) for r in detail["recipes"]] == [
        (recipe["id"], "MyRecipe")
    ]
    bad_data = api.post(f"{S}/queue/new-recipe/",
                        json={"recipe_type_id": recipe_type["id"], "recipe_data": {}})  # fmt: skip
    assert bad_data.json() == "Invalid recipe information."
    unknown = api.post(f"{S}/queue/new-recipe/", json={"recipe_type_id": 999, "recipe_data": data})
    assert unknown.json() == {"detail": "Not found."}
