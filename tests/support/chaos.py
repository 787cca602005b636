"""Machinery of the fault-injection suite (tests/chaos): sizes, the ledger checker, the report.

Sizes: ``JOBYARD_CHAOS_SCALE=long`` (``make chaos``) runs the long versions — 5,000-job drains,
faults repeated many times, a 30-minute soak; anything else (``make test``) the short bounded
ones. Same code either way: only the numbers change.

Each case records what it injected (:func:`record`); ``tests/chaos/conftest.py`` gathers the
records of every xdist worker into ``test-output/chaos-report.md`` at the end of the session.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobyard.app import load_app
from jobyard.core.models import JobFilter, JobSpec, PageRequest
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store
from support.servers import JobyardProcess

LONG = os.environ.get("JOBYARD_CHAOS_SCALE", "short") == "long"
REPORT_DIR = Path(__file__).parents[2] / "test-output"
RECORDS = REPORT_DIR / "chaos-records"
SESSION_ENV = "JOBYARD_CHAOS_SESSION"  # set by the pytest session (support/chaos_report.py)
# per case: generous, as the machine is shared with the rest of the suite under make test
CASE_TIMEOUT = 3 * 3600 if LONG else 240
PENDING = frozenset({JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SCHEDULED})

# fast leases: a killed worker's jobs come back within seconds
WORKER_ENV = {
    "JOBYARD_LEASE": "3",
    "JOBYARD_HEARTBEAT": "0.5",
    "JOBYARD_POLL": "0.2",
    "JOBYARD_KILL_GRACE": "1",
    "JOBYARD_SHUTDOWN_GRACE": "5",
}


def size(short: int, long: int) -> int:
    """``short`` under make test, ``long`` under make chaos."""
    return long if LONG else short


def completed(store: Store) -> int:
    """How many jobs have completed (a counter, not a scan)."""
    return store.job_list(JobFilter(statuses=(JobStatus.COMPLETED,)), PageRequest(per_page=1)).count


def chaos_worker(url: str, log: Path, *, starts: Path | None = None, **env: str) -> JobyardProcess:
    """`jobyard worker` for chaosapp, concurrency 2, fast leases; attempts noted in ``starts``."""
    if starts is not None:
        env["JOBYARD_CHAOS_STARTS"] = str(starts)
    return JobyardProcess(
        ["worker", "--app", "chaosapp:app", "--concurrency", "2"],
        database_url=url,
        log_path=log,
        **{**WORKER_ENV, **env},
    )


def register(store: Store) -> None:
    for definition in load_app("chaosapp:app").definitions():
        store.type_register(definition)


def enqueue_work(store: Store, count: int, *, ms: float = 5, start: int = 0) -> list[int]:
    """``count`` chaos.work jobs (n = start, start+1, …), in batches of 500; their ids."""
    ids: list[int] = []
    for first in range(start, start + count, 500):
        specs = [
            JobSpec(type="chaos.work", args={"n": n, "ms": ms})
            for n in range(first, min(first + 500, start + count))
        ]
        ids += store.job_enqueue(specs)
    return ids


@dataclass
class Ledger:
    """What the database says about a set of jobs after a fault."""

    jobs: int = 0
    finished_once: int = 0
    pending: int = 0  # still queued, retrying or scheduled: not lost, not yet run to the end
    lost: list[str] = field(default_factory=list)  # not finished and not pending: a broken promise
    doubled: list[str] = field(default_factory=list)  # completed by more than one execution
    overlapping: list[str] = field(default_factory=list)  # two attempts of one job at once
    attempts: int = 0  # executions that ran: a prefetched claim given back unrun is not one

    def problems(self) -> list[str]:
        return self.lost + self.doubled + self.overlapping


def _starts(path: Path | None) -> dict[int, dict[int, float]]:
    """job id -> attempt -> when its process really started (chaosapp's starts file)."""
    starts: dict[int, dict[int, float]] = defaultdict(dict)
    if path is not None and path.exists():
        for line in path.read_text().splitlines():
            job, attempt, _pid, at = line.split()
            starts[int(job)][int(attempt)] = float(at)
    return starts


def check_ledger(
    store: Store, ids: Iterable[int], *, starts_file: Path | None = None, results: bool = True
) -> Ledger:
    """Every job finished exactly once or is still pending, and no two attempts overlapped.

    Overlap is judged twice: by the database's record (each attempt ended before the next
    began), and, with ``starts_file``, by the real processes (each attempt's process started
    after the database had ended the attempt before it; a process still running when its
    attempt was recorded ended would be a second one at once).
    """
    ledger = Ledger()
    starts = _starts(starts_file)
    for job_id in ids:
        job = store.job_get(job_id)
        ledger.jobs += 1
        ledger.attempts += sum(e.status is not ExecutionStatus.RELEASED for e in job.executions)
        done = [e for e in job.executions if e.status is ExecutionStatus.COMPLETED]
        if job.status is JobStatus.COMPLETED and len(done) == 1:
            ledger.finished_once += 1
            if results and job.result != job.args["n"] + 1:
                ledger.doubled.append(f"job {job_id}: result {job.result!r} for {job.args}")
        elif job.status in PENDING and not done:
            ledger.pending += 1
        elif len(done) > 1:
            ledger.doubled.append(f"job {job_id}: {len(done)} completed executions")
        else:
            ledger.lost.append(f"job {job_id}: {job.status.value}, executions {job.executions}")
        ordered = sorted(job.executions, key=lambda e: (e.started_at, e.id))
        for before, after in itertools.pairwise(ordered):
            if before.ended_at is None or before.ended_at > after.started_at:
                ledger.overlapping.append(
                    f"job {job_id}: attempt {before.attempt} ({before.started_at} to "
                    f"{before.ended_at}) overlaps attempt {after.attempt} ({after.started_at})"
                )
            real = starts.get(job_id, {}).get(after.attempt)
            if real is not None and before.ended_at is not None:
                if real < before.ended_at.timestamp():
                    ledger.overlapping.append(
                        f"job {job_id}: attempt {after.attempt}'s process started at {real} "
                        f"before attempt {before.attempt} was ended at {before.ended_at}"
                    )
    return ledger


def assert_ledger(ledger: Ledger, *, pending_allowed: bool = False) -> None:
    problems = ledger.problems()
    assert not problems, f"{len(problems)} broken promises:\n" + "\n".join(problems[:20])
    if not pending_allowed:
        assert ledger.pending == 0, f"{ledger.pending} of {ledger.jobs} jobs never ran"


def wait_drained(store: Store, ids: Sequence[int], *, timeout: float, what: str = "") -> float:
    """Wait until every job of ``ids`` (ascending) is terminal; returns the seconds it took."""
    began = time.monotonic()
    remaining = list(ids)
    deadline = began + timeout
    while remaining:
        # the oldest unfinished job first: most of the time it is the only one read
        while remaining and store.job_get(remaining[0]).status.is_terminal:
            remaining.pop(0)
        if remaining:
            remaining = [i for i in remaining if not store.job_get(i).status.is_terminal]
        if not remaining:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(remaining)} of {len(ids)} jobs unfinished after {timeout} s {what}"
            )
        time.sleep(0.5)
    return time.monotonic() - began


@dataclass
class Record:
    """One line of the chaos report."""

    case: str
    backend: str
    fault: str
    injected: int
    jobs: int
    lost: int
    overlapping: int
    recovery_s: float | None = None  # longest time from a fault to work flowing again
    memory_slope_kib_min: float | None = None  # soaks: the steepest process's RSS trend
    note: str = ""


def session_records() -> Path:
    """This pytest session's folder of records."""
    return RECORDS / os.environ.get(SESSION_ENV, "unnamed")


def record(entry: Record) -> None:
    """Keep ``entry`` for the report (one file per record: xdist workers write at once)."""
    folder = session_records()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{time.monotonic_ns()}.json"
    (folder / name).write_text(json.dumps(asdict(entry)))


def record_ledger(
    case: str, backend: str, fault: str, injected: int, ledger: Ledger, **extra: object
) -> None:
    record(
        Record(
            case=case,
            backend=backend,
            fault=fault,
            injected=injected,
            jobs=ledger.jobs,
            lost=len(ledger.lost),
            overlapping=len(ledger.overlapping) + len(ledger.doubled),
            **extra,  # type: ignore[arg-type]
        )
    )


def backend_of(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgres") else "sqlite"
