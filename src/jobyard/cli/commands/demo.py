"""``jobyard demo``: enqueue demo jobs, run a worker, watch them live, print a summary."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from jobyard.cli.commands.options import add_database, settings_from
from jobyard.core.models import Job, JobSpec
from jobyard.core.states import JobStatus

if TYPE_CHECKING:
    from jobyard.store import Store

STATUS_STYLE = {
    JobStatus.QUEUED: "cyan",
    JobStatus.SCHEDULED: "blue",
    JobStatus.RUNNING: "yellow",
    JobStatus.RETRYING: "magenta",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "dim",
}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run demo jobs on a worker and watch them (what `make run` does)",
        epilog="example: jobyard demo --concurrency 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--concurrency", type=int, default=4, metavar="N")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS")
    add_database(parser)
    parser.set_defaults(run=run)


def demo_jobs() -> list[JobSpec]:
    return [
        *(JobSpec(type="demo.sleep", args={"sleep": s}) for s in (2, 3, 4, 5)),
        JobSpec(type="demo.sleep", args={"sleep": 3}, priority=10, tags=("urgent",)),
        JobSpec(type="demo.fail", args={"message": "the demo fails on purpose"}),
        JobSpec(type="demo.echo", args={"message": "hello from a command job"}),
        JobSpec(type="demo.count", args={"n": 6}),
        JobSpec(type="demo.sleep", args={"sleep": 2}, delay=3.0),
    ]


def enqueue_demo(store: Store) -> list[int]:
    """Register the demo types and enqueue one batch of demo jobs."""
    from jobyard.demo.app import app  # here: the CLI's other commands start without it

    for definition in app.definitions():
        store.type_register(definition)
    return store.job_enqueue(demo_jobs(), created_by="demo")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    console = Console()
    from jobyard.store import open_store

    store = open_store(settings.database_url)
    store.schema_upgrade()
    ids = enqueue_demo(store)
    console.print(f"[bold]jobyard demo[/]: enqueued {len(ids)} jobs on {settings.database_url}")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "jobyard.cli.main", "worker", "--app", "jobyard.demo.app:app",
            "--concurrency", str(args.concurrency), "--database-url", settings.database_url,
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        jobs = _watch(store, ids, console, deadline=time.monotonic() + args.timeout)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=settings.shutdown_grace + 10)
        except subprocess.TimeoutExpired:
            worker.kill()
    console.print(_summary(store, jobs))
    finished = sum(j.status.is_terminal for j in jobs)
    console.print(f"{finished} of {len(jobs)} jobs finished; the database is {store.url}")
    store.close()
    return 0 if finished == len(jobs) else 1


def _watch(store: Store, ids: list[int], console: Console, *, deadline: float) -> list[Job]:
    jobs = [store.job_get(i) for i in ids]
    with Live(_table(jobs), console=console, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            jobs = [store.job_get(i) for i in ids]
            live.update(_table(jobs))
            if all(j.status.is_terminal for j in jobs):
                break
            time.sleep(0.25)
    return jobs


def _bar(job: Job, width: int = 20) -> str:
    if job.progress is None:
        return ""
    filled = int(width * job.progress / 100)
    return f"{'█' * filled}{'░' * (width - filled)} {job.progress:3.0f}%"


def _table(jobs: list[Job]) -> Table:
    table = Table(title="jobs", expand=False)
    for column in ("id", "type", "status", "try", "progress", "detail"):
        table.add_column(column)
    for job in jobs:
        style = STATUS_STYLE.get(job.status, "")
        detail = job.progress_desc or ""
        if job.error and job.status in (JobStatus.RETRYING, JobStatus.FAILED):
            detail = f"{job.error.get('type')}: {job.error.get('message')}"
        table.add_row(
            str(job.id), job.type, f"[{style}]{job.status.value}[/]",
            f"{job.tries}/{job.max_tries}", _bar(job), detail,
        )  # fmt: skip
    return table


def _summary(store: Store, jobs: list[Job]) -> Table:
    table = Table(title="summary")
    for column in ("id", "type", "status", "executions", "seconds", "last log line"):
        table.add_column(column)
    for job in jobs:
        full = store.job_get(job.id)
        log = store.job_log(job.id, limit=10_000)
        seconds = ""
        if full.finished_at and full.executions:
            seconds = f"{(full.finished_at - full.executions[0].started_at).total_seconds():.1f}"
        last = log[-1].data.get("text", "") if log else ""
        table.add_row(
            str(job.id), job.type, full.status.value,
            ", ".join(e.status.value for e in full.executions), seconds, str(last)[:60],
        )  # fmt: skip
    return table
