"""The dashboard: a page for people, served at /ui/ by the API app.

It is static files only (``static/``: one HTML shell, plain ES modules, one style sheet; no build
step, nothing fetched from elsewhere at run time). The page reads and acts only through the
public API under /api/v1 and its event streams, signed in with the session cookie of
``/api/v1/session`` (:mod:`jobyard.api.session`), exactly as any other client could. Every path
under /ui/ that is not a file is the shell, so the page's own URLs (``/ui/jobs?status=failed``)
can be bookmarked and shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
# What the page may load and where it may connect: only this server. No inline script or style.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",  # revalidate (ETag): an upgraded server serves its own files
}


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response: Response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the dashboard at /ui/ (assets under /ui/static/)."""
    app.mount("/ui/static", _Assets(directory=STATIC), name="ui-static")

    @app.get("/ui/{page:path}", include_in_schema=False)
    def shell(page: str) -> Any:
        """The page itself; it finds its view from the URL."""
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)
