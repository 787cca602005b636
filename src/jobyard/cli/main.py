"""``jobyard``: one entry point, a sub-command per module in ``commands/``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jobyard.cli.commands import (
    control,
    db,
    demo,
    enqueue,
    follow,
    jobs,
    ps,
    queues,
    recipes,
    schedules,
    server,
    services,
    tokens,
    types,
    users,
    worker,
    workers,
)
from jobyard.core.errors import Invalid, JobyardError

# the order of `jobyard --help`: work with jobs first, then administration, then processes
COMMANDS = (enqueue, jobs, follow, ps, control, types, recipes, schedules, queues, workers,
            services, users, tokens, server, worker, db, demo)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobyard",
        description="jobyard: durable jobs you can see, follow, kill and trust.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if not args.verbose:  # a line per request is noise for people; -v shows them
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return int(args.run(args) or 0)
    except Invalid as exc:  # bad input, found here or by the server: like a usage error
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except JobyardError as exc:  # the server refused, or cannot be reached
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `jobyard jobs | head`: the reader left; not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
