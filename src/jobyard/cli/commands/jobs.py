"""``jobyard jobs`` (the list, filtered and paged) and ``jobyard show`` (one job in full)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.client.models import Job
from jobyard.core.limits import Resources

JOBS_EPILOG = """\
examples:
  jobyard jobs --status running,queued
  jobyard jobs --type reports.build --search customer --per-page 20 --page 2
  jobyard jobs --status failed --json | jq '.results[].id'
"""

SHOW_EPILOG = """\
examples:
  jobyard show 42
  jobyard show 42 --json | jq .result
"""


def add_parser(sub: Any) -> None:
    jobs = sub.add_parser(
        "jobs",
        help="list jobs: filter by status, type, queue, tag or text",
        description="List jobs, newest first.",
        epilog=JOBS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    jobs.add_argument("--status", metavar="A,B", help="e.g. failed or running,queued")
    jobs.add_argument("--type", metavar="A,B", help="job type names")
    jobs.add_argument("--queue", metavar="A,B", help="queue names")
    jobs.add_argument("--tag", help="jobs with this tag")
    jobs.add_argument("--search", metavar="TEXT", help="text in args, error or type")
    jobs.add_argument("--sort", default="-id", help="id, created_at, updated_at, priority, "
                      "status, type or queue; '-' first for descending (default: -id)")  # fmt: skip
    jobs.add_argument("--removed", action="store_true", help="include removed jobs")
    jobs.add_argument("--page", type=int, default=1, metavar="N")
    jobs.add_argument("--per-page", type=int, default=50, metavar="N", help="(default: 50)")
    jobs.set_defaults(run=run_jobs)

    show = sub.add_parser(
        "show",
        help="show one job: state, arguments, result or error, every execution",
        description="Show job ID in full.",
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(run=run_show)


def run_jobs(args: argparse.Namespace) -> int:
    filters = {
        "status": args.status,
        "type": args.type,
        "queue": args.queue,
        "tag": args.tag,
        "search": args.search,
        "sort": args.sort,
        "include_removed": args.removed or None,
    }
    with connect(args) as client:
        page = client.jobs(
            page=args.page,
            per_page=args.per_page,
            **{k: v for k, v in filters.items() if v is not None},
        )
    if args.json:
        render.print_json(page)
        return 0
    out = render.console()
    out.print(render.jobs_table(page.results))
    last = max(1, -(-page.count // args.per_page))
    first = (args.page - 1) * args.per_page
    shown = f"{first + 1}-{first + len(page.results)}" if page.results else "none"
    out.print(f"{shown} of {page.count} jobs (page {args.page} of {last})", style="dim")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.job(args.id)
    if args.json:
        render.print_json(job)
        return 0
    out = render.console()
    out.print(_details(job))
    if job.executions:
        out.print(_executions(job))
    if job.error and job.error.get("traceback"):
        out.print(Text(str(job.error["traceback"]).rstrip(), style="red"))
    return 0


def _details(job: Job) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("job", f"{job.id}  {job.type} (revision {job.type_revision})"),
        ("status", render.outcome(job, named=False)),
        ("queue", f"{job.queue}, priority {job.priority}"),
        ("args", render.compact(job.args, 500)),
        ("tries", f"{job.tries} of {job.max_tries}"),
        ("progress", render.progress(job)),
        ("created", f"{render.when(job.created_at)} by {job.created_by or '?'}"),
        ("run at", render.when(job.run_at)),
        ("started", render.when(job.started_at)),
        ("finished", render.when(job.finished_at)),
        ("tags", ", ".join(job.tags)),
        ("unique key", job.unique_key or ""),
        ("external id", job.external_id or ""),
        ("result", "" if job.result is None else render.compact(job.result, 500)),
        ("restart of", "" if job.restart_of is None else str(job.restart_of)),
        ("restarted as", "" if job.restarted_as is None else str(job.restarted_as)),
        ("removed", f"by {job.removed_by}" if job.removed_at else ""),
    ]
    if job.error:
        rows.append(("error", f"{job.error.get('type')}: {job.error.get('message')}"))
    rows += _limits(job)
    for name, value in rows:
        if value:
            table.add_row(name, value if isinstance(value, Text) else Text(value))
    return table


def _limits(job: Job) -> list[tuple[str, str | Text]]:
    """What the job needs, the limits it runs under, and why it waits."""
    rows: list[tuple[str, str | Text]] = []
    needs = Resources(job.cpus, job.mem, job.disk)
    if not needs.is_zero:
        rows.append(("needs", needs.describe()))
    limits = []
    if job.type_concurrency is not None:
        limits.append(f"type {job.type}: {job.type_concurrency} at once")
    if job.concurrency_key is not None:
        limits.append(f"key {job.concurrency_key}: {job.concurrency_limit} at once")
    if limits:
        rows.append(("limits", "; ".join(limits)))
    if job.waiting is not None:
        rows.append(("waiting", Text(f"{job.waiting.code}: {job.waiting.message}", style="yellow")))
    return rows


def _executions(job: Job) -> Table:
    table = Table(title="executions", title_justify="left")
    for name in ("#", "status", "host", "pid", "started", "ended", "exit", "error"):
        table.add_column(name)
    for e in job.executions:
        exit_ = "" if e.exit_code is None else str(e.exit_code)
        if e.signal:
            exit_ = f"signal {e.signal}"
        error = f"{e.error_type}: {e.error_message}" if e.error_type else ""
        table.add_row(
            str(e.attempt), render.status(e.status.value), e.hostname or "",
            str(e.pid or ""), render.when(e.started_at), render.when(e.ended_at), exit_,
            Text(render.compact(error, 80)),
        )  # fmt: skip
    return table
