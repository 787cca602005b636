"""The attack surface of a real `jobyard up`, over HTTP, on both backends.

One server per backend (`jobyard up --app secapp:app`) with small limits: 3 failed sign-ins per
user name and 6 per address in a 60 s window, 2 live event streams per user. Addresses come from
``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1 (its default ``--forwarded-allow-ips``),
so each test signs in from addresses of its own; ``X-Forwarded-Proto: https`` stands for a TLS
proxy in front.

- every route, native and dialect, refuses a caller without credentials (401/403; core4 sends
  them to its login URL, which answers 401), even with a body that is not JSON;
- a viewer's change is refused on every route and changes nothing;
- failed sign-ins are limited per name and per address: 429 with Retry-After;
- session cookies are HttpOnly, SameSite and (over https) Secure; a cookie alone changes nothing;
- passwords and tokens appear in no log and no error body;
- command arguments arrive as argv, never through a shell, in a fresh working directory that is
  gone afterwards; huge log lines are cut; args, pages and live streams are bounded.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobyard.api.dialects.core4.protocol import LOGIN_URL
from jobyard.core.models import MAX_ARGS, MAX_LOG_LINE
from jobyard.store import Store, open_store
from support.remote import FAST_ENV, database, wait_until
from support.servers import ADMIN_TOKEN, Server

from .live import EventStream
from .test_roles import ALL_ROUTES, EXPECTED, SIGN_IN

V1 = "/api/v1"
LIMITS = {
    "JOBYARD_LOGIN_FAILURES": "3",
    "JOBYARD_LOGIN_FAILURES_PER_ADDRESS": "6",
    "JOBYARD_LOGIN_WINDOW": "60",
    "JOBYARD_SSE_PER_USER": "2",
}
PUBLIC = {route for route, rule in EXPECTED.items() if rule.need == "public"} | {
    "GET /__api__/server_settings",  # Connect's version page, like the native /version
}
CORE4 = "/core4/api/v1/"
# POSTs that change nothing: signing in to core4, and core4's queue listing (GET or POST)
READING_POSTS = {f"POST {LOGIN_URL}", "POST /core4/api/v1/job/queue"}
_numbers = itertools.count(1)


class Site:
    """The server, a store on its database for checks, and people made through the API."""

    def __init__(self, server: Server, store: Store) -> None:
        self.server = server
        self.store = store
        self.admin = self.client(ADMIN_TOKEN)

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30.0)

    def person(self, role: str) -> tuple[str, str, str]:
        """(name, password, token) of a new user of ``role``, made through the API."""
        n = next(_numbers)
        name, password = f"sec-{role}-{n}", f"Pw-{role}-{n}-Zq81xT"
        made = self.admin.post(
            f"{V1}/users", json={"name": name, "password": password, "role": role}
        )
        assert made.status_code == 201, made.text
        token = self.admin.post(f"{V1}/tokens", json={"name": "t", "user": name})
        assert token.status_code == 201, token.text
        return name, password, token.json()["token"]

    def enqueue(self, type_: str, args: Any = None) -> int:
        response = self.admin.post(f"{V1}/jobs", json={"type": type_, "args": args or {}})
        assert response.status_code == 201, response.text
        return int(response.json()["ids"][0])

    def finished(self, job_id: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job: dict[str, Any] = self.admin.get(f"{V1}/jobs/{job_id}").json()
            return job if job["status"] in ("completed", "failed", "canceled") else None

        return wait_until(done, what=f"job {job_id} to finish")

    def log(self, job_id: int) -> list[str]:
        lines = self.admin.get(f"{V1}/jobs/{job_id}/log").json()["results"]
        return [line["data"]["text"] for line in lines]

    def snapshot(self) -> tuple[Any, ...]:
        """What a refused request must not change (the worker and engine run meanwhile, but
        with no job to run they change none of these)."""
        page = self.admin.get(f"{V1}/jobs", params={"per_page": 1000, "sort": "id"}).json()
        jobs = [(j["id"], j["status"], j["priority"], j["updated_at"]) for j in page["results"]]
        users = self.admin.get(f"{V1}/users").json()
        tokens = self.admin.get(f"{V1}/tokens").json()
        types = self.admin.get(f"{V1}/types", params={"per_page": 1000}).json()["results"]
        queues = self.admin.get(f"{V1}/queues").json()
        schedules = self.admin.get(f"{V1}/schedules").json()
        return jobs, users, tokens, [(t["name"], t["revision"]) for t in types], queues, schedules


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"security-{request.param}")
    with database(request.param, folder, postgres_databases) as url:
        server = Server(
            database_url=url,
            log_path=folder / "server.log",
            app="secapp:app",
            extra_args=["--concurrency", "2"],
            # run_as is the effective user's, whatever a parent put in $USER and $LOGNAME
            USER="not-the-user",
            LOGNAME="not-the-user",
            **{**FAST_ENV, **LIMITS},
        )
        store = open_store(url)
        try:
            site = Site(server, store)
            wait_until(  # all of them: a snapshot taken between two would see one arrive
                lambda: all(
                    site.admin.get(f"{V1}/types/{name}").status_code == 200
                    for name in ("sec.argv", "sec.bigline", "sec.pybig")
                ),
                what="the worker to register the secapp types",
            )
            yield site
        finally:
            site.admin.close()
            store.close()
            server.stop()


def concrete(path: str) -> str:
    """A route's path with its parameters filled in (ids that exist or not: refusal comes first)."""
    path = path.replace("{rest:path}", "job/1").replace("{page:path}", "jobs")
    return re.sub(r"\{[^}]+\}", "1", path)


