"""``jobyard types``: list, show, create, update, archive job types; their revisions."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.client import Client
from jobyard.client.models import JobType
from jobyard.core.errors import Invalid
from jobyard.core.interface import ParamType

ACTIONS = (
    "list", "show", "create", "update", "pause", "resume", "archive", "unarchive", "revisions",
)  # fmt: skip
EPILOG = """\
Every change to a type's definition makes a new revision; jobs keep the revision they were made
with. A paused type's jobs stay queued, unclaimed, until it is resumed. An archived type takes no
new jobs and is listed only with --archived.

An input or output is NAME:TYPE, with ? after the type when it may be left out; types: string,
integer, number, boolean, object, array, file, files. Enqueue then checks a job's args.

examples:
  jobyard types
  jobyard types --search report --json
  jobyard types show reports.build
  jobyard types create thumbs.make --command 'convert ${image} out.png' --queue images \\
      --version 1.0.0 --title Thumbnails --category images --mem 256 \\
      --input image:file --input scale:number? --output thumbnail:file
  jobyard types create etl.load --file etl-load.json
  jobyard types update thumbs.make --priority 5 --timeout 600
  jobyard types revisions thumbs.make
  jobyard types pause thumbs.make
  jobyard types archive thumbs.make
"""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "types",
        help="list, create, update, pause and archive job types; show their revisions",
        description="Job types: list them (the default), show one, create or update one (a new "
        "revision), pause or resume one, archive or unarchive one, or list its revisions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument(
        "action", nargs="?", choices=ACTIONS, default="list", help="(default: list)"
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="the job type")
    listing = parser.add_argument_group("list")
    listing.add_argument("--search", metavar="TEXT", help="text in the name, title or description")
    listing.add_argument(
        "--queue", metavar="QUEUE", help="list: types of these queues (A,B); create: its queue"
    )
    listing.add_argument("--archived", action="store_true", help="archived types too")
    definition = parser.add_argument_group("create and update")
    target = definition.add_mutually_exclusive_group()
    target.add_argument("--python", metavar="MODULE:FUNCTION", help="a Python type's function")
    target.add_argument("--command", metavar="'ARGV'", help="a command line (split like a shell)")
    definition.add_argument("--file", metavar="PATH", help="the definition as JSON (flags win)")
    definition.add_argument("--priority", type=int, help="lower runs first")
    definition.add_argument("--timeout", type=float, metavar="SECONDS", help="per attempt")
    definition.add_argument("--max-tries", type=int, metavar="N")
    definition.add_argument("--cpus", type=float)
    definition.add_argument("--mem", type=float, metavar="MIB")
    definition.add_argument("--disk", type=float, metavar="MIB")
    definition.add_argument(
        "--concurrency", type=int, metavar="N", help="at most N of its jobs at once (0: no limit)"
    )
    definition.add_argument("--version", dest="type_version", metavar="VERSION")
    definition.add_argument("--title")
    definition.add_argument("--category")
    definition.add_argument("--description")
    definition.add_argument("--tag", action="append", metavar="TAG", help="(repeat)")
    definition.add_argument(
        "--input", action="append", metavar="NAME:TYPE[?]", help="an input (repeat)"
    )
    definition.add_argument(
        "--output", action="append", metavar="NAME:TYPE", help="an output (repeat)"
    )
    parser.set_defaults(run=run)


def _param(text: str, flag: str) -> dict[str, Any]:
    name, sep, kind = text.rpartition(":")
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if not sep or not name or kind not in {t.value for t in ParamType}:
        names = ", ".join(t.value for t in ParamType)
        raise Invalid(f"{flag} {text!r}: give NAME:TYPE with a type of {names}", field=flag)
    param: dict[str, Any] = {"name": name, "type": kind}
    if optional:
        param["required"] = False
    return param


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The definition fields the flags (and --file) give."""
    changes: dict[str, Any] = {}
    if args.file:
        try:
            loaded = json.loads(Path(args.file).read_text())
        except (OSError, ValueError) as exc:
            raise Invalid(f"cannot read {args.file}: {exc}", field="file") from exc
        if not isinstance(loaded, dict):
            raise Invalid(f"{args.file} must hold a JSON object", field="file")
        changes.update(loaded)
    if args.python:
        changes.update(kind="python", target=args.python)
    if args.command:
        changes.update(kind="command", target=shlex.split(args.command))
    for flag, key in (
        ("queue", "queue"), ("priority", "priority"), ("timeout", "timeout"),
        ("max_tries", "max_tries"), ("cpus", "cpus"), ("mem", "mem"), ("disk", "disk"),
        ("type_version", "version"), ("title", "title"), ("category", "category"),
        ("description", "description"), ("tag", "tags"),
    ):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            changes[key] = value
    if args.concurrency is not None:
        changes["concurrency"] = args.concurrency or None
    if args.input or args.output:
        interface = dict(changes.get("interface") or {})
        if args.input:
            interface["inputs"] = [_param(p, "--input") for p in args.input]
        if args.output:
            interface["outputs"] = [_param(p, "--output") for p in args.output]
        changes["interface"] = interface
    return changes


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.name:
            raise Invalid("give an action before a type name: jobyard types show NAME")
        return _list(args)
    if not args.name:
        raise Invalid(f"which type? jobyard types {args.action} NAME", field="name")
    with connect(args) as client:
        return _act(client, args)


