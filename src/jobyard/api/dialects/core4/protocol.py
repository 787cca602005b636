"""core4's wire conventions: the reply envelope, arguments from query or body, errors, sign-in.

Every reply is ``{"_id", "version", "timestamp", "message", "code", "data"}``; a paginated one adds
``page_count``, ``total_count`` (a float, as core4's pager gives it), ``page``, ``per_page`` and
``count``; an error carries ``error`` instead of ``data``. ``_id`` names the request (an
ObjectId-like 24-digit hex string). Datetimes are naive UTC ISO strings, as core4's encoder writes
them.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from fastapi import Request, Response

from jobyard import __version__
from jobyard.api.auth import Authenticator, Principal, authenticate, client_address
from jobyard.api.session import SAFE_METHODS
from jobyard.core.models import Role

PREFIX = "/core4/api/v1"
LOGIN_URL = f"{PREFIX}/login"
VERSION = f"jobyard/{__version__}"
TRUE = frozenset({"yes", "y", "on", "1", "true", "t"})
FALSE = frozenset({"no", "n", "off", "0", "false", "f"})

_MISSING: Any = object()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process = os.urandom(5).hex()


class Core4Error(Exception):
    """A reply with an error envelope: ``status`` and the ``error`` text."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class Redirect(Exception):
    """Not signed in: core4 sends the client to its login URL (302)."""


def request_id(request: Request) -> str:
    """This request's ``_id``: 4 bytes of time, 5 of process, 3 of counter, like an ObjectId."""
    found: str | None = getattr(request.state, "core4_id", None)
    if found is None:
        count = next(_counter) & 0xFFFFFF
        found = f"{int(time.time()) & 0xFFFFFFFF:08x}{_process}{count:06x}"
        request.state.core4_id = found
    return found


def iso(value: datetime | None) -> str | None:
    """A datetime as core4 writes it: naive UTC, ``isoformat()``."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any) -> str:
    """Compact JSON, datetimes as naive UTC ISO strings."""
    return json.dumps(value, separators=(",", ":"), default=_default)


def _envelope(request: Request, code: int, **extra: Any) -> dict[str, Any]:
    body = {
        "_id": request_id(request),
        "version": VERSION,
        "timestamp": iso(datetime.now(UTC)),
        "message": HTTPStatus(code).phrase,
        "code": code,
    }
    body.update(extra)
    return body


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def reply(request: Request, data: Any) -> Response:
    return _json(_envelope(request, 200, data=data), 200)


@dataclass(frozen=True, slots=True)
class PageOf:
    """One page as core4's pager reports it (``page`` is 0-based)."""

    items: list[Any]
    total: int  # items matching the filter, on every page
    page: int
    per_page: int

    @property
    def page_count(self) -> int:
        return -(-self.total // self.per_page)


def page_reply(request: Request, page: PageOf) -> Response:
    body = _envelope(request, 200, data=page.items)
    body.update(
        page_count=page.page_count,
        total_count=float(page.total),
        page=page.page,
        per_page=page.per_page,
        count=len(page.items),
    )
    return _json(body, 200)


def error_reply(request: Request, status: int, error: str) -> Response:
    return _json(_envelope(request, status, error=error), status)


class Args:
    """Request arguments from the query string or the JSON body, even on GET (the body wins).

    Typed getters convert as core4's ``get_argument(as_type=…)`` does: booleans from
    yes/no, true/false, on/off, 1/0; dicts and lists from JSON text in the query string.
    """

    def __init__(
        self,
        values: Mapping[str, Any],
        body: Mapping[str, Any] | None = None,
        problem: Core4Error | None = None,
    ) -> None:
        self.values = dict(values)
        self.body = dict(body or {})  # the JSON body alone (where a password may come)
        # a body that is not a JSON object: told only to a caller signed in (require())
        self.problem = problem

    @classmethod
    async def of(cls, request: Request) -> Args:
        values: dict[str, Any] = dict(request.query_params.items())  # the last of repeated keys
        body: dict[str, Any] = {}
        raw = await request.body()
        if raw.strip():
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind == "application/x-www-form-urlencoded":
                body = dict(parse_qsl(raw.decode("utf-8", "replace")))
            else:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    return cls(values, {}, Core4Error(400, f"the request body is not JSON: {exc}"))
                if not isinstance(body, dict):
                    return cls(
                        values, {}, Core4Error(400, "the request body must be a JSON object")
                    )
            values.update(body)
        return cls(values, body)

    def _value(self, name: str, default: Any) -> Any:
        if self.problem is not None:
            raise self.problem
        value = self.values.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise Core4Error(400, f"Missing argument {name}")
            return default
        return value

    @staticmethod
    def _wrong(name: str, kind: str) -> Core4Error:
        return Core4Error(400, f"parameter [{name}] expected as_type [{kind}]")

    def flag(self, name: str, default: bool) -> bool:
        value = self._value(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise self._wrong(name, "bool")

    def integer(self, name: str, default: int) -> int:
        value = self._value(name, default)
        if isinstance(value, bool):
            raise self._wrong(name, "int")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise self._wrong(name, "int")

    def text(self, name: str, default: Any = _MISSING) -> Any:
        value = self._value(name, default)
        if value is default:
            return value
        if isinstance(value, dict | list):
            raise self._wrong(name, "str")
        return str(value)

    def _json(self, name: str, default: Any, kind: type) -> Any:
        value = self._value(name, default)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise self._wrong(name, kind.__name__) from None
        if not isinstance(value, kind):
            raise self._wrong(name, kind.__name__)
        return value

    def mapping(self, name: str, default: dict[str, Any]) -> dict[str, Any]:
        value: dict[str, Any] = self._json(name, default, dict)
        return value

    def sequence(self, name: str, default: list[Any]) -> list[Any]:
        value: list[Any] = self._json(name, default, list)
        return value


def _sign_in(request: Request, args: Args) -> Principal | None:
    """HTTP Basic or Bearer (``jobyard.api.auth``), else a ``token`` argument or cookie, else
    ``username`` and ``password`` in the JSON body: the ways core4 accepts.

    The ``token`` cookie signs in reads only: a browser sends cookies with a form another site
    posts here, and a core4 change takes form bodies, so a change needs the token named.
    """
    principal = authenticate(request)
    if principal is not None:
        return principal
    auth: Authenticator = request.app.state.authenticator
    address = client_address(request)
    cookie = request.cookies.get("token") if request.method in SAFE_METHODS else None
    token = args.values.get("token") or cookie
    if isinstance(token, str) and token:
        principal = auth.bearer(token)
    else:
        username, password = args.body.get("username"), args.body.get("password")
        if isinstance(username, str) and isinstance(password, str) and username:
            principal = auth.basic(username, password, address)
    request.state.principal = principal
    return principal


async def sign_in(request: Request, args: Args) -> Principal | None:
    return await to_thread.run_sync(_sign_in, request, args)


async def require(request: Request, args: Args, role: Role) -> Principal:
    """The signed-in principal; not signed in: a redirect to the login URL; too weak a role: 403."""
    principal = await sign_in(request, args)
    if principal is None:
        raise Redirect()
    if not principal.role.allows(role):
        raise Core4Error(
            403, f"{principal.name} is {principal.role.value}; this needs {role.value}"
        )
    if args.problem is not None:
        raise args.problem
    return principal
