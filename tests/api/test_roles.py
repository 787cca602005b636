"""Who may call what: every route of the app against every kind of caller.

The routes come from ``app.routes``, so a new route without an entry in ``EXPECTED`` fails here
until someone decides who may call it. Rules (DESIGN.md, HTTP API):

- no credentials, a wrong password, an unknown, revoked or malformed token: 401 on every native
  route except /api/v1/health and /api/v1/version (and the documentation pages);
- viewer: every GET; every POST/PUT/PATCH/DELETE is 403 and changes nothing;
- operator: also enqueues and controls jobs and queues; users and tokens are 403;
- admin: everything.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from jobyard.api.app import create_app
from jobyard.core.models import TypeDefinition, TypeKind
from jobyard.core.recipes import RecipeTypeDefinition
from jobyard.core.schedules import ScheduleSpec
from jobyard.core.services import ServiceDefinition

from .conftest import (
    PASSWORD,
    REVOKED_TOKEN,
    ROLES,
    TOKEN,
    TYPE,
    Api,
    World,
    assert_error,
    basic,
    bearer,
)

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
RANK = {"viewer": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True)
class Call:
    """A request a permitted caller makes successfully, and the status it gets."""

    path: str
    ok: int = 200
    json: Any = None
    params: dict[str, Any] | None = None
    stream: bool = False  # a live event stream: read only its status and headers


@dataclass(frozen=True)
class Rule:
    need: str  # "public" (anyone), or the least role: "viewer", "operator", "admin"
    call: Callable[[World], Call]
    prepare: Callable[[Api, World], object] | None = None  # make the call mean something


def prepared(api: Api, rule: Rule) -> Call:
    world = api.world()
    if rule.prepare is not None:
        rule.prepare(api, world)
    return rule.call(world)


def public(path: str, ok: int = 200) -> Rule:
    return Rule("public", lambda w: Call(path, ok))


def role(
    need: str,
    call: Callable[[World], Call],
    prepare: Callable[[Api, World], object] | None = None,
) -> Rule:
    return Rule(need, call, prepare)


V1 = "/api/v1"


def fk(api: Api, w: World) -> None:
    """A Faktory worker of the world's own, as its HELLO registers it."""
    api.store.remote_worker_hello(f"fk-{w.queue}", hostname="h", pid=1, labels=["t"])


def with_service(api: Api, w: World) -> None:
    """The world's own app with one service (stopped): svc-<queue> of app-<queue>."""
    name, app = f"svc-{w.queue}", f"app-{w.queue}"
    api.store.type_register(TypeDefinition(name, TypeKind.PYTHON, "apitest:quick", max_tries=1))
    api.store.app_register(app, types=[name], services=[name])
    api.store.service_register([ServiceDefinition(name, app=app, autostart=False)])


RECIPE_OF: dict[str, int] = {}  # a world's queue -> the recipe with_recipe made for it


def recipe_type_body(w: World) -> dict[str, Any]:
    """rt-<queue>: one job of TYPE, in the world's queue."""
    job = {"name": "a", "job_type": {"name": TYPE}, "queue": w.queue}
    return {"name": f"rt-{w.queue}", "definition": {"jobs": [job]}}


def with_recipe_type(api: Api, w: World) -> None:
    api.store.recipe_type_register(RecipeTypeDefinition.from_dict(recipe_type_body(w)))


def with_recipe(api: Api, w: World) -> int:
    with_recipe_type(api, w)
    RECIPE_OF[w.queue] = api.store.recipe_create(f"rt-{w.queue}").id
    return RECIPE_OF[w.queue]


def with_schedule(api: Api, w: World) -> None:
    api.store.schedule_create(ScheduleSpec(name=f"s-{w.queue}", cron="@daily", type=TYPE))


