"""Loads named SQL statements from a backend's ``queries.sql``, once, at import.

A statement starts at a ``-- name: <name>`` line; the comment lines after it say why. Statements
of one subject may live in their own file under the backend's ``queries/`` folder
(``queries/schedules.sql``); every name is unique across the files.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, str]:
    root = resources.files(package)
    files = [root.joinpath(filename)]
    folder = root.joinpath("queries")
    if folder.is_dir():
        files += sorted(
            (f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
        )
    queries: dict[str, str] = {}
    for file in files:
        parts = _NAME.split(file.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise ValueError(f"{package}/{file.name}: statement {name!r} defined twice")
            queries[name] = body.strip().rstrip(";")
    return queries


def load_migrations(package: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for each ``migrations/NNNN_name.sql``, in order.

    Versions only increase; a gap is allowed (numbers reserved by work that lands later), a
    repeated number is not.
    """
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] < 1):
        raise ValueError(f"{package}: migration numbers must be unique and from 1: {versions}")
    return found