def _act(client: Client, args: argparse.Namespace) -> int:
    out = render.console()
    if args.action == "revisions":
        revisions = client.type_revisions(args.name)
        if args.json:
            render.print_json(revisions)
        else:
            _table(revisions, revisions=True)
        return 0
    if args.action == "show":
        found = client.job_type(args.name)
    elif args.action == "pause":
        found = client.pause_type(args.name)
    elif args.action == "resume":
        found = client.resume_type(args.name)
    elif args.action == "archive":
        found = client.archive_type(args.name)
    elif args.action == "unarchive":
        found = client.unarchive_type(args.name)
    elif args.action == "create":
        found = client.create_type({"name": args.name, **_changes(args)})
    else:
        changes = _changes(args)
        if not changes:
            raise Invalid("nothing to change: give a flag such as --priority or --file")
        found = client.update_type(args.name, **changes)
    if args.json:
        render.print_json(found)
        return 0
    if args.action in ("show", "create", "update"):
        _table([found])
        if found.definition.interface is not None:
            out.print(Text(json.dumps(found.definition.interface.to_dict(), indent=2)))
    else:
        done = {"pause": "paused", "resume": "resumed"}.get(args.action, f"{args.action}d")
        out.print(f"job type {found.name} {done}")
    return 0


def _list(args: argparse.Namespace) -> int:
    found: list[JobType] = []
    with connect(args) as client:
        page = 1
        while True:
            listing = client.job_types(
                page=page, per_page=1000, search=args.search, queue=args.queue,
                include_archived=bool(args.archived),
            )  # fmt: skip
            found.extend(listing.results)
            if not listing.next:
                break
            page += 1
    if args.json:
        render.print_json(found)
        return 0
    _table(found)
    return 0


def _table(types: list[JobType], *, revisions: bool = False) -> None:
    table = Table()
    columns = ("name", "rev", "version", "kind", "target", "queue", "pri", "tries", "timeout")
    for name in (*columns, "created" if revisions else "about"):
        table.add_column(name)
    for t in types:
        d = t.definition
        target = d.target if isinstance(d.target, str) else " ".join(d.target)
        about = d.title or d.description
        if t.paused:
            about = f"[paused] {about}"
        if t.archived_at is not None:
            about = f"[archived] {about}"
        last = t.created_at.strftime("%Y-%m-%d %H:%M:%S") if revisions else about
        table.add_row(
            d.name, str(t.revision), d.version, d.kind.value,
            Text(render.compact(target, 40)), d.queue, str(d.priority), str(d.max_tries),
            "" if d.timeout is None else f"{d.timeout:g}s", Text(last),
        )  # fmt: skip
    render.console().print(table)