EXPECTED: dict[str, Rule] = {
    # documentation and liveness: open to all, by design
    "GET /": public("/", ok=307),
    f"GET {V1}/openapi.json": public(f"{V1}/openapi.json"),
    f"GET {V1}/docs": public(f"{V1}/docs"),
    "GET /docs/oauth2-redirect": public("/docs/oauth2-redirect"),
    f"GET {V1}/health": public(f"{V1}/health"),
    f"GET {V1}/version": public(f"{V1}/version"),
    # the dashboard's page and signing in to it: the page holds no data, the API it calls does
    "GET /ui/{page:path}": public("/ui/jobs"),
    f"GET {V1}/session": public(f"{V1}/session"),
    f"POST {V1}/session": Rule(
        "public",
        lambda w: Call(f"{V1}/session", json={"name": "viewer", "password": PASSWORD["viewer"]}),
    ),
    f"DELETE {V1}/session": public(f"{V1}/session", ok=204),
    # reading: viewer
    f"GET {V1}/types": role("viewer", lambda w: Call(f"{V1}/types")),
    f"GET {V1}/types/{{name}}": role("viewer", lambda w: Call(f"{V1}/types/{TYPE}")),
    f"GET {V1}/jobs": role("viewer", lambda w: Call(f"{V1}/jobs")),
    f"GET {V1}/jobs/{{job_id}}": role("viewer", lambda w: Call(f"{V1}/jobs/{w.completed}")),
    f"GET {V1}/jobs/{{job_id}}/log": role("viewer", lambda w: Call(f"{V1}/jobs/{w.completed}/log")),
    f"GET {V1}/jobs/{{job_id}}/events": role(
        "viewer", lambda w: Call(f"{V1}/jobs/{w.running}/events", stream=True)
    ),
    f"GET {V1}/executions": role("viewer", lambda w: Call(f"{V1}/executions")),
    f"GET {V1}/events": role("viewer", lambda w: Call(f"{V1}/events", stream=True)),
    f"GET {V1}/queues": role("viewer", lambda w: Call(f"{V1}/queues")),
    f"GET {V1}/tracking/{{jid}}": role("viewer", lambda w: Call(f"{V1}/tracking/{w.queued}")),
    f"GET {V1}/executions/{{execution}}": role(
        "viewer", lambda w: Call(f"{V1}/executions/{w.running_execution}")
    ),
    f"GET {V1}/apps": role("viewer", lambda w: Call(f"{V1}/apps")),
    **{
        f"GET {V1}/apps/{{app}}{part}": role(
            "viewer", lambda w, part=part: Call(f"{V1}/apps/app-{w.queue}{part}"), with_service
        )
        for part in ("", "/types", "/jobs", "/services")
    },
    f"GET {V1}/services": role("viewer", lambda w: Call(f"{V1}/services")),
    f"GET {V1}/services/messages": role("viewer", lambda w: Call(f"{V1}/services/messages")),
    f"GET {V1}/services/updates": role("viewer", lambda w: Call(f"{V1}/services/updates")),
    f"GET {V1}/services/{{name}}": role(
        "viewer", lambda w: Call(f"{V1}/services/svc-{w.queue}"), with_service
    ),
    f"GET {V1}/types/{{name}}/revisions": role(
        "viewer", lambda w: Call(f"{V1}/types/{TYPE}/revisions")
    ),
    f"GET {V1}/queue-status": role("viewer", lambda w: Call(f"{V1}/queue-status")),
    f"GET {V1}/load": role("viewer", lambda w: Call(f"{V1}/load", params={"started": "P1D"})),
    "GET /metrics": role("viewer", lambda w: Call("/metrics")),
    # enqueue and control: operator
    f"POST {V1}/jobs": role(
        "operator", lambda w: Call(f"{V1}/jobs", 201, json={"type": TYPE, "queue": w.queue})
    ),
    f"POST {V1}/jobs/requeue": role(
        "operator", lambda w: Call(f"{V1}/jobs/requeue", json={"ids": [w.failed]})
    ),
    f"POST {V1}/jobs/{{job_id}}/kill": role(
        "operator", lambda w: Call(f"{V1}/jobs/{w.running}/kill")
    ),
    f"POST {V1}/jobs/{{job_id}}/cancel": role(
        "operator", lambda w: Call(f"{V1}/jobs/{w.queued}/cancel")
    ),
    f"POST {V1}/jobs/{{job_id}}/restart": role(
        "operator", lambda w: Call(f"{V1}/jobs/{w.completed}/restart", 201)
    ),
    f"POST {V1}/jobs/{{job_id}}/remove": role(
        "operator", lambda w: Call(f"{V1}/jobs/{w.queued}/remove")
    ),
    f"DELETE {V1}/jobs/{{job_id}}": role("operator", lambda w: Call(f"{V1}/jobs/{w.completed}")),
    f"POST {V1}/queues/{{name}}/pause": role(
        "operator", lambda w: Call(f"{V1}/queues/{w.queue}/pause")
    ),
    f"POST {V1}/queues/{{name}}/resume": role(
        "operator",
        lambda w: Call(f"{V1}/queues/{w.queue}/resume"),
        prepare=lambda api, w: api.store.queue_pause(w.queue),
    ),
    f"POST {V1}/services/{{name}}/{{action}}": role(
        "operator", lambda w: Call(f"{V1}/services/svc-{w.queue}/start", 202), with_service
    ),
    f"POST {V1}/tracking/{{jid}}": role(
        "operator",
        lambda w: Call(f"{V1}/tracking/{w.running}", json={"percent": 50, "desc": "half"}),
    ),
    # job types as managed objects: operator, as enqueue is
    f"POST {V1}/types": role(
        "operator",
        lambda w: Call(
            f"{V1}/types", 201, json={"name": f"t.{w.queue}", "kind": "python", "target": "m:f"}
        ),
    ),
    f"PATCH {V1}/types/{{name}}": role(
        "operator",
        lambda w: Call(f"{V1}/types/t.{w.queue}", json={"priority": 7, "title": "Seven"}),
        prepare=lambda api, w: api.add_type(f"t.{w.queue}"),
    ),
    f"POST {V1}/types/{{name}}/pause": role(
        "operator",
        lambda w: Call(f"{V1}/types/t.{w.queue}/pause"),
        prepare=lambda api, w: api.add_type(f"t.{w.queue}"),
    ),
    f"POST {V1}/types/{{name}}/resume": role(
        "operator",
        lambda w: Call(f"{V1}/types/t.{w.queue}/resume"),
        prepare=lambda api, w: api.store.type_set_paused(api.add_type(f"t.{w.queue}").name, True),
    ),
    f"POST {V1}/types/{{name}}/archive": role(
        "operator",
        lambda w: Call(f"{V1}/types/t.{w.queue}/archive"),
        prepare=lambda api, w: api.add_type(f"t.{w.queue}"),
    ),
    f"POST {V1}/types/{{name}}/unarchive": role(
        "operator",
        lambda w: Call(f"{V1}/types/t.{w.queue}/unarchive"),
        prepare=lambda api, w: api.store.type_archive(api.add_type(f"t.{w.queue}").name),
    ),
    # recipes and schedules: viewer reads, operator writes
    f"GET {V1}/recipe-types": role("viewer", lambda w: Call(f"{V1}/recipe-types")),
    f"GET {V1}/recipe-types/{{name}}": role(
        "viewer", lambda w: Call(f"{V1}/recipe-types/rt-{w.queue}"), with_recipe_type
    ),
    f"POST {V1}/recipe-types": role(
        "operator",
        lambda w: Call(f"{V1}/recipe-types", 201, json=recipe_type_body(w)),
    ),
    f"GET {V1}/recipes": role("viewer", lambda w: Call(f"{V1}/recipes")),
    f"POST {V1}/recipes": role(
        "operator",
        lambda w: Call(f"{V1}/recipes", 201, json={"type": f"rt-{w.queue}"}),
        with_recipe_type,
    ),
    f"GET {V1}/recipes/{{recipe_id}}": role(
        "viewer", lambda w: Call(f"{V1}/recipes/{RECIPE_OF[w.queue]}"), with_recipe
    ),
    f"POST {V1}/recipes/{{recipe_id}}/cancel": role(
        "operator", lambda w: Call(f"{V1}/recipes/{RECIPE_OF[w.queue]}/cancel"), with_recipe
    ),
    f"POST {V1}/recipes/{{recipe_id}}/requeue": role(
        "operator",
        lambda w: Call(f"{V1}/recipes/{RECIPE_OF[w.queue]}/requeue"),
        lambda api, w: api.store.recipe_cancel(with_recipe(api, w)),
    ),
    f"GET {V1}/schedules": role("viewer", lambda w: Call(f"{V1}/schedules")),
    f"GET {V1}/schedules/{{name}}": role(
        "viewer", lambda w: Call(f"{V1}/schedules/s-{w.queue}"), with_schedule
    ),
    f"POST {V1}/schedules": role(
        "operator",
        lambda w: Call(
            f"{V1}/schedules", 201, json={"name": f"s-{w.queue}", "cron": "@daily", "type": TYPE}
        ),
    ),
    f"PATCH {V1}/schedules/{{name}}": role(
        "operator",
        lambda w: Call(f"{V1}/schedules/s-{w.queue}", json={"enabled": False}),
        with_schedule,
    ),
    f"DELETE {V1}/schedules/{{name}}": role(
        "operator", lambda w: Call(f"{V1}/schedules/s-{w.queue}", 204), with_schedule
    ),
    # workers: reading is a viewer's, quiet and stop a Faktory worker an operator's
    f"GET {V1}/workers": role("viewer", lambda w: Call(f"{V1}/workers")),
    f"GET {V1}/workers/{{worker_id}}": role(
        "viewer", lambda w: Call(f"{V1}/workers/fk-{w.queue}"), prepare=lambda api, w: fk(api, w)
    ),
    f"POST {V1}/workers/{{worker_id}}/quiet": role(
        "operator",
        lambda w: Call(f"{V1}/workers/fk-{w.queue}/quiet"),
        prepare=lambda api, w: fk(api, w),
    ),
    f"POST {V1}/workers/{{worker_id}}/stop": role(
        "operator",
        lambda w: Call(f"{V1}/workers/fk-{w.queue}/stop"),
        prepare=lambda api, w: fk(api, w),
    ),
    # users and tokens: admin only, reading included
    f"GET {V1}/users": role("admin", lambda w: Call(f"{V1}/users")),
    f"POST {V1}/users": role(
        "admin",
        lambda w: Call(
            f"{V1}/users", 201, json={"name": f"new-{w.user}", "password": "long-enough-pw"}
        ),
    ),
    f"PATCH {V1}/users/{{name}}": role(
        "admin", lambda w: Call(f"{V1}/users/{w.user}", json={"role": "operator"})
    ),
    f"DELETE {V1}/users/{{name}}": role("admin", lambda w: Call(f"{V1}/users/{w.user}", 204)),
    f"GET {V1}/tokens": role("admin", lambda w: Call(f"{V1}/tokens")),
    f"POST {V1}/tokens": role(
        "admin", lambda w: Call(f"{V1}/tokens", 201, json={"name": "ci", "user": w.user})
    ),
    f"DELETE {V1}/tokens/{{token_id}}": role(
        "admin", lambda w: Call(f"{V1}/tokens/{w.token_id}", 204)
    ),
}
USER_ADMIN = {route for route in EXPECTED if "/users" in route or "/tokens" in route}
# open to all and stored nowhere: the session is a signed cookie, so they change no data
SIGN_IN = {f"POST {V1}/session", f"DELETE {V1}/session"}


