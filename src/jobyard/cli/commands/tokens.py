"""``jobyard tokens create|list|revoke``: API tokens for scripts and CI (admins only)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect

EPILOG = """\
A token acts as its user, with that user's role. `create` prints it once: only its hash is kept.

examples:
  jobyard tokens create ci --user ci
  export JOBYARD_TOKEN=$(jobyard tokens create laptop)
  jobyard tokens list --user ci
  jobyard tokens revoke 7
"""


def add_parser(sub: Any) -> None:
    tokens = sub.add_parser(
        "tokens",
        help="create, list and revoke API tokens (admins only)",
        description="Manage API tokens.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="create a token and print it (the only time it is shown)",
        description="Create a token named NAME and print it.",
        epilog="example:\n  jobyard tokens create ci --user ci",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    create.add_argument("name", metavar="NAME", help="a label to tell tokens apart")
    create.add_argument("--for", dest="owner", metavar="USER", help="(default: you)")
    create.set_defaults(run=run_create)

    listing = actions.add_parser(
        "list",
        help="list tokens (never their values)",
        description="List live tokens, or every token with --all.",
        epilog="example:\n  jobyard tokens list --for ci",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION, JSON_OUTPUT],
    )
    listing.add_argument("--for", dest="owner", metavar="USER", help="only this user's tokens")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.set_defaults(run=run_list)

    revoke = actions.add_parser(
        "revoke",
        help="revoke a token by id",
        description="Revoke token ID: requests with it are refused from now on.",
        epilog="example:\n  jobyard tokens revoke 7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[CONNECTION],
    )
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.set_defaults(run=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    with connect(args) as client:
        new = client.create_token(args.name, user=args.owner)
    if args.json:
        render.print_json({**render.plain(new.token), "token": new.value})
    else:
        print(new.value)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        tokens = client.tokens(user=args.owner, include_revoked=args.all)
    if args.json:
        render.print_json(tokens)
        return 0
    table = Table()
    for name in ("id", "user", "name", "created", "revoked"):
        table.add_column(name)
    for t in tokens:
        table.add_row(
            str(t.id), t.user, Text(t.name), render.when(t.created_at), render.when(t.revoked_at)
        )
    render.console().print(table)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.revoke_token(args.id)
    render.console().print(f"revoked token {args.id}")
    return 0
