"""The client's plans and reply parsing without a server: they do no I/O, so a test drives them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from jobyard.client import _base as ops
from jobyard.client import _plans as plans
from jobyard.client.models import Page
from jobyard.core import errors


def frame(kind: str, event_id: int, **data: Any) -> list[str]:
    payload = {"id": event_id, "job_id": 5, "at": "2026-01-02T03:04:05+00:00", "kind": kind,
               "data": data}  # fmt: skip
    return [f"id: {event_id}", f"event: {kind}", f"data: {json.dumps(payload)}", ""]


class Driver:
    """Plays the client's part: answers each step of a plan with the next scripted reply."""

    def __init__(self, plan: plans.Plan[Any]) -> None:
        self.plan = plan
        self.step = plan.send(None)
        self.emitted: list[Any] = []

    def reply(self, value: Any) -> plans.Step[Any]:
        while True:
            self.step = self.plan.send(value)
            if not isinstance(self.step, plans.Emit):
                return self.step
            self.emitted.append(self.step.value)
            value = None

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            assert isinstance(self.step, plans.ReadLine), self.step
            self.reply(line)


def test_sse_decoder_reads_frames_comments_and_multiline_data() -> None:
    decoder = plans.SSEDecoder()
    lines = [": keepalive", "", "id: 7", "event: log", "data: a", "data:b", "", "data: x", ""]
    frames = [f for f in map(decoder.feed, lines) if f is not None]
    assert frames == [plans.Frame("log", "a\nb", "7"), plans.Frame("message", "x", None)]


def test_follow_resumes_after_the_last_event_id_when_the_connection_drops() -> None:
    driver = Driver(plans.follow(5))
    assert isinstance(driver.step, plans.Open) and "Last-Event-ID" not in driver.step.headers
    driver.reply(None)  # opened
    driver.lines(frame("state", 3, status="queued") + frame("state", 4, status="running"))
    assert isinstance(driver.step, plans.ReadLine)
    pause = driver.reply(httpx.ReadError("connection reset"))
    assert isinstance(pause, plans.Sleep) and pause.seconds > 0
    reopen = driver.reply(None)
    assert isinstance(reopen, plans.Open) and reopen.headers == {"Last-Event-ID": "4"}
    driver.reply(httpx.ConnectError("refused"))  # the server is still down: wait and retry
    assert isinstance(driver.step, plans.Sleep)
    assert driver.reply(None) == reopen
    driver.reply(None)
    driver.lines(frame("state", 6, status="completed"))
    driver.lines(["id: 6", "event: close", 'data: {"status":"completed","events":{}}'])
    with pytest.raises(StopIteration):
        driver.reply("")  # the close frame ends the plan
    assert [(e.kind, e.status, e.id) for e in driver.emitted] == [
        ("state", "queued", 3), ("state", "running", 4), ("state", "completed", 6),
        ("close", "completed", 6),
    ]  # fmt: skip


def test_a_stream_that_keeps_dropping_gives_up() -> None:
    driver = Driver(plans.follow(5, last_event_id=9))
    assert isinstance(driver.step, plans.Open) and driver.step.headers == {"Last-Event-ID": "9"}
    with pytest.raises(errors.Unreachable):
        for _ in range(plans.RETRIES + 1):
            driver.reply(httpx.ConnectError("refused"))  # -> Sleep
            driver.reply(None)  # -> Open again


def test_log_follow_reopens_with_after_and_emits_only_lines() -> None:
    driver = Driver(plans.follow_log(5, after=2))
    assert isinstance(driver.step, plans.Open) and driver.step.params == {
        "follow": "true", "after": "2"
    }  # fmt: skip
    driver.reply(None)
    driver.lines(frame("log", 3, text="one"))
    driver.reply(None)  # the server ended the stream without a close: reopen after 3
    reopen = driver.reply(None)
    assert isinstance(reopen, plans.Open) and reopen.params == {"follow": "true", "after": "3"}
    assert [e.text for e in driver.emitted] == ["one"]


def test_pages_stop_when_there_is_no_next_page() -> None:
    made: list[int] = []

    def make(number: int) -> ops.Call[Any]:
        made.append(number)
        return ops.Call("GET", "/x", lambda d: d)

    driver = Driver(plans.pages(make))
    driver.reply(Page(count=3, next="more", previous=None, results=(1, 2)))
    with pytest.raises(StopIteration):
        driver.reply(Page(count=3, next=None, previous="back", results=(3,)))
    assert driver.emitted == [1, 2, 3] and made == [1, 2]


def reply(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://x/api/v1/x"))


def error(code: str, message: str = "no", **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, error("not_found"), errors.NotFound),
        (409, error("duplicate"), errors.Duplicate),
        (401, error("unauthorized"), errors.Unauthorized),
        (403, error("forbidden"), errors.Forbidden),
        (503, error("store_unavailable"), errors.StoreUnavailable),
        (409, error("lease_lost"), errors.LeaseLost),
        (401, {"detail": "not the jobyard shape"}, errors.Unauthorized),
    ],
)
def test_error_replies_become_their_classes(status: int, body: Any, kind: type) -> None:
    exc = ops.error_from(reply(status, body))
    assert type(exc) is kind


def test_error_details_survive() -> None:
    invalid = ops.error_from(reply(422, error("invalid", "priority: bad", field="priority")))
    assert isinstance(invalid, errors.Invalid) and invalid.field == "priority"
    assert invalid.message == "priority: bad"
    body = error("invalid_transition", "job 3 is completed: cannot cancel it", job_id=3,
                 status="completed", operation="cancel")  # fmt: skip
    transition = ops.error_from(reply(409, body))
    assert isinstance(transition, errors.InvalidTransition)
    assert (transition.job_id, transition.status, transition.operation) == (3, "completed",
                                                                            "cancel")  # fmt: skip
    other = ops.error_from(reply(413, error("too_large", "too big")))
    assert type(other) is errors.JobyardError and other.code == "too_large"
    html = ops.error_from(
        httpx.Response(502, text="<html>bad gateway</html>", request=httpx.Request("GET", "/"))
    )
    assert html.message.startswith("HTTP 502") and html.http_status == 502


def test_options_and_filters_become_query_and_body() -> None:
    call = ops.jobs(page=2, per_page=5, filters={"status": ["failed", "canceled"], "tag": "t",
                                                 "include_removed": True})  # fmt: skip
    assert call.params == {"page": "2", "per_page": "5", "status": "failed,canceled", "tag": "t",
                           "include_removed": "true"}  # fmt: skip
    job = ops.enqueue("a.b", None, {"tags": ("x",), "delay": 1.5})
    assert job.body == {"type": "a.b", "args": {}, "tags": ["x"], "delay": 1.5}
    assert ops.pause_queue("a/b?c").path == "/queues/a%2Fb%3Fc/pause"