def assert_refused(method: str, path: str, response: httpx.Response) -> None:
    where = f"{method} {path}: {response.status_code} {response.text[:200]}"
    if path.startswith(CORE4) and response.status_code == 302:
        assert response.headers["location"] == LOGIN_URL, where  # core4's way (seed 002)
        return
    assert response.status_code in (401, 403), where


BAD_CALLERS: dict[str, dict[str, str]] = {
    "nobody": {},
    "unknown token": {"Authorization": "Bearer jy_not_a_token"},
    "garbage header": {"Authorization": "Basic !!!"},
}


def test_no_route_answers_a_caller_without_credentials(site: Site) -> None:
    before = site.snapshot()
    checked = 0
    for route in ALL_ROUTES:
        if route in PUBLIC:
            continue
        method, path = route.split(" ", 1)
        url = concrete(path)
        for headers in BAD_CALLERS.values():
            with site.client(**headers) as http:
                response = http.request(method, url, follow_redirects=False)
                assert_refused(method, url, response)
                if method in ("POST", "PUT", "PATCH", "DELETE") and not headers:
                    # a body that is not JSON, and one that is: the refusal still comes first
                    for body in (b"{not json", b'{"type": "sec.argv"}'):
                        response = http.request(
                            method, url, content=body, follow_redirects=False,
                            headers={"Content-Type": "application/json"},
                        )  # fmt: skip
                        assert_refused(method, url, response)
            checked += 1
    assert checked > 100, checked  # native, core4, Scale (two prefixes) and Connect routes
    with site.client() as http:  # where core4 sends people: it says how to sign in
        login = http.get(LOGIN_URL)
        assert login.status_code == 401 and "Basic" in login.headers["www-authenticate"]
    assert site.snapshot() == before


def test_a_viewer_changes_nothing_on_any_route(site: Site) -> None:
    _, _, token = site.person("viewer")
    job = site.enqueue("sec.argv", {"a": "1", "b": "2"})
    site.finished(job)
    before = site.snapshot()
    checked = 0
    with site.client(token) as http:
        for route in ALL_ROUTES:
            method, path = route.split(" ", 1)
            if method == "GET" or route in SIGN_IN or route in READING_POSTS:
                continue
            url = re.sub(r"\{(ref|job_id|jid)\}", str(job), path)
            url = concrete(url)
            body = {"type": "sec.argv", "job_ids": [job], "ids": [job], "qual_name": "sec.argv"}
            response = http.request(method, url, json=body)
            where = f"{route}: {response.status_code} {response.text[:200]}"
            if "{rest:path}" in path:  # core4's fallback: unknown or refused, never done
                assert response.status_code in (403, 404, 405), where
            else:
                assert response.status_code == 403, where
            checked += 1
    assert checked > 40, checked
    assert site.snapshot() == before


