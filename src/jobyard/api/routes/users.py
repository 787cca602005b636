"""/api/v1/users and /api/v1/tokens: who may sign in, and their API tokens (admins only).

Passwords are hashed here (argon2id) and never stored or returned; a token is returned once, by
the request that creates it, and only its SHA-256 is kept. Every change to a user drops the
authenticator's remembered password checks, so a new password or role applies at once.
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Path, Query, Request, Response

from jobyard.api.auth import Admin, hash_password, new_token
from jobyard.api.deps import MAX_ID, StoreDep
from jobyard.api.schemas import NewTokenOut, TokenIn, TokenOut, UserIn, UserOut, UserPatch
from jobyard.core.errors import Invalid
from jobyard.core.models import Role
from jobyard.store.base import Store

router = APIRouter(tags=["users"])


def _forget(request: Request) -> None:
    request.app.state.authenticator.forget()


def _keep_an_admin(store: Store, name: str) -> None:
    """Refuse to remove or demote the last admin: nobody could manage users afterwards."""
    admins = [u.name for u in store.user_list() if u.role is Role.ADMIN]
    if admins == [name]:
        raise Invalid(f"{name} is the last admin; make another admin first", field="name")


@router.get("/users", response_model=list[UserOut])
def list_users(store: StoreDep, _: Admin) -> list[UserOut]:
    return [UserOut.of(u) for u in store.user_list()]


@router.post("/users", response_model=UserOut, status_code=201)
async def add_user(body: UserIn, request: Request, store: StoreDep, _: Admin) -> UserOut:
    # hashing costs tens of milliseconds of CPU on purpose: off the event loop
    password_hash = await to_thread.run_sync(hash_password, body.password)
    user = await to_thread.run_sync(
        lambda: store.user_add(body.name, role=body.role, password_hash=password_hash)
    )
    _forget(request)
    return UserOut.of(user)


@router.patch("/users/{name}", response_model=UserOut)
async def update_user(
    name: str, body: UserPatch, request: Request, store: StoreDep, _: Admin
) -> UserOut:
    """Change a user's role and/or password."""
    if body.role is None and body.password is None:
        raise Invalid("give a role or a password to change", field="body")
    if body.role is not None and body.role is not Role.ADMIN:
        await to_thread.run_sync(store.user_get, name)  # 404 before "last admin"
        await to_thread.run_sync(_keep_an_admin, store, name)
    password_hash = None
    if body.password is not None:
        password_hash = await to_thread.run_sync(hash_password, body.password)
    user = await to_thread.run_sync(
        lambda: store.user_update(name, role=body.role, password_hash=password_hash)
    )
    _forget(request)
    return UserOut.of(user)


@router.delete("/users/{name}", status_code=204)
def remove_user(name: str, request: Request, store: StoreDep, _: Admin) -> Response:
    """Remove a user and revoke every token of theirs."""
    store.user_get(name)
    _keep_an_admin(store, name)
    store.user_remove(name)
    _forget(request)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    store: StoreDep,
    _: Admin,
    user: Annotated[str | None, Query(max_length=200, description="only this user's")] = None,
    include_revoked: bool = False,
) -> list[TokenOut]:
    return [
        TokenOut.of(t)
        for t in store.token_list()
        if (user is None or t.user == user) and (include_revoked or t.revoked_at is None)
    ]


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def create_token(body: TokenIn, store: StoreDep, who: Admin) -> NewTokenOut:
    """A new token acting as ``user`` (default: you); the reply is the only time it is shown."""
    token, digest = new_token()
    created = store.token_create(body.user or who.name, token_hash=digest, name=body.name)
    return NewTokenOut(**TokenOut.of(created).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID, description="a token id")],
    store: StoreDep,
    _: Admin,
) -> Response:
    store.token_revoke(token_id)
    return Response(status_code=204)