# Dialects speak another system's interface, with its own sign-in; each is proven by its own
# tests (tests/dialects/); their role matrix is test_dialect_roles.py, and over real HTTP
# test_security_live.py. A route outside /api/v1 must be in EXPECTED or under one of these.
DIALECT_PREFIXES = ("/core4/", "/scale/", "/__api__/")


def is_dialect(route: str) -> bool:
    return route.split(" ", 1)[1].startswith(DIALECT_PREFIXES)


def app_routes() -> list[str]:
    """``METHOD path`` of every route the app serves (HEAD aside: it mirrors GET)."""
    app = create_app(None)  # type: ignore[arg-type]  # listing routes never touches the store
    try:  # FastAPI >= 0.135 keeps included routers lazily; this flattens them
        from fastapi.routing import iter_route_contexts

        routes: Any = iter_route_contexts(app.routes)
    except ImportError:  # pragma: no cover - older FastAPI: app.routes is already flat
        routes = app.routes
    found = []
    for route in routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found.append(f"{method} {route.path}")
    assert found, "no routes found: has FastAPI changed how it lists them?"
    return found


ALL_ROUTES = app_routes()
ROUTES = [r for r in ALL_ROUTES if not is_dialect(r)]

# Each is refused by the one auth dependency every route shares; a wrong password costs an argon2
# verification (a third of a second here), so it is tried on a few routes, not on all of them.
NO_COLON = base64.b64encode(b"admin").decode()
BAD_CREDENTIALS: dict[str, dict[str, Any]] = {
    "none": {},
    "revoked token": {"headers": bearer(REVOKED_TOKEN)},
    "unknown token": {"headers": bearer("jy_no_such_token")},
    "revoked token as ?token=": {"params": {"token": REVOKED_TOKEN}},
    "malformed basic": {"headers": {"Authorization": "Basic %%%not-base64"}},
    "basic without a colon": {"headers": {"Authorization": f"Basic {NO_COLON}"}},
    "empty bearer": {"headers": {"Authorization": "Bearer "}},
    "unknown scheme": {"headers": {"Authorization": f"Digest {TOKEN['admin']}"}},
}
WRONG_PASSWORDS: dict[str, dict[str, Any]] = {
    "wrong password": {"headers": basic("admin", "not-the-password")},
    "unknown user": {"headers": basic("nobody", PASSWORD["admin"])},
}


