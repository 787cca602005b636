"""The core4 dialect: seed 002's Job Management API session, run with ``requests`` as in the seed.

The session runs against a real ``jobyard up`` (server, engine and a worker for the demo app) on
each backend, with only the host, port and credentials changed and ``qual_name`` set to
``demo.sleep`` (jobyard's stand-in for core4's DummyJob); the sleeps are shorter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jobyard.api.auth import hash_password
from jobyard.api.dialects.core4 import docs
from jobyard.api.dialects.core4.protocol import Args, Core4Error
from jobyard.core.models import Role
from jobyard.core.states import JobStatus
from jobyard.store import open_store
from support.servers import ADMIN_PASSWORD, Server, wait_for

QUAL_NAME = "demo.sleep"
ENVELOPE = {"_id", "version", "timestamp", "message", "code"}
PAGE = {"page_count", "total_count", "page", "per_page", "count"}
QUEUE_ITEM = {"_id", "qual_name", "state", "highstate", "flag", "age", "attempts",
              "attempts_left", "prog", "args", "enqueued", "started_at", "finished_at", "runtime",
              "killed_at", "removed_at", "priority", "trial", "zombie_at", "wall_at",
              "inactive_at", "force"}  # fmt: skip
LOG_DOC = {"_id", "created", "message", "level", "levelno", "username", "hostname", "identifier",
           "qual_name", "epoch"}  # fmt: skip
VIEWER = ("viewer", "viewer-password")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`jobyard up` with the demo app and one job at a time; a viewer besides the admin."""
    up = Server(
        database_url=database_url,
        log_path=tmp_path / "log",
        app="jobyard.demo.app:app",
        extra_args=["--concurrency", "1"],
        JOBYARD_SHUTDOWN_GRACE="1",
    )
    store = open_store(database_url)  # after `up` made the admin on the empty database
    try:
        store.user_add(VIEWER[0], role=Role.VIEWER, password_hash=hash_password(VIEWER[1]))
    finally:
        store.close()
    try:
        registered = up.url + "/api/v1/types/" + QUAL_NAME
        wait_for(
            lambda: requests.get(registered, auth=AUTH, timeout=5).status_code == 200,
            message="the worker to register demo.sleep",
        )
        yield up
    finally:
        up.stop()


AUTH = ("admin", ADMIN_PASSWORD)


