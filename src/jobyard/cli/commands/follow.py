"""``jobyard follow`` (progress, log and the end of a job, live) and ``jobyard log``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.client import Client, Event
from jobyard.core.states import JobStatus

FOLLOW_EPILOG = """\
Shows a progress bar with the job's percent and description on a terminal (a line per change
otherwise), prints log lines as they arrive, and ends with the final state. Exits 0 when the
job completed, 1 when it failed or was canceled. With --json: one JSON event per line.

examples:
  jobyard follow 42
  jobyard follow 42 --json | jq -r 'select(.kind == "log") | .data.text'
"""

LOG_EPILOG = """\
examples:
  jobyard log 42
  jobyard log 42 -f            # and every line still to come, until the job ends
  jobyard log 42 --json        # one JSON event per line
"""


def add_parser(sub: Any) -> None:
    follow = sub.add_parser(
        "follow",
        help="follow a job live: progress bar, log lines, final state",
        description="Follow job ID until it ends.",
        epilog=FOLLOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    follow.add_argument("id", type=int, metavar="ID")
    follow.set_defaults(run=run_follow)

    log = sub.add_parser(
        "log",
        help="print a job's log; -f to follow it",
        description="Print the log of job ID: its stdout, stderr and ctx.log lines.",
        epilog=LOG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    log.add_argument("id", type=int, metavar="ID")
    log.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until the job ends"
    )
    log.set_defaults(run=run_log)


def run_follow(args: argparse.Namespace) -> int:
    with connect(args) as client:
        return follow_job(client, args.id, as_json=args.json)


def run_log(args: argparse.Namespace) -> int:
    out = render.console()
    with connect(args) as client:
        after = 0
        while True:
            page = client.log(args.id, after=after, limit=1000)
            for line in page.lines:
                _print_line(out, line, as_json=args.json)
            if not page.lines:
                break
            after = page.next_after
        if args.follow:
            for line in client.follow_log(args.id, after=after):
                _print_line(out, line, as_json=args.json)
    return 0


def _print_line(out: Console, line: Event, *, as_json: bool) -> None:
    if as_json:
        render.print_json(line, lines=True)
    else:
        out.print(render.log_line(line), soft_wrap=True)


def follow_job(client: Client, job_id: int, *, as_json: bool = False) -> int:
    """Follow a job to its end; 0 when it completed, else 1."""
    if as_json:
        for event in client.follow(job_id):
            render.print_json(event, lines=True)
        final = client.job(job_id)
    else:
        out = render.console()
        view: _View = _Bar(out) if out.is_interactive else _Lines(out)
        with view:
            for event in client.follow(job_id):
                view.show(event)
        final = client.job(job_id)
        out.print(render.outcome(final), soft_wrap=True)
    return 0 if final.status is JobStatus.COMPLETED else 1


class _View:
    """What `follow` shows of each event; a live bar on a terminal, lines elsewhere."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.status = ""
        self.percent: float | None = None
        self.desc = ""

    def __enter__(self) -> _View:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, event: Event) -> None:
        if event.kind == "log":
            self.out.print(render.log_line(event), soft_wrap=True)
        elif event.kind == "progress":
            self.percent = event.percent if event.percent is not None else self.percent
            self.desc = event.desc if event.desc is not None else self.desc
            self.progressed()
        elif event.kind == "state" and event.data.get("kill_requested"):
            self.out.print(Text(f"kill requested by {event.data.get('by') or '?'}"))
        elif event.kind == "state" and event.status and event.status != self.status:
            self.status = event.status
            if event.job is not None:  # the opening snapshot
                self.percent, self.desc = event.job.progress, event.job.progress_desc or ""
                self.opened(event)
            self.changed()

    def opened(self, event: Event) -> None:
        assert event.job is not None
        self.out.print(f"job {event.job.id} {event.job.type} {render.compact(event.job.args)}")

    def progressed(self) -> None: ...

    def changed(self) -> None: ...


class _Lines(_View):
    def progressed(self) -> None:
        percent = "" if self.percent is None else f"{self.percent:3.0f}% "
        self.out.print(Text(f"progress {percent}{self.desc}".rstrip()), soft_wrap=True)

    def changed(self) -> None:
        line = Text("state ")
        line.append_text(render.status(self.status))
        self.out.print(line)


class _Bar(_View):
    def __enter__(self) -> _View:
        self.bar = Progress(
            TextColumn("{task.fields[status]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.description}", markup=False),
            console=self.out,
        )
        self.task: TaskID = self.bar.add_task("", total=100, status="", start=True)
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def progressed(self) -> None:
        self.bar.update(self.task, completed=self.percent or 0, description=self.desc)

    def changed(self) -> None:
        style = render.STATUS_STYLE.get(self.status, "")
        self.bar.update(
            self.task,
            status=f"[{style}]{self.status}[/]" if style else self.status,
            completed=self.percent or 0,
            description=self.desc,
        )
