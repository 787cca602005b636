"""``jobyard up`` (server, engine and a worker on one machine); ``jobyard server`` (API alone)."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from jobyard.cli.commands.options import add_database, settings_from
from jobyard.cli.commands.worker import PARENT_ENV
from jobyard.core.errors import Duplicate
from jobyard.core.models import Role
from jobyard.core.settings import Settings

if TYPE_CHECKING:
    from jobyard.store import Store

DEFAULT_PORT = 7420
SERVER_SECRETS = frozenset({
    "JOBYARD_ADMIN_PASSWORD", "JOBYARD_ADMIN_TOKEN", "JOBYARD_SECRET_KEY",
    "JOBYARD_FAKTORY_PASSWORD", "FAKTORY_PASSWORD",
})  # fmt: skip


def add_parser(sub: Any) -> None:
    up = sub.add_parser(
        "up",
        help="run the API server, the engine and a worker: everything on one machine",
        epilog="example: jobyard up --app myproject.jobs:app --concurrency 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _server_options(up)
    up.add_argument("--app", metavar="MODULE:ATTR", help="run a worker for this App's types")
    up.add_argument("--queues", default="default", metavar="A,B", help="the worker's queues")
    up.add_argument("--concurrency", type=int, default=None, metavar="N")
    up.add_argument(
        "--demo", action="store_true", help="enqueue a batch of demo jobs at start (make run)"
    )
    up.set_defaults(run=run_up)

    server = sub.add_parser(
        "server",
        help="run the API server alone (many may share one PostgreSQL)",
        epilog="example: jobyard server --database-url postgresql://db/jobs --port 7420",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _server_options(server)
    server.add_argument(
        "--engine",
        action="store_true",
        help="also run engine duties (one engine, the leader, runs them all)",
    )
    server.set_defaults(run=run_server)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (7420)")
    parser.add_argument(
        "--faktory-port",
        type=int,
        default=None,
        metavar="PORT",
        help="port for Faktory clients (7419; 0 turns the listener off). Its password comes "
        "from JOBYARD_FAKTORY_PASSWORD or FAKTORY_PASSWORD; without one the listener is off "
        "unless this option is given, and then listens on a loopback --host only",
    )
    add_database(parser)


def bootstrap_admin(store: Store, *, url: str) -> None:
    """On first start: the admin user (password from the env, or generated and shown once)."""
    if not store.user_list():
        from jobyard.api.auth import hash_password

        password = os.environ.get("JOBYARD_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        try:
            store.user_add("admin", role=Role.ADMIN, password_hash=hash_password(password))
        except Duplicate:  # another server created it at the same moment
            pass
        else:
            shown = "from JOBYARD_ADMIN_PASSWORD" if "JOBYARD_ADMIN_PASSWORD" in os.environ else (
                f"password {password}"
            )  # fmt: skip
            print(f"jobyard: created user admin ({shown}); sign in at {url}", flush=True)
    token = os.environ.get("JOBYARD_ADMIN_TOKEN")
    if token:
        from jobyard.api.auth import token_hash

        if store.token_lookup(token_hash(token)) is None:
            store.token_create("admin", token_hash=token_hash(token), name="JOBYARD_ADMIN_TOKEN")


def _serve(store: Store, settings: Settings, args: argparse.Namespace, *, engine: bool) -> None:
    import uvicorn

    from jobyard.api.app import create_app
    from jobyard.engine import Engine, default_duties

    duties = Engine(store, default_duties(store, settings)) if engine else None
    if duties is not None:
        duties.start()
    faktory = _start_faktory(store, settings, args)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it
    # found installed. With the default one the process would die right there, skipping every
    # `finally` below and in run_up: the engine, the store and `up`'s worker left running.
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        uvicorn.run(
            create_app(store, settings),
            host=args.host,
            port=args.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    finally:
        if faktory is not None:
            faktory.stop()
        if duties is not None:
            duties.stop()


def _start_faktory(store: Store, settings: Settings, args: argparse.Namespace) -> Any:
    """The Faktory listener, unless --faktory-port 0. The default port already taken is a
    warning (another jobyard or a Faktory runs there); a port asked for by name is an error.

    The Faktory port has one password and no roles: whoever knows it may push, fetch and flush.
    So without a password it listens only when asked for by ``--faktory-port``, and then only
    on a loopback ``--host``; the default is off (docs/operations/security.md).
    """
    from jobyard.faktory import FaktoryServer, protocol
    from jobyard.faktory.config import config_from_env

    port = protocol.DEFAULT_PORT if args.faktory_port is None else args.faktory_port
    if port == 0:
        return None
    if not 0 < port < 65536:
        raise SystemExit(f"jobyard: --faktory-port is a port from 1 to 65535, or 0 (off): {port}")
    config = config_from_env()
    if not config.password:
        if args.faktory_port is None:
            print(
                "jobyard: Faktory listener off: no JOBYARD_FAKTORY_PASSWORD is set (with "
                "--faktory-port it listens without one, on a loopback --host only)",
                flush=True,
            )
            return None
        if not _loopback(args.host):
            raise SystemExit(
                f"jobyard: refusing to listen for Faktory clients on {args.host} without a "
                "password: set JOBYARD_FAKTORY_PASSWORD (or FAKTORY_PASSWORD), or use a "
                "loopback --host"
            )
    server = FaktoryServer(store, settings, host=args.host, port=port, config=config)
    try:
        server.start()
    except OSError as exc:
        server.stop()
        if args.faktory_port is not None:
            message = f"jobyard: cannot listen for Faktory clients on port {port}: {exc}"
            raise SystemExit(message) from exc
        print(f"jobyard: Faktory listener off: port {port} is taken ({exc.strerror})", flush=True)
        return None
    unguarded = "" if config.password else " (no password: any local process may use it)"
    print(f"jobyard: Faktory clients on tcp://{args.host}:{server.port}{unguarded}", flush=True)
    return server


def _loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) reaches only this machine."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)  # a requested stop, done cleanly, is a success


def _prepare(args: argparse.Namespace) -> tuple[Store, Settings, str]:
    settings = settings_from(args)
    from jobyard.store import open_store  # here: the CLI's other commands start without it

    store = open_store(settings.database_url)
    store.schema_upgrade()
    url = f"http://{args.host}:{args.port}/"
    bootstrap_admin(store, url=url)
    return store, settings, url


def run_server(args: argparse.Namespace) -> int:
    store, settings, url = _prepare(args)
    print(f"jobyard server on {url} ({settings.database_url})", flush=True)
    try:
        _serve(store, settings, args, engine=args.engine)
    finally:
        store.close()
    return 0


def run_up(args: argparse.Namespace) -> int:
    store, settings, url = _prepare(args)
    worker = None
    if args.app:
        if args.demo:
            from jobyard.cli.commands.demo import enqueue_demo

            enqueue_demo(store)
        command = [
            sys.executable, "-m", "jobyard.cli.main", "worker", "--app", args.app,
            "--queues", args.queues, "--no-engine", "--database-url", settings.database_url,
        ]  # fmt: skip
        if args.concurrency:
            command += ["--concurrency", str(args.concurrency)]
        # its jobs inherit the worker's environment: the server's secrets stay with the server
        env = {k: v for k, v in os.environ.items() if k not in SERVER_SECRETS}
        # the worker stops with `up`, even when `up` is SIGKILLed (commands/worker.py)
        env[PARENT_ENV] = str(os.getpid())
        worker = subprocess.Popen(command, env=env)
    print(
        f"jobyard up on {url} ({settings.database_url})"
        + (f", worker for {args.app}" if args.app else ""),
        flush=True,
    )
    try:
        _serve(store, settings, args, engine=True)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=settings.shutdown_grace + 5)
            except subprocess.TimeoutExpired:
                worker.kill()
        store.close()
    return 0