def envelope(rv: requests.Response, code: int = 200) -> dict[str, Any]:
    """The reply's JSON after checking core4's envelope."""
    assert rv.status_code == code, rv.text
    assert rv.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = rv.json()
    assert ENVELOPE <= set(body), body
    assert len(body["_id"]) == 24 and int(body["_id"], 16) >= 0
    assert body["version"].startswith("jobyard/")
    assert body["code"] == code
    assert body["message"] == {200: "OK", 400: "Bad Request", 401: "Unauthorized",
                               403: "Forbidden", 404: "Not Found",
                               405: "Method Not Allowed"}[code]  # fmt: skip
    time.strptime(body["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")
    assert ("data" in body) == (code == 200) and ("error" in body) == (code != 200)
    return body


def paged(rv: requests.Response) -> dict[str, Any]:
    body = envelope(rv)
    assert PAGE <= set(body)
    assert isinstance(body["total_count"], float)
    assert body["count"] == len(body["data"])
    assert body["page_count"] == -(-int(body["total_count"]) // body["per_page"])
    return body


def sse(
    rv: requests.Response, until: Callable[[list[tuple[str, Any]]], bool] | None = None
) -> list[tuple[str, Any]]:
    """The events of a stream, each checked to be ``event: name`` + one compact ``data:`` line."""
    assert rv.status_code == 200, rv.text
    assert rv.headers["content-type"].startswith("text/event-stream")
    assert rv.headers["cache-control"] == "no-cache"
    events: list[tuple[str, Any]] = []
    lines: list[str] = []
    for line in rv.iter_lines(decode_unicode=True):
        if line.startswith(":"):  # a keepalive comment
            continue
        if line:
            lines.append(line)
            continue
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: ")
        payload = lines[1][len("data: ") :]
        data = json.loads(payload)
        assert json.dumps(data, separators=(",", ":")) == payload  # compact
        events.append((lines[0][len("event: ") :], data))
        lines = []
        if until is not None and until(events):
            break
    return events


def names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in events]


def check_stream(events: list[tuple[str, Any]], job_id: str) -> None:
    """state first, its data._id and every log line's identifier naming the job; close last."""
    assert events[0][0] == "state"
    assert events[0][1]["_id"] == job_id and events[0][1]["name"] == QUAL_NAME
    for name, data in events:
        assert name in ("state", "log", "close")
        if name == "log":
            assert LOG_DOC | {"mode"} <= set(data)
            assert data["identifier"] == job_id and data["qual_name"] == QUAL_NAME
            assert data["mode"] in ("prelog", "watchlog", "postlog")
        if name == "state":
            assert data["_id"] == job_id and 0.0 <= data["prog"]["value"] <= 1.0


def state_of(url: str, job_id: str) -> str:
    state: str = envelope(requests.get(f"{url}/job/{job_id}", auth=AUTH))["data"]["state"]
    return state


# -- the seed's session, step by step ---------------------------------------------------------


@pytest.mark.slow
def test_seed_session(server: Server) -> None:
    url = server.url + "/core4/api/v1"

    # List Jobs: a paginated list, then filtered (the seed's "dummy" finds nothing here)
    rv = requests.get(url + "/job/list", auth=AUTH)
    body = paged(rv)
    assert QUAL_NAME in [d["_id"] for d in body["data"]]
    item = next(d for d in body["data"] if d["_id"] == QUAL_NAME)
    assert set(item) == {"_id", "author", "created_at", "doc", "schedule", "tag", "updated_at"}
    assert item["doc"].startswith("Sleeps")
    rv = requests.get(url + "/job/list?page=0&search=dummy", auth=AUTH)
    assert paged(rv)["total_count"] == 0.0

    # Enqueue Jobs: follow (the default) streams state and log events, then close
    rv = requests.post(
        url + "/job", json={"qual_name": QUAL_NAME, "args": {"sleep": 3}}, auth=AUTH, stream=True
    )
    with rv:
        events = sse(rv)
    job_id = events[0][1]["_id"]
    check_stream(events, job_id)
    assert names(events)[-1] == "close"
    assert [e for e in names(events) if e != "close"].count("log") == 3  # a line a second
    assert events[-1][1] == {"state": names(events).count("state"), "log": 3}
    states = [d["state"] for n, d in events if n == "state"]
    assert states[0] in ("pending", "running") and states[-1] == "complete"
    assert "running" in states
    assert {d["identifier"] for n, d in events if n == "log"} == {job_id}

    # Job Details: of the finished job, from the journal
    rv = requests.get(url + "/job/" + job_id, auth=AUTH)
    details = envelope(rv)["data"]
    assert details["_id"] == job_id and details["qual_name"] == QUAL_NAME
    assert details["state"] == "complete" and details["journal"] is True
    assert details["prog"]["value"] == 1.0 and details["args"] == {"sleep": 3}
    assert details["runtime"] > 2.5 and details["enqueued"]["by"] == "admin"
    assert details["flag"] == {"zombie": False, "killed": False, "removed": False,
                               "nonstop": False}  # fmt: skip

    # Queue Listing: another job, not followed
    rv = requests.post(
        url + "/job",
        json={"qual_name": QUAL_NAME, "args": {"sleep": 60}, "follow": False},
        auth=AUTH,
        stream=True,
    )
    with rv:
        jid = envelope(rv)["data"]
    assert isinstance(jid, str) and jid != job_id

    rv = requests.post(url + "/job/queue", json={"search": "dummy"}, auth=AUTH)
    queue = paged(rv)
    assert queue["page"] == 0 and queue["per_page"] == 10
    assert [d["_id"] for d in queue["data"]] == [jid]  # the finished job is journaled
    item = queue["data"][0]
    assert QUEUE_ITEM <= set(item) and "name" not in item
    assert item["qual_name"] == QUAL_NAME and item["args"] == {"sleep": 60}
    assert item["state"] in ("pending", "running") and item["highstate"] in ("waiting", "running")
    assert item["attempts"] == 3 and item["age"] >= 0
    same = paged(requests.get(url + "/job", auth=AUTH))  # GET /job is the same listing
    assert [d["_id"] for d in same["data"]] == [jid] and set(same["data"][0]) == set(item)

    # Job Control: kill it while it runs
    wait_for(lambda: state_of(url, jid) == "running", message="the job to run")
    rv = requests.put(url + "/job/kill/" + jid, auth=AUTH)
    assert envelope(rv)["data"] is True

    # restart (without following): a new job; the killed one is journaled and readable
    rv = requests.put(url + "/job/restart/" + jid, json={"follow": False}, auth=AUTH)
    new_jid = envelope(rv)["data"]
    assert isinstance(new_jid, str) and new_jid not in (jid, job_id)

    rv = requests.get(url + "/job/" + new_jid, auth=AUTH)
    new = envelope(rv)["data"]
    assert new["state"] in ("pending", "running") and new["journal"] is False
    assert new["enqueued"]["parent_id"] == jid and new["args"] == {"sleep": 60}
    rv = requests.get(url + "/job/" + jid, auth=AUTH)
    old = envelope(rv)["data"]
    assert old["state"] == "killed" and old["highstate"] == "stopped"
    assert old["journal"] is True and old["enqueued"]["child_id"] == new_jid
    assert old["flag"]["killed"] is True and old["killed_at"] is not None
    assert old["last_error"]["exception"] == "JobKilledByWorker"

    # follow the new job (reading until it has logged a line, as a person would stop reading)
    rv = requests.get(url + "/job/follow/" + new_jid, json={"follow": True}, auth=AUTH, stream=True)
    with rv:
        events = sse(rv, until=lambda ev: "log" in names(ev))
    check_stream(events, new_jid)

    # its log alone, streamed
    rv = requests.get(url + "/job/log/" + new_jid, json={"follow": True}, auth=AUTH, stream=True)
    with rv:
        events = sse(rv, until=lambda ev: names(ev).count("log") >= 2)
    assert set(names(events)) == {"log"}
    assert all(d["identifier"] == new_jid for _, d in events)
    assert events[0][1]["mode"] == "prelog"

    # kill and remove it
    rv = requests.put(url + "/job/kill/" + new_jid, auth=AUTH)
    assert envelope(rv)["data"] is True
    rv = requests.put(url + "/job/remove/" + new_jid, auth=AUTH)
    assert envelope(rv)["data"] is True

    # the queue is empty
    rv = requests.get(url + "/job", auth=AUTH)
    body = paged(rv)
    assert body["data"] == [] and body["total_count"] == 0.0 and body["page_count"] == 0

    # the removed job stays readable, and its log pages too
    removed = envelope(requests.get(url + "/job/" + new_jid, auth=AUTH))["data"]
    assert removed["state"] == "killed" and removed["journal"] is True
    assert removed["flag"]["removed"] is True
    logs = paged(requests.get(url + "/job/log/" + new_jid, auth=AUTH))
    assert logs["total_count"] >= 2 and all(LOG_DOC == set(d) for d in logs["data"])
    # a journaled job: no longer in the queue to control
    assert envelope(requests.put(url + "/job/kill/" + new_jid, auth=AUTH), 404)["error"]


# -- focused ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_pagination_arguments_and_restart_of_a_waiting_job(server: Server) -> None:
    url = server.url + "/core4/api/v1"
    ids = []
    for n in range(3):  # one runs (concurrency 1), two wait
        rv = requests.post(
            url + "/job?follow=false",  # a boolean from the query string
            json={"qual_name": QUAL_NAME, "args": {"sleep": 30 + n}},
            auth=AUTH,
        )
        ids.append(envelope(rv)["data"])

    body = paged(requests.get(url + "/job?per_page=2", auth=AUTH))
    assert (body["page"], body["per_page"], body["count"]) == (0, 2, 2)
    assert (body["total_count"], body["page_count"]) == (3.0, 2)
    assert [d["_id"] for d in body["data"]] == ids[:2]
    # arguments in a JSON body on GET
    body = paged(requests.get(url + "/job", json={"per_page": 2, "page": 1}, auth=AUTH))
    assert (body["page"], body["count"], [d["_id"] for d in body["data"]]) == (1, 1, ids[2:])
    body = paged(requests.get(url + "/job", json={"sort": [["_id", -1]]}, auth=AUTH))
    assert [d["_id"] for d in body["data"]] == ids[::-1]
    body = paged(requests.get(url + "/job?per_page=2&page=-1", auth=AUTH))
    assert (body["page"], [d["_id"] for d in body["data"]]) == (1, ids[2:])
    # a page beyond the end
    body = paged(requests.get(url + "/job", params={"page": 7, "per_page": 2}, auth=AUTH))
    assert (body["page"], body["count"], body["data"], body["total_count"]) == (7, 0, [], 3.0)
    # filters by state, name and _id
    wait_for(lambda: state_of(url, ids[0]) == "running", message="the first job to run")
    body = paged(requests.post(url + "/job/queue", json={"filter": {"state": "pending"}},
                               auth=AUTH))  # fmt: skip
    assert [d["_id"] for d in body["data"]] == ids[1:]
    query = {"filter": json.dumps({"_id": {"$in": ids[:2]}, "qual_name": QUAL_NAME})}
    body = paged(requests.get(url + "/job", params=query, auth=AUTH))
    assert [d["_id"] for d in body["data"]] == ids[:2]
    rv = requests.get(url + "/job", json={"filter": {"worker": "x"}}, auth=AUTH)
    assert "not supported" in envelope(rv, 400)["error"]
    rv = requests.get(url + "/job", params={"per_page": "many"}, auth=AUTH)
    assert envelope(rv, 400)["error"] == "parameter [per_page] expected as_type [int]"

    # the registry pages the same way, and searches with wildcards
    body = paged(requests.get(url + "/job/list", params={"per_page": 1, "page": 9}, auth=AUTH))
    assert (body["count"], body["data"], body["page"]) == (0, [], 9)
    assert body["total_count"] >= 4.0  # demo.sleep, demo.fail, demo.echo, demo.count
    for search, found in (("SLEEP", True), ("demo.*p", True), ("d?mo.sleep", True),
                          ("demo.sleeps", False), ("demo_sleep", False)):  # fmt: skip
        data = paged(requests.get(url + "/job/list", json={"search": search}, auth=AUTH))["data"]
        assert (QUAL_NAME in [d["_id"] for d in data]) is found, search
    body = paged(requests.get(url + "/job/list", json={"sort": [["_id", -1]]}, auth=AUTH))
    assert [d["_id"] for d in body["data"]] == sorted((d["_id"] for d in body["data"]),
                                                      reverse=True)  # fmt: skip

    # restart of a waiting job keeps its id, as in core4
    rv = requests.put(url + "/job/restart/" + ids[2], json={"follow": False}, auth=AUTH)
    assert envelope(rv)["data"] == ids[2]
    # restart of a running job gives "None", as in core4
    rv = requests.put(url + "/job/restart/" + ids[0], params={"follow": "no"}, auth=AUTH)
    assert envelope(rv)["data"] == "None"

    # a waiting job killed is killed at once; removing it takes it out of the queue
    assert envelope(requests.put(url + "/job/kill/" + ids[2], auth=AUTH))["data"] is True
    assert state_of(url, ids[2]) == "killed"
    body = paged(requests.get(url + "/job", auth=AUTH))
    assert [d["_id"] for d in body["data"]] == ids  # a killed job stays until removed
    assert envelope(requests.put(url + "/job/remove/" + ids[1], auth=AUTH))["data"] is True
    assert envelope(requests.put(url + "/job/remove/" + ids[2], auth=AUTH))["data"] is True
    body = paged(requests.get(url + "/job", auth=AUTH))
    assert [d["_id"] for d in body["data"]] == ids[:1]
    # a running job is removed only once it is killed
    rv = requests.put(url + "/job/remove/" + ids[0], auth=AUTH)
    assert "kill it first" in envelope(rv, 400)["error"]
    assert envelope(requests.put(url + "/job/kill/" + ids[0], auth=AUTH))["data"] is True
    assert envelope(requests.put(url + "/job/remove/" + ids[0], auth=AUTH))["data"] is True
    assert paged(requests.get(url + "/job", auth=AUTH))["data"] == []

    # the log, paginated
    body = paged(requests.get(url + "/job/log/" + ids[0], json={"per_page": 1}, auth=AUTH))
    assert body["count"] == 1 and body["data"][0]["identifier"] == ids[0]
    assert set(body["data"][0]) == LOG_DOC


@pytest.mark.slow
def test_refusals(server: Server) -> None:
    url = server.url + "/core4/api/v1"
    # not signed in, or a wrong password: a redirect to the login URL, which answers 401
    for auth in (None, ("admin", "wrong")):
        rv = requests.get(url + "/job", auth=auth, allow_redirects=False)
        assert rv.status_code == 302 and rv.headers["location"] == "/core4/api/v1/login"
        rv = requests.get(url + "/job", auth=auth)
        assert rv.history[0].status_code == 302
        assert "HTTP Basic" in envelope(rv, 401)["error"]
    rv = requests.put(url + "/job/kill/1", allow_redirects=False)
    assert rv.status_code == 302
    # signed in through the login URL
    assert envelope(requests.get(url + "/login", auth=AUTH))["data"] == {
        "name": "admin",
        "role": "admin",
    }
    # a Bearer token and a JSON body's username and password sign in too
    headers = {"Authorization": "Bearer jy_test_admin_token"}
    assert paged(requests.get(url + "/job", headers=headers))["count"] == 0
    body = {"username": "admin", "password": ADMIN_PASSWORD}
    assert paged(requests.post(url + "/job/queue", json=body))["count"] == 0

    # unknown job type: 404
    rv = requests.post(url + "/job", json={"qual_name": "no.such.Job"}, auth=AUTH)
    assert "no.such.Job" in envelope(rv, 404)["error"]
    rv = requests.post(url + "/job", json={"args": {}}, auth=AUTH)
    assert envelope(rv, 400)["error"] == "Missing argument qual_name"
    # a second unfinished job with the same args: 400; other args are fine
    job = {"qual_name": QUAL_NAME, "args": {"sleep": 30}, "follow": False}
    first = envelope(requests.post(url + "/job", json=job, auth=AUTH))["data"]
    rv = requests.post(url + "/job", json=job, auth=AUTH)
    assert envelope(rv, 400)["error"] == "job [demo.sleep] exists with args {'sleep': 30}"
    other = envelope(requests.post(url + "/job", json={**job, "args": {"sleep": 31}},
                                   auth=AUTH))["data"]  # fmt: skip
    assert other != first

    # unknown ids: 404
    for rv in (
        requests.get(url + "/job/987654", auth=AUTH),
        requests.get(url + "/job/5f6252b42e84fa29038a3e3f", auth=AUTH),
        requests.get(url + "/job/follow/987654", auth=AUTH),
        requests.get(url + "/job/log/987654", auth=AUTH),
        requests.put(url + "/job/kill/987654", auth=AUTH),
        requests.put(url + "/job/restart/987654", auth=AUTH),
        requests.put(url + "/job/remove/987654", auth=AUTH),
    ):
        assert envelope(rv, 404)["error"]
    assert envelope(requests.get(url + "/job/nonsense", auth=AUTH), 405)["error"]
    assert envelope(requests.put(url + "/job/kill", auth=AUTH), 400)["error"] == ("missing job _id")
    assert envelope(requests.get(url + "/elsewhere", auth=AUTH), 404)["error"]

    # a viewer may read, not control
    assert paged(requests.get(url + "/job", auth=VIEWER))["total_count"] == 2.0
    assert envelope(requests.get(url + "/job/" + first, auth=VIEWER))["data"]["_id"] == first
    for rv in (
        requests.put(url + "/job/kill/" + first, auth=VIEWER),
        requests.put(url + "/job/remove/" + first, auth=VIEWER),
        requests.put(url + "/job/restart/" + first, auth=VIEWER),
        requests.post(url + "/job", json={**job, "args": {}}, auth=VIEWER),
    ):
        assert "viewer" in envelope(rv, 403)["error"]
    assert state_of(url, first) in ("pending", "running")
    for jid in (first, other):
        assert envelope(requests.put(url + "/job/kill/" + jid, auth=AUTH))["data"] is True


# -- the translation, without a server --------------------------------------------------------


def test_every_jobyard_state_has_a_core4_state() -> None:
    assert {s: docs.STATE[s] for s in JobStatus} == {
        JobStatus.QUEUED: "pending",
        JobStatus.SCHEDULED: "pending",
        JobStatus.BLOCKED: "pending",
        JobStatus.RUNNING: "running",
        JobStatus.RETRYING: "failed",
        JobStatus.COMPLETED: "complete",
        JobStatus.FAILED: "error",
        JobStatus.CANCELED: "killed",
    }
    assert {docs.HIGHSTATE.get(docs.STATE[s]) for s in JobStatus} == {
        "waiting", "running", "stopped", None
    }  # fmt: skip


def test_queue_filter_translates_states_names_and_ids() -> None:
    found = docs.queue_filter({"state": {"$in": ["pending", "killed"]}, "qual_name": "a.b"})
    assert found is not None
    assert set(found.statuses) == {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.BLOCKED,
                                   JobStatus.CANCELED}  # fmt: skip
    assert found.types == ("a.b",)
    assert docs.queue_filter({"state": "complete"}) is None  # complete jobs are journaled
    assert docs.queue_filter({"_id": "not-an-id"}) is None
    found = docs.queue_filter({"state": {"$ne": "running"}, "_id": {"$in": ["7", "8"]}})
    assert found is not None and JobStatus.RUNNING not in found.statuses
    assert found.ids == (7, 8)
    with pytest.raises(Core4Error, match=r"filter on \[locked\]"):
        docs.queue_filter({"locked": None})
    assert docs.queue_sort([["priority", 1]]) == "-priority"  # core4 runs high numbers first
    assert docs.queue_sort([["_id", -1]]) == "-id"


def test_search_globs_and_small_mongo_queries() -> None:
    assert docs.glob("*sleep").search("demo.SLEEP")
    assert docs.glob("d?mo").search("demo.sleep")
    assert not docs.glob("demo.sleep").search("demoXsleep")  # "." is literal
    doc = {"_id": "10", "level": "INFO", "n": 3, "tag": ["a", "b"]}
    assert docs.matches(doc, {"level": {"$in": ["INFO", "ERROR"]}, "n": {"$gte": 3}})
    assert docs.matches(
        doc, {"tag": "a", "$or": [{"n": 1}, {"level": {"$regex": "^inf", "$options": "i"}}]}
    )
    assert not docs.matches(doc, {"n": {"$lt": 3}})
    ordered = docs.sort_docs([{"_id": "10"}, {"_id": "9"}], [("_id", 1)])
    assert [d["_id"] for d in ordered] == ["9", "10"]  # ids sort as numbers


def test_arguments_convert_as_core4_does() -> None:
    args = Args({"a": "true", "b": "No", "c": False, "d": "12", "e": '{"x": 1}', "f": "[1]"})
    assert (args.flag("a", False), args.flag("b", True), args.flag("c", True)) == (
        True, False, False
    )  # fmt: skip
    assert args.flag("missing", True) is True
    assert args.integer("d", 0) == 12 and args.mapping("e", {}) == {"x": 1}
    assert args.sequence("f", []) == [1]
    with pytest.raises(Core4Error, match=r"parameter \[e\] expected as_type \[int\]"):
        args.integer("e", 0)
    with pytest.raises(Core4Error, match="Missing argument qual_name"):
        args.text("qual_name")
