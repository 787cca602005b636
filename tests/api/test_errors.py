"""Bad input gets the right status and the one error shape, never a 500, and changes nothing.

Every error is ``{"error": {"code", "message", "details"}}``; a 422 names the field at fault (in
``details.field`` and in the message); a refused request leaves the database as it was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobyard.api.app import MAX_BODY
from jobyard.core.models import MAX_ARGS

from .conftest import TYPE, Api, assert_error

V1 = "/api/v1"
JSON = {"Content-Type": "application/json"}
NO_SUCH_JOB = 987_654


def post_raw(api: Api, url: str, body: bytes | str, **headers: str) -> Any:
    return api.client.post(url, content=body, headers={**JSON, **api.as_("admin"), **headers})


def assert_invalid(response: Any, field: str) -> dict[str, Any]:
    error = assert_error(response, 422, "invalid")
    assert error["details"]["field"] == field, error
    return error


# -- unknown ids ----------------------------------------------------------------------------------

JOB_ROUTES = [
    ("GET", "/jobs/{id}"),
    ("GET", "/jobs/{id}/log"),
    ("GET", "/jobs/{id}/log?follow=true"),
    ("GET", "/jobs/{id}/events"),
    ("POST", "/jobs/{id}/kill"),
    ("POST", "/jobs/{id}/cancel"),
    ("POST", "/jobs/{id}/restart"),
    ("POST", "/jobs/{id}/remove"),
    ("DELETE", "/jobs/{id}"),
]


def test_unknown_job_is_404_on_every_job_route(api: Api) -> None:
    api.world()
    before = api.snapshot()
    for method, route in JOB_ROUTES:
        for job_id in (NO_SUCH_JOB, 2**63 - 1):  # the largest id a database can hold
            response = api.request(method, V1 + route.format(id=job_id))
            error = assert_error(response, 404, "not_found")
            assert str(job_id) in error["message"], (method, route, error)
    assert api.snapshot() == before


def test_ids_no_database_can_hold_are_422_not_500(api: Api) -> None:
    """Regression: ids past 2**63 - 1 overflowed the SQLite driver (OverflowError, a 500)."""
    for method, route in JOB_ROUTES:
        for job_id in (2**63, 10**30, 0, -1):
            response = api.request(method, V1 + route.format(id=job_id))
            assert_invalid(response, "job_id")
    response = api.post(f"{V1}/jobs/requeue", json={"ids": [10**30]})
    assert_invalid(response, "ids.0")


def test_other_unknown_names_are_404(api: Api) -> None:
    for method, url, body in [
        ("GET", f"{V1}/types/no.such.type", None),
        ("POST", f"{V1}/tracking/{NO_SUCH_JOB}", {"percent": 5}),
        ("POST", f"{V1}/jobs/requeue", {"ids": [NO_SUCH_JOB]}),
        ("PATCH", f"{V1}/users/nobody", {"role": "viewer"}),
        ("DELETE", f"{V1}/users/nobody", None),
        ("DELETE", f"{V1}/tokens/{NO_SUCH_JOB}", None),
        ("POST", f"{V1}/tokens", {"name": "x", "user": "nobody"}),
        ("POST", f"{V1}/jobs", {"type": "no.such.type"}),
    ]:
        assert_error(api.request(method, url, json=body), 404, "not_found")


def test_unknown_routes_and_methods_have_the_error_shape(api: Api) -> None:
    assert_error(api.get(f"{V1}/no-such-thing"), 404, "not_found")
    assert_error(api.request("PUT", f"{V1}/jobs"), 405, "method_not_allowed")


# -- enqueue: bad bodies name the field and enqueue nothing --------------------------------------

BAD_JOBS: list[tuple[str, str]] = [
    # (body, the field named)
    ('{"type": "t.echo",', "body"),  # not JSON at all
    ("not json", "body"),
    ('"a string"', "job"),
    ("[]", "body"),
    ('{"args": {}}', "type"),
    ('{"type": 5}', "type"),
    ('{"type": "t.echo", "priority": "high"}', "priority"),
    ('{"type": "t.echo", "priority": 1e20}', "priority"),
    ('{"type": "t.echo", "max_tries": 0}', "max_tries"),
    ('{"type": "t.echo", "bogus": 1}', "bogus"),
    ('{"type": "t.echo", "timeout": -1}', "timeout"),
    ('{"type": "t.echo", "timeout": "soon"}', "timeout"),
    ('{"type": "t.echo", "delay": -5}', "delay"),
    ('{"type": "t.echo", "delay": true}', "delay"),
    ('{"type": "t.echo", "args": NaN}', "args"),  # Python's json reads NaN; JSON has no NaN
    ('{"type": "t.echo", "args": {"x": Infinity}}', "args"),
    ('{"type": "t.echo", "backoff": {"base": "nan"}}', "backoff.base"),
    ('{"type": "t.echo", "backoff": "x"}', "backoff"),
    ('{"type": "t.echo", "tags": "a,b"}', "tags"),
    ('{"type": "t.echo", "tags": [1]}', "tags"),
    ('{"type": "t.echo", "queue": ""}', "queue"),
    ('{"type": "t.echo", "queue": "a b"}', "queue"),
    ('{"type": "t.echo", "on_duplicate": "maybe"}', "on_duplicate"),
    ('{"type": "t.echo", "unique_key": 5}', "unique_key"),
    ('{"type": "t.echo", "run_at": "tomorrow"}', "run_at"),
    ('{"type": "t.echo", "run_at": "2030-01-01T00:00:00"}', "run_at"),  # no time zone
    ('{"type": "t.echo", "run_at": [1]}', "run_at"),
    ('{"type": "t.echo", "run_at": "2030-01-01T00:00:00Z", "delay": 5}', "delay"),
    # regressions: accepted, then every read of the job (and every list) was a 500
    ('{"type": "t.echo", "run_at": 1e300}', "run_at"),
    ('{"type": "t.echo", "run_at": -1e300}', "run_at"),
    ('{"type": "t.echo", "delay": 1e300}', "delay"),
    ('{"type": "t.echo", "args": "\\ud800"}', "args"),  # a lone surrogate is not text
    ('{"type": "t.echo", "tags": ["\\udfff"]}', "tags"),
    # regressions: a 500 at once
    ('{"type": "t.echo", "unique_key": "\\ud800"}', "unique_key"),
    ('{"type": "t.echo", "external_id": "x\\ud800"}', "external_id"),
]


def test_bad_job_bodies_are_422_naming_the_field_and_enqueue_nothing(api: Api) -> None:
    api.world()
    before = api.snapshot()
    for body, field in BAD_JOBS:
        response = post_raw(api, f"{V1}/jobs", body)
        assert response.status_code == 422, (body, response.status_code, response.text)
        assert_invalid(response, field)
    assert api.snapshot() == before
    listed = api.get(f"{V1}/jobs", params={"per_page": 1000})
    assert listed.status_code == 200, listed.text


def test_a_list_with_one_bad_job_enqueues_none_and_names_the_index(api: Api) -> None:
    api.world()
    before = api.snapshot()
    cases = [
        ([{"type": TYPE}, {"type": TYPE, "priority": "x"}], "[1].priority"),
        ([{"type": TYPE}, {"type": TYPE}, {"type": TYPE, "nope": 1}], "[2].nope"),
        ([{"type": TYPE}, 5], "[1].job"),
        ([{"type": TYPE}, {"type": TYPE, "run_at": 1e300}], "[1].run_at"),
    ]
    for body, field in cases:
        response = api.post(f"{V1}/jobs", json=body)
        error = assert_invalid(response, field)
        index = field[1 : field.index("]")]
        assert f"job {index}" in error["message"], error
    # the bad one is the last: the good ones before it must not have been written
    response = api.post(f"{V1}/jobs", json=[{"type": TYPE}, {"type": "no.such.type"}])
    assert_error(response, 404, "not_found")
    assert api.snapshot() == before


def test_duplicate_external_id_is_409_and_the_batch_is_all_or_none(api: Api) -> None:
    first = api.post(f"{V1}/jobs", json={"type": TYPE, "external_id": "ext-1"})
    assert first.status_code == 201, first.text
    before = api.snapshot()
    response = api.post(
        f"{V1}/jobs",
        json=[{"type": TYPE, "external_id": "ext-2"}, {"type": TYPE, "external_id": "ext-1"}],
    )
    error = assert_error(response, 409, "duplicate")
    assert error["details"]["field"] == "external_id"
    assert api.snapshot() == before


def test_oversized_bodies_are_413_with_or_without_a_length(api: Api) -> None:
    before = api.snapshot()
    big = b'{"type": "t.echo", "args": "' + b"x" * MAX_BODY + b'"}'
    response = post_raw(api, f"{V1}/jobs", big)
    assert_error(response, 413, "too_large")

    def chunks() -> Any:  # no Content-Length: the limit must hold while reading
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    response = api.client.post(f"{V1}/jobs", content=chunks(), headers={**JSON, **api.as_("admin")})
    assert_error(response, 413, "too_large")
    response = post_raw(api, f"{V1}/jobs", b'{"type": "t.echo"}', **{"Content-Length": "x1"})
    assert_error(response, 413, "too_large")
    assert api.snapshot() == before
    # just under the limit is fine: a batch of jobs, each within the args limit
    each = MAX_ARGS - 10
    ok = json.dumps([{"type": TYPE, "args": "x" * each}] * (MAX_BODY // (each + 100)))
    assert MAX_BODY - len(ok) < MAX_ARGS
    assert post_raw(api, f"{V1}/jobs", ok).status_code == 201


# -- queries -------------------------------------------------------------------------------------


BAD_LIST_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({"per_page": 1001}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": "one"}, "page"),
    ({"sort": "secret"}, "sort"),
    ({"status": "sleeping"}, "status"),
    ({"created_after": "2026-01-01T00:00:00"}, "created_after"),  # no time zone
    ({"created_before": "yesterday"}, "created_before"),
    ({"search": "x" * 201}, "search"),
]


def test_bad_list_queries_are_422_naming_the_parameter(api: Api) -> None:
    for query, field in BAD_LIST_QUERIES:
        assert_invalid(api.get(f"{V1}/jobs", params=query), field)


def test_other_bad_queries_are_422(api: Api) -> None:
    w = api.world()
    assert_invalid(api.get(f"{V1}/types", params={"per_page": 1001}), "per_page")
    assert_invalid(api.get(f"{V1}/types", params={"sort": "nope"}), "sort")
    assert_invalid(api.get(f"{V1}/executions", params={"status": "nope"}), "status")
    assert_invalid(api.get(f"{V1}/executions", params={"per_page": 1001}), "per_page")
    assert_invalid(api.get(f"{V1}/executions", params={"sort": "pid"}), "sort")
    assert_invalid(
        api.get(f"{V1}/executions", params={"started_after": "2026-01-01"}), "started_after"
    )
    assert_invalid(api.get(f"{V1}/jobs/{w.completed}/log", params={"after": -1}), "after")
    assert_invalid(api.get(f"{V1}/events", params={"kind": "gossip"}), "kind")
    assert_invalid(api.post(f"{V1}/queues/a%20b/pause"), "queue")
    assert_invalid(api.post(f"{V1}/tracking/{w.running}", json={"percent": 101}), "percent")
    assert_invalid(api.post(f"{V1}/tracking/{w.running}", json={"reserve_for": 0}), "reserve_for")
    assert_invalid(api.post(f"{V1}/tracking/{w.running}", json={"mood": "ok"}), "mood")
    assert_invalid(api.post(f"{V1}/jobs/requeue", json={"status": ["queued"]}), "status")
    assert_invalid(api.post(f"{V1}/jobs/requeue", json={"ids": [w.failed], "priority": 2**40}),
                   "priority")  # fmt: skip


# -- transitions ---------------------------------------------------------------------------------


def test_an_invalid_transition_is_409_naming_job_state_and_operation(api: Api) -> None:
    w = api.world()
    before = api.snapshot()
    cases = [
        ("POST", f"/jobs/{w.completed}/cancel", None, w.completed, "completed", "cancel"),
        ("POST", f"/jobs/{w.failed}/kill", None, w.failed, "failed", "kill"),
        ("POST", f"/jobs/{w.queued}/restart", None, w.queued, "queued", "restart"),
        ("POST", f"/jobs/{w.running}/remove", None, w.running, "running", "remove"),
        ("DELETE", f"/jobs/{w.running}", None, w.running, "running", "remove"),
        ("POST", "/jobs/requeue", {"ids": [w.running]}, w.running, "running", "requeue"),
        ("POST", f"/tracking/{w.completed}", {"percent": 1}, w.completed, "completed", "track"),
    ]
    for method, route, body, job_id, status, operation in cases:
        response = api.request(method, V1 + route, json=body)
        error = assert_error(response, 409, "invalid_transition")
        assert error["details"] == {"job_id": job_id, "status": status, "operation": operation}
        for part in (str(job_id), status, operation):
            assert part in error["message"], error
    assert api.snapshot() == before


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_token_ids_no_database_can_hold_are_not_500(api: Api) -> None:
    for token_id in (2**63, -(10**30)):
        response = api.request("DELETE", f"{V1}/tokens/{token_id}")
        assert response.status_code in (404, 422), response.text


NUL_INPUTS: list[tuple[str, str, Any]] = [
    ("GET", f"{V1}/jobs?search=%00", None),
    ("GET", f"{V1}/jobs?tag=a%00b", None),
    ("GET", f"{V1}/types/%00", None),
    ("GET", f"{V1}/tracking/%00", None),
    ("POST", f"{V1}/jobs", {"type": TYPE, "unique_key": "a\x00b"}),
    ("POST", f"{V1}/jobs", {"type": TYPE, "args": {"text": "a\x00b"}}),
    ("POST", f"{V1}/tokens", {"name": "a\x00b"}),
    ("DELETE", f"{V1}/users/%00", None),
]


def test_text_with_nul_is_never_a_500(api: Api) -> None:
    """PostgreSQL cannot store NUL in text; SQLite can. Either way: an answer, not a crash."""
    for method, url, body in NUL_INPUTS:
        response = api.request(method, url, json=body)
        assert response.status_code < 500, (method, url, response.text)
        if response.status_code >= 400:
            assert_error(response, response.status_code)
    assert api.get(f"{V1}/jobs").status_code == 200