def test_failed_sign_ins_are_limited_per_name(site: Site) -> None:
    name, password, _ = site.person("operator")
    here = {"X-Forwarded-For": "10.1.0.1"}
    with site.client(**here) as http:
        for attempt in range(3):
            wrong = {"name": name, "password": f"wrong-{attempt}"}
            assert http.post(f"{V1}/session", json=wrong).status_code == 401
        limited = http.post(f"{V1}/session", json={"name": name, "password": password})
        assert limited.status_code == 429, limited.text
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        error = limited.json()["error"]
        assert error["code"] == "rate_limited" and "try again in" in error["message"]
        assert "set-cookie" not in limited.headers
        # every way of giving a password is limited alike
        basic = http.get(f"{V1}/jobs", auth=(name, password))
        assert basic.status_code == 429 and "retry-after" in basic.headers
        core4 = http.post(LOGIN_URL, json={"username": name, "password": password})
        assert core4.status_code == 429 and "retry-after" in core4.headers
        scale = http.get("/scale/load/", auth=(name, password))
        assert scale.status_code == 429 and "retry-after" in scale.headers
    with site.client(**{"X-Forwarded-For": "10.1.0.2"}) as http:  # the name, from elsewhere
        assert (
            http.post(f"{V1}/session", json={"name": name, "password": password}).status_code == 429
        )
        # another name is not this one's business
        other, other_password, _ = site.person("viewer")
        ok = http.post(f"{V1}/session", json={"name": other, "password": other_password})
        assert ok.status_code == 200, ok.text


def test_failed_sign_ins_are_limited_per_address(site: Site) -> None:
    name, password, _ = site.person("viewer")
    guesser = {"X-Forwarded-For": "10.2.0.1"}
    with site.client(**guesser) as http:
        for n in range(6):  # six names, one guess each: no name reaches its own limit
            response = http.post(f"{V1}/session", json={"name": f"guess-{n}", "password": "x"})
            assert response.status_code == 401, response.text
        limited = http.post(f"{V1}/session", json={"name": name, "password": password})
        assert limited.status_code == 429 and "retry-after" in limited.headers
    with site.client(**{"X-Forwarded-For": "10.2.0.2"}) as http:
        assert (
            http.post(f"{V1}/session", json={"name": name, "password": password}).status_code == 200
        )


def test_session_cookie_flags_and_csrf(site: Site) -> None:
    name, password, _ = site.person("operator")
    https = {"X-Forwarded-For": "10.3.0.1", "X-Forwarded-Proto": "https"}
    with site.client(**https) as http:  # behind a TLS proxy: Secure
        signed = http.post(f"{V1}/session", json={"name": name, "password": password})
        assert signed.status_code == 200, signed.text
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "; secure" in cookie
    with site.client(**{"X-Forwarded-For": "10.3.0.1"}) as http:
        plain = http.post(f"{V1}/session", json={"name": name, "password": password})
        assert plain.status_code == 200, plain.text
        cookie = plain.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        csrf = plain.json()["csrf_token"]
        job = site.enqueue("sec.argv", {"a": "1"})  # no "b": it fails at once
        site.finished(job)
        before = site.snapshot()
        # the cookie alone, or with a wrong token, changes nothing
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-2] + "xx"}):
            response = http.post(f"{V1}/jobs/{job}/restart", headers=headers)
            assert response.status_code == 403 and "X-CSRF-Token" in response.text, response.text
        assert site.snapshot() == before
        assert http.get(f"{V1}/jobs/{job}").status_code == 200  # reading needs no token
        done = http.post(f"{V1}/jobs/{job}/restart", headers={"X-CSRF-Token": csrf})
        assert done.status_code == 201, done.text


