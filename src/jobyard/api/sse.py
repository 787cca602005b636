"""Server-sent events: follow one job to its end, or every event in the system.

Both read the event log, so a follower on any server sees what happened anywhere. Event ids come
from a database sequence; on PostgreSQL two transactions may commit their ids out of order, so a
follower re-reads a short window behind its newest id and skips what it has sent: every event is
delivered exactly once, in id order per read, and ``Last-Event-ID`` resumes after the last one.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from anyio import sleep, to_thread

from jobyard.api.schemas import EventOut, JobOut
from jobyard.core.models import EventRecord, Job
from jobyard.core.states import JobStatus
from jobyard.store.base import Store

POLL = 0.25  # seconds between reads of the event log while following
LOOKBACK = 3.0  # seconds an id stays in the re-read window (longest commit we tolerate)
KEEPALIVE = 15.0  # seconds between comment lines on a quiet stream
TERMINAL_VALUES = {s.value for s in JobStatus if s.is_terminal}


def frame(event: str, data: Any, *, event_id: int | None = None) -> str:
    """One SSE frame; compact JSON data on a single line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    payload = json.dumps(data, separators=(",", ":"), default=str)
    return f"{head}event: {event}\ndata: {payload}\n\n"


def event_payload(e: EventRecord) -> dict[str, Any]:
    return EventOut.of(e).model_dump(mode="json")


class _Window:
    """What a follower has sent, and the re-read window behind its newest id.

    New events are read after the newest id sent; once a second, the window since ``floor`` is
    read again for ids that committed late. A late event keeps the newest id in its ``id:`` line,
    so a client's Last-Event-ID never moves backwards.
    """

    def __init__(self, after: int) -> None:
        self.floor = after  # everything at or below is settled
        self.last = after  # the newest id sent
        self.recent: deque[tuple[float, int]] = deque()
        self.sent: set[int] = set()
        self.next_gap_check = time.monotonic() + 1.0

    def gap_check_due(self) -> bool:
        now = time.monotonic()
        if now < self.next_gap_check or self.last == self.floor:
            return False
        self.next_gap_check = now + 1.0
        return True

    def fresh(self, events: list[EventRecord]) -> list[tuple[EventRecord, int]]:
        """Events not sent yet, each with the id to put on its frame."""
        now = time.monotonic()
        out = []
        for e in events:
            if e.id in self.sent or e.id <= self.floor:
                continue
            self.sent.add(e.id)
            self.recent.append((now, e.id))
            self.last = max(self.last, e.id)
            out.append((e, self.last))
        while self.recent and self.recent[0][0] < now - LOOKBACK:
            _, settled = self.recent.popleft()
            self.floor = max(self.floor, settled)
        self.sent = {i for i in self.sent if i > self.floor}
        return out


async def _read(store: Store, window: _Window, job_id: int | None) -> list[EventRecord]:
    events = await to_thread.run_sync(
        lambda: store.event_list(after=window.last, job_id=job_id, limit=1000)
    )
    if window.gap_check_due():
        late = await to_thread.run_sync(
            lambda: store.event_list(after=window.floor, job_id=job_id, limit=5000)
        )
        events = sorted({e.id: e for e in [*late, *events]}.values(), key=lambda e: e.id)
    return events


class JobFollower:
    """Reads one job's events until the job has ended: the part every job stream shares.

    ``events()`` yields ``(event, frame id)`` for each event of ``kinds`` once, and
    ``(None, newest id)`` after ``KEEPALIVE`` quiet seconds. It stops when the client has left or
    the job has ended; then ``job`` is the ended job (None when the client left) and ``last`` the
    newest id read.
    """

    def __init__(
        self, store: Store, job_id: int, *, after: int, finished: bool, kinds: frozenset[str]
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.kinds = kinds
        self.finished = finished  # a terminal state was seen: end after one more read
        self.window = _Window(after)
        self.job: Job | None = None

    @property
    def last(self) -> int:
        return self.window.last

    async def events(
        self, is_disconnected: Callable[..., Any]
    ) -> AsyncIterator[tuple[EventRecord | None, int]]:
        store, job_id, window = self.store, self.job_id, self.window
        quiet_since = time.monotonic()
        while True:
            events = await _read(store, window, job_id)
            for e, frame_id in window.fresh(events):
                if e.kind == "state" and e.data.get("status") in TERMINAL_VALUES:
                    self.finished = True
                if e.kind not in self.kinds:
                    continue
                yield e, frame_id
                quiet_since = time.monotonic()
            if len(events) >= 1000:
                continue
            if self.finished:
                # one more read after the lookback window so late commits are not cut off
                await sleep(POLL)
                late = await to_thread.run_sync(
                    lambda: store.event_list(after=window.floor, job_id=job_id, limit=5000)
                )
                for e, frame_id in window.fresh(late):
                    if e.kind in self.kinds:
                        yield e, frame_id
                job = await to_thread.run_sync(store.job_get, job_id)
                if job.status.is_terminal:
                    self.job = job
                    return
                self.finished = False  # requeued meanwhile: keep following
            if await is_disconnected():
                return
            if time.monotonic() - quiet_since > KEEPALIVE:
                quiet_since = time.monotonic()
                yield None, window.last
                job = await to_thread.run_sync(store.job_get, job_id)
                self.finished = self.finished or job.status.is_terminal
            await sleep(POLL)


async def follow_job(
    store: Store,
    job_id: int,
    *,
    last_event_id: int | None,
    is_disconnected: Callable[..., Any],
    kinds: frozenset[str] = frozenset({"state", "progress", "log"}),
) -> AsyncIterator[str]:
    """The job's current state (on a fresh follow), every event since, then ``close``.

    ``kinds`` narrows what is sent (the log follower sends only ``log``); the end of the job is
    still seen from its state events.
    """
    job = await to_thread.run_sync(store.job_get, job_id)
    if last_event_id is None and "state" in kinds:
        yield frame("state", JobOut.of(job).model_dump(mode="json"))
    follower = JobFollower(
        store, job_id, after=last_event_id or 0, finished=job.status.is_terminal, kinds=kinds
    )
    counts: dict[str, int] = {}
    async for e, frame_id in follower.events(is_disconnected):
        if e is None:
            yield ": keepalive\n\n"
            continue
        counts[e.kind] = counts.get(e.kind, 0) + 1
        yield frame(e.kind, event_payload(e), event_id=frame_id)
    if follower.job is not None:
        yield frame("close", {"status": follower.job.status.value, "events": counts},
                    event_id=follower.last or None)  # fmt: skip


async def follow_all(
    store: Store,
    *,
    after: int | None,
    job_id: int | None,
    kinds: set[str],
    is_disconnected: Callable[..., Any],
) -> AsyncIterator[str]:
    """Every event from ``after`` on (from now when None), optionally of one job or some kinds."""
    if after is None:
        after = await to_thread.run_sync(store.event_last_id)
    window = _Window(after)
    quiet_since = time.monotonic()
    while not await is_disconnected():
        events = await _read(store, window, job_id)
        for e, frame_id in window.fresh(events):
            if kinds and e.kind not in kinds:
                continue
            quiet_since = time.monotonic()
            yield frame(e.kind, event_payload(e), event_id=frame_id)
        if time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        if len(events) < 1000:
            await sleep(POLL)
