"""Timeouts and kills end the whole process tree, whatever the job is doing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from worker_harness import (
    enqueue,
    finished,
    log_texts,
    pid_gone,
    register,
    running,
    wait_until,
    worker_thread,
)

from jobyard.core.settings import Settings
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

GONE_WITHIN = 5.0  # seconds from the timeout or the kill until no process is left


@pytest.fixture(autouse=True)
def _types(store: Store) -> None:
    register(store)


def _pid(path: Path) -> int:
    return int(wait_until(lambda: path.exists() and path.read_text(), what=f"{path}"))


def _gone_within(pid: int, since: float) -> None:
    wait_until(lambda: pid_gone(pid), timeout=GONE_WITHIN + 5, what=f"pid {pid} to end")
    assert time.monotonic() - since < GONE_WITHIN


def test_timeout_of_python_busy_loop(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.spin", {"pidfile": str(pidfile)}, timeout=1.0)
    with worker_thread(database_url):
        pid = _pid(pidfile)
        started = time.monotonic()
        job = finished(store, job_id)
        _gone_within(pid, started + 1.0)
    assert job.status is JobStatus.FAILED  # one try, and it timed out
    [execution] = job.executions
    assert execution.status is ExecutionStatus.TIMED_OUT
    assert execution.pid == pid
    assert job.error is not None and "timeout of 1 s" in job.error["message"]


def test_timeout_of_command(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.cmd_sleep", {"seconds": 1000}, timeout=1.0)
    with worker_thread(database_url):
        pid = running(store, job_id).executions[0].pid
        assert pid is not None
        started = time.monotonic()
        job = finished(store, job_id)
        _gone_within(pid, started + 1.0)
    [execution] = job.executions
    assert execution.status is ExecutionStatus.TIMED_OUT
    assert execution.signal in (15, 9)  # sleep ends on SIGTERM


def test_timeout_takes_grandchildren_too(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    script = f"sleep 1000 & echo $! > {pidfile}; wait"
    job_id = enqueue(store, "sample.sh", {"script": script}, timeout=1.0)
    with worker_thread(database_url):
        grandchild = _pid(pidfile)
        started = time.monotonic()
        finished(store, job_id)
        _gone_within(grandchild, started + 1.0)


def test_kill_of_python_job(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.sleep", {"pidfile": str(pidfile)})
    with worker_thread(database_url):
        pid = _pid(pidfile)
        running(store, job_id)
        store.job_kill(job_id, by="alice")
        killed = time.monotonic()
        job = finished(store, job_id)
        _gone_within(pid, killed)
    assert job.status is JobStatus.CANCELED
    [execution] = job.executions
    assert execution.status is ExecutionStatus.CANCELED
    assert log_texts(store, job_id) == ["cancelled=True"]  # JobCancelled, ctx.cancelled


def test_kill_of_job_that_ignores_the_signal(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.stubborn", {"pidfile": str(pidfile)})
    with worker_thread(database_url):
        pid = _pid(pidfile)
        running(store, job_id)
        store.job_kill(job_id)
        killed = time.monotonic()
        job = finished(store, job_id)
        _gone_within(pid, killed)
    assert job.status is JobStatus.CANCELED
    assert job.executions[0].signal == 9  # SIGKILL after the grace period
    assert "ignoring the cancel" in log_texts(store, job_id)


def test_kill_of_busy_loop(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.spin", {"pidfile": str(pidfile)})
    with worker_thread(database_url):
        pid = _pid(pidfile)
        running(store, job_id)
        store.job_kill(job_id)
        killed = time.monotonic()
        assert finished(store, job_id).status is JobStatus.CANCELED
        _gone_within(pid, killed)


def test_kill_of_command(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.cmd_sleep", {"seconds": 1000})
    with worker_thread(database_url):
        pid = running(store, job_id).executions[0].pid
        assert pid is not None
        store.job_kill(job_id, by="bob")
        killed = time.monotonic()
        job = finished(store, job_id)
        _gone_within(pid, killed)
    assert job.status is JobStatus.CANCELED
    assert job.executions[0].status is ExecutionStatus.CANCELED


def test_worker_keeps_working_after_a_kill(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.sleep")
    with worker_thread(database_url, concurrency=1):
        running(store, job_id)
        store.job_kill(job_id)
        finished(store, job_id)
        after = finished(store, enqueue(store, "sample.add", {"a": 20, "b": 22}))
    assert after.result == 42


def test_default_settings_end_a_stubborn_job_within_5_s_of_a_kill(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(poll=0.05)  # heartbeat 1 s and kill grace 3 s: the worst case
    pidfile = tmp_path / "pid"
    job_id = enqueue(store, "sample.stubborn", {"pidfile": str(pidfile)})
    with worker_thread(database_url, settings=settings):
        pid = _pid(pidfile)
        running(store, job_id)
        store.job_kill(job_id)
        killed = time.monotonic()
        _gone_within(pid, killed)
        assert finished(store, job_id).status is JobStatus.CANCELED
