"""The pure parts of limits: resource arithmetic and the order of wait reasons."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid
from jobyard.core.limits import (
    LimitUse,
    Resources,
    WaitCode,
    WaitReason,
    WorkerView,
    wait_reason,
)
from jobyard.core.models import Job
from jobyard.core.states import JobStatus

NOW = datetime(2027, 1, 15, tzinfo=UTC)


def job(**fields: object) -> Job:
    values: dict[str, object] = dict(
        id=1, type="t", type_revision=1, status=JobStatus.QUEUED, queue="q", priority=100,
        args={}, tags=(), unique_key=None, external_id=None, tries=0, max_tries=3, timeout=None,
        backoff=Backoff(), run_at=NOW, created_at=NOW, started_at=None, finished_at=None,
        updated_at=NOW, result=None, error=None, progress=None, progress_desc=None,
        execution_id=None, kill_requested_at=None, kill_requested_by=None, canceled_by=None,
        canceled_at=None, removed_at=None, removed_by=None, restart_of=None, restarted_as=None,
        created_by=None,
    )  # fmt: skip
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def worker(
    cpus: float = 4, free: float | None = None, slots: int = 2, running: int = 0
) -> WorkerView:
    capacity = Resources(cpus, 1024, 1024)
    return WorkerView(
        id="w", queues=("q",), types=("t",), capacity=capacity,
        free=capacity if free is None else Resources(free, 1024, 1024), slots=slots,
        running=running,
    )  # fmt: skip


def test_resources_fit_add_and_subtract() -> None:
    assert Resources(0.1).plus(Resources(0.2)).fits(Resources(0.3))  # no float surprise
    assert not Resources(2).fits(Resources(1.5, math.inf, math.inf))
    assert Resources(3, 10).minus(Resources(5, 4)) == Resources(0, 6)
    assert Resources.of(None, 5, None) == Resources(math.inf, 5, math.inf)
    assert Resources.of(None, 5, None).to_dict() == {"cpus": None, "mem": 5, "disk": None}
    assert Resources(1, 512).describe() == "1 cpu, 512 MiB memory"
    assert Resources().describe() == "nothing"
    with pytest.raises(Invalid) as caught:
        Resources(mem=-1)
    assert caught.value.field == "mem"


def test_the_first_reason_that_holds_wins() -> None:
    full = LimitUse("key", "k", 1, 1)
    nothing_fits = worker(cpus=1)
    queued = job(cpus=2.0)
    every = {"queue_paused": True, "type_paused": True, "limits": [full], "workers": [nothing_fits]}
    order = [
        ("queue_paused", WaitCode.QUEUE_PAUSED),
        ("type_paused", WaitCode.TYPE_PAUSED),
        ("limits", WaitCode.CONCURRENCY_FULL),
        ("workers", WaitCode.NO_RESOURCES),
    ]
    for name, code in order:
        assert wait_reason(queued, **every).code is code  # type: ignore[arg-type, union-attr]
        every[name] = [worker()] if name == "workers" else ([] if name == "limits" else False)
    assert wait_reason(queued, **every).code is WaitCode.READY  # type: ignore[arg-type, union-attr]
    no_workers = {**every, "workers": []}
    assert wait_reason(queued, **no_workers).code is WaitCode.NO_WORKER  # type: ignore[arg-type, union-attr]


def test_time_and_parents_come_before_the_rest() -> None:
    later = replace(job(status=JobStatus.SCHEDULED), run_at=datetime(2027, 2, 1, tzinfo=UTC))
    why = wait_reason(later, queue_paused=True, type_paused=True)
    assert why is not None and why.code is WaitCode.SCHEDULED and why.until == later.run_at
    blocked = wait_reason(job(status=JobStatus.BLOCKED), queue_paused=True, type_paused=False,
                          parents=[7, 9])  # fmt: skip
    assert blocked is not None and blocked.message == "blocked until its parent jobs 7, 9 complete"
    unknown = wait_reason(job(status=JobStatus.BLOCKED), queue_paused=False, type_paused=False)
    assert unknown is not None and unknown.details == {"parents": []}
    assert wait_reason(job(status=JobStatus.RUNNING), queue_paused=True, type_paused=True) is None


def test_ready_tells_a_busy_slot_from_busy_resources() -> None:
    needs_two = job(cpus=2.0)
    slots_full = wait_reason(needs_two, queue_paused=False, type_paused=False,
                             workers=[worker(slots=1, running=1)])  # fmt: skip
    busy = wait_reason(needs_two, queue_paused=False, type_paused=False, workers=[worker(free=1)])
    assert slots_full is not None and "waiting for a free slot" in slots_full.message
    assert busy is not None and busy.details["resources_busy"] is True


def test_a_reason_round_trips_through_json() -> None:
    reason = WaitReason(WaitCode.RETRYING, "m", until=NOW, details={"tries": 1})
    assert WaitReason.from_dict(reason.to_dict()) == reason