def test_a_core4_token_cookie_reads_but_never_changes(site: Site) -> None:
    """A cookie rides along with a form another site posts, and core4 takes form bodies."""
    _, _, token = site.person("operator")
    job = site.enqueue("sec.argv", {"a": "1"})  # fails at once: restartable
    site.finished(job)
    before = site.snapshot()
    with site.client() as http:
        http.cookies.set("token", token)
        assert http.get(f"{CORE4}job/{job}").status_code == 200
        for method, path in (("PUT", f"job/restart/{job}"), ("POST", "job")):
            form = {"qual_name": "sec.argv", "args": "{}", "follow": "no"}
            response = http.request(method, f"{CORE4}{path}", data=form, follow_redirects=False)
            assert response.status_code == 302, response.text  # not signed in
        assert site.snapshot() == before
        named = http.put(f"{CORE4}job/restart/{job}", params={"token": token, "follow": "no"})
        assert named.status_code == 200, named.text


def test_secrets_are_never_in_logs_or_error_bodies(site: Site) -> None:
    name, password, token = site.person("operator")
    wrong = "Wrong-Secret-9d1c"
    bodies: list[str] = []
    here = {"X-Forwarded-For": "10.4.0.1"}
    with site.client(**here) as http:
        calls = [
            http.post(f"{V1}/session", json={"name": name, "password": wrong}),
            http.get(f"{V1}/jobs", auth=(name, wrong)),
            http.get(f"{V1}/jobs", headers={"Authorization": f"Bearer {token}x"}),
            http.get(f"{V1}/jobs", params={"token": token + "x"}),
            http.get("/scale/load/", headers={"Authorization": f"Bearer {token[:-1]}"}),
            http.post(LOGIN_URL, json={"username": name, "password": wrong}),
            http.get("/__api__/v1/content/x/jobs", headers={"Authorization": f"Key {token}y"}),
            http.post(f"{V1}/session", json={"name": name, "password": wrong, "extra": password}),
            http.post(f"{V1}/session", json={"name": name, "password": wrong}),  # now 429
        ]
    with site.client(token) as http:  # an operator may not make users: 403, password unseen
        calls.append(http.post(f"{V1}/users", json={"name": "x-op", "password": password}))
    calls += [  # an admin's bad user requests: validation errors that must not echo passwords
        site.admin.post(f"{V1}/users", json={"name": "bad name!" * 40, "password": password}),
        site.admin.post(f"{V1}/users", json={"name": "short", "password": "Sh0rt"}),
        site.admin.post(f"{V1}/users", json={"name": name, "password": password}),  # duplicate
        site.admin.post(f"{V1}/users", json={"name": "typo", "pasword": password}),
        site.admin.post(f"{V1}/users", content=f'{{"name": "x", "password": "{password}"',
                        headers={"Content-Type": "application/json"}),
        site.admin.patch(f"{V1}/users/nobody-{name}", json={"password": password}),
        site.admin.post(f"{V1}/tokens", json={"name": "t", "user": "nobody", "token": token}),
    ]  # fmt: skip
    statuses = [c.status_code for c in calls]
    assert all(400 <= s < 500 for s in statuses), statuses
    assert 429 in statuses
    bodies += [c.text for c in calls] + [json.dumps(dict(c.headers)) for c in calls]
    listed = site.admin.get(f"{V1}/users").text + site.admin.get(f"{V1}/tokens").text
    assert "argon2" not in listed and token not in listed and password not in listed
    bodies.append(listed)
    log = site.server.log()
    for secret in (password, token, wrong, token[len("jy_") :]):
        assert secret not in log, f"a secret is in the server log: {secret[:4]}…"
        for body in bodies:
            assert secret not in body, f"a secret is in a response: {body[:300]}"


def test_command_arguments_reach_argv_literally_in_a_fresh_folder(
    site: Site, tmp_path: Path
) -> None:
    canary = tmp_path / "pwned"
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("still here")
    a = f"; rm -rf {keep} ; touch {canary} #"
    b = f"$(touch {canary}) `touch {canary}` && touch {canary} | tee {canary} > {canary}"
    reports = []
    for _ in range(2):
        job = site.enqueue("sec.argv", {"a": a, "b": b})
        assert site.finished(job)["status"] == "completed", site.log(job)
        [line] = [text for text in site.log(job) if text.startswith("{")]
        reports.append((job, json.loads(line)))
    for job, report in reports:
        assert report["argv"] == [a, b, "fixed;$(id)"]  # each one argument, as given
        assert report["files"] == ["left-behind.txt"]  # a fresh, empty folder
        assert report["mode"] == "0o700"  # the worker's user's alone
        assert report["secrets"] == []  # `jobyard up` keeps its secrets from the worker
        executions = site.admin.get(f"{V1}/executions", params={"job_id": job}).json()["results"]
        [execution] = executions
        folder = Path(report["cwd"])
        assert folder.parent == Path(tempfile.gettempdir()).resolve()
        assert folder.name.startswith(f"jobyard-{execution['id']}-")
        assert not folder.exists(), "the working folder outlived its execution"
        assert execution["run_as"] == report["user"] != "not-the-user"
    assert reports[0][1]["cwd"] != reports[1][1]["cwd"]
    assert not canary.exists(), "an argument reached a shell"
    assert (keep / "file").read_text() == "still here"


