"""Scale's wire conventions (``util/rest.py``, ``util/parse.py``, DRF 3.3): parameters, times,
pages and errors.

- A parameter comes from the query string, else from the JSON body; a list parameter repeats in
  the query (``?job_type_id=1&job_type_id=2``) or is a JSON list in the body.
- A time is an ISO-8601 duration back from now (``P7D``, ``PT3H0M0S``), or a datetime that
  carries ``Z`` or ``+`` (``-05:00`` is refused, as Scale refuses it).
- Errors are ``{"detail": "..."}`` with Scale's messages; 404 is ``{"detail": "Not found."}``.
- Lists are pages: ``page`` from 1, ``page_size`` 100 (at most 1000), absolute ``next`` and
  ``previous`` URLs, and an out-of-range page is 404 ``Invalid page.``
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from jobyard.core.errors import JobyardError, NotFound
from jobyard.core.times import parse_duration
from jobyard.core.times import parse_moment as _moment

log = logging.getLogger("jobyard.api.scale")
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_RANGE = timedelta(days=31)
MAX_INT = 2**63 - 1


class ScaleError(Exception):
    """A reply ``{"detail": message}`` (or a bare JSON string, as new-job's 400) with a status."""

    def __init__(self, status: int, detail: Any, *, bare: bool = False) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.bare = bare


def bad(message: str) -> ScaleError:
    """Scale's BadParameter: 400."""
    return ScaleError(400, message)


def not_found() -> ScaleError:
    return ScaleError(404, "Not found.")


class ScaleRoute(APIRoute):
    """Every failure as Scale's ``{"detail": ...}``."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except ScaleError as exc:
                body = exc.detail if exc.bare else {"detail": exc.detail}
                return JSONResponse(body, status_code=exc.status)
            except NotFound:
                return JSONResponse({"detail": "Not found."}, status_code=404)
            except JobyardError as exc:
                status = 400 if exc.http_status in (409, 422) else exc.http_status
                return JSONResponse({"detail": exc.message}, status_code=status)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                return JSONResponse({"detail": str(first.get("msg", "Invalid request."))}, 400)
            except HTTPException as exc:
                response = JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)
                for name, value in (exc.headers or {}).items():
                    response.headers[name] = value
                return response
            except Exception:
                log.exception("scale %s %s failed", request.method, request.url.path)
                return JSONResponse({"detail": "A server error occurred."}, status_code=500)

        return handle


class Params:
    """A request's parameters: the query string first, then the JSON body (as Scale reads)."""

    def __init__(self, request: Request, body: Any) -> None:
        self.query = request.query_params
        self.body = body if isinstance(body, dict) else {}

    @classmethod
    async def of(cls, request: Request) -> Params:
        raw = await request.body()
        if not raw:
            return cls(request, {})
        try:
            body = json.loads(raw)
        except ValueError:
            raise bad("JSON parse error - the request body is not JSON") from None
        if not isinstance(body, dict):
            raise bad("The request body must be a JSON object")
        return cls(request, body)

    def has(self, name: str) -> bool:
        return name in self.query or self.body.get(name) is not None

    def raw(self, name: str) -> Any:
        if name in self.query:
            return self.query.get(name)
        return self.body.get(name)

    def raw_list(self, name: str) -> list[Any]:
        if name in self.query:
            return list(self.query.getlist(name))
        value = self.body.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def integer(self, name: str, *, required: bool = True) -> int | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise bad(f'Missing required parameter: "{name}"')
            return None
        return _int(value, name)

    def integers(self, name: str) -> list[int]:
        return [_int(v, name) for v in self.raw_list(name)]

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not isinstance(value, str):
            raise bad(f'Parameter must be a string: "{name}"')
        return value

    def texts(self, name: str) -> list[str]:
        values = self.raw_list(name)
        if not all(isinstance(v, str) for v in values):
            raise bad(f'Parameter must be a list of strings: "{name}"')
        return values

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.raw(name)
        if value is None:
            raise bad(f'Missing required parameter: "{name}"')
        if not isinstance(value, dict):
            raise bad(f'Parameter must be a valid JSON object: "{name}"')
        return value

    def timestamp(self, name: str, *, now: float) -> float | None:
        """A datetime with ``Z`` or ``+``, or a duration before now; None when not given."""
        value = self.raw(name)
        if value is None:
            return None
        text = str(value).strip()
        message = f"Invalid ISO timestamp format for parameter: {name}"
        if text.startswith("P"):
            if parse_duration(text) is None:
                raise bad(message)
        elif "Z" not in text.upper() and "+" not in text:
            raise bad(message)
        try:
            return _moment(text, now=now, field=name)
        except JobyardError:
            raise bad(message) from None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad(f'Parameter must be a valid integer: "{name}"')
    try:
        number = int(value) if isinstance(value, str | int) else None
    except ValueError:
        number = None
    if number is None or abs(number) > MAX_INT:
        raise bad(f'Parameter must be a valid integer: "{name}"')
    return number


def check_time_range(started: float | None, ended: float | None) -> None:
    """Scale's check_time_range with its 31-day limit and messages."""
    if started is None or ended is None:
        return
    if started == ended:
        raise bad("Start and end values must be different")
    if started > ended:
        raise bad("Start time must come before end time")
    if timedelta(seconds=ended - started) > MAX_RANGE:
        raise bad(f"Time range must be between 0 and {MAX_RANGE}")


def page_args(params: Params) -> tuple[int, int]:
    page = params.raw("page")
    size = params.raw("page_size")
    try:
        number = 1 if page is None else int(page)
    except (TypeError, ValueError):
        raise ScaleError(404, "Invalid page.") from None
    try:
        per = PAGE_SIZE if size is None else int(size)
    except (TypeError, ValueError):
        per = PAGE_SIZE
    if number < 1 or number > 10**9:
        raise ScaleError(404, "Invalid page.")
    if per < 1:  # DRF ignores a page_size it cannot use
        per = PAGE_SIZE
    return number, min(per, MAX_PAGE_SIZE)


def page_reply(
    request: Request, *, page: int, size: int, count: int, results: Sequence[Any]
) -> dict[str, Any]:
    """DRF's PageNumberPagination: absolute next/previous, 404 past the last page."""
    last = max(1, -(-count // size))
    if page > last:
        raise ScaleError(404, "Invalid page.")
    url = request.url
    nxt = str(url.include_query_params(page=page + 1)) if page < last else None
    if page <= 1:
        prev = None
    elif page == 2:
        prev = str(url.remove_query_params("page"))
    else:
        prev = str(url.include_query_params(page=page - 1))
    return {"count": count, "next": nxt, "previous": prev, "results": list(results)}
