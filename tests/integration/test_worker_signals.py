"""A worker process stopped by signals, as `jobyard worker` is: SIGTERM, then a second signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from worker_harness import (
    enqueue,
    finished,
    pid_gone,
    register,
    running,
    spawn_worker,
    stop_process,
    wait_until,
)

from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store


@pytest.fixture(autouse=True)
def _types(store: Store) -> None:
    register(store)


def _given_back(store: Store, job_id: int) -> bool:
    return store.job_get(job_id).status is JobStatus.QUEUED


def test_sigterm_gives_back_jobs_that_outlive_the_grace(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.sleep", {"pidfile": str(pidfile)})
    worker = spawn_worker(database_url, tmp_path / "worker.log", shutdown_grace=0.5)
    try:
        pid = running(store, job_id).executions[0].pid
        assert pid is not None
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        stop_process(worker)
    job = store.job_get(job_id)
    assert job.status is JobStatus.QUEUED
    assert job.tries == 0  # given back untouched
    assert [e.status for e in job.executions] == [ExecutionStatus.RELEASED]
    assert pid_gone(pid)


def test_sigterm_lets_a_short_job_finish(store: Store, database_url: str, tmp_path: Path) -> None:
    job_id = enqueue(store, "sample.sleep", {"seconds": 1.0})
    worker = spawn_worker(database_url, tmp_path / "worker.log", shutdown_grace=20)
    try:
        running(store, job_id)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        stop_process(worker)
    job = store.job_get(job_id)
    assert job.status is JobStatus.COMPLETED and job.result == "slept"


def test_sigterm_stops_claiming(store: Store, database_url: str, tmp_path: Path) -> None:
    first = enqueue(store, "sample.sleep", {"seconds": 1.0})
    worker = spawn_worker(database_url, tmp_path / "worker.log", concurrency=1, shutdown_grace=20)
    try:
        running(store, first)
        worker.send_signal(signal.SIGTERM)
        second = enqueue(store, "sample.add", {"a": 1, "b": 2})
        assert worker.wait(20) == 0
    finally:
        stop_process(worker)
    assert store.job_get(first).status is JobStatus.COMPLETED
    assert store.job_get(second).status is JobStatus.QUEUED


def test_second_sigint_gives_back_at_once(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.stubborn", {"pidfile": str(pidfile)})
    worker = spawn_worker(database_url, tmp_path / "worker.log", shutdown_grace=60)
    try:
        running(store, job_id)
        pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text()))
        worker.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping" in (tmp_path / "worker.log").read_text())
        assert store.job_get(job_id).status is JobStatus.RUNNING  # the grace is long
        worker.send_signal(signal.SIGINT)
        second = time.monotonic()
        assert worker.wait(20) == 0
        assert time.monotonic() - second < 5
    finally:
        stop_process(worker)
    wait_until(lambda: _given_back(store, job_id))
    assert store.job_get(job_id).executions[0].status is ExecutionStatus.RELEASED
    assert pid_gone(pid)


def test_released_job_runs_again_on_the_next_worker(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    job_id = enqueue(store, "sample.sleep", {"seconds": 2.0})
    log = tmp_path / "worker.log"
    first = spawn_worker(database_url, log, shutdown_grace=0.2)
    try:
        running(store, job_id)
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
    finally:
        stop_process(first)
    second = spawn_worker(database_url, log)
    try:
        job = finished(store, job_id)
    finally:
        second.send_signal(signal.SIGTERM)
        stop_process(second)
    assert job.status is JobStatus.COMPLETED
    assert [e.status for e in job.executions] == [
        ExecutionStatus.RELEASED,
        ExecutionStatus.COMPLETED,
    ]
    assert job.tries == 1  # the released attempt did not count