def send(api: Api, method: str, call: Call, **auth: Any) -> Any:
    client = api.streams if call.stream else api.client
    params = {**(call.params or {}), **auth.get("params", {})}
    return client.request(
        method, call.path, json=call.json, params=params, headers=auth.get("headers", {})
    )


def assert_refused(
    api: Api, route: str, credentials: dict[str, dict[str, Any]], call: Call | None = None
) -> None:
    """Every one of ``credentials`` gets 401 with the error shape; together they change nothing."""
    api.client.cookies.clear()  # no session cookie left by an earlier sign-in
    api.streams.cookies.clear()
    method = route.split(" ", 1)[0]
    rule = EXPECTED[route]
    call = call or prepared(api, rule)
    before = api.snapshot()
    for name, auth in credentials.items():
        response = send(api, method, call, **auth)
        if rule.need == "public":
            assert response.status_code == call.ok, (name, response.text)
            continue
        error = assert_error(response, 401, "unauthorized")
        assert "Basic" in response.headers.get("www-authenticate", ""), name
        assert "authentication" in error["message"], error
    assert api.snapshot() == before, f"{route} changed the database for a caller it refused"


def test_every_route_has_an_expectation_and_every_expectation_a_route() -> None:
    missing = sorted(set(ROUTES) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(ROUTES))
    assert not missing, f"routes with no expected roles in EXPECTED: {missing}"
    assert not stale, f"EXPECTED names routes the app no longer has: {stale}"


