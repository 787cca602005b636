"""``jobyard worker``: claim and run jobs of an app's types, with the engine duties."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
from typing import Any

from jobyard.cli.commands.options import add_database, settings_from


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "worker",
        help="run jobs of an app's types in child processes",
        epilog="example: jobyard worker --app myproject.jobs:app --queues default,emails "
        "--concurrency 4 --cpus 8 --mem 16384",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--app", required=True, metavar="MODULE:ATTR", help="the jobyard App")
    parser.add_argument(
        "--queues", default="default", metavar="A,B", help="queues to claim from (default: default)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, metavar="N", help="jobs at once (default: CPUs)"
    )
    parser.add_argument(
        "--no-engine",
        action="store_true",
        help="do not run engine duties (reaper, releaser, pruner) in this process",
    )
    parser.add_argument("--cluster", help="where it runs, shown in the process table (jobyard ps)")
    parser.add_argument("--image", help="the image it runs in, shown in the process table")
    parser.add_argument(
        "--cpus", type=float, default=None, metavar="N",
        help="cpus its jobs may reserve (default: the machine's)",
    )  # fmt: skip
    parser.add_argument(
        "--mem", type=float, default=None, metavar="MIB",
        help="MiB of memory its jobs may reserve (default: the machine's)",
    )  # fmt: skip
    parser.add_argument(
        "--disk", type=float, default=None, metavar="MIB",
        help="MiB of disk its jobs may reserve (default: free space in the temp directory)",
    )  # fmt: skip
    parser.add_argument(
        "--run-as", metavar="USER",
        help="run command jobs as USER (the worker must run as root); Python jobs run as the "
        "worker's own user",
    )  # fmt: skip
    add_database(parser)
    parser.set_defaults(run=run)


PARENT_ENV = "JOBYARD_STOP_WITH_PARENT"  # set by `jobyard up` to its pid for its own worker
PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """`jobyard up`'s worker stops (gracefully: SIGTERM) when `up` dies, even by SIGKILL,
    instead of running on as an orphan nobody stops (tests/chaos/test_kills.py)."""
    parent = os.environ.pop(PARENT_ENV, None)
    if not parent:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # no C library to ask (not Linux): the orphan check below still runs once
        libc = None
    prctl = getattr(libc, "prctl", None)
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if str(os.getppid()) != parent:  # `up` died before prctl took effect
        raise SystemExit("jobyard worker: the jobyard up that started it has gone")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: every other command of the CLI starts without them
    from jobyard.app import load_app
    from jobyard.engine import Engine, default_duties
    from jobyard.store import open_store
    from jobyard.worker import Worker

    _stop_with_parent()
    settings = settings_from(args)
    app = load_app(args.app)
    queues = tuple(q.strip() for q in args.queues.split(",") if q.strip())
    store = open_store(settings.database_url)
    store.schema_upgrade()
    engine = None if args.no_engine else Engine(store, default_duties(store, settings))
    worker = Worker(
        store, app, queues=queues, concurrency=args.concurrency, settings=settings,
        cluster=args.cluster, image=args.image, cpus=args.cpus, mem=args.mem, disk=args.disk,
        run_as=args.run_as,
    )  # fmt: skip
    worker.install_signal_handlers()
    if engine is not None:
        engine.start()
    try:
        worker.run()
    finally:
        if engine is not None:
            engine.stop()
        store.close()
    return 0
