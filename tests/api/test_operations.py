"""Job types over HTTP, queue status, load history and /metrics, in-process on both backends."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from jobyard.core.models import JobFilter, PageRequest
from jobyard.engine.rollup import Rollup
from jobyard.engine.sampler import Sampler

from .conftest import TYPE, Api, assert_error

V1 = "/api/v1"
INTERFACE = {
    "inputs": [
        {"name": "image", "type": "file", "media_types": ["image/png"]},
        {"name": "scale", "type": "number", "required": False},
    ],
    "outputs": [{"name": "thumbnail", "type": "file"}],
}
NEW = {
    "name": "thumbs.make", "kind": "command", "target": ["convert", "${image}", "out.png"],
    "version": "1.2.0", "title": "Thumbnails", "category": "images", "priority": 20,
    "timeout": 600, "max_tries": 2, "cpus": 0.5, "mem": 256, "disk": 1024,
    "interface": INTERFACE,
}  # fmt: skip


def jobs_written(api: Api) -> int:
    return api.store.job_list(JobFilter(include_removed=True), PageRequest(per_page=1)).count


def test_create_read_update_and_list_revisions(api: Api) -> None:
    made = api.post(f"{V1}/types", json=NEW, role="operator")
    assert made.status_code == 201, made.text
    body = made.json()
    assert {k: body[k] for k in ("name", "revision", "version", "title", "category", "disk")} == {
        "name": "thumbs.make", "revision": 1, "version": "1.2.0", "title": "Thumbnails",
        "category": "images", "disk": 1024.0,
    }  # fmt: skip
    assert body["interface"] == {
        "inputs": [
            {"name": "image", "type": "file", "media_types": ["image/png"]},
            {"name": "scale", "type": "number", "required": False},
        ],
        "outputs": [{"name": "thumbnail", "type": "file"}],
    }
    assert isinstance(body["id"], int) and body["archived_at"] is None
    assert api.get(f"{V1}/types/thumbs.make", role="viewer").json() == body
    again = api.post(f"{V1}/types", json=NEW)
    assert_error(again, 409, "duplicate")

    patched = api.request("PATCH", f"{V1}/types/thumbs.make", json={"priority": 5, "timeout": None})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["revision"], patched.json()["priority"], patched.json()["timeout"]) == (
        2, 5, None,
    )  # fmt: skip
    assert patched.json()["id"] == body["id"]
    revisions = api.get(f"{V1}/types/thumbs.make/revisions", role="viewer").json()
    assert [(r["revision"], r["priority"]) for r in revisions] == [(1, 20), (2, 5)]
    assert revisions[0]["id"] != revisions[1]["id"]


def test_bad_definitions_are_422_naming_the_field(api: Api) -> None:
    for change, field in (
        ({"max_tries": 0}, "max_tries"),
        ({"kind": "shell"}, "kind"),
        ({"target": "not-a-list"}, "command"),
        ({"interface": {"inputs": [{"name": "a", "type": "blob"}]}}, "interface.inputs[0].type"),
        ({"interface": {"inputs": [{"name": "a"}, {"name": "a"}]}}, "interface.inputs"),
        ({"priority": None}, "priority"),
        ({"colour": "red"}, "colour"),
    ):
        response = api.post(f"{V1}/types", json={**NEW, **change})
        error = assert_error(response, 422, "invalid")
        assert error["details"]["field"] == field, (change, error)
    assert api.get(f"{V1}/types").json()["count"] == 1  # only the conftest's type
    missing = api.request("PATCH", f"{V1}/types/no.such", json={"priority": 1})
    assert_error(missing, 404, "not_found")


def test_enqueue_is_checked_against_the_interface(api: Api) -> None:
    api.post(f"{V1}/types", json=NEW)
    bad = api.post(f"{V1}/jobs", json={"type": "thumbs.make", "args": {"scale": 2}})
    error = assert_error(bad, 422, "invalid")
    assert error["details"]["field"] == "args.image" and "args.image" in error["message"]
    batch = [
        {"type": "thumbs.make", "args": {"image": "a.png"}},
        {"type": "thumbs.make", "args": {"image": "b.png", "scale": "big"}},
    ]
    assert assert_error(api.post(f"{V1}/jobs", json=batch), 422)["details"]["field"] == (
        "[1].args.scale"
    )
    assert jobs_written(api) == 0
    ok = api.post(f"{V1}/jobs", json={"type": "thumbs.make", "args": {"image": 42, "scale": 1}})
    assert ok.status_code == 201, ok.text


def test_archived_types_refuse_jobs_and_leave_the_list(api: Api) -> None:
    api.post(f"{V1}/types", json=NEW)
    archived = api.post(f"{V1}/types/thumbs.make/archive", role="operator")
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    refused = api.post(f"{V1}/jobs", json={"type": "thumbs.make", "args": {"image": "a"}})
    error = assert_error(refused, 422, "invalid")
    assert error["details"]["field"] == "type" and "archived" in error["message"]
    names = [t["name"] for t in api.get(f"{V1}/types").json()["results"]]
    assert names == [TYPE]
    listed = api.get(f"{V1}/types", params={"include_archived": "true"}).json()["results"]
    assert [t["name"] for t in listed] == [TYPE, "thumbs.make"]
    assert api.get(f"{V1}/types/thumbs.make").status_code == 200  # still readable by name
    assert api.post(f"{V1}/types/thumbs.make/unarchive").json()["archived_at"] is None
    assert api.post(f"{V1}/jobs", json={"type": "thumbs.make", "args": {"image": "a"}}).is_success


def world_of_work(api: Api) -> None:
    api.post(f"{V1}/types", json={**NEW, "name": "t.other", "category": "text", "interface": None})
    for _ in range(3):
        api.enqueue(queue="work", priority=10)
    api.enqueue(queue="work", priority=3)
    api.enqueue(type="t.other", queue="other")
    api._claim("work")  # one of TYPE's jobs runs


def test_queue_status_by_type(api: Api) -> None:
    world_of_work(api)
    found = api.get(f"{V1}/queue-status", role="viewer")
    assert found.status_code == 200, found.text
    by_type = {s["type"]: s for s in found.json()}
    echo = by_type[TYPE]
    assert (echo["queued"], echo["running"], echo["highest_priority"]) == (3, 1, 10)
    assert echo["longest_queued"] >= 0 and echo["oldest_queued_at"] is not None
    assert by_type["t.other"]["queued"] == 1 and by_type["t.other"]["category"] == "text"
    only_text = api.get(f"{V1}/queue-status", params={"category": "text"}).json()
    assert [s["type"] for s in only_text] == ["t.other"]
    assert_error(api.get(f"{V1}/queue-status", params={"window": 0}), 422)


def test_load_over_a_range_with_filters(api: Api) -> None:
    world_of_work(api)
    Sampler(api.store).run_once()
    page = api.get(f"{V1}/load", params={"started": "PT1H"}, role="viewer")
    assert page.status_code == 200, page.text
    [point] = page.json()["results"]
    assert (point["queued"], point["running"], point["pending"], point["blocked"]) == (4, 1, 0, 0)
    text = api.get(f"{V1}/load", params={"started": "PT1H", "category": "text"}).json()
    assert [p["queued"] for p in text["results"]] == [1]
    other_id = api.get(f"{V1}/types/t.other").json()["id"]
    by_id = api.get(f"{V1}/load", params=[("started", "PT1H"), ("type_id", str(other_id))])
    assert [p["queued"] for p in by_id.json()["results"]] == [1]
    assert (
        api.get(f"{V1}/load", params={"started": "2000-01-01T00:00:00Z", "ended": "P1D"}).json()[
            "count"
        ]
        == 0
    )
    for params, field in (
        ({"started": "yesterday"}, "started"),
        ({"started": "P1Y"}, "started"),
        ({"started": "2020-01-01T00:00:00"}, "started"),
        ({"started": "PT1H", "ended": "PT2H"}, "ended"),
    ):
        error = assert_error(api.get(f"{V1}/load", params=params), 422, "invalid")
        assert error["details"]["field"] == field, params


def metric_samples(text: str) -> dict[str, list[Any]]:
    families: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.samples
    return families


def test_metrics_parse_and_queue_depth_matches_queue_status(api: Api) -> None:
    world_of_work(api)
    Rollup(api.store).run_once()
    response = api.get("/metrics", role="viewer")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = metric_samples(response.text)
    depth = {
        s.labels["type"]: s.value
        for s in families["jobyard_queue_depth"]
        if s.name == "jobyard_queue_depth"
    }
    status = {s["type"]: s["queued"] for s in api.get(f"{V1}/queue-status").json()}
    assert depth == {t: n for t, n in status.items() if n or t in depth}
    assert depth[TYPE] == 3
    states = {(s.labels["type"], s.labels["state"]): s.value for s in families["jobyard_jobs"]}
    assert states[(TYPE, "running")] == 1 and states[(TYPE, "queued")] == 3
    for name in (
        "jobyard_jobs_enqueued", "jobyard_jobs_finished", "jobyard_job_failures",
        "jobyard_executions_started", "jobyard_enqueue_to_start_seconds",
        "jobyard_execution_duration_seconds", "jobyard_workers_live",
        "jobyard_queue_oldest_age_seconds",
    ):  # fmt: skip
        assert name in families, name
    live_workers = families["jobyard_workers_live"]
    assert [s.value for s in live_workers] == [0]
    assert_error(api.get("/metrics", role=None), 401, "unauthorized")


def test_pause_and_resume_a_type(api: Api) -> None:
    world_of_work(api)
    paused = api.post(f"{V1}/types/{TYPE}/pause", role="operator")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert paused.json()["revision"] == 1  # pausing is no change of definition
    [status] = [s for s in api.get(f"{V1}/queue-status").json() if s["type"] == TYPE]
    assert status["paused"] is True
    assert (
        api.store.job_claim(worker_id="w", queues=["work"], types=[TYPE], limit=5, lease=60) == []
    )
    resumed = api.post(f"{V1}/types/{TYPE}/resume", role="operator")
    assert resumed.json()["paused"] is False
    assert_error(api.post(f"{V1}/types/no.such/pause"), 404, "not_found")
