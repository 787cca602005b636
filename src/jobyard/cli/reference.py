"""The CLI reference page, from ``--help``: ``python -m jobyard.cli.reference > docs/cli.md``.

Every command and sub-command in the order of ``jobyard --help``, with its help text as
argparse prints it at 100 columns. tests/cli/test_reference.py fails when docs/cli.md is stale.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from jobyard.cli.main import build_parser

WIDTH = "100"
HEADER = """\
# jobyard command line

Generated from `--help` by `python -m jobyard.cli.reference > docs/cli.md`; do not edit by hand
(a test fails when this page is stale).

Commands that talk to a server (everything but `up`, `server`, `worker`, `db` and `demo`) take the
same connection options: `--url` (`JOBYARD_URL`, default `http://127.0.0.1:7420`), `--token`
(`JOBYARD_TOKEN`) or `--user` (`JOBYARD_USER`, with `JOBYARD_PASSWORD` or a prompt), else the
keys `url`, `token`, `user` and `password` of `~/.config/jobyard/config.toml`. Errors print
`error: <message>` on standard error and exit 2 for bad input, 1 when the server refuses.
"""


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases once
                yield from _commands(child)


def render() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal; the page must not depend on it
    try:
        parts = [HEADER]
        for command in _commands(build_parser()):
            parts.append(f"\n## {command.prog}\n\n```text\n{command.format_help().rstrip()}\n```\n")
        return "".join(parts)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


if __name__ == "__main__":
    print(render(), end="")
