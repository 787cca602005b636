"""Jobs that misbehave, run by a real `jobyard worker`: 100 MB of log, binary garbage on
stdout and stderr, grandchildren that ignore SIGTERM, a job that ignores SIGTERM. Each time the
worker keeps its memory, records what it can, kills what it must, and runs the next job."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from worker_harness import pid_gone

from jobyard.core.models import JobSpec
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store
from support.chaos import CASE_TIMEOUT, Record, backend_of, chaos_worker, record, register, size
from support.servers import JobyardProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(CASE_TIMEOUT)]
RSS_BOUND = 400 * 2**20  # bytes: generous, far below what holding the log in memory would take


def _worker(url: str, tmp_path: Path) -> JobyardProcess:
    return chaos_worker(url, tmp_path / "worker.log")


def _enqueue(store: Store, type: str, args: dict[str, object]) -> int:
    [job_id] = store.job_enqueue([JobSpec(type=type, args=args)])
    return job_id


def _finished(store: Store, job_id: int, timeout: float = 60) -> JobStatus:
    return wait_for(
        lambda: store.job_get(job_id).status if store.job_get(job_id).status.is_terminal else None,
        timeout=timeout,
        interval=0.2,
        message=f"job {job_id} to finish",
    )


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total


def _still_works(store: Store) -> None:
    job_id = _enqueue(store, "chaos.work", {"n": 41})
    assert _finished(store, job_id) is JobStatus.COMPLETED
    assert store.job_get(job_id).result == 42


def test_a_job_writing_100_mb_of_log(store: Store, database_url: str, tmp_path: Path) -> None:
    register(store)
    megabytes = size(10, 100)
    worker = _worker(database_url, tmp_path)
    peak = 0
    try:
        job_id = _enqueue(store, "chaos.flood", {"megabytes": megabytes})

        def done() -> bool:
            nonlocal peak
            peak = max(peak, _tree_rss(worker.proc.pid))
            return store.job_get(job_id).status.is_terminal

        wait_for(done, timeout=size(120, 900), interval=0.2, message="the flood to end")
        job = store.job_get(job_id)
        assert job.status is JobStatus.COMPLETED, job
        # every line is in the log, in order, whole
        seen, after, last = 0, 0, None
        while batch := store.job_log(job_id, after=after, limit=5000):
            seen += len(batch)
            after, last = batch[-1].id, batch[-1]
        assert seen == megabytes * 1024
        assert last is not None and last.data["text"] == "x" * 1023
        _still_works(store)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    record(
        Record(
            case=f"job writing {megabytes} MB of log",
            backend=backend_of(database_url),
            fault="log flood",
            injected=1,
            jobs=1,
            lost=0,
            overlapping=0,
            note=f"worker tree peak RSS {peak / 2**20:.0f} MiB",
        )
    )
    assert peak < RSS_BOUND, f"the worker held the log: {peak / 2**20:.0f} MiB"


def test_a_job_printing_binary_garbage(store: Store, database_url: str, tmp_path: Path) -> None:
    register(store)
    worker = _worker(database_url, tmp_path)
    try:
        ids = [_enqueue(store, "chaos.garbage", {"size": 65536}) for _ in range(size(3, 30))]
        for job_id in ids:
            assert _finished(store, job_id) is JobStatus.COMPLETED, store.job_get(job_id)
            lines = store.job_log(job_id, limit=10_000)
            assert lines, "garbage is still output: it is logged"
            assert all(isinstance(line.data["text"], str) for line in lines)
        _still_works(store)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def test_grandchildren_that_ignore_sigterm_die_with_a_killed_job(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    pidfile = tmp_path / "pids"
    # three grandchildren that ignore TERM and HUP and outlive the shell that started them
    script = (
        "for i in 1 2 3; do (trap '' TERM HUP; exec sleep 1000) & echo $! >> "
        + str(pidfile)
        + "; done; echo $$ >> "
        + str(pidfile)
        + "; wait"
    )
    worker = _worker(database_url, tmp_path)
    try:
        for _ in range(size(1, 5)):
            pidfile.unlink(missing_ok=True)
            job_id = _enqueue(store, "chaos.forker", {"script": script})
            pids = wait_for(
                lambda: (
                    pidfile.exists()
                    and len(pidfile.read_text().split()) == 4
                    and [int(p) for p in pidfile.read_text().split()]
                ),
                timeout=30,
                message="the job's processes",
            )
            store.job_kill(job_id, by="chaos")
            killed = time.monotonic()
            for pid in pids:
                wait_for(lambda pid=pid: pid_gone(pid), timeout=15, message=f"pid {pid} to die")
            gone_after = time.monotonic() - killed
            assert _finished(store, job_id) is JobStatus.CANCELED
        _still_works(store)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    record(
        Record(
            case="job leaving grandchildren that ignore SIGTERM, killed",
            backend=backend_of(database_url),
            fault="kill",
            injected=size(1, 5),
            jobs=1,
            lost=0,
            overlapping=0,
            recovery_s=gone_after,
        )
    )


def test_a_job_ignoring_sigterm(store: Store, database_url: str, tmp_path: Path) -> None:
    """Killed: SIGTERM, then SIGKILL after the grace. Its worker stopped: the same, and the
    job is recorded as ended, never left running."""
    register(store)
    worker = chaos_worker(database_url, tmp_path / "worker.log", JOBYARD_SHUTDOWN_GRACE="2")
    try:
        pidfile = tmp_path / "deaf1"
        job_id = _enqueue(store, "chaos.deaf", {"pidfile": str(pidfile)})
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), timeout=30))
        store.job_kill(job_id, by="chaos")
        wait_for(lambda: pid_gone(pid), timeout=15, message="the deaf job to be SIGKILLed")
        assert _finished(store, job_id) is JobStatus.CANCELED

        pidfile = tmp_path / "deaf2"
        job_id = _enqueue(store, "chaos.deaf", {"pidfile": str(pidfile)})
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), timeout=30))
    finally:
        stopped = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.proc.wait(30)
        worker.stop()
    # 2 s of shutdown grace, 1 s of kill grace, and slack for a busy machine
    assert time.monotonic() - stopped < 12
    assert code == 0, worker.log()[-3000:]
    assert pid_gone(pid)
    job = store.job_get(job_id)
    assert job.status is not JobStatus.RUNNING, job
    assert all(e.status is not ExecutionStatus.RUNNING for e in job.executions), job.executions
