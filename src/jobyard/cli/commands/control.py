"""``jobyard kill|cancel|restart|remove ID`` and ``jobyard requeue``: act on jobs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.client import Client
from jobyard.client.models import Job
from jobyard.core.errors import Invalid

ACTIONS: dict[str, tuple[Callable[[Client, int], Job], str]] = {
    "kill": (Client.kill, "stop a running job and its whole process tree (a waiting job is "
             "canceled)"),
    "cancel": (Client.cancel, "cancel a job that has not started yet"),
    "restart": (Client.restart, "run a finished job again as a new job, linked to the old one; "
                "or restart a service by name"),
    "remove": (Client.remove, "hide a job from listings (a waiting job is canceled first)"),
}  # fmt: skip

REQUEUE_EPILOG = """\
Give job ids, or filters that select failed (or, with --status, canceled) jobs.

examples:
  jobyard requeue 41 42
  jobyard requeue --status failed --type reports.build --priority 0
"""


def add_parser(sub: Any) -> None:
    for action, (_, summary) in ACTIONS.items():
        parser = sub.add_parser(
            action,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  jobyard {action} 42",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[CONNECTION, JSON_OUTPUT],
        )
        if action == "restart":  # a job id, or the name of a service (jobyard services)
            parser.add_argument("id", metavar="ID|SERVICE")
        else:
            parser.add_argument("id", type=int, metavar="ID")
        parser.set_defaults(run=run_action, action=action)

    requeue = sub.add_parser(
        "requeue",
        help="put failed or canceled jobs back in their queue",
        description="Put failed or canceled jobs back in their queue, with one more try each.",
        epilog=REQUEUE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    requeue.add_argument("ids", nargs="*", type=int, metavar="ID")
    requeue.add_argument("--status", metavar="A,B", help="failed and/or canceled (default: failed)")
    requeue.add_argument("--type", metavar="A,B", help="job type names")
    requeue.add_argument("--queue", metavar="A,B", help="queue names")
    requeue.add_argument("--tag", help="jobs with this tag")
    requeue.add_argument("--priority", type=int, metavar="N", help="a new priority for them")
    requeue.set_defaults(run=run_requeue)


def _said(action: str, before: int, job: Job) -> str:
    if action == "restart":
        return f"job {before} restarted as job {job.id} ({job.status.value})"
    if action == "kill" and job.status.value == "running":
        return f"job {job.id}: kill requested; the worker stops it"
    if action == "remove":
        return f"job {job.id} removed ({job.status.value})"
    return f"job {job.id} {job.status.value}"


def run_action(args: argparse.Namespace) -> int:
    if args.action == "restart":
        if not (args.id.isascii() and args.id.isdigit()):
            from jobyard.cli.commands.services import run_restart

            return run_restart(args)
        args.id = int(args.id)
    with connect(args) as client:
        job = ACTIONS[args.action][0](client, args.id)
    if args.json:
        render.print_json(job)
    else:
        render.console().print(_said(args.action, args.id, job))
    return 0


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def run_requeue(args: argparse.Namespace) -> int:
    filters = (args.status, args.type, args.queue, args.tag)
    if args.ids and any(f is not None for f in filters):
        raise Invalid("give job ids or filters, not both", field="ids")
    if not args.ids and all(f is None for f in filters):
        raise Invalid("give job ids, or filters such as --status failed", field="ids")
    status = _csv(args.status)
    if not args.ids and status is None:
        status = ["failed"]  # canceled jobs were stopped by a person: only when asked
    with connect(args) as client:
        ids = client.requeue(
            args.ids or None,
            status=status,
            type=_csv(args.type),
            queue=_csv(args.queue),
            tag=args.tag,
            priority=args.priority,
        )
    if args.json:
        render.print_json({"ids": ids})
    else:
        listed = ", ".join(map(str, ids[:20])) + (", …" if len(ids) > 20 else "")
        jobs = "job" if len(ids) == 1 else "jobs"
        render.console().print(f"requeued {len(ids)} {jobs}" + (f": {listed}" if ids else ""))
    return 0
