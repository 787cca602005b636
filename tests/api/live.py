"""A real `jobyard up` for the API tests that need processes, and a server-sent events reader.

The server runs the job types of tests/apps/apitest.py, whose jobs wait at gate files the test
creates, so a test decides when each step of a job happens instead of guessing with sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from jobyard.store import Store
from support.remote import FAST_ENV, wait_until
from support.servers import ADMIN_TOKEN, Server

APP = "apitest:app"
TYPES = ("apitest.hold", "apitest.quick", "apitest.steps")
HELD = "held"  # a queue the worker also serves, that tests may pause
SHORT_RETENTION = 3  # seconds the second server remembers a finished job's tracking


def start(url: str, log: Path, **env: str) -> Server:
    """`jobyard up --app apitest:app` on ``url``, once its worker has registered the types."""
    server = Server(
        database_url=url,
        log_path=log,
        app=APP,
        extra_args=["--queues", f"default,{HELD}", "--concurrency", "4"],
        **{**FAST_ENV, **env},
    )
    try:
        with server.client() as http:
            wait_until(
                lambda: all(http.get(f"/api/v1/types/{t}").status_code == 200 for t in TYPES),
                what="the worker to register the apitest types",
            )
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class Live:
    """A running server, a store on its database for checks, and gates for its jobs."""

    server: Server
    store: Store
    gates: Path
    database_url: str
    _n: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**9)))

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str = ADMIN_TOKEN, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0),
            **kwargs,
        )

    def gate(self) -> Path:
        """A fresh gate path; a job waiting at ``{gate}.{i}`` goes on once it is opened."""
        return self.gates / f"gate{next(self._n)}"

    @staticmethod
    def open(gate: Path, step: int) -> None:
        Path(f"{gate}.{step}").touch()

    def enqueue(self, http: httpx.Client, **job: Any) -> int:
        response = http.post("/api/v1/jobs", json=job)
        assert response.status_code == 201, response.text
        [job_id] = response.json()["ids"]
        return int(job_id)

    def wait_status(self, http: httpx.Client, job_id: int, *statuses: str) -> dict[str, Any]:
        def status() -> dict[str, Any] | None:
            job: dict[str, Any] = http.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["status"] in statuses else None

        return wait_until(status, what=f"job {job_id} to be {' or '.join(statuses)}")

    def wait_log_lines(self, job_id: int, count: int) -> None:
        wait_until(
            lambda: len(self.store.job_log(job_id)) >= count,
            what=f"job {job_id} to log {count} lines",
        )


@dataclass(frozen=True)
class Frame:
    event: str
    data: Any
    id: int | None  # the frame's `id:` line (what Last-Event-ID resumes after)


class EventStream:
    """Reads a text/event-stream response frame by frame, each wait bounded by a deadline."""

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._context = http.stream(
            "GET", url, headers=headers, params=params, timeout=httpx.Timeout(10.0, read=20.0)
        )
        self.response = self._context.__enter__()
        self.frames: list[Frame] = []
        self._lines = self.response.iter_lines()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def next(self) -> Frame | None:
        """The next frame, or None when the stream has ended."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if "event" in fields or "data" in fields:
                    frame = Frame(
                        fields.get("event", "message"),
                        json.loads(fields.get("data", "null")),
                        int(fields["id"]) if "id" in fields else None,
                    )
                    self.frames.append(frame)
                    return frame
                continue
            if line.startswith(":"):  # a comment: keepalive
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        return None

    def until(self, done: Callable[[Frame], bool], timeout: float = 30.0) -> list[Frame]:
        """Frames up to and including the first for which ``done`` is true."""
        deadline = time.monotonic() + timeout
        read: list[Frame] = []
        while time.monotonic() < deadline:
            frame = self.next()
            if frame is None:
                raise AssertionError(f"stream ended before the awaited frame; read {read}")
            read.append(frame)
            if done(frame):
                return read
        raise AssertionError(f"no awaited frame within {timeout} s; read {read}")

    def to_close(self, timeout: float = 30.0) -> list[Frame]:
        frames = self.until(lambda f: f.event == "close", timeout)
        assert self.next() is None, "the stream went on after close"
        return frames


def is_log(text: str) -> Callable[[Frame], bool]:
    return lambda f: f.event == "log" and f.data["data"]["text"] == text


def is_state(status: str, job_id: int | None = None) -> Callable[[Frame], bool]:
    return lambda f: (
        f.event == "state"
        and f.data.get("data", {}).get("status") == status
        and (job_id is None or f.data["job_id"] == job_id)
    )
