"""Operations of more than one request: every page of a list, live streams, waiting for a job.

A plan is a generator. It yields the steps below and receives what each produced; ``Emit``
hands an item to the caller. It does no I/O itself, so the sync and the async client run the
same plan, each with its own ``_run`` loop. Streams resume where they stopped: a dropped
connection is opened again with the id of the last event received (``Last-Event-ID`` for a job
follow, ``after`` for the log and the system stream), a few times with growing pauses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

import httpx

from jobyard.client import _base as ops
from jobyard.client import models as m
from jobyard.core.errors import Unreachable
from jobyard.core.models import Job

T = TypeVar("T")
U = TypeVar("U")

# seconds without a byte before a stream counts as dropped; the server sends a keepalive every 15
STREAM_READ_TIMEOUT = 60.0
RETRIES = 8  # reconnections in a row without receiving an event before giving up
RETRY_PAUSE = 0.25  # seconds before the first reconnection, doubling up to RETRY_PAUSE_MAX
RETRY_PAUSE_MAX = 5.0


@dataclass(frozen=True, slots=True)
class Open:
    """Open a server-sent event stream. Receives None once open, or the TransportError.

    An error reply (404, 401, ...) is raised to the caller by the client, not sent to the plan.
    """

    path: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    read_timeout: float = STREAM_READ_TIMEOUT


@dataclass(frozen=True, slots=True)
class ReadLine:
    """Receives the stream's next line; None when it ended, or the TransportError."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause before reconnecting. Receives None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Hand ``value`` to the caller (the next item of the iterator). Receives None."""

    value: T


READ = ReadLine()
Step: TypeAlias = ops.Call[Any] | Open | ReadLine | Sleep | Emit[T]
Plan: TypeAlias = Generator[Step[T], Any, None]


def build_stream(http: httpx.Client | httpx.AsyncClient, step: Open) -> httpx.Request:
    timeout = httpx.Timeout(http.timeout.connect, read=step.read_timeout)
    headers = {"Accept": "text/event-stream", **step.headers}
    return http.build_request(
        "GET", step.path, params=step.params, headers=headers, timeout=timeout
    )


# -- server-sent events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    event: str
    data: str
    id: str | None  # the frame's own id line, if it had one


class SSEDecoder:
    """Lines in, frames out (the text/event-stream format of the HTML standard)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> Frame | None:
        if not line:  # a blank line ends a frame
            frame = None
            if self._data or self._event:
                frame = Frame(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return frame
        if line.startswith(":"):  # a comment: the server's keepalive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


def _event_of(frame: Frame, job_id: int | None) -> m.Event:
    try:
        data = json.loads(frame.data) if frame.data else {}
    except ValueError:
        data = {"text": frame.data}
    frame_id = int(frame.id) if frame.id and frame.id.isdigit() else None
    if frame.event == "state" and frame_id is None and isinstance(data, dict) and "type" in data:
        job = m.job_from(data)  # the opening snapshot of a job follow
        return m.Event("state", {"status": job.status.value}, job_id=job.id, at=job.updated_at,
                       job=job)  # fmt: skip
    if frame.event in ("state", "progress", "log") and isinstance(data, dict) and "kind" in data:
        return m.event_from(data)
    if not isinstance(data, dict):
        data = {"value": data}
    return m.Event(frame.event, data, id=frame_id, job_id=job_id)


def stream(
    open_at: Callable[[int | None], Open],
    *,
    start: int | None,
    job_id: int | None = None,
    until_close: bool = False,
    deadline: float | None = None,
) -> Plan[m.Event]:
    """Events of one stream, reopened after the last frame id whenever the connection drops.

    ``open_at(last_id)`` says how to (re)open it. With ``until_close`` the plan ends after the
    ``close`` event; with a ``deadline`` (time.monotonic) it raises TimeoutError when it passes.
    """
    last = start
    failures = 0
    while True:
        step = open_at(last)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the job did not finish in time")
            step = Open(step.path, step.params, step.headers, min(step.read_timeout, left))
        problem = yield step
        decoder = SSEDecoder()
        while problem is None:
            line = yield READ
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the job did not finish in time")
            if not isinstance(line, str):
                problem = line or "the server ended the stream"
                break
            frame = decoder.feed(line)
            if frame is None:
                continue
            failures = 0
            if frame.id and frame.id.isdigit():
                last = int(frame.id)
            event = _event_of(frame, job_id)
            yield Emit(event)
            if until_close and event.kind == "close":
                return
        failures += 1
        if failures > RETRIES:
            raise Unreachable(f"the event stream keeps dropping ({failures} times): {problem}")
        yield Sleep(min(RETRY_PAUSE * 2 ** (failures - 1), RETRY_PAUSE_MAX))


def _follow_open(job_id: int, last: int | None) -> Open:
    headers = {} if last is None else {"Last-Event-ID": str(last)}
    return Open(f"/jobs/{int(job_id)}/events", headers=headers)


def follow(job_id: int, *, last_event_id: int | None = None) -> Plan[m.Event]:
    """The job as it is, every event it had, then live state, progress and log, then close."""
    return stream(
        lambda last: _follow_open(job_id, last),
        start=last_event_id,
        job_id=job_id,
        until_close=True,
    )


def follow_log(job_id: int, *, after: int = 0) -> Plan[m.Event]:
    """The job's log lines after ``after``, live, until the job ends."""

    def open_at(last: int | None) -> Open:
        return Open(f"/jobs/{int(job_id)}/log", ops.query(follow=True, after=last or 0))

    return _only_kind("log", stream(open_at, start=after, job_id=job_id, until_close=True))


def events(
    *, job_id: int | None = None, kinds: str | list[str] | None = None, after: int | None = None
) -> Plan[m.Event]:
    """Every event in the system from now (or after ``after``) on; it never ends by itself."""

    def open_at(last: int | None) -> Open:
        return Open("/events", ops.query(job_id=job_id, kind=kinds, after=last))

    return stream(open_at, start=after)


def wait(job_id: int, *, timeout: float | None = None) -> Plan[Job]:
    """Follow the job to its end, then emit it as it finished (result, error, executions)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    yield from _drain(
        stream(
            lambda last: _follow_open(job_id, last),
            start=None,
            job_id=job_id,
            until_close=True,
            deadline=deadline,
        )
    )
    finished: Job = yield ops.job(job_id)
    yield Emit(finished)


def pages(make: Callable[[int], ops.Call[m.Page[T]]], *, first: int = 1) -> Plan[T]:
    """Every item of a paginated list, page after page, until there is no next page."""
    number = first
    while True:
        page: m.Page[T] = yield make(number)
        for item in page.results:
            yield Emit(item)
        if not page.next or not page.results:
            return
        number += 1


def _only_kind(kind: str, plan: Plan[m.Event]) -> Plan[m.Event]:
    """Pass every step through, emitting only events of ``kind``."""
    sent: Any = None
    while True:
        try:
            step = plan.send(sent)
        except StopIteration:
            return
        if isinstance(step, Emit):
            sent = None
            if step.value.kind == kind:
                yield step
        else:
            sent = yield step


def _drain(plan: Plan[Any]) -> Generator[Step[U], Any, None]:
    """Carry out ``plan``'s steps, keeping its items to itself."""
    sent: Any = None
    while True:
        try:
            step = plan.send(sent)
        except StopIteration:
            return
        sent = None if isinstance(step, Emit) else (yield step)
