"""/api/v1/session: sign in to the dashboard (a session cookie), see who you are, sign out.

Signing in takes a user's name and password as JSON (never a form: a page on another site cannot
post JSON here without the browser asking first) and sets the ``jobyard_session`` cookie. What
the cookie allows, and the ``X-CSRF-Token`` every change made with it needs, are in
:mod:`jobyard.api.session`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from jobyard.api import session
from jobyard.api.auth import Authenticator, authenticate, client_address
from jobyard.core.models import Role

router = APIRouter(prefix="/session", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    signed_in: bool
    name: str | None = Field(description="who you are (null: nobody is signed in)")
    role: Role | None
    via: str | None = Field(description="session, token or basic: how this request signed in")
    csrf_token: str | None = Field(
        description="send it as X-CSRF-Token with every change made with the session cookie"
    )
    expires_at: datetime | None = Field(description="when the session ends (sessions only)")


def _out(s: session.Session) -> SessionOut:
    return SessionOut(
        signed_in=True, name=s.name, role=s.role, via="session", csrf_token=s.csrf,
        expires_at=datetime.fromtimestamp(s.expires, UTC),
    )  # fmt: skip


@router.get("", response_model=SessionOut)
def whoami(request: Request) -> SessionOut:
    """Who this request signs in as, by any means; nobody is an answer here, not a 401."""
    principal = authenticate(request)
    if principal is None:
        return SessionOut(
            signed_in=False, name=None, role=None, via=None, csrf_token=None, expires_at=None
        )
    if principal.via == "session":
        found = session.from_request(request)
        if found is not None:
            return _out(found)
    return SessionOut(signed_in=True, name=principal.name, role=principal.role,
                      via=principal.via, csrf_token=None, expires_at=None)  # fmt: skip


@router.post(
    "",
    response_model=SessionOut,
    responses={
        401: {"description": "wrong name or password"},
        429: {"description": "too many failed sign-ins for this name or address: Retry-After"},
    },
)
async def sign_in(body: SignIn, request: Request, response: Response) -> SessionOut:
    """Check the name and password; on success set the session cookie (HttpOnly, SameSite=Lax,
    Secure over https)."""
    auth: Authenticator = request.app.state.authenticator
    address = client_address(request)
    principal = await to_thread.run_sync(auth.basic, body.name, body.password, address)
    if principal is None:
        raise HTTPException(status_code=401, detail="wrong name or password")
    sessions: session.Sessions = request.app.state.sessions
    cookie, signed_in = await to_thread.run_sync(lambda: sessions.issue(principal.name))
    session.set_cookie(response, request, cookie, max_age=signed_in.expires - signed_in.issued)
    return _out(signed_in)


@router.delete("", status_code=204)
def sign_out(request: Request) -> Response:
    """Drop the session cookie. (Changing a password ends every session of that user.)"""
    response = Response(status_code=204)
    session.clear_cookie(response, request)
    return response
