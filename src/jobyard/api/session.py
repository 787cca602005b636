"""Dashboard sessions: a signed cookie for people in a browser, with a CSRF token for changes.

The cookie holds ``base64url(payload).base64url(signature)``; the payload names the user, when the
session started and ends, and a random nonce. It is signed with HMAC-SHA256 under a key derived
from the server's ``secret_key`` (settings; the same on every server) and the user's stored
password hash. So nothing is kept on the server, every server sharing the database accepts the
cookie, and changing a password ends that user's sessions everywhere. The role is read from the
store on every request: a demotion applies at once, a removed user is signed out.

A request that changes something (any method but GET, HEAD, OPTIONS) on a session must carry the
session's CSRF token in ``X-CSRF-Token``; the token is derived from the session, given by
``GET /api/v1/session`` and at sign-in, and a page on another site can neither read it nor send a
custom header. The cookie is HttpOnly and SameSite=Lax as well. Bearer tokens and Basic auth are
untouched: a request with an Authorization header never uses the cookie.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response

from jobyard.core.errors import NotFound
from jobyard.core.models import Role
from jobyard.store.base import Store

COOKIE = "jobyard_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_COOKIE = 4096  # bytes; anything longer is not ours


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    role: Role
    issued: float  # epoch seconds
    expires: float
    csrf: str  # what X-CSRF-Token must say


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str, password_hash: str) -> bytes:
    return hmac.new(
        secret.encode(), b"jobyard-session\0" + password_hash.encode(), hashlib.sha256
    ).digest()


def _csrf(key: bytes, nonce: str) -> str:
    return _b64(hmac.new(key, b"csrf\0" + nonce.encode(), hashlib.sha256).digest())


class Sessions:
    """Issues and checks session cookies for one app (its store, secret and lifetime)."""

    def __init__(self, store: Store, *, secret: str, lifetime: float) -> None:
        self.store = store
        self.secret = secret
        self.lifetime = lifetime

    def issue(self, name: str, *, now: float | None = None) -> tuple[str, Session]:
        """(cookie value, session) for a user whose password was just checked."""
        user = self.store.user_get(name)
        issued = round(time.time() if now is None else now, 3)
        expires = round(issued + self.lifetime, 3)
        nonce = secrets.token_urlsafe(16)
        payload = {"u": user.name, "i": issued, "e": expires, "n": nonce}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        key = _key(self.secret, user.password_hash)
        signature = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        csrf = _csrf(key, nonce)
        return f"{body}.{signature}", Session(user.name, user.role, issued, expires, csrf)

    def check(self, cookie: str, *, now: float | None = None) -> Session | None:
        """The live session a cookie stands for, or None (forged, expired, user gone)."""
        if not cookie or len(cookie) > MAX_COOKIE:
            return None
        body, _, signature = cookie.partition(".")
        try:
            payload: Any = json.loads(_unb64(body))
            name, issued, expires, nonce = payload["u"], payload["i"], payload["e"], payload["n"]
            given = _unb64(signature)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not (isinstance(name, str) and isinstance(nonce, str)):
            return None
        if not (isinstance(expires, int | float) and isinstance(issued, int | float)):
            return None
        if expires <= (time.time() if now is None else now):
            return None
        try:
            user = self.store.user_get(name)
        except NotFound:
            return None
        key = _key(self.secret, user.password_hash)
        expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given):
            return None
        return Session(user.name, user.role, float(issued), float(expires), _csrf(key, nonce))


def from_request(request: Request) -> Session | None:
    """The request's session, refusing a change that lacks the session's CSRF token (403)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    sessions: Sessions = request.app.state.sessions
    session = sessions.check(cookie)
    if session is None or request.method in SAFE_METHODS:
        return session
    given = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise HTTPException(
            status_code=403,
            detail=f"a change made with a dashboard session needs its {CSRF_HEADER} header "
            "(GET /api/v1/session gives it)",
        )
    return session


def set_cookie(response: Response, request: Request, value: str, *, max_age: float) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(max_age),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
