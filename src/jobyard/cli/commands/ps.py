"""``jobyard ps``: the process table, every execution of every job and service instance."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid
from jobyard.core.processes import Process

EPILOG = """\
Newest first. SINCE is a time with a zone (2026-01-02T03:04:05Z) or an age: 30s, 15m, 2h, 7d.

examples:
  jobyard ps
  jobyard ps --running --app demo
  jobyard ps --host worker-3 --since 1h --json | jq '.results[].pid'
"""

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "ps",
        help="list processes: every execution, with pid, host, exit status and memory",
        description="The process table: every execution of every job and service instance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument("--running", action="store_true", help="only running processes")
    parser.add_argument("--status", metavar="A,B", help="running, completed, failed, canceled, "
                        "timed_out, lost or released")  # fmt: skip
    parser.add_argument("--app", metavar="A,B", help="application names or guids")
    parser.add_argument("--host", metavar="A,B", help="host names")
    parser.add_argument("--queue", metavar="A,B", help="queue names")
    parser.add_argument("--worker", metavar="A,B", help="worker ids")
    parser.add_argument("--type", metavar="A,B", help="job type names")
    parser.add_argument("--service", metavar="A,B", help="instances of these services")
    parser.add_argument("--tag", help="of jobs with this tag")
    parser.add_argument("--job", type=int, metavar="ID", help="the executions of one job")
    parser.add_argument("--since", metavar="SINCE", help="started at or after SINCE")
    parser.add_argument("--page", type=int, default=1, metavar="N")
    parser.add_argument("--per-page", type=int, default=50, metavar="N", help="(default: 50)")
    parser.set_defaults(run=run)


def since(text: str, now: datetime | None = None) -> datetime:
    match = _AGE.match(text.strip())
    if match:
        seconds = float(match[1]) * _UNIT[match[2]]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"--since {text!r}: an age (15m, 2h) or a time", field="since") from None
    if moment.tzinfo is None:
        raise Invalid("--since needs a time zone, e.g. 2026-01-02T03:04:05Z", field="since")
    return moment


def run(args: argparse.Namespace) -> int:
    if args.running and args.status:
        raise Invalid("give --running or --status, not both", field="status")
    filters: dict[str, Any] = {
        "status": "running" if args.running else args.status,
        "app": args.app,
        "host": args.host,
        "queue": args.queue,
        "worker": args.worker,
        "type": args.type,
        "service": args.service,
        "tag": args.tag,
        "job_id": args.job,
        "started_after": None if args.since is None else since(args.since),
    }
    with connect(args) as client:
        page = client.executions(
            page=args.page,
            per_page=args.per_page,
            **{k: v for k, v in filters.items() if v is not None},
        )
    if args.json:
        render.print_json(page)
        return 0
    out = render.console()
    out.print(table(page.results))
    last = max(1, -(-page.count // args.per_page))
    first = (args.page - 1) * args.per_page
    shown = f"{first + 1}-{first + len(page.results)}" if page.results else "none"
    out.print(f"{shown} of {page.count} processes (page {args.page} of {last})", style="dim")
    return 0


def exit_status(p: Process) -> str:
    e = p.execution
    if e.signal:
        return f"signal {e.signal}"
    return "" if e.exit_code is None else str(e.exit_code)


def memory(value: int | None) -> str:
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024  # type: ignore[assignment]
    return ""


def table(processes: tuple[Process, ...] | list[Process]) -> Table:
    where = any(p.cluster or p.image for p in processes)
    columns = ["id", "job", "type", "app", "status", "pid", "ppid", "host", "queue",
               "started", "ended", "exit", "rss"]  # fmt: skip
    if where:
        columns += ["cluster", "image"]
    t = Table()
    for name in columns:
        t.add_column(
            name, justify="right" if name in ("id", "job", "pid", "ppid", "rss") else "left"
        )
    for p in processes:
        e = p.execution
        kind = p.type or ""
        if p.service:
            kind = f"{kind} (service)"
        row: list[str | Text] = [
            str(e.id), str(e.job_id), kind, p.app or "", render.status(e.status.value),
            str(e.pid or ""), str(e.ppid or ""), e.hostname or "", p.queue or "",
            render.when(e.started_at), render.when(e.ended_at), exit_status(p),
            memory(e.peak_rss),
        ]  # fmt: skip
        if where:
            row += [p.cluster or "", p.image or ""]
        t.add_row(*row)
    return t
