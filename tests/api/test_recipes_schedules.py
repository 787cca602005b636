"""Recipes and schedules over HTTP, in-process on both backends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jobyard.core.models import Outcome
from jobyard.core.states import ExecutionStatus

from .conftest import TYPE, Api, assert_error

V1 = "/api/v1"


def recipe_type(name: str = "pipeline") -> dict[str, Any]:
    """extract -> (left, right) -> join; each job in a queue of its own (q-<name>)."""

    def job(job_name: str, *parents: str, **extra: Any) -> dict[str, Any]:
        deps = [{"name": p, "connections": [{"output": "n", "input": p}]} for p in parents]
        return {"name": job_name, "job_type": {"name": TYPE}, "queue": f"q-{name}-{job_name}",
                "dependencies": deps, **extra}  # fmt: skip

    return {
        "name": name,
        "title": "A pipeline",
        "definition": {
            "input_data": [{"name": "day"}],
            "jobs": [
                job("extract", recipe_inputs=[{"recipe_input": "day", "job_input": "day"}]),
                job("left", "extract"),
                job("right", "extract"),
                job("join", "left", "right"),
            ],
        },
    }


def complete(api: Api, queue: str, result: Any) -> int:
    [claim] = api.store.job_claim(worker_id="w", queues=[queue], types=[TYPE], limit=1, lease=60)
    api.store.job_finish([Outcome(claim.execution_id, ExecutionStatus.COMPLETED, result=result)])
    return claim.job_id


def test_recipe_types_create_read_and_list(api: Api) -> None:
    made = api.post(f"{V1}/recipe-types", json=recipe_type(), role="operator")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["revision"], body["version"], body["title"]) == (
        "pipeline", 1, "1.0", "A pipeline",
    )  # fmt: skip
    assert [j["name"] for j in body["definition"]["jobs"]] == ["extract", "left", "right", "join"]
    assert api.get(f"{V1}/recipe-types/pipeline", role="viewer").json() == body
    changed = recipe_type()
    changed["description"] = "now described"
    assert api.post(f"{V1}/recipe-types", json=changed).json()["revision"] == 2
    assert api.get(f"{V1}/recipe-types/pipeline", params={"revision": 1}).json() == body
    listed = api.get(f"{V1}/recipe-types", params={"search": "described"}).json()
    assert (listed["count"], listed["results"][0]["revision"]) == (1, 2)
    assert_error(api.get(f"{V1}/recipe-types/nope"), 404, "not_found")


def test_a_bad_recipe_type_is_refused_naming_the_field(api: Api) -> None:
    cycle = recipe_type()
    cycle["definition"]["jobs"][0]["dependencies"] = [{"name": "join"}]
    unknown = recipe_type()
    unknown["definition"]["jobs"][1]["job_type"] = {"name": "no.such.type"}
    for body, field in (
        (cycle, "definition.jobs[0].dependencies"),
        (unknown, "definition.jobs[1].job_type.name"),
        ({"name": "x"}, "definition"),
        ({"name": "x", "definition": {"jobs": [{"name": "a"}]}}, "definition.jobs[0].job_type"),
        ([1, 2], "recipe_type"),
        ({**recipe_type(), "colour": "red"}, "colour"),
    ):
        error = assert_error(api.post(f"{V1}/recipe-types", json=body), 422, "invalid")
        assert error["details"]["field"] == field, error
    assert api.get(f"{V1}/recipe-types").json()["count"] == 0


def test_a_recipe_over_http(api: Api) -> None:
    api.post(f"{V1}/recipe-types", json=recipe_type())
    made = api.post(f"{V1}/recipes", json={"type": "pipeline", "inputs": {"day": "mon"}},
                    role="operator")  # fmt: skip
    assert made.status_code == 201, made.text
    recipe = made.json()
    assert (recipe["status"], recipe["created_by"], recipe["inputs"]) == (
        "running", "operator", {"day": "mon"},
    )  # fmt: skip
    assert [(n["name"], n["status"], n["parents"]) for n in recipe["nodes"]] == [
        ("extract", "queued", []), ("left", "blocked", ["extract"]),
        ("right", "blocked", ["extract"]), ("join", "blocked", ["left", "right"]),
    ]  # fmt: skip
    assert {"parent": "left", "child": "join",
            "connections": [{"output": "n", "input": "left"}]} in recipe["edges"]  # fmt: skip
    assert recipe["counts"] == {"queued": 1, "blocked": 3}
    ids = {n["name"]: n["job_id"] for n in recipe["nodes"]}

    join = api.get(f"{V1}/jobs/{ids['join']}", role="viewer").json()
    assert join["recipe"] == {"id": recipe["id"], "type": "pipeline", "name": "join"}
    assert join["parents"] == [
        {"job_id": ids["left"], "name": "left", "status": "blocked"},
        {"job_id": ids["right"], "name": "right", "status": "blocked"},
    ]
    assert join["children"] == []

    complete(api, "q-pipeline-extract", {"n": 1})
    complete(api, "q-pipeline-left", {"n": 2})
    complete(api, "q-pipeline-right", {"n": 3})
    assert api.get(f"{V1}/jobs/{ids['join']}").json()["args"] == {"left": 2, "right": 3}
    complete(api, "q-pipeline-join", {"n": 5})
    done = api.get(f"{V1}/recipes/{recipe['id']}", role="viewer").json()
    assert done["status"] == "completed" and done["completed_at"] is not None
    listed = api.get(f"{V1}/recipes", params={"status": "completed"}, role="viewer").json()
    assert [(r["id"], r["jobs"], r["counts"]) for r in listed["results"]] == [
        (recipe["id"], 4, {"completed": 4})
    ]
    assert api.get(f"{V1}/recipes", params={"status": "running"}).json()["count"] == 0


def test_cancel_and_requeue_a_recipe_over_http(api: Api) -> None:
    api.post(f"{V1}/recipe-types", json=recipe_type())
    recipe = api.post(f"{V1}/recipes", json={"type": "pipeline", "inputs": {"day": 1}}).json()
    canceled = api.post(f"{V1}/recipes/{recipe['id']}/cancel", role="operator").json()
    assert (canceled["status"], canceled["canceled_by"]) == ("canceled", "operator")
    assert canceled["counts"] == {"canceled": 4}
    requeued = api.post(f"{V1}/recipes/{recipe['id']}/requeue", role="operator").json()
    assert requeued["status"] == "running" and requeued["canceled_at"] is None
    assert [n["status"] for n in requeued["nodes"]] == ["queued", "blocked", "blocked", "blocked"]
    again = api.post(f"{V1}/recipes/{recipe['id']}/requeue").json()  # nothing left to requeue
    assert again["counts"] == requeued["counts"]


def test_recipe_errors(api: Api) -> None:
    api.post(f"{V1}/recipe-types", json=recipe_type())
    error = assert_error(api.post(f"{V1}/recipes", json={"type": "pipeline"}), 422, "invalid")
    assert error["details"]["field"] == "inputs.day"
    error = assert_error(
        api.post(f"{V1}/recipes", json={"type": "pipeline", "inputs": {"day": 1, "x": 2}}), 422
    )
    assert error["details"]["field"] == "inputs.x"
    assert_error(api.post(f"{V1}/recipes", json={"type": "nope"}), 404, "not_found")
    assert_error(api.post(f"{V1}/recipes", json={"inputs": {}}), 422, "invalid")
    for path in ("/recipes/99", "/recipes/99/cancel", "/recipes/99/requeue"):
        method = api.get if path.count("/") == 2 else api.post
        assert_error(method(f"{V1}{path}"), 404, "not_found")
    assert_error(api.get(f"{V1}/recipes/0"), 422, "invalid")
    assert_error(api.get(f"{V1}/recipes", params={"status": "lost"}), 422, "invalid")


def test_a_plain_job_has_no_recipe_links(api: Api) -> None:
    job = api.get(f"{V1}/jobs/{api.enqueue()}").json()
    assert (job["recipe"], job["parents"], job["children"]) == (None, None, None)


# -- schedules ------------------------------------------------------------------------------------

SCHEDULE = {
    "name": "nightly",
    "cron": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "type": TYPE,
    "args": {"period": "day"},
    "catch_up": "once",
}


def test_schedules_create_read_update_delete(api: Api) -> None:
    made = api.post(f"{V1}/schedules", json=SCHEDULE, role="operator")
    assert made.status_code == 201, made.text
    body = made.json()
    assert {k: body[k] for k in SCHEDULE} == SCHEDULE
    assert (body["enabled"], body["revision"], body["created_by"]) == (True, 1, "operator")
    detail = api.get(f"{V1}/schedules/nightly", params={"next": 3}, role="viewer").json()
    runs = [datetime.fromisoformat(t) for t in detail["next_runs"]]
    assert len(runs) == 3 and all((t.hour, t.minute) == (2, 30) for t in runs)
    assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() in (3600, 7200)
               for t in runs)  # fmt: skip
    assert detail["history"] == []
    assert_error(api.post(f"{V1}/schedules", json=SCHEDULE), 409, "duplicate")

    patched = api.request("PATCH", f"{V1}/schedules/nightly", json={"enabled": False},
                          role="operator")  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert (patched.json()["enabled"], patched.json()["revision"]) == (False, 2)
    assert api.get(f"{V1}/schedules/nightly").json()["next_runs"] == []
    listed = api.get(f"{V1}/schedules", params={"enabled": "false"}, role="viewer").json()
    assert [s["name"] for s in listed["results"]] == ["nightly"]
    assert api.get(f"{V1}/schedules", params={"enabled": "true"}).json()["count"] == 0

    deleted = api.request("DELETE", f"{V1}/schedules/nightly", role="operator")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(api.get(f"{V1}/schedules/nightly"), 404, "not_found")
    assert_error(api.request("DELETE", f"{V1}/schedules/nightly"), 404, "not_found")


def test_bad_schedules_are_refused_naming_the_field(api: Api) -> None:
    for changes, field in (
        ({"cron": "every day"}, "cron"),
        ({"timezone": "Moon/Base"}, "timezone"),
        ({"catch_up": "all"}, "catch_up"),
        ({"type": "no.such.type"}, "type"),
        ({"colour": "red"}, "colour"),
        ({"name": "has space"}, "name"),
    ):
        error = assert_error(api.post(f"{V1}/schedules", json={**SCHEDULE, **changes}), 422)
        assert error["details"]["field"] == field, error
    error = assert_error(api.post(f"{V1}/schedules", json=[SCHEDULE]), 422)
    assert error["details"]["field"] == "body"
    api.post(f"{V1}/schedules", json=SCHEDULE)
    for changes, field in (({"name": "other"}, "name"), ({"cron": "61 * * * *"}, "cron")):
        error = assert_error(api.request("PATCH", f"{V1}/schedules/nightly", json=changes), 422)
        assert error["details"]["field"] == field, error
    assert_error(api.request("PATCH", f"{V1}/schedules/nope", json={}), 404, "not_found")


def test_schedule_history_shows_runs_and_their_jobs(api: Api) -> None:
    api.post(f"{V1}/schedules", json={**SCHEDULE, "cron": "* * * * *", "timezone": "UTC"})
    schedule = api.store.schedule_get("nightly")
    assert schedule.next_fire_at is not None
    tick = schedule.next_fire_at.timestamp()
    run = api.store.schedule_fire(
        schedule.id, revision=1, fire_at=tick, enqueue=True, next_fire_at=tick + 60
    )
    assert run is not None
    [entry] = api.get(f"{V1}/schedules/nightly", role="viewer").json()["history"]
    assert (entry["job_id"], entry["job_status"], entry["skipped"], entry["missed"]) == (
        run.job_id, "queued", False, 0,
    )  # fmt: skip
    assert datetime.fromisoformat(entry["fire_at"]).timestamp() == tick
    assert api.get(f"{V1}/jobs/{run.job_id}").json()["args"] == {"period": "day"}
