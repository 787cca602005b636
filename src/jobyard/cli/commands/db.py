"""``jobyard db upgrade`` and ``jobyard db version``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from jobyard.cli.commands.options import add_database, settings_from

if TYPE_CHECKING:
    from jobyard.store import Store


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "db",
        help="database schema: upgrade, version",
        epilog="example: jobyard db upgrade --database-url postgresql://postgres@localhost/jobs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="apply every pending migration")
    upgrade.add_argument("--to", type=int, metavar="N", help="stop at migration N")
    add_database(upgrade)
    upgrade.set_defaults(run=run_upgrade)
    version = actions.add_parser("version", help="print the schema version")
    add_database(version)
    version.set_defaults(run=run_version)


def _open(args: argparse.Namespace) -> Store:
    from jobyard.store import open_store  # here: the CLI's other commands start without it

    return open_store(settings_from(args).database_url)


def run_upgrade(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        applied = store.schema_upgrade(args.to)
        version = store.schema_version()
    finally:
        store.close()
    if applied:
        print(f"applied migrations {', '.join(map(str, applied))}; schema is at version {version}")
    else:
        print(f"schema is up to date at version {version}")
    return 0


def run_version(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        print(store.schema_version())
    finally:
        store.close()
    return 0
