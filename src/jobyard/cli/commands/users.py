"""``jobyard users add|list|remove|set-role|set-password``: who may sign in (admins only)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from rich.table import Table

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid
from jobyard.core.models import Role

ROLES = tuple(r.value for r in Role)
EPILOG = """\
Roles: viewer (read everything), operator (and enqueue and control jobs and queues), admin (and
manage users and tokens). Passwords are read from a prompt, or from standard input with
--password-stdin; never from the command line.

examples:
  jobyard users list
  jobyard users add alice --role operator
  echo "$PASSWORD" | jobyard users add ci --role viewer --password-stdin
  jobyard users set-role alice admin
  jobyard users remove alice
"""


def add_parser(sub: Any) -> None:
    users = sub.add_parser(
        "users",
        help="manage users and their roles (admins only)",
        description="Manage the users who may sign in, and their roles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str, example: str, *, json: bool = False) -> Any:
        parser = actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[CONNECTION, JSON_OUTPUT] if json else [CONNECTION],
        )
        return parser

    listing = action("list", "list users and roles", "jobyard users list --json", json=True)
    listing.set_defaults(run=run_list)

    add = action("add", "add a user", "jobyard users add alice --role operator")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=ROLES, default="viewer", help="(default: viewer)")
    _password_option(add)
    add.set_defaults(run=run_add)

    remove = action("remove", "remove a user and revoke their tokens", "jobyard users remove bob")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=run_remove)

    role = action("set-role", "change a user's role", "jobyard users set-role alice admin")
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", choices=ROLES, metavar="ROLE", help=", ".join(ROLES))
    role.set_defaults(run=run_set_role)

    password = action(
        "set-password", "change a user's password", "jobyard users set-password alice"
    )
    password.add_argument("name", metavar="NAME")
    _password_option(password)
    password.set_defaults(run=run_set_password)


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise Invalid("the passwords differ", field="password")
    else:
        raise Invalid("no terminal to ask for a password: use --password-stdin", field="password")
    if len(password) < 8:
        raise Invalid("a password needs at least 8 characters", field="password")
    return password


def run_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        users = client.users()
    if args.json:
        render.print_json(users)
        return 0
    table = Table()
    for name in ("user", "role", "created"):
        table.add_column(name)
    for u in users:
        table.add_row(u.name, u.role.value, render.when(u.created_at))
    render.console().print(table)
    return 0


def run_add(args: argparse.Namespace) -> int:
    password = read_password(args)
    with connect(args) as client:
        user = client.add_user(args.name, role=args.role, password=password)
    render.console().print(f"added {user.name} ({user.role.value})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.remove_user(args.name)
    render.console().print(f"removed {args.name}")
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    with connect(args) as client:
        user = client.update_user(args.name, role=args.role)
    render.console().print(f"{user.name} is {user.role.value}")
    return 0


def run_set_password(args: argparse.Namespace) -> int:
    password = read_password(args)
    with connect(args) as client:
        client.update_user(args.name, password=password)
    render.console().print(f"changed the password of {args.name}")
    return 0
