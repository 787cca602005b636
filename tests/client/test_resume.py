"""A follow outlives its server: the API process dies mid-stream, a new one takes its port, and
the client resumes with Last-Event-ID, missing nothing and repeating nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import support.servers
from jobyard.client import Client, Event
from support.remote import FAST_ENV, wait_until
from support.servers import ADMIN_TOKEN, Server, free_port


def api_server(
    database_url: str, log_path: Path, port: int, monkeypatch: pytest.MonkeyPatch
) -> Server:
    """`jobyard server` (no worker) on a given port."""
    with monkeypatch.context() as patch:
        patch.setattr(support.servers, "free_port", lambda: port)
        return Server(database_url=database_url, log_path=log_path, command="server")


def test_follow_resumes_on_a_new_server_after_the_old_one_dies(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Server(database_url=database_url, log_path=tmp_path / "up.log",
                    extra_args=["--concurrency", "2"], **FAST_ENV)  # fmt: skip
    port = free_port()
    front = api_server(database_url, tmp_path / "front-1.log", port, monkeypatch)
    replacement: Server | None = None
    try:
        with Client(worker.url, token=ADMIN_TOKEN) as direct:
            wait_until(lambda: direct.job_types().count, what="the worker's types")
            job_id = direct.enqueue("sample.sleep", {"seconds": 60})
            events: list[Event] = []
            with Client(front.url, token=ADMIN_TOKEN) as client:
                for event in client.follow(job_id):
                    events.append(event)
                    # the running state from the event log (the snapshot has no id to resume by)
                    if event.id and event.status == "running" and replacement is None:
                        front.stop(signal.SIGKILL)  # the connection drops mid-stream
                        replacement = api_server(
                            database_url, tmp_path / "front-2.log", port, monkeypatch
                        )
                        direct.kill(job_id)  # what happens now is seen only after resuming
    finally:
        for server in (front, replacement, worker):
            if server is not None:
                server.stop()

    assert replacement is not None
    snapshots = [e for e in events if e.job is not None]
    assert len(snapshots) == 1 and events[0] is snapshots[0]  # resumed, not started again
    ids = [e.id for e in events[1:-1]]
    assert ids == sorted(set(ids))  # nothing twice, in order
    states = [e.status for e in events if e.kind == "state" and e.job is None]
    assert states[:2] == ["queued", "running"] and states[-1] == "canceled"
    assert events[-1].kind == "close" and events[-1].status == "canceled"