@pytest.mark.parametrize("route", sorted(set(ROUTES) | set(EXPECTED)))
def test_route_refuses_and_allows_by_role(shared_api: Api, route: str) -> None:
    api = shared_api
    # the shared client keeps cookies: a sign-in row before this one must not lend us a session
    api.client.cookies.clear()
    api.streams.cookies.clear()
    assert route in EXPECTED, f"{route} has no expected roles: add it to EXPECTED"
    assert route in ROUTES, f"{route} is in EXPECTED but the app has no such route"
    method = route.split(" ", 1)[0]
    rule = EXPECTED[route]

    call = prepared(api, rule)  # refused requests change nothing, so they share one setup
    assert_refused(api, route, BAD_CREDENTIALS, call)

    for who in ROLES:
        before = api.snapshot() if method in MUTATING and route not in SIGN_IN else None
        response = send(api, method, call, headers=bearer(TOKEN[who]))
        allowed = rule.need == "public" or RANK[who] >= RANK[rule.need]
        if allowed:
            assert response.status_code == call.ok, (who, response.status_code, response.text)
            if call.stream:
                assert response.headers["content-type"].startswith("text/event-stream")
            if before is not None:
                assert api.snapshot() != before, f"{route} answered {call.ok} but changed nothing"
                call = prepared(api, rule)  # what it acted on has changed: start afresh
            continue
        error = assert_error(response, 403, "forbidden")
        assert who in error["message"] and rule.need in error["message"], error
        if before is not None:
            assert api.snapshot() == before, f"{route} refused to {who} changed the database"


