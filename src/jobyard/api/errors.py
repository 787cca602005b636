"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobyard.core.errors import JobyardError

log = logging.getLogger("jobyard.api")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


def _field(error: Any) -> str:
    if error.get("type") == "json_invalid":  # its loc ends in a character offset, not a field
        return "body"
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(JobyardError)
    async def jobyard_error(request: Request, exc: JobyardError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI reads a JSON body before a route's dependencies run: a caller who may not use
        # the route must get its 401 or 403, not a description of what the body should be
        from jobyard.api.auth import refusal  # auth answers with this module's shapes

        refused = await to_thread.run_sync(refusal, request)
        if refused is not None:
            return await http_error(request, refused)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _field(first)
        return error_response(
            422,
            "invalid",
            f"{field}: {first.get('msg', 'invalid')}",
            {"field": field, "errors": [
                {"field": _field(e), "message": e.get("msg")} for e in exc.errors()
            ]},
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "too_large", 429: "rate_limited"}.get(exc.status_code, "error")  # fmt: skip
        response = error_response(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "an unexpected error occurred; see the server log")
