"""Limits with real workers: `jobyard worker` processes, jobs in their child processes.

Four workers and a type limited to 2: never more than 2 running, read from the execution records
the store keeps ([started_at, ended_at] of every attempt). A worker claims only what fits its
cpus, and a job no worker can fit says so.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import limited
import pytest
from worker_harness import APPS, FAST, SRC, finished, stop_process, wait_until

from jobyard.core.limits import WaitCode
from jobyard.core.models import Execution, JobSpec
from jobyard.core.states import JobStatus
from jobyard.store import Store

pytestmark = pytest.mark.slow


@contextmanager
def worker(url: str, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`jobyard worker --app limited:app ARGS` (no engine), stopped with SIGTERM on exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), str(SRC), env.get("PYTHONPATH", "")])
    for name in ("lease", "heartbeat", "kill_grace", "shutdown_grace", "poll"):
        env[f"JOBYARD_{name.upper()}"] = str(getattr(FAST, name))
    command = [
        sys.executable, "-m", "jobyard.cli.main", "worker", "--app", "limited:app",
        "--database-url", url, "--no-engine", "--concurrency", "3", *args,
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        stop_process(proc)


def register(store: Store) -> None:
    for definition in limited.app.definitions():
        store.type_register(definition)


def most_at_once(executions: list[Execution]) -> int:
    edges = []
    for e in executions:
        assert e.ended_at is not None
        edges += [(e.started_at, 1), (e.ended_at, -1)]
    most = now = 0
    for _, step in sorted(edges):  # at a tie the end (-1) comes first
        now += step
        most = max(most, now)
    return most


def test_four_workers_never_run_more_than_the_types_limit(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    with ExitStack() as stack:
        # 4 workers of one slot each for a type limited to 2: the limit's second place is always
        # on another worker, so the two at once are held by two workers that both want more
        for n in range(4):
            stack.enter_context(
                worker(database_url, tmp_path / f"worker{n}.log", "--concurrency", "1")
            )
        wait_until(lambda: len(store.worker_list()) == 4, timeout=60, what="4 workers")
        ids = store.job_enqueue([JobSpec(type="limited.nap", args={"seconds": 0.15})] * 12)
        jobs = [finished(store, job_id, timeout=60) for job_id in ids]
    assert all(j.status is JobStatus.COMPLETED for j in jobs), [j.error for j in jobs]
    executions = [e for j in jobs for e in j.executions]
    assert len(executions) == 12
    assert len({e.worker_id for e in executions}) > 1  # the workers shared the work
    assert most_at_once(executions) == 2


def test_a_worker_claims_only_what_fits_its_cpus(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    [big] = store.job_enqueue([JobSpec(type="limited.big")])
    smalls = store.job_enqueue([JobSpec(type="limited.small", args={"seconds": 0.2})] * 3)
    log = tmp_path / "worker.log"
    with worker(database_url, log, "--cpus", "1", "--mem", "1024", "--disk", "1024"):
        done = [finished(store, job_id, timeout=60) for job_id in smalls]
        # 1 cpu: one at a time, by when each ran (its execution record ends later, when the
        # worker reports it; the worker frees the cpu when the process ends)
        ran = sorted(j.result for j in done)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ran)), ran
        why = store.job_wait_reason(big)
        assert why is not None and why.code is WaitCode.NO_RESOURCES, why
        assert "it needs 2 cpus, 64 MiB memory" in why.message
        assert store.job_get(big).status is JobStatus.QUEUED
    with worker(database_url, log, "--cpus", "2"):
        assert finished(store, big, timeout=60).result == "big"
    assert wait_until(lambda: store.job_wait_reason(big) is None)
