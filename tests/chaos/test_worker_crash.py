"""SIGKILL a worker mid-job: its processes die with it, and the job runs again elsewhere, once
the lease has expired and the reaper has ended the lost attempt, never overlapping it."""

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

LEASE = 2.0


@pytest.fixture(autouse=True)
def _types(store: Store) -> None:
    register(store)


def _reap_until_lost(store: Store, job_id: int) -> None:
    def lost() -> bool:
        store.execution_reap()
        return store.job_get(job_id).status is not JobStatus.RUNNING

    wait_until(lost, timeout=LEASE + 15, every=0.1, what="the reaper to end the lost attempt")


def test_python_job_survives_its_worker_being_killed(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "attempt"
    job_id = enqueue(store, "sample.crashy", {"marker": str(marker)})
    log = tmp_path / "worker.log"
    first = spawn_worker(database_url, log, lease=LEASE, heartbeat=0.2)
    try:
        running(store, job_id)
        child = int(wait_until(lambda: marker.with_suffix(".1").exists() and
                               marker.with_suffix(".1").read_text()).split()[0])  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        wait_until(lambda: pid_gone(child), timeout=10, what="the orphaned pool child to die")
        assert time.monotonic() - killed < 5
        child_gone_at = time.time()
    finally:
        stop_process(first)

    assert store.job_get(job_id).status is JobStatus.RUNNING  # nobody knows yet
    _reap_until_lost(store, job_id)
    second = spawn_worker(database_url, log, lease=LEASE)
    try:
        job = finished(store, job_id, timeout=30)
    finally:
        second.send_signal(signal.SIGTERM)
        stop_process(second)

    assert job.status is JobStatus.COMPLETED
    assert job.result["attempt"] == 2
    lost, done = job.executions
    assert lost.status is ExecutionStatus.LOST
    assert done.status is ExecutionStatus.COMPLETED
    assert lost.worker_id != done.worker_id
    # no overlap: the first attempt had ended (record and process) before the second began
    assert lost.ended_at is not None and lost.ended_at <= done.started_at
    second_began = float(marker.with_suffix(".2").read_text().split()[1])
    assert child_gone_at <= second_began


def test_command_tree_dies_with_its_worker(store: Store, database_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    script = f"sleep 1000 & echo $! > {pidfile}; wait"
    job_id = enqueue(store, "sample.sh", {"script": script})
    worker = spawn_worker(database_url, tmp_path / "worker.log", lease=LEASE)
    try:
        shell = running(store, job_id).executions[0].pid
        assert shell is not None
        grandchild = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip()))
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed = time.monotonic()
        for pid in (shell, grandchild):
            wait_until(lambda pid=pid: pid_gone(pid), timeout=10, what=f"pid {pid} to die")
        assert time.monotonic() - killed < 5
    finally:
        stop_process(worker)
    _reap_until_lost(store, job_id)
    job = store.job_get(job_id)
    assert job.status is JobStatus.FAILED  # one try only, and it was lost
    assert job.executions[0].status is ExecutionStatus.LOST
