"""``jobyard services``, ``start``, ``stop``, ``reload`` (and ``restart NAME``): services; and
``jobyard apps``: the applications."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.services import Service

SERVICES_EPILOG = """\
A service is a long-running job the engine keeps running: its instances restart by their restart
policy, start after the services they depend on, and show in `jobyard ps`.

examples:
  jobyard services
  jobyard services --app web
  jobyard services show web.cache --json
"""

ACTIONS = {
    "start": "start services, each after the services it depends on",
    "stop": "stop services, each after the services that depend on it",
    "reload": "reload services: their reload signal, or a restart",
}

SCHEDULE_STYLE = {"waiting": "", "waiting_depends": "magenta", "executing": "yellow"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "services",
        help="list services: desired and reported state, instances, pids",
        description="List services, or show the service NAME in full.",
        epilog=SERVICES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument(
        "action", nargs="?", choices=("list", "show"), default="list", help="(default: list)"
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="the service to show")
    parser.add_argument("--app", help="only this application's services")
    parser.set_defaults(run=run_services)
    for action, summary in ACTIONS.items():
        act = sub.add_parser(
            action,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  jobyard {action} web.cache web.db",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[CONNECTION, JSON_OUTPUT],
        )
        act.add_argument("names", nargs="+", metavar="NAME")
        act.set_defaults(run=run_action, action=action)
    apps = sub.add_parser(
        "apps",
        help="list applications: their guids, job types and services",
        description="List the applications workers registered.",
        epilog="example:\n  jobyard apps --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    apps.set_defaults(run=run_apps)


def run_services(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.action == "show" or args.name:
            if not args.name:
                from jobyard.core.errors import Invalid

                raise Invalid("which service? jobyard services show NAME", field="name")
            services = [client.service(args.name)]
        else:
            services = client.services(app=args.app)
    if args.json:
        render.print_json(services[0] if args.name else services)
        return 0
    out = render.console()
    out.print(table(services))
    if args.name:
        out.print(instances(services[0]))
    return 0


def run_action(args: argparse.Namespace, action: str | None = None) -> int:
    action = action or args.action
    done = []
    with connect(args) as client:
        do = {
            "start": client.start_service,
            "stop": client.stop_service,
            "restart": client.restart_service,
            "reload": client.reload_service,
        }[action]
        for name in args.names:
            done.append(do(name))
    if args.json:
        render.print_json(done if len(done) > 1 else done[0])
        return 0
    out = render.console()
    for service in done:
        out.print(f"service {service.name}: {action} requested (now {describe(service)})")
    return 0


def run_restart(args: argparse.Namespace) -> int:
    """``jobyard restart NAME``: called by ``restart`` when its argument is not a job id."""
    args.names = [args.id]
    return run_action(args, "restart")


def run_apps(args: argparse.Namespace) -> int:
    with connect(args) as client:
        apps = client.apps()
    if args.json:
        render.print_json(apps)
        return 0
    t = Table()
    for name in ("app", "guid", "types", "services", "registered"):
        t.add_column(name)
    for a in apps:
        t.add_row(a.name, a.guid, str(len(a.types)), ", ".join(a.services),
                  render.when(a.updated_at))  # fmt: skip
    render.console().print(t)
    return 0


def describe(s: Service) -> str:
    text = f"{s.status.value}/{s.sub}, {s.schedule.value}"
    if s.running_action is not None and s.schedule.value == "executing":
        text += f" ({s.running_action.value})"
    return text


def table(services: list[Service]) -> Table:
    t = Table()
    for name in ("service", "app", "desired", "status", "sub", "schedule", "ready", "pids",
                 "hosts", "restarts", "since"):  # fmt: skip
        t.add_column(name, justify="right" if name == "restarts" else "left")
    for s in services:
        live = [i for i in s.instances if i.active]
        ready = sum(1 for i in live if i.ready)
        schedule = s.schedule.value
        if s.schedule.value == "waiting_depends":
            schedule += f" ({', '.join(s.waiting_for)})"
        elif s.running_action is not None and s.schedule.value == "executing":
            schedule += f" ({s.running_action.value})"
        t.add_row(
            s.name, s.definition.app or "", s.desired.value, s.status.value,
            Text(s.sub, style="red" if s.sub == "err" else "green"),
            Text(schedule, style=SCHEDULE_STYLE.get(s.schedule.value, "")),
            f"{ready}/{s.definition.instances}",
            ",".join(str(i.pid) for i in live if i.pid), ",".join(sorted({
                i.hostname for i in live if i.hostname})),
            str(s.restarts), render.when(s.action_ended_at or s.action_started_at),
        )  # fmt: skip
    return t


def instances(s: Service) -> Table:
    t = Table(title="instances", title_justify="left")
    for name in ("slot", "job", "status", "pid", "host", "started", "ready", "ended", "exit"):
        t.add_column(name)
    for i in s.instances:
        exit_ = (
            f"signal {i.signal}" if i.signal else "" if i.exit_code is None else str(i.exit_code)
        )
        t.add_row(
            str(i.slot), str(i.job_id or ""), render.status(i.job_status and i.job_status.value),
            str(i.pid or ""), i.hostname or "", render.when(i.started_at),
            render.when(i.ready_at), render.when(i.ended_at), exit_,
        )  # fmt: skip
    return t
