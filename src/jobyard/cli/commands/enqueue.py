"""``jobyard enqueue``: ask the server to run a job."""

from __future__ import annotations

import argparse
import json
from typing import Any

from jobyard.cli import render
from jobyard.cli.commands.follow import follow_job
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid

EPILOG = """\
Arguments are key=value pairs (a value that reads as JSON is JSON, else a string) or one JSON
object with --args; both together merge. Prints the new job's id.

examples:
  jobyard enqueue reports.build customer=42 --queue reports --priority 10
  jobyard enqueue demo.sleep --args '{"sleep": 5}' --follow
  id=$(jobyard enqueue backup.db path=/tmp/db.dump --delay 3600)
  jobyard enqueue reports.build customer=42 --unique-key report:42 --unique-for 3600
  jobyard enqueue crm.sync account=7 --concurrency-key account:7 --cpus 2
"""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "enqueue",
        help="enqueue a job of a type, with arguments; optionally follow it",
        description="Enqueue a job of TYPE on the server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    parser.add_argument("type", metavar="TYPE", help="the job type, e.g. reports.build")
    parser.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="one argument each")
    parser.add_argument("--args", metavar="JSON", help="the arguments as a JSON object")
    parser.add_argument("--queue", help="instead of the type's queue")
    parser.add_argument("--priority", type=int, metavar="N", help="lower runs first")
    parser.add_argument("--delay", type=float, metavar="SECONDS", help="not before then")
    parser.add_argument("--run-at", metavar="TIME", help="not before this ISO time (with zone)")
    parser.add_argument("--tag", action="append", metavar="TAG", help="a tag (repeatable)")
    parser.add_argument("--unique-key", metavar="KEY", help="one unfinished job per key")
    parser.add_argument(
        "--unique-for", type=float, metavar="SECONDS",
        help="keep the unique key taken this long after the job's creation, even once finished",
    )  # fmt: skip
    parser.add_argument("--cpus", type=float, metavar="N", help="cpus it needs (the type's)")
    parser.add_argument("--mem", type=float, metavar="MIB", help="memory it needs (the type's)")
    parser.add_argument("--disk", type=float, metavar="MIB", help="disk it needs (the type's)")
    parser.add_argument(
        "--concurrency-key", metavar="KEY", help="jobs sharing a key run one at a time"
    )
    parser.add_argument(
        "--concurrency-limit", type=int, metavar="N", help="...or N at a time (with the key)"
    )
    parser.add_argument("--max-tries", type=int, metavar="N")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="per attempt")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="then follow it to its end (as `follow`)"
    )
    parser.set_defaults(run=run)


def job_args(raw: str | None, pairs: list[str]) -> Any:
    """The job's arguments from --args JSON and KEY=VALUE pairs."""
    args: Any = {}
    if raw is not None:
        try:
            args = json.loads(raw)
        except ValueError as exc:
            raise Invalid(f"--args is not JSON: {exc}", field="args") from exc
    if pairs and not isinstance(args, dict):
        raise Invalid("KEY=VALUE pairs need --args to be a JSON object", field="args")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Invalid(f"{pair!r} is not KEY=VALUE", field="args")
        try:
            args[key] = json.loads(value)
        except ValueError:
            args[key] = value
    return args


def run(args: argparse.Namespace) -> int:
    options = {
        "queue": args.queue,
        "priority": args.priority,
        "delay": args.delay,
        "run_at": args.run_at,
        "tags": args.tag,
        "unique_key": args.unique_key,
        "unique_for": args.unique_for,
        "cpus": args.cpus,
        "mem": args.mem,
        "disk": args.disk,
        "concurrency_key": args.concurrency_key,
        "concurrency_limit": args.concurrency_limit,
        "max_tries": args.max_tries,
        "timeout": args.timeout,
    }
    values = job_args(args.args, args.pairs)
    with connect(args) as client:
        job_id = client.enqueue(
            args.type, values, **{k: v for k, v in options.items() if v is not None}
        )
        if args.json and not args.follow:
            render.print_json({"id": job_id})
        elif not args.follow:
            print(job_id)
        else:
            if not args.json:
                render.console().print(f"enqueued job {job_id}")
            return follow_job(client, job_id, as_json=args.json)
    return 0
