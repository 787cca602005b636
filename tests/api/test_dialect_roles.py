"""Who may call what in the dialects: every core4, Scale and Connect route against every caller.

The routes come from the app, so a new dialect route without an entry in ``NEED`` fails here
until someone decides who may call it. For each route, on both backends: a caller without
credentials (or with bad ones) is refused — 401/403, or core4's redirect to its login URL — and
changes nothing; a viewer is refused every change (403) and changes nothing; a caller with the
least role the route needs is let through (what comes next, 200 or 404 for an id that does not
exist, is the dialect's own tests' business: tests/dialects/).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from jobyard.api.dialects.core4.protocol import LOGIN_URL

from .conftest import TOKEN, Api, bearer
from .test_roles import ALL_ROUTES, BAD_CREDENTIALS, RANK, is_dialect

C4, SC, CO = "/core4/api/v1", "/scale", "/__api__"
MISSING = "999999"  # an id no test makes: a permitted caller gets the dialect's 404
SCALE_READS = [
    "load/", "queue/status/", "job-types/", "job-types/{type_id}/", "jobs/{job_id}/",
    "job-executions/{exe_id}/", "recipes/{recipe_id}/", "recipe-types/",
    "recipe-types/{type_id}/",
]  # fmt: skip
SCALE_CHANGES = [
    "queue/new-job/", "queue/requeue-jobs/", "job-types/", "queue/new-recipe/", "recipe-types/",
]  # fmt: skip

NEED: dict[str, str] = {
    # core4: its login page is where the refused are sent; it answers 401 itself
    f"GET {C4}/login": "public",
    f"POST {C4}/login": "public",
    f"GET {C4}/job/list": "viewer",
    f"GET {C4}/job": "viewer",
    f"GET {C4}/job/queue": "viewer",
    f"POST {C4}/job/queue": "viewer",  # core4 lists its queue on POST too
    f"GET {C4}/job/follow/{{ref}}": "viewer",
    f"GET {C4}/job/log/{{ref}}": "viewer",
    f"GET {C4}/job/detail/{{ref}}": "viewer",
    f"GET {C4}/job/{{ref}}": "viewer",
    f"POST {C4}/job": "operator",
    f"PUT {C4}/job/kill/{{ref}}": "operator",
    f"PUT {C4}/job/restart/{{ref}}": "operator",
    f"PUT {C4}/job/remove/{{ref}}": "operator",
    **{f"{m} {C4}/{{rest:path}}": "viewer" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    # Scale, at /scale/ and /scale/v3/
    **{f"GET {SC}{v}/{p}": "viewer" for v in ("", "/v3") for p in SCALE_READS},
    **{f"POST {SC}{v}/{p}": "operator" for v in ("", "/v3") for p in SCALE_CHANGES},
    # Connect: its settings page is open, like the native /version
    f"GET {CO}/server_settings": "public",
    f"GET {CO}/v1/content/{{guid}}": "viewer",
    f"GET {CO}/v1/content/{{guid}}/jobs": "viewer",
    f"GET {CO}/v1/content/{{guid}}/jobs/{{key}}": "viewer",
    f"GET {CO}/v1/content/{{guid}}/jobs/{{key}}/log": "viewer",
    f"GET {CO}/applications/{{guid}}/jobs": "viewer",
    f"GET {CO}/applications/{{guid}}/job/{{key}}": "viewer",
    f"DELETE {CO}/v1/content/{{guid}}/jobs/{{key}}": "operator",
}
DIALECT_ROUTES = [r for r in ALL_ROUTES if is_dialect(r)]
# not GET, yet no change: core4's queue listing, and its fallback (unknown, or refused)
READS = {f"POST {C4}/job/queue"} | {f"{m} {C4}/{{rest:path}}" for m in ("POST", "PUT", "PATCH",
                                                                         "DELETE")}  # fmt: skip
BODY = {"job_type_id": int(MISSING), "job_ids": [int(MISSING)], "qual_name": "no.such.type"}


def concrete(path: str) -> str:
    path = path.replace("{rest:path}", f"job/{MISSING}")
    return re.sub(r"\{[^}]+\}", MISSING, path)


def refused(route: str, response: Any) -> bool:
    path = route.split(" ", 1)[1]
    if path.startswith(C4) and response.status_code == 302:
        return bool(response.headers["location"] == LOGIN_URL)
    return response.status_code in (401, 403)


def call(api: Api, route: str, **auth: Any) -> Any:
    method, path = route.split(" ", 1)
    body = BODY if method in ("POST", "PUT", "PATCH", "DELETE") else None
    return api.client.request(method, concrete(path), json=body, **auth)


def test_every_dialect_route_has_a_least_role() -> None:
    missing = sorted(set(DIALECT_ROUTES) - set(NEED))
    stale = sorted(set(NEED) - set(DIALECT_ROUTES))
    assert not missing, f"dialect routes with no least role in NEED: {missing}"
    assert not stale, f"NEED names routes the app no longer has: {stale}"
    for route, need in NEED.items():  # a change is never a viewer's
        if need != "public" and not route.startswith("GET") and route not in READS:
            assert need == "operator", route


@pytest.mark.parametrize("route", sorted(NEED))
def test_dialect_route_refuses_and_allows_by_role(shared_api: Api, route: str) -> None:
    api = shared_api
    api.client.cookies.clear()
    need = NEED[route]
    before = api.snapshot()
    for name, auth in BAD_CREDENTIALS.items():
        response = call(api, route, params=auth.get("params"), headers=auth.get("headers", {}))
        if need == "public":
            assert response.status_code < 500, (name, response.text)
        else:
            assert refused(route, response), (name, response.status_code, response.text[:200])
    assert api.snapshot() == before, f"{route} changed the database for a caller it refused"
    for who in ("viewer", "operator", "admin"):
        response = call(api, route, headers=bearer(TOKEN[who]))
        where = (who, response.status_code, response.text[:200])
        if need == "public" or RANK[who] >= RANK[need]:
            assert not refused(route, response) and response.status_code < 500, where
        else:
            assert response.status_code == 403, where
            assert api.snapshot() == before, f"{route} refused to {who} changed the database"
