"""The job detail says why a job waits (`waiting`); enqueue takes resources, concurrency keys
and unique_for; job types show their limit and paused flag. In-process, both backends."""

from __future__ import annotations

from typing import Any

from .conftest import TYPE, Api, assert_error

V1 = "/api/v1"


def enqueue(api: Api, **body: Any) -> int:
    response = api.post(f"{V1}/jobs", json={"type": TYPE, **body})
    assert response.status_code == 201, response.text
    [job_id] = response.json()["ids"]
    return int(job_id)


def detail(api: Api, job_id: int) -> dict[str, Any]:
    response = api.get(f"{V1}/jobs/{job_id}", role="viewer")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_waiting_job_says_why(api: Api) -> None:
    job_id = enqueue(api, queue="nobody-serves-this")
    waiting = detail(api, job_id)["waiting"]
    assert waiting == {
        "code": "no_worker",
        "message": "no live worker claims from queue 'nobody-serves-this'",
        "until": None,
        "details": {"queue": "nobody-serves-this", "type": TYPE},
    }
    later = detail(api, enqueue(api, delay=3600))
    assert later["waiting"]["code"] == "scheduled"
    assert later["waiting"]["until"] == later["run_at"]


def test_a_job_that_runs_or_ended_has_no_reason(api: Api) -> None:
    world = api.world()
    assert detail(api, world.running)["waiting"] is None
    assert detail(api, world.completed)["waiting"] is None


def test_limits_paused_types_and_resources_show(api: Api) -> None:
    api.store.worker_register(
        "w-api", hostname="h", pid=1, queues=["lim"], concurrency=2, types=[TYPE], cpus=1,
        heartbeat=60,
    )  # fmt: skip
    job_id = enqueue(api, queue="lim", cpus=2, mem=10, concurrency_key="acct", unique_key="u",
                     unique_for=60)  # fmt: skip
    body = detail(api, job_id)
    assert (body["cpus"], body["mem"], body["disk"]) == (2, 10, 0)
    assert (body["concurrency_key"], body["concurrency_limit"]) == ("acct", 1)
    assert body["waiting"]["code"] == "no_resources"
    api.store.type_set_paused(TYPE, True)
    assert detail(api, job_id)["waiting"]["code"] == "type_paused"
    listed = api.get(f"{V1}/types/{TYPE}", role="viewer").json()
    assert listed["paused"] is True and listed["concurrency"] is None
    again = api.post(f"{V1}/jobs", json={"type": TYPE, "unique_key": "u"})
    assert assert_error(again, 409, "duplicate")["details"]["job_id"] == job_id


def test_bad_limits_name_the_field(api: Api) -> None:
    for body, field in (
        ({"cpus": -1}, "cpus"),
        ({"concurrency_limit": 2}, "concurrency_limit"),
        ({"concurrency_key": "k", "concurrency_limit": 0}, "concurrency_limit"),
        ({"unique_for": 5}, "unique_for"),
        ({"unique_key": "k", "unique_for": -5}, "unique_for"),
    ):
        response = api.post(f"{V1}/jobs", json={"type": TYPE, **body})
        assert assert_error(response, 422, "invalid")["details"]["field"] == field, body


def test_a_managed_type_takes_a_concurrency_limit(api: Api) -> None:
    body = {"name": "t.limited", "kind": "python", "target": "apitest:quick", "concurrency": 2}
    created = api.post(f"{V1}/types", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["concurrency"] == 2
    [job_id] = api.post(f"{V1}/jobs", json={"type": "t.limited"}).json()["ids"]
    assert detail(api, job_id)["type_concurrency"] == 2
    lifted = api.request("PATCH", f"{V1}/types/t.limited", json={"concurrency": None})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["concurrency"] is None and lifted.json()["revision"] == 2
    bad = api.request("PATCH", f"{V1}/types/t.limited", json={"concurrency": 0})
    assert assert_error(bad, 422, "invalid")["details"]["field"] == "concurrency"
