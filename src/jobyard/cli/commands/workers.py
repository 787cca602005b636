"""``jobyard workers``: jobyard's workers and Faktory's; quiet or stop a Faktory worker."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid

EPILOG = """\
A worker's state only moves forward: running, quiet (fetches nothing more), stopping (told to
finish and exit), then stopped; lost when it stopped beating without a word. Quiet and stop
reach Faktory workers at their next BEAT; stop a jobyard worker with SIGTERM to its process.

examples:
  jobyard workers
  jobyard workers --all --kind faktory
  jobyard workers quiet 5b937456
  jobyard workers stop 5b937456
"""

STATE_STYLE = {"running": "green", "quiet": "yellow", "stopping": "magenta", "lost": "red"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "workers",
        help="list workers (jobyard's and Faktory's); quiet or stop a Faktory worker",
        description="List workers, show one, or quiet or stop the Faktory worker ID.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument(
        "action", nargs="?", choices=("list", "show", "quiet", "stop"), default="list",
        help="(default: list)",
    )  # fmt: skip
    parser.add_argument("id", nargs="?", metavar="ID", help="a worker id (a Faktory wid)")
    parser.add_argument(
        "--all", action="store_true", help="also workers gone for more than an hour"
    )
    parser.add_argument("--kind", choices=("jobyard", "faktory"), help="only workers of a kind")
    parser.set_defaults(run=run)


def _ago(moment: datetime) -> str:
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def run(args: argparse.Namespace) -> int:
    if args.action == "list" and args.id:
        raise Invalid("give show, quiet or stop before a worker id", field="action")
    if args.action != "list" and not args.id:
        raise Invalid(f"which worker? jobyard workers {args.action} ID", field="id")
    with connect(args) as client:
        if args.action == "list":
            workers = client.workers(include_stopped=args.all, kind=args.kind)
        elif args.action == "show":
            workers = [client.worker(args.id)]
        elif args.action == "quiet":
            workers = [client.quiet_worker(args.id)]
        else:
            workers = [client.stop_worker(args.id)]
    if args.json:
        render.print_json(workers if args.action == "list" else workers[0])
        return 0
    out = render.console()
    if args.action in ("quiet", "stop"):
        out.print(f"worker {args.id} is {workers[0].state.value}")
        return 0
    table = Table()
    for name in ("id", "kind", "state", "host", "pid", "queues", "labels", "running", "beat"):
        table.add_column(name, justify="right" if name in ("pid", "running") else "left")
    for w in workers:
        style = STATE_STYLE.get(w.state.value, "dim")
        table.add_row(
            w.id, w.kind.value, f"[{style}]{w.state.value}[/]", w.hostname, str(w.pid),
            ",".join(w.queues), ",".join(w.labels), str(w.running), _ago(w.heartbeat_at),
        )  # fmt: skip
    out.print(table)
    return 0
