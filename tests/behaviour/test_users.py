"""Users and API tokens in the store (hashes only), and the newest event id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from behaviour.factory import T0, FakeClock, JobFactory
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import ApiToken, Role, User
from jobyard.store import Store


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_users_are_added_read_and_listed(store: Store, clock: FakeClock) -> None:
    alice = store.user_add("alice", role=Role.ADMIN, password_hash="h1")
    assert alice == User("alice", Role.ADMIN, "h1", at(T0))
    clock.advance(1)
    bob = store.user_add("bob", role="viewer", password_hash="h2")
    assert bob.role is Role.VIEWER
    assert store.user_get("alice") == alice
    assert store.user_list() == [alice, bob]


def test_a_taken_name_is_duplicate(store: Store) -> None:
    store.user_add("alice", role=Role.ADMIN, password_hash="h1")
    with pytest.raises(Duplicate) as info:
        store.user_add("alice", role=Role.VIEWER, password_hash="h2")
    assert info.value.details["field"] == "name"
    assert store.user_get("alice").role is Role.ADMIN


@pytest.mark.parametrize(
    ("name", "role", "field"), [("x y", "admin", "name"), ("x", "god", "role")]
)
def test_bad_user_is_invalid(store: Store, name: str, role: str, field: str) -> None:
    with pytest.raises(Invalid) as info:
        store.user_add(name, role=role, password_hash="h")
    assert info.value.field == field
    assert store.user_list() == []


def test_update_changes_only_what_is_given(store: Store) -> None:
    store.user_add("alice", role=Role.VIEWER, password_hash="h1")
    assert store.user_update("alice", role="operator").password_hash == "h1"
    updated = store.user_update("alice", password_hash="h2")
    assert (updated.role, updated.password_hash) == (Role.OPERATOR, "h2")
    assert store.user_get("alice") == updated
    with pytest.raises(Invalid):
        store.user_update("alice", role="owner")
    assert store.user_get("alice") == updated


@pytest.mark.parametrize("operation", ["user_get", "user_update", "user_remove"])
def test_unknown_user_is_not_found(store: Store, operation: str) -> None:
    with pytest.raises(NotFound):
        getattr(store, operation)("ghost")


def test_tokens_look_up_their_user_until_revoked(store: Store, clock: FakeClock) -> None:
    alice = store.user_add("alice", role=Role.OPERATOR, password_hash="h1")
    token = store.token_create("alice", token_hash="sha-1", name="laptop")
    assert token == ApiToken(token.id, "alice", "laptop", at(T0), None)
    other = store.token_create("alice", token_hash="sha-2", name="ci")
    assert other.id > token.id
    assert store.token_lookup("sha-1") == (token, alice)
    assert store.token_lookup("unknown") is None
    clock.advance(5)
    store.token_revoke(token.id)
    assert store.token_lookup("sha-1") is None
    assert store.token_lookup("sha-2") == (other, alice)
    listed = store.token_list()
    assert [(t.id, t.revoked_at) for t in listed] == [(token.id, at(T0 + 5)), (other.id, None)]
    with pytest.raises(NotFound):
        store.token_revoke(token.id)  # already revoked
    with pytest.raises(NotFound):
        store.token_revoke(999_999)


def test_a_token_sees_its_users_new_role(store: Store) -> None:
    store.user_add("alice", role=Role.VIEWER, password_hash="h1")
    store.token_create("alice", token_hash="sha-1", name="t")
    store.user_update("alice", role=Role.ADMIN)
    found = store.token_lookup("sha-1")
    assert found is not None and found[1].role is Role.ADMIN


def test_a_token_hash_is_unique(store: Store) -> None:
    store.user_add("alice", role=Role.VIEWER, password_hash="h1")
    store.token_create("alice", token_hash="sha-1", name="t")
    with pytest.raises(Duplicate):
        store.token_create("alice", token_hash="sha-1", name="again")
    assert len(store.token_list()) == 1


def test_a_token_needs_a_user(store: Store) -> None:
    with pytest.raises(NotFound) as info:
        store.token_create("ghost", token_hash="sha-1", name="t")
    assert info.value.details["field"] == "user"
    assert store.token_list() == []


def test_removing_a_user_removes_their_tokens(store: Store) -> None:
    store.user_add("alice", role=Role.VIEWER, password_hash="h1")
    bob = store.user_add("bob", role=Role.VIEWER, password_hash="h2")
    store.token_create("alice", token_hash="sha-a", name="t")
    kept = store.token_create("bob", token_hash="sha-b", name="t")
    store.user_remove("alice")
    assert store.user_list() == [bob]
    assert store.token_lookup("sha-a") is None
    assert store.token_list() == [kept]


def test_event_last_id(store: Store, factory: JobFactory, clock: FakeClock) -> None:
    assert store.event_last_id() == 0
    factory.enqueue()
    factory.enqueue()
    assert store.event_last_id() == store.event_list()[-1].id
    clock.advance(100)
    store.event_prune(older_than=1)
    assert store.event_list() == []
    assert store.event_last_id() == 0
