"""Users and API tokens: the part of SqlStore that serves authentication.

The store keeps only hashes: an argon2id hash of each password (made by the API layer) and a
SHA-256 of each token (tokens are long random strings, so a fast hash is enough and lets every
request look its token up by index).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import ApiToken, Role, User, check_name, utc
from jobyard.store.tx import Row, Tx


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError as exc:
        raise Invalid("role is viewer, operator or admin", field="role") from exc


def _user(row: Row) -> User:
    return User(
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
    )


def _token(row: Row) -> ApiToken:
    return ApiToken(
        id=int(row["id"]),
        user=row["user_name"],
        name=row["name"],
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        revoked_at=utc(row["revoked_at"]),
    )


class AuthStore:
    """Mixed into SqlStore; relies on its ``_tx`` and ``now``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    now: Callable[[], float]

    def user_add(self, name: str, *, role: Role | str, password_hash: str) -> User:
        check_name(name, "name")
        role = _role(role)
        now = self.now()
        with self._tx() as tx:
            if tx.one("user_get", name=name) is not None:
                raise Duplicate(f"user {name!r} exists", field="name")
            tx.run("user_add", name=name, role=role.value, password_hash=password_hash, now=now)
        return User(name, role, password_hash, utc(now))  # type: ignore[arg-type]

    def user_get(self, name: str) -> User:
        with self._tx(write=False) as tx:
            row = tx.one("user_get", name=name)
        if row is None:
            raise NotFound(f"no user {name!r}", field="name")
        return _user(row)

    def user_list(self) -> list[User]:
        with self._tx(write=False) as tx:
            return [_user(r) for r in tx.rows("user_list")]

    def user_update(
        self, name: str, *, role: Role | str | None = None, password_hash: str | None = None
    ) -> User:
        with self._tx() as tx:
            changed = tx.run(
                "user_update",
                name=name,
                role=None if role is None else _role(role).value,
                password_hash=password_hash,
            )
            if not changed:
                raise NotFound(f"no user {name!r}", field="name")
            row = tx.one("user_get", name=name)
        assert row is not None
        return _user(row)

    def user_remove(self, name: str) -> None:
        with self._tx() as tx:
            tx.run("user_remove_tokens", name=name)
            if not tx.run("user_remove", name=name):
                raise NotFound(f"no user {name!r}", field="name")

    def token_create(self, user: str, *, token_hash: str, name: str) -> ApiToken:
        now = self.now()
        with self._tx() as tx:
            if tx.one("user_get", name=user) is None:
                raise NotFound(f"no user {user!r}", field="user")
            row = tx.one("token_create", token_hash=token_hash, user_name=user, name=name, now=now)
        assert row is not None
        return ApiToken(int(row["id"]), user, name, utc(now), None)  # type: ignore[arg-type]

    def token_lookup(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The live token with this hash and its user; None when unknown or revoked."""
        with self._tx(write=False) as tx:
            row = tx.one("token_lookup", token_hash=token_hash)
        if row is None:
            return None
        user = {
            "name": row["user_name"],
            "role": row["role"],
            "password_hash": row["password_hash"],
            "created_at": row["user_created_at"],
        }
        return _token(row), _user(user)

    def token_list(self) -> list[ApiToken]:
        with self._tx(write=False) as tx:
            return [_token(r) for r in tx.rows("token_list")]

    def token_revoke(self, token_id: int) -> None:
        with self._tx() as tx:
            if not tx.run("token_revoke", id=token_id, now=self.now()):
                raise NotFound(f"no live token {token_id}", field="id")
