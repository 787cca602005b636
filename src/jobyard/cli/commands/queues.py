"""``jobyard queues``: depth per queue; pause and resume one."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid

EPILOG = """\
A paused queue keeps its jobs queued; no worker claims them until it is resumed.

examples:
  jobyard queues
  jobyard queues pause reports
  jobyard queues resume reports
"""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "queues",
        help="list queues with their depth; pause or resume one",
        description="List queues, or pause or resume the queue NAME.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument(
        "action", nargs="?", choices=("list", "pause", "resume"), default="list",
        help="(default: list)",
    )  # fmt: skip
    parser.add_argument("name", nargs="?", metavar="NAME", help="the queue to pause or resume")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "list" and args.name:
        raise Invalid("give pause or resume before a queue name", field="action")
    if args.action != "list" and not args.name:
        raise Invalid(f"which queue? jobyard queues {args.action} NAME", field="name")
    with connect(args) as client:
        if args.action == "pause":
            queues = [client.pause_queue(args.name)]
        elif args.action == "resume":
            queues = [client.resume_queue(args.name)]
        else:
            queues = client.queues()
    if args.json:
        render.print_json(queues if args.action == "list" else queues[0])
        return 0
    out = render.console()
    if args.action != "list":
        out.print(f"queue {args.name} {'paused' if queues[0].paused else 'resumed'}")
        return 0
    table = Table()
    for name in ("queue", "state", "queued", "running", "waiting"):
        table.add_column(name, justify="left" if name in ("queue", "state") else "right")
    for q in queues:
        table.add_row(
            q.name, "[red]paused[/]" if q.paused else "active",
            str(q.queued), str(q.running), str(q.waiting),
        )  # fmt: skip
    out.print(table)
    return 0
