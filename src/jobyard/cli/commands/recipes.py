"""``jobyard recipes``: recipe types (graphs of jobs) and the recipes made from them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from jobyard.cli import render
from jobyard.cli.commands.options import CONNECTION, JSON_OUTPUT, connect
from jobyard.core.errors import Invalid
from jobyard.core.recipes import Recipe, RecipeType

EPILOG = """\
A recipe type is a graph of jobs (Scale's recipe definition, in JSON); a recipe is one run of it.
Creating a recipe makes all its jobs at once: those without parents are queued, the others wait
(blocked) until their parents complete, and take their parents' outputs as inputs.

examples:
  jobyard recipes define thumbnails.json
  jobyard recipes create thumbnails --input image=photo.png
  jobyard recipes list --status running
  jobyard recipes show 12
  jobyard recipes requeue 12
"""


def add_parser(sub: Any) -> None:
    recipes = sub.add_parser(
        "recipes",
        help="recipe types and recipes: graphs of jobs run in dependency order",
        description="Define recipe types; create, show, cancel and requeue recipes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = recipes.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, summary: str, example: str) -> Any:
        return actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.",
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[CONNECTION, JSON_OUTPUT],
        )

    listing = action("list", "list recipes, newest first", "jobyard recipes list --status failed")
    listing.add_argument("--type", metavar="NAME", help="recipes of this recipe type")
    listing.add_argument(
        "--status", metavar="A,B", help="running, completed, failed and/or canceled"
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.set_defaults(run=run_list)

    show = action("show", "show a recipe's jobs and their states", "jobyard recipes show 12")
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(run=run_show)

    create = action(
        "create",
        "create a recipe: all its jobs",
        "jobyard recipes create thumbnails -i image=a.png",
    )
    create.add_argument("type", metavar="TYPE", help="the recipe type")
    create.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a recipe input (VALUE is read as JSON, else as text); repeat for more",
    )
    create.add_argument("--inputs", metavar="JSON", help="all inputs as one JSON object")
    create.set_defaults(run=run_create)

    for name, summary in (
        ("cancel", "cancel a recipe's unfinished jobs (a running one is killed)"),
        ("requeue", "requeue a recipe's failed and canceled jobs"),
    ):
        control = action(name, summary, f"jobyard recipes {name} 12")
        control.add_argument("id", type=int, metavar="ID")
        control.set_defaults(run=run_control)

    types = action("types", "list recipe types", "jobyard recipes types")
    types.set_defaults(run=run_types)

    type_ = action("type", "show a recipe type's definition", "jobyard recipes type thumbnails")
    type_.add_argument("name", metavar="NAME")
    type_.add_argument("--revision", type=int, help="an earlier revision")
    type_.set_defaults(run=run_type)

    define = action(
        "define",
        "create or change a recipe type from a JSON file ('-': standard input)",
        "jobyard recipes define thumbnails.json",
    )
    define.add_argument("file", metavar="FILE")
    define.set_defaults(run=run_define)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if args.inputs:
        try:
            inputs = json.loads(args.inputs)
        except ValueError as exc:
            raise Invalid(f"--inputs is not JSON: {exc}", field="inputs") from exc
        if not isinstance(inputs, dict):
            raise Invalid("--inputs is a JSON object of name: value", field="inputs")
    for item in args.input:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise Invalid(f"--input takes NAME=VALUE, not {item!r}", field="input")
        inputs[name] = _value(value)
    return inputs


def run_list(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise Invalid("--limit is from 1 to 1000", field="limit")
    with connect(args) as client:
        page = client.recipes(per_page=args.limit, type=args.type, status=args.status)
    if args.json:
        render.print_json(list(page.results))
        return 0
    table = Table()
    for name in ("id", "type", "rev", "status", "jobs", "states", "created", "by"):
        table.add_column(name, justify="right" if name in ("id", "rev", "jobs") else "left")
    for r in page.results:
        states = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items()))
        table.add_row(
            str(r.id), r.type, str(r.type_revision), render.status(r.status.value), str(r.jobs),
            states, render.when(r.created_at), r.created_by or "",
        )  # fmt: skip
    render.console().print(table)
    return 0


def _show(recipe: Recipe) -> None:
    out = render.console()
    line = Text(f"recipe {recipe.id} ({recipe.type} rev {recipe.type_revision}) ")
    line.append_text(render.status(recipe.status.value))
    if recipe.canceled_by:
        line.append(f" by {recipe.canceled_by}")
    out.print(line)
    if recipe.inputs:
        out.print(Text(f"inputs: {render.compact(recipe.inputs, 200)}"))
    table = Table()
    for name in ("job", "name", "type", "status", "waits for"):
        table.add_column(name, justify="right" if name == "job" else "left")
    for node in recipe.nodes:
        table.add_row(
            str(node.job_id), node.name, node.type, render.status(node.status.value),
            ", ".join(node.parents),
        )  # fmt: skip
    out.print(table)


def run_show(args: argparse.Namespace) -> int:
    with connect(args) as client:
        recipe = client.recipe(args.id)
    if args.json:
        render.print_json(recipe)
    else:
        _show(recipe)
    return 0


def run_create(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    with connect(args) as client:
        recipe = client.create_recipe(args.type, inputs)
    if args.json:
        render.print_json(recipe)
    else:
        _show(recipe)
    return 0


def run_control(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.action == "cancel":
            recipe = client.cancel_recipe(args.id)
        else:
            recipe = client.requeue_recipe(args.id)
    if args.json:
        render.print_json(recipe)
    else:
        _show(recipe)
    return 0


def _type_json(t: RecipeType) -> dict[str, Any]:
    return {**t.definition.to_dict(), "revision": t.revision, "created_at": t.created_at}


def run_types(args: argparse.Namespace) -> int:
    found: list[RecipeType] = []
    with connect(args) as client:
        page = 1
        while True:
            listing = client.recipe_types(page=page, per_page=1000)
            found.extend(listing.results)
            if not listing.next:
                break
            page += 1
    if args.json:
        render.print_json([_type_json(t) for t in found])
        return 0
    table = Table()
    for name in ("name", "rev", "version", "jobs", "inputs", "about"):
        table.add_column(name)
    for t in found:
        d = t.definition
        table.add_row(
            d.name, str(t.revision), d.version, str(len(d.graph.jobs)),
            ", ".join(i.name for i in d.graph.inputs), Text(d.title or d.description),
        )  # fmt: skip
    render.console().print(table)
    return 0


def run_type(args: argparse.Namespace) -> int:
    with connect(args) as client:
        t = client.recipe_type(args.name, revision=args.revision)
    render.print_json(_type_json(t))
    return 0


def run_define(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as exc:
        raise Invalid(f"cannot read {args.file}: {exc}", field="file") from exc
    try:
        definition = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"{args.file} is not JSON: {exc}", field="file") from exc
    if not isinstance(definition, dict):
        raise Invalid(f"{args.file}: a recipe type is a JSON object", field="file")
    with connect(args) as client:
        t = client.create_recipe_type(definition)
    if args.json:
        render.print_json(_type_json(t))
    else:
        render.console().print(f"recipe type {t.name} revision {t.revision}")
    return 0