@pytest.mark.parametrize("route", [f"GET {V1}/jobs", f"POST {V1}/jobs/{{job_id}}/cancel"])
def test_wrong_password_and_unknown_user_are_refused(shared_api: Api, route: str) -> None:
    assert_refused(shared_api, route, WRONG_PASSWORDS)


def test_unknown_user_and_wrong_password_get_the_same_answer(shared_api: Api) -> None:
    api = shared_api
    unknown = api.client.get(f"{V1}/jobs", headers=WRONG_PASSWORDS["unknown user"]["headers"])
    wrong = api.client.get(f"{V1}/jobs", headers=WRONG_PASSWORDS["wrong password"]["headers"])
    assert_error(unknown, 401, "unauthorized")
    assert unknown.json() == wrong.json()
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_viewer_may_read_everything_but_users_and_change_nothing() -> None:
    """The matrix in one sentence, so an entry cannot quietly loosen it."""
    for route, rule in EXPECTED.items():
        method = route.split(" ", 1)[0]
        if route in USER_ADMIN:
            assert rule.need == "admin", route
        elif method in MUTATING and route not in SIGN_IN:
            assert rule.need == "operator", route
        else:
            assert rule.need in ("public", "viewer"), route
    public = {route for route, rule in EXPECTED.items() if rule.need == "public"}
    assert public == {
        "GET /", f"GET {V1}/openapi.json", f"GET {V1}/docs", "GET /docs/oauth2-redirect",
        f"GET {V1}/health", f"GET {V1}/version", "GET /ui/{page:path}", f"GET {V1}/session",
        *SIGN_IN,
    }  # fmt: skip


@pytest.mark.parametrize("who", ROLES)
def test_basic_auth_signs_in_each_role(shared_api: Api, who: str) -> None:
    api = shared_api
    w = api.world()
    response = api.client.get(f"/api/v1/jobs/{w.queued}", headers=basic(who, PASSWORD[who]))
    assert response.status_code == 200, response.text
    before = api.snapshot()
    response = api.client.post(f"/api/v1/jobs/{w.queued}/cancel", headers=basic(who, PASSWORD[who]))
    if who == "viewer":
        assert_error(response, 403, "forbidden")
        assert api.snapshot() == before
    else:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "canceled"
        assert response.json()["canceled_by"] == who


def test_token_in_the_query_string_signs_in(shared_api: Api) -> None:
    api = shared_api
    """EventSource cannot set headers, so ``?token=`` works where a header would."""
    response = api.streams.get("/api/v1/events", params={"token": TOKEN["viewer"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")


def test_a_revoked_token_stops_working_at_once(shared_api: Api) -> None:
    api = shared_api
    token = api.store.token_create("operator", token_hash=_hash("jy_short_lived"), name="short")
    assert api.client.get("/api/v1/jobs", headers=bearer("jy_short_lived")).status_code == 200
    api.store.token_revoke(token.id)
    assert_error(api.client.get("/api/v1/jobs", headers=bearer("jy_short_lived")), 401)


def test_a_token_acts_with_its_users_current_role(api: Api) -> None:
    w = api.world()
    api.store.user_update("operator", role="viewer")
    response = api.client.post(f"/api/v1/jobs/{w.queued}/cancel", headers=bearer(TOKEN["operator"]))
    assert_error(response, 403, "forbidden")
    assert api.store.job_get(w.queued).status.value == "queued"


def _hash(token: str) -> str:
    from jobyard.api.auth import token_hash

    return token_hash(token)
