"""Fuzz every native operation of /api/v1/openapi.json with schemathesis, signed in as admin.

Promises checked on every response: never a 5xx; every error has the one shape
``{"error": {"code", "message", "details"}}``; a success matches its documented schema. The budget
is fixed (derandomized, a bounded number of examples per operation, streams cut short) so the run
is reproducible and short. A 5xx found here is a bug: fix it and keep a regression test in
test_errors.py.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import pytest
import requests
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from jobyard.api import auth
from jobyard.api.app import create_app
from jobyard.api.auth import token_hash
from jobyard.core.errors import NotFound

from .conftest import ERROR_KEYS, Api

ADMIN = "jy_fuzz_admin_token"
STREAMS = {"/api/v1/events", "/api/v1/jobs/{job_id}/events", "/api/v1/jobs/{job_id}/log"}
STREAM_SECONDS = 0.1  # an event stream never ends by itself: keep what it sent by then
STREAM_HEADERS_SECONDS = 1.0  # but its status and headers must come, at worst in this time
EXAMPLES = 25
PG_EXAMPLES = 10
STREAM_EXAMPLES = 6


def openapi_document() -> tuple[dict[str, Any], list[str]]:
    """The document /api/v1/openapi.json serves (``app.openapi()`` builds it), and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = create_app(None).openapi()  # type: ignore[arg-type]  # no store is touched
    return document, [str(w.message) for w in caught]


DOCUMENT, DOCUMENT_WARNINGS = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
NATIVE = schema.include(path_regex=r"^/api/v1/").exclude(path=sorted(STREAMS))
NATIVE_STREAMS = schema.include(path=sorted(STREAMS))  # (two includes would mean either)


def test_the_openapi_document_builds_without_warnings(shared_api: Api) -> None:
    """A warning here (say, a duplicate operation id) is a 500 on /api/v1/openapi.json in tests."""
    assert DOCUMENT_WARNINGS == []
    response = shared_api.get("/api/v1/openapi.json", role=None)
    assert response.status_code == 200, response.text
    assert response.json()["paths"].keys() == DOCUMENT["paths"].keys()


def keep_admin_signed_in(api: Api) -> None:
    """The fuzzer may revoke tokens or remove users by id or name; sign the admin back in."""
    store = api.store
    if not any(u.name == "fuzz-admin" and u.role.value == "admin" for u in store.user_list()):
        from .conftest import password_hash

        with contextlib.suppress(NotFound):  # demoted rather than removed: start afresh
            store.user_remove("fuzz-admin")
        store.user_add("fuzz-admin", role="admin", password_hash=password_hash("admin"))
    if store.token_lookup(token_hash(ADMIN)) is None:
        store.token_create("fuzz-admin", token_hash=token_hash(ADMIN), name="fuzz")


def check_error_shape(response: Any, case: Any) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"{case.method} {case.formatted_path}: {response.status_code} is not JSON")
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)


@pytest.fixture
def fuzz_api(shared_api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """One database per backend for every operation: what one operation made, the next may find."""
    # argon2's real cost (a third of a second here) is for attackers, not for a fuzzer's users
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    shared_api.world()
    keep_admin_signed_in(shared_api)
    return shared_api


def call(api: Api, case: Any) -> Any:
    keep_admin_signed_in(api)
    stream = case.path in STREAMS
    headers = {"Authorization": f"Bearer {ADMIN}"}
    try:
        response = case.call(app=api.app, headers=headers, timeout=STREAM_SECONDS if stream else 30)
    except requests.exceptions.ReadTimeout:
        if not stream:
            raise
        # no headers within STREAM_SECONDS (a busy machine): once more with time to answer
        response = case.call(app=api.app, headers=headers, timeout=STREAM_HEADERS_SECONDS)
    case.validate_response(response, checks=[not_a_server_error])
    check_error_shape(response, case)
    if response.status_code < 300 and not stream:
        case.validate_response(response, checks=[response_schema_conformance])
    return response


def fuzz(schema: Any, *, backend: str, examples: int, doc: str) -> Any:
    """A test of every operation in ``schema`` on ``backend``, ``examples`` cases each."""

    @schema.parametrize()
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its curl
        suppress_health_check=list(HealthCheck),
    )
    @pytest.mark.parametrize("shared_api", [backend], indirect=True)
    def test(fuzz_api: Api, case: Any) -> None:
        call(fuzz_api, case)

    test.__doc__ = doc
    return test


# The API layer is the same on both backends, so SQLite (fast) gets the full budget; PostgreSQL a
# smaller one for what only it refuses (text with NUL, integer ranges).
test_no_5xx_sqlite = fuzz(NATIVE, backend="sqlite", examples=EXAMPLES, doc="JSON operations.")
test_no_5xx_postgresql = fuzz(NATIVE, backend="postgresql", examples=PG_EXAMPLES, doc="Same.")
test_streams_no_5xx_sqlite = fuzz(
    NATIVE_STREAMS, backend="sqlite", examples=STREAM_EXAMPLES, doc="Streams, read briefly."
)
test_streams_no_5xx_postgresql = fuzz(
    NATIVE_STREAMS, backend="postgresql", examples=STREAM_EXAMPLES // 2, doc="Same."
)