@pytest.mark.parametrize("type_", ["sec.bigline", "sec.pybig"])
def test_a_huge_log_line_is_cut_not_stored_whole(site: Site, type_: str) -> None:
    job = site.enqueue(type_)
    assert site.finished(job)["status"] == "completed"
    lines = site.log(job)
    assert lines[-1] == "after", lines[-1][:100]
    [big] = [line for line in lines if len(line) > 1000]
    assert len(big) <= MAX_LOG_LINE
    assert big.startswith("x" * 1000) or big.startswith("y" * 1000)
    assert big.endswith("END") and re.search(r"\[\.\.\. \d+ (bytes|characters) cut \.\.\.\]", big)


def test_args_and_pages_are_bounded_with_clear_errors(site: Site) -> None:
    before = site.snapshot()
    huge = {"blob": "x" * MAX_ARGS}
    native = site.admin.post(f"{V1}/jobs", json={"type": "sec.argv", "args": huge})
    assert native.status_code == 422, native.text
    error = native.json()["error"]
    assert error["details"]["field"] == "args" and str(MAX_ARGS) in error["message"]
    core4 = site.admin.post(f"{CORE4}job", json={"qual_name": "sec.argv", "args": huge})
    assert core4.status_code == 400 and str(MAX_ARGS) in core4.json()["error"], core4.text
    assert site.snapshot() == before
    pages = [
        (f"{V1}/jobs", {"per_page": 1001}),
        (f"{V1}/executions", {"per_page": 1001}),
        (f"{V1}/jobs/1/log", {"limit": 10_001}),
        (f"{CORE4}job/list", {"per_page": 1001}),
        ("/__api__/v1/content/x/jobs/y/log", {"maxLogLines": 5001}),
    ]  # (Scale, as Django REST framework does, caps page_size instead: tests/dialects)
    for path, params in pages:
        response = site.admin.get(path, params=params)
        assert response.status_code in (400, 422), (path, response.status_code, response.text)
    too_big = b'{"type": "sec.argv", "args": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    response = site.admin.post(
        f"{V1}/jobs", content=too_big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_live_streams_are_limited_per_user(site: Site) -> None:
    _, _, token = site.person("viewer")
    _, _, other = site.person("viewer")
    job = site.enqueue("sec.argv", {"a": "1", "b": "2"})
    with site.client(token) as http, site.client(other) as http2:
        first = EventStream(http, f"{V1}/events")
        second = EventStream(http, f"{V1}/events", params={"kind": "log"})
        try:
            assert first.response.status_code == 200
            assert second.response.status_code == 200
            third = http.get(f"{V1}/events")
            assert third.status_code == 429, third.text
            error = third.json()["error"]
            assert error["code"] == "rate_limited" and "2 live event streams" in error["message"]
            assert third.headers["retry-after"]
            for path in (f"{V1}/jobs/{job}/events", f"{CORE4}job/follow/{job}"):
                refused = http.get(path)  # every kind of stream counts, dialects too
                assert refused.status_code == 429 and refused.headers["retry-after"], path
            with EventStream(http2, f"{V1}/events") as theirs:  # someone else: not limited
                assert theirs.response.status_code == 200
        finally:
            first.close()

        def reopened() -> bool:  # a closed stream gives its slot back once the server sees it
            with http.stream("GET", f"{V1}/events") as again:
                return again.status_code == 200

        wait_until(reopened, what="the closed stream's slot to come back")
        second.close()
