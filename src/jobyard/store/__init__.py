"""Storage: the Store protocol and its backends. Imports only jobyard.core.

``open_store(url)`` picks the backend from the URL: ``sqlite:///path.db`` or ``postgresql://…``.
"""

from __future__ import annotations

from collections.abc import Callable

from jobyard.core.errors import Invalid
from jobyard.core.settings import DEFAULT_DATABASE_URL
from jobyard.store.base import Store

__all__ = ["Store", "open_store"]


def open_store(
    url: str = DEFAULT_DATABASE_URL, *, clock: Callable[[], float] | None = None
) -> Store:
    """A store for ``url``; it connects lazily and does not migrate (``schema_upgrade`` does)."""
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        from jobyard.store.sqlite.store import SqliteStore

        return SqliteStore(url, clock=clock)
    if scheme in {"postgresql", "postgres"}:
        from jobyard.store.postgres.store import PostgresStore

        return PostgresStore(url, clock=clock)
    raise Invalid(
        f"unknown database URL scheme {scheme!r}: use sqlite:///path or postgresql://…",
        field="database_url",
    )
