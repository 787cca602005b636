"""Request dependencies: the store and settings the app was built with, and page links."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from jobyard.core.settings import Settings
from jobyard.store.base import Store


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(store_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
MAX_ID = 2**63 - 1  # the largest id either database can hold; a bigger one is invalid, not a crash
JobIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a job id")]
PageQ = Annotated[int, Query(ge=1, le=10**9, description="1-based page number")]
PerPageQ = Annotated[int, Query(ge=1, le=1000, description="items per page (at most 1000)")]


def page_links(
    request: Request, *, page: int, per_page: int, count: int
) -> tuple[str | None, str | None]:
    """(next, previous) URLs keeping every other query parameter."""
    last = max(1, -(-count // per_page))
    nxt = str(request.url.include_query_params(page=page + 1)) if page < last else None
    prev = str(request.url.include_query_params(page=min(page - 1, last))) if page > 1 else None
    return nxt, prev


def csv(values: list[str] | None) -> tuple[str, ...]:
    """``?status=a,b&status=c`` → ("a", "b", "c")."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)
