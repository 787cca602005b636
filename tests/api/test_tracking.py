"""Job tracking (seed 001) against a real `jobyard up`: GET/POST /api/v1/tracking/{jid}.

States: unknown, enqueued, working, success, failed (an attempt failed, it will retry), dead.
Percent and desc set on a running job stay after it ends; ``reserve_for`` extends the lease and
never shortens it; past the retention a finished job is ``unknown`` again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from support.remote import wait_until
from support.servers import Server

from .live import HELD, SHORT_RETENTION, Live


def track(http: httpx.Client, jid: int | str) -> dict[str, Any]:
    response = http.get(f"/api/v1/tracking/{jid}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["jid"] == str(jid)
    return body


def wait_state(http: httpx.Client, jid: int | str, state: str) -> dict[str, Any]:
    return wait_until(
        lambda: (t := track(http, jid))["state"] == state and t, what=f"{jid} to be {state}"
    )


def lease(http: httpx.Client, job_id: int) -> datetime:
    job = http.get(f"/api/v1/jobs/{job_id}").json()
    return datetime.fromisoformat(job["executions"][-1]["lease_expires_at"])


@contextmanager
def held(http: httpx.Client) -> Iterator[None]:
    """The HELD queue paused: its jobs stay queued, no worker claims them, until the end."""
    assert http.post(f"/api/v1/queues/{HELD}/pause").status_code == 200
    try:
        yield
    finally:
        assert http.post(f"/api/v1/queues/{HELD}/resume").status_code == 200


def enqueue_held(live: Live, http: httpx.Client, **job: Any) -> int:
    """A job seen ``enqueued`` before any worker may take it."""
    with held(http):
        job_id = live.enqueue(http, queue=HELD, **job)
        assert track(http, job_id)["state"] == "enqueued"
    return job_id


def test_a_job_goes_enqueued_working_success_keeping_progress_set_on_it(live: Live) -> None:
    gate = live.gate()
    with live.client() as http:
        job_id = enqueue_held(live, http, type="apitest.hold", args={"gate": str(gate)})
        working = wait_state(http, job_id, "working")
        assert working["percent"] is None and working["desc"] is None

        set_ = http.post(f"/api/v1/tracking/{job_id}", json={"percent": 40, "desc": "forty"})
        assert set_.status_code == 200, set_.text
        assert (set_.json()["state"], set_.json()["percent"], set_.json()["desc"]) == (
            "working", 40, "forty",
        )  # fmt: skip
        desc_only = http.post(f"/api/v1/tracking/{job_id}", json={"desc": "still forty"}).json()
        assert (desc_only["percent"], desc_only["desc"]) == (40, "still forty")
        job = http.get(f"/api/v1/jobs/{job_id}").json()
        assert job["progress"] == {"percent": 40, "desc": "still forty"}

        # reserve extends the lease ...
        before = lease(http, job_id)
        asked = time.time()
        reserved = http.post(f"/api/v1/tracking/{job_id}", json={"reserve_for": 3600})
        assert reserved.status_code == 200, reserved.text
        extended = lease(http, job_id)
        assert extended > before
        assert extended.timestamp() >= asked + 3600 - 5
        # ... and never shortens it: not by a shorter reserve, not by the heartbeats after it
        short = http.post(f"/api/v1/tracking/{job_id}", json={"reserve_for": 1})
        assert short.status_code == 200, short.text
        beat = http.get(f"/api/v1/jobs/{job_id}").json()["executions"][-1]["heartbeat_at"]
        wait_until(
            lambda: (
                http.get(f"/api/v1/jobs/{job_id}").json()["executions"][-1]["heartbeat_at"] != beat
            ),
            what="a heartbeat after the reserve",
        )
        assert lease(http, job_id) >= extended

        live.open(gate, 1)
        done = wait_state(http, job_id, "success")
        assert (done["percent"], done["desc"]) == (40, "still forty")
        # a finished job cannot be tracked into: 409
        late = http.post(f"/api/v1/tracking/{job_id}", json={"percent": 90})
        assert late.status_code == 409, late.text
        assert late.json()["error"]["details"]["operation"] == "track"
        assert track(http, job_id)["percent"] == 40


def test_a_failing_job_goes_failed_while_it_retries_then_dead(live: Live) -> None:
    gate = live.gate()
    with live.client() as http:
        job_id = enqueue_held(
            live,
            http,
            type="apitest.hold",
            args={"gate": str(gate), "fail": True},
            max_tries=2,
            backoff={"base": 1.5, "jitter": 0},
        )
        wait_state(http, job_id, "working")
        live.open(gate, 1)
        wait_state(http, job_id, "failed")
        assert http.get(f"/api/v1/jobs/{job_id}").json()["status"] == "retrying"
        second = wait_state(http, job_id, "working")
        assert http.get(f"/api/v1/jobs/{job_id}").json()["tries"] == 2, second
        live.open(gate, 2)
        wait_state(http, job_id, "dead")
        assert http.get(f"/api/v1/jobs/{job_id}").json()["status"] == "failed"


def test_unknown_canceled_and_external_ids(live: Live) -> None:
    with live.client() as http:
        for jid in ("987654321", "no-such-external-id", "9" * 40):
            assert track(http, jid) == {
                "jid": jid, "state": "unknown", "updated_at": None, "percent": None, "desc": None,
            }  # fmt: skip
        with held(http):
            canceled = live.enqueue(http, type="apitest.quick", queue=HELD)
            assert track(http, canceled)["state"] == "enqueued"
            assert http.post(f"/api/v1/jobs/{canceled}/cancel").status_code == 200
            assert track(http, canceled)["state"] == "dead"
        external = f"ext-{live.gate().name}"
        job_id = live.enqueue(http, type="apitest.quick", external_id=external)
        assert wait_state(http, external, "success")["jid"] == external
        assert track(http, job_id)["state"] == "success"


def test_past_the_retention_a_finished_job_is_unknown(live: Live, second_server: Server) -> None:
    """The second server on the same database runs with a short JOBYARD_TRACKING_RETENTION."""
    with live.client() as http, second_server.client() as forgetful:
        job_id = live.enqueue(http, type="apitest.quick")
        live.wait_status(http, job_id, "completed")
        assert track(forgetful, job_id)["state"] == "success"
        gone = wait_until(
            lambda: track(forgetful, job_id)["state"] == "unknown" and time.time(),
            what="the short-retention server to forget the job",
        )
        finished = http.get(f"/api/v1/jobs/{job_id}").json()["finished_at"]
        assert gone - datetime.fromisoformat(finished).timestamp() >= SHORT_RETENTION
        assert track(http, job_id)["state"] == "success"  # the default retention remembers
