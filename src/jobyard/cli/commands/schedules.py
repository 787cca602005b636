"""``jobyard schedules``: cron expressions that enqueue a job type, one job per tick."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid
from jobyard.core.schedules import Schedule

EPILOG = """\
A schedule enqueues one job of its type per tick of its cron expression, read in its time zone,
however many engines run. Ticks missed while no engine ran are skipped (--catch-up skip) or run
once (--catch-up once).

examples:
  jobyard schedules add nightly --cron "30 2 * * *" --timezone Europe/Berlin \\
      --type reports.build --args '{"period": "day"}'
  jobyard schedules list
  jobyard schedules show nightly
  jobyard schedules disable nightly
  jobyard schedules edit nightly --cron "0 3 * * *"
  jobyard schedules remove nightly
"""


def add_parser(sub: Any) -> None:
    schedules = sub.add_parser(
        "schedules",
        help="cron schedules that enqueue jobs",
        description="List, add, change and remove schedules.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = schedules.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str, example: str) -> Any:
        return actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[CONNECTION, JSON_OUTPUT],
        )

    listing = action("list", "list schedules and their next ticks", "jobyard schedules list")
    listing.set_defaults(run=run_list)

    show = action(
        "show", "show a schedule, its next ticks and its runs", "jobyard schedules show nightly"
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument("--next", type=int, default=5, help="how many next ticks (default 5)")
    show.add_argument("--history", type=int, default=20, help="how many past runs (default 20)")
    show.set_defaults(run=run_show)

    add = action(
        "add", "add a schedule", "jobyard schedules add hourly --cron @hourly --type reports.sync"
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--cron", required=True, metavar="EXPR", help="e.g. '*/5 * * * *', @daily")
    add.add_argument("--type", required=True, metavar="TYPE", help="the job type to enqueue")
    _options(add)
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    add.set_defaults(run=run_add)

    edit = action("edit", "change a schedule", "jobyard schedules edit nightly --cron '0 3 * * *'")
    edit.add_argument("name", metavar="NAME")
    edit.add_argument("--cron", metavar="EXPR")
    edit.add_argument("--type", metavar="TYPE")
    _options(edit)
    edit.set_defaults(run=run_edit)

    for name, summary in (("enable", "enable a schedule"), ("disable", "disable a schedule")):
        toggle = action(name, summary, f"jobyard schedules {name} nightly")
        toggle.add_argument("name", metavar="NAME")
        toggle.set_defaults(run=run_toggle)

    remove = action(
        "remove", "remove a schedule (its jobs stay)", "jobyard schedules remove nightly"
    )
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=run_remove)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--args", metavar="JSON", help="the jobs' arguments, as JSON")
    parser.add_argument("--timezone", metavar="TZ", help="IANA name (default UTC)")
    parser.add_argument("--queue", metavar="QUEUE", help="(default: the job type's)")
    parser.add_argument("--priority", type=int, help="(default: the job type's)")
    parser.add_argument(
        "--catch-up", choices=("skip", "once"), help="missed ticks: skip them, or run once"
    )
    parser.add_argument("--description", metavar="TEXT")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("cron", "type", "timezone", "queue", "priority", "catch_up", "description"):
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    if args.args is not None:
        try:
            fields["args"] = json.loads(args.args)
        except ValueError as exc:
            raise Invalid(f"--args is not JSON: {exc}", field="args") from exc
    return fields


def _table(schedules: list[Schedule]) -> Table:
    table = Table()
    for name in ("name", "cron", "timezone", "type", "state", "catch-up", "next", "last"):
        table.add_column(name)
    for s in schedules:
        spec = s.spec
        table.add_row(
            spec.name, spec.cron, spec.timezone, spec.type,
            "enabled" if spec.enabled else "[dim]disabled[/]", spec.catch_up.value,
            render.when(s.next_fire_at) if spec.enabled else "", render.when(s.last_fire_at),
        )  # fmt: skip
    return table


def run_list(args: argparse.Namespace) -> int:
    found: list[Schedule] = []
    with connect(args) as client:
        page = 1
        while True:
            listing = client.schedules(page=page, per_page=1000)
            found.extend(listing.results)
            if not listing.next:
                break
            page += 1
    if args.json:
        render.print_json(found)
    else:
        render.console().print(_table(found))
    return 0


def run_show(args: argparse.Namespace) -> int:
    if not 0 <= args.next <= 100 or not 0 <= args.history <= 1000:
        raise Invalid("--next is from 0 to 100, --history from 0 to 1000", field="next")
    with connect(args) as client:
        detail = client.schedule(args.name, next=args.next, history=args.history)
    if args.json:
        render.print_json(detail)
        return 0
    out = render.console()
    out.print(_table([detail.schedule]))
    spec = detail.schedule.spec
    out.print(Text(f"args: {render.compact(spec.args, 200)}"))
    if detail.next_runs:
        out.print("next: " + ", ".join(t.isoformat() for t in detail.next_runs))
    runs = Table(title="runs", title_justify="left")
    for name in ("tick", "job", "status", "missed", "note"):
        runs.add_column(name, justify="right" if name in ("job", "missed") else "left")
    for r in detail.history:
        note = r.error or ("skipped: too late" if r.job_id is None else "")
        runs.add_row(
            render.when(r.fire_at), "" if r.job_id is None else str(r.job_id),
            render.status(r.job_status), str(r.missed), note,
        )  # fmt: skip
    out.print(runs)
    return 0


def _print(args: argparse.Namespace, schedule: Schedule, verb: str) -> None:
    if args.json:
        render.print_json(schedule)
        return
    nxt = render.when(schedule.next_fire_at) if schedule.spec.enabled else "disabled"
    render.console().print(f"schedule {schedule.name} {verb}; next tick: {nxt}")


def run_add(args: argparse.Namespace) -> int:
    spec = {"name": args.name, **_fields(args), "enabled": not args.disabled}
    with connect(args) as client:
        schedule = client.create_schedule(spec)
    _print(args, schedule, "added")
    return 0


def run_edit(args: argparse.Namespace) -> int:
    changes = _fields(args)
    if not changes:
        raise Invalid("nothing to change: give --cron, --type, --args, ...", field="name")
    with connect(args) as client:
        schedule = client.update_schedule(args.name, changes)
    _print(args, schedule, "changed")
    return 0


def run_toggle(args: argparse.Namespace) -> int:
    enabled = args.action == "enable"
    with connect(args) as client:
        schedule = client.update_schedule(args.name, {"enabled": enabled})
    _print(args, schedule, "enabled" if enabled else "disabled")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.delete_schedule(args.name)
    if not args.json:
        render.console().print(f"schedule {args.name} removed")
    return 0
