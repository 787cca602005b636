"""Dashboard sessions: sign in for a signed cookie; changes need its CSRF token; both backends.

Each test has a client of its own (its own cookie jar) on the module's shared app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobyard.api.auth import hash_password
from jobyard.api.session import COOKIE, CSRF_HEADER, Sessions
from jobyard.core.settings import Settings

from .conftest import PASSWORD, Api, assert_error, bearer

V1 = "/api/v1"


@pytest.fixture
def browser(shared_api: Api) -> Iterator[TestClient]:
    with TestClient(shared_api.app, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, who: str) -> dict[str, object]:
    response = client.post(f"{V1}/session", json={"name": who, "password": PASSWORD[who]})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_signing_in_sets_a_safe_cookie_and_says_who_you_are(browser: TestClient) -> None:
    response = browser.post(
        f"{V1}/session", json={"name": "operator", "password": "operator-password"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signed_in"] is True
    assert (body["name"], body["role"], body["via"]) == ("operator", "operator", "session")
    assert body["csrf_token"] and body["expires_at"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/", "Max-Age=43200"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here; https gets Secure

    again = browser.get(f"{V1}/session").json()
    assert again == body  # the same session, the same CSRF token


def test_nobody_signed_in_is_an_answer_and_a_token_is_not_a_session(
    browser: TestClient, shared_api: Api
) -> None:
    assert browser.get(f"{V1}/session").json() == {
        "signed_in": False, "name": None, "role": None, "via": None, "csrf_token": None,
        "expires_at": None,
    }  # fmt: skip
    by_token = browser.get(f"{V1}/session", headers=bearer("jy_viewer_token")).json()
    assert (by_token["name"], by_token["via"], by_token["csrf_token"]) == ("viewer", "token", None)


@pytest.mark.parametrize(
    "body", [{"name": "operator", "password": "wrong"}, {"name": "nobody", "password": "x"}]
)
def test_a_wrong_password_or_user_gets_no_cookie(browser: TestClient, body: dict[str, str]) -> None:
    response = browser.post(f"{V1}/session", json=body)
    error = assert_error(response, 401, "unauthorized")
    assert "wrong name or password" in error["message"]
    assert "set-cookie" not in response.headers
    assert "www-authenticate" not in response.headers  # no browser password prompt
    assert_error(browser.get(f"{V1}/jobs"), 401)


def test_a_change_needs_the_sessions_csrf_token(browser: TestClient, shared_api: Api) -> None:
    w = shared_api.world()
    csrf = str(sign_in(browser, "operator")["csrf_token"])
    assert browser.get(f"{V1}/jobs/{w.queued}").status_code == 200

    for headers in ({}, {CSRF_HEADER: "not-the-token"}, {CSRF_HEADER: ""}):
        error = assert_error(browser.post(f"{V1}/jobs/{w.queued}/cancel", headers=headers), 403)
        assert CSRF_HEADER in error["message"]
        assert shared_api.store.job_get(w.queued).status.value == "queued"

    response = browser.post(f"{V1}/jobs/{w.queued}/cancel", headers={CSRF_HEADER: csrf})
    assert response.status_code == 200, response.text
    assert response.json()["canceled_by"] == "operator"


def test_a_viewer_session_changes_nothing_even_with_its_token(
    browser: TestClient, shared_api: Api
) -> None:
    w = shared_api.world()
    csrf = str(sign_in(browser, "viewer")["csrf_token"])
    response = browser.post(f"{V1}/jobs/{w.queued}/kill", headers={CSRF_HEADER: csrf})
    assert "viewer" in assert_error(response, 403, "forbidden")["message"]
    assert shared_api.store.job_get(w.queued).status.value == "queued"


def test_forged_foreign_and_expired_cookies_are_refused(
    browser: TestClient, shared_api: Api
) -> None:
    sign_in(browser, "viewer")
    real = browser.cookies[COOKIE]
    body, _, signature = real.partition(".")
    sessions: Sessions = shared_api.app.state.sessions
    forged_body = body[:-2] + ("AA" if not body.endswith("AA") else "BB")
    foreign = Sessions(shared_api.store, secret="another server's secret", lifetime=3600)
    expired = Sessions(shared_api.store, secret=sessions.secret, lifetime=10)
    for name, value in {
        "tampered payload": f"{forged_body}.{signature}",
        "no signature": body,
        "garbage": "%%%.###",
        "another secret": foreign.issue("viewer")[0],
        "expired": expired.issue("viewer", now=time.time() - 11)[0],
    }.items():
        browser.cookies.clear()
        browser.cookies.set(COOKIE, value)
        assert browser.get(f"{V1}/jobs").status_code == 401, name
        assert browser.get(f"{V1}/session").json()["signed_in"] is False, name
    browser.cookies.clear()
    browser.cookies.set(COOKIE, real)
    assert browser.get(f"{V1}/jobs").status_code == 200


def test_a_new_password_ends_sessions_and_a_new_role_applies_at_once(
    browser: TestClient, shared_api: Api
) -> None:
    store = shared_api.store
    name = f"dana-{shared_api.world().queue}"
    store.user_add(name, role="operator", password_hash=hash_password("first-password"))
    response = browser.post(f"{V1}/session", json={"name": name, "password": "first-password"})
    csrf = response.json()["csrf_token"]
    w = shared_api.world()

    store.user_update(name, role="viewer")
    refused = browser.post(f"{V1}/jobs/{w.queued}/cancel", headers={CSRF_HEADER: csrf})
    assert_error(refused, 403, "forbidden")
    assert browser.get(f"{V1}/session").json()["role"] == "viewer"

    store.user_update(name, password_hash=hash_password("second-password"))
    assert_error(browser.get(f"{V1}/jobs"), 401)

    browser.post(f"{V1}/session", json={"name": name, "password": "second-password"})
    assert browser.get(f"{V1}/jobs").status_code == 200
    store.user_remove(name)
    assert_error(browser.get(f"{V1}/jobs"), 401)


def test_an_authorization_header_is_used_instead_of_the_cookie(browser: TestClient) -> None:
    sign_in(browser, "admin")
    assert_error(browser.get(f"{V1}/jobs", headers=bearer("jy_no_such_token")), 401)
    assert browser.get(f"{V1}/users").status_code == 200


def test_signing_out_drops_the_cookie(browser: TestClient) -> None:
    sign_in(browser, "viewer")
    response = browser.delete(f"{V1}/session")
    assert response.status_code == 204
    assert (
        f'{COOKIE}=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    assert COOKIE not in browser.cookies
    assert_error(browser.get(f"{V1}/jobs"), 401)


def test_the_dashboard_is_served_under_ui_with_a_strict_policy(browser: TestClient) -> None:
    root = browser.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/jobs", "/ui/jobs/12?status=failed", "/ui/no/such/page"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/ui/static/js/app.js">' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script = browser.get("/ui/static/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache" and script.headers["etag"]
    assert browser.get("/ui/static/js/nope.js").status_code == 404


def test_the_secret_key_comes_from_the_environment_and_is_never_shown() -> None:
    settings = Settings.from_env({"JOBYARD_SECRET_KEY": "s3cret", "JOBYARD_SESSION_LIFETIME": "60"})
    assert settings.secret_key == "s3cret"
    assert settings.session_lifetime == 60.0
    assert "s3cret" not in repr(settings)
    assert Settings().secret_key == ""
