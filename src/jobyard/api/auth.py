"""Who is asking, and may they? HTTP Basic (users), Bearer tokens, dashboard sessions; three roles.

Passwords are hashed with argon2id. Verifying one costs tens of milliseconds on purpose, so a
successful check is remembered for a minute (keyed by a SHA-256 of user and password), which keeps
a script that sends Basic auth on every request fast without weakening the stored hash.

Failed password checks are counted per user name and per client address (:class:`LoginLimiter`);
past the limit a password is not even checked and the answer is 429 with ``Retry-After``. A
remembered success still passes, so a script that knows its password keeps working while someone
guesses at its name. Tokens are 256 random bits, looked up by their SHA-256: nothing to guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request

from jobyard.api import session
from jobyard.api.limits import LoginLimiter, too_many
from jobyard.core.errors import NotFound
from jobyard.core.models import Role
from jobyard.store.base import Store

TOKEN_PREFIX = "jy_"
_CACHE_SECONDS = 60.0
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_token() -> tuple[str, str]:
    """(token, its hash): the token is shown once; only the hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    via: str  # "basic", "token" or "session"


class Authenticator:
    def __init__(self, store: Store, limiter: LoginLimiter | None = None) -> None:
        self.store = store
        self.limiter = limiter or LoginLimiter(per_name=10, per_address=50, window=300.0)
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def basic(self, username: str, password: str, address: str | None = None) -> Principal | None:
        """The user, None for a wrong name or password; 429 (HTTPException) when ``username`` or
        ``address`` has failed too often lately."""
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._verified.get(key)
            if cached and cached[0] > now:
                return cached[1]
        wait = self.limiter.wait(username, address)
        if wait > 0:
            raise too_many(wait, "failed sign-ins for this user or from this address")
        principal = self._verify(username, password)
        if principal is None:
            self.limiter.failed(username, address)
            return None
        self.limiter.succeeded(username)
        with self._lock:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = (now + _CACHE_SECONDS, principal)
        return principal

    def _verify(self, username: str, password: str) -> Principal | None:
        try:
            user = self.store.user_get(username)
        except NotFound:
            _hasher.hash(password)  # spend the same time as for a real user
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return Principal(user.name, user.role, "basic")

    def bearer(self, token: str) -> Principal | None:
        found = self.store.token_lookup(token_hash(token))
        if found is None:
            return None
        _, user = found
        return Principal(user.name, user.role, "token")

    def forget(self) -> None:
        """Drop remembered password checks (after a user changed or was removed)."""
        with self._lock:
            self._verified.clear()

    def from_header(self, header: str | None, address: str | None = None) -> Principal | None:
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme in ("bearer", "key") and value.strip():  # "Key": Posit Connect's clients
            return self.bearer(value.strip())
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            username, sep, password = decoded.partition(":")
            return self.basic(username, password, address) if sep else None
        return None


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=401,
        detail="authentication required: HTTP Basic or a Bearer token",
        headers={"WWW-Authenticate": 'Basic realm="jobyard"'},
    )


def authenticate(request: Request) -> Principal | None:
    """The principal of a request (cached on it), or None."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    auth: Authenticator = request.app.state.authenticator
    principal = auth.from_header(request.headers.get("authorization"), client_address(request))
    if principal is None:
        token = request.query_params.get("token")
        principal = auth.bearer(token) if token else None
    if principal is None and "authorization" not in request.headers:
        signed_in = session.from_request(request)  # the dashboard's cookie (+ CSRF on changes)
        if signed_in is not None:
            principal = Principal(signed_in.name, signed_in.role, "session")
    request.state.principal = principal
    return principal


def client_address(request: Request) -> str | None:
    """The address the request came from (behind a proxy: what uvicorn's --proxy-headers and
    --forwarded-allow-ips make of X-Forwarded-For)."""
    return request.client.host if request.client else None


def required_role(request: Request) -> Role | None:
    """The least role the request's route needs, or None for a route open to all."""
    route = request.scope.get("route")
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        needed: Role | None = getattr(dependant.call, "jobyard_role", None)
        if needed is not None:
            return needed
        pending.extend(dependant.dependencies)
    return None


def refusal(request: Request) -> HTTPException | None:
    """Why the request's route would refuse it (401, 403), or None when it may go on.

    Used where FastAPI answers before a route's dependencies run (a body that is not JSON), so
    a caller without the right credentials learns nothing about the route but that.
    """
    needed = required_role(request)
    if needed is None:
        return None
    try:
        principal = authenticate(request)
    except HTTPException as exc:  # too many failed sign-ins, a missing CSRF token
        return exc
    if principal is None:
        return _unauthorized()
    if not principal.role.allows(needed):
        return _forbidden(principal, needed)
    return None


def _forbidden(principal: Principal, role: Role) -> HTTPException:
    return HTTPException(
        status_code=403,
        detail=f"{principal.name} is {principal.role.value}; this needs {role.value}",
    )


def require(role: Role) -> Callable[[Request], Principal]:
    """A dependency: the request's principal, refused unless its role allows ``role``."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal is None:
            raise _unauthorized()
        if not principal.role.allows(role):
            raise _forbidden(principal, role)
        return principal

    dependency.jobyard_role = role  # type: ignore[attr-defined]  # found by required_role()
    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
