"""The Scale dialect: seed 004's queue services and Scale's job, job type and recipe models.

``protocol`` holds Scale's parameters, times, pages and errors; ``models`` the translation of
jobs, executions and job types; ``routes`` the queue services, jobs and job types; ``recipes``
new-recipe, recipe types and recipes. Mounted at ``/scale/`` and ``/scale/v3/`` by
``jobyard.api.app``.
"""

from fastapi import APIRouter

from jobyard.api.dialects.scale.recipes import add_routes
from jobyard.api.dialects.scale.routes import PREFIXES, make_router


def _router(prefix: str) -> APIRouter:
    router = make_router(prefix)
    add_routes(router, prefix)
    return router


routers = [_router(prefix) for prefix in PREFIXES]

__all__ = ["routers"]
