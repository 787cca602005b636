"""The transaction interface a SQL backend hands to the shared store logic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Row = dict[str, Any]


class Tx(Protocol):
    """One open transaction; statements by name from the backend's queries.sql."""

    def rows(self, query: str, /, **params: Any) -> list[Row]: ...

    def one(self, query: str, /, **params: Any) -> Row | None: ...

    def run(self, query: str, /, **params: Any) -> int: ...

    def many(self, query: str, params: Sequence[dict[str, Any]]) -> None: ...

    def sql(self, text: str, params: dict[str, Any]) -> list[Row]: ...
