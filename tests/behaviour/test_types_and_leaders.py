"""Job type revisions, and engine leadership with a TTL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from behaviour.factory import T0, TYPE, FakeClock, JobFactory, definition
from jobyard.core.backoff import Backoff
from jobyard.core.errors import NotFound
from jobyard.core.models import TypeKind
from jobyard.core.states import JobStatus
from jobyard.store import Store

# -- job types --------------------------------------------------------------------------------


def test_first_registration_is_revision_one(store: Store, clock: FakeClock) -> None:
    stored = store.type_register(definition(description="echo"))
    assert (stored.name, stored.revision, stored.created_at.timestamp()) == (TYPE, 1, T0)
    assert stored.definition == definition(description="echo")
    assert store.type_get(TYPE) == stored


def test_the_same_definition_keeps_its_revision(store: Store, clock: FakeClock) -> None:
    first = store.type_register(definition())
    clock.advance(60)
    again = store.type_register(definition())
    assert again == first
    assert again.created_at.timestamp() == T0
    assert store.type_get(TYPE).revision == 1


@pytest.mark.parametrize(
    "change",
    [
        {"priority": 1},
        {"queue": "elsewhere"},
        {"timeout": 10.0},
        {"max_tries": 9},
        {"backoff": Backoff(base=1)},
        {"target": "jobapps:other"},
        {"tags": ("x",)},
        {"description": "changed"},
        {"cpus": 2.0},
    ],
)
def test_any_change_makes_a_new_revision(
    store: Store, clock: FakeClock, change: dict[str, object]
) -> None:
    store.type_register(definition())
    clock.advance(5)
    changed = store.type_register(definition(**change))
    assert (changed.revision, changed.created_at.timestamp()) == (2, T0 + 5)
    assert store.type_get(TYPE) == changed
    assert store.type_register(definition()).revision == 3  # changing back is a change too
    assert store.type_register(definition()).revision == 3


def test_jobs_keep_the_revision_they_were_made_with(store: Store, factory: JobFactory) -> None:
    factory.register(priority=5, max_tries=2)
    old = factory.enqueue()
    factory.register(priority=1, max_tries=8)
    new = factory.enqueue()
    assert [(j.type_revision, j.priority, j.max_tries) for j in factory.all_jobs()] == [
        (1, 5, 2),
        (2, 1, 8),
    ]
    claims = store.job_claim(worker_id="w", queues=["default"], types=[TYPE], limit=2, lease=9)
    assert {c.job_id: c.type_revision for c in claims} == {old: 1, new: 2}


def test_command_types_round_trip(store: Store) -> None:
    d = definition("cmd", kind=TypeKind.COMMAND, target=("echo", "${input}"))
    assert store.type_register(d).definition == d
    assert store.type_get("cmd").definition.target == ("echo", "${input}")


def test_type_list_is_sorted_by_name(store: Store) -> None:
    for name in ("zeta", "alpha", "mid"):
        store.type_register(definition(name))
    store.type_register(definition("mid", priority=1))
    assert [(t.name, t.revision) for t in store.type_list()] == [
        ("alpha", 1),
        ("mid", 2),
        ("zeta", 1),
    ]


def test_unknown_type_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as info:
        store.type_get("nope")
    assert "nope" in info.value.message
    assert store.type_list() == []


def test_registering_a_type_creates_its_queue(store: Store) -> None:
    store.type_register(definition(queue="reports"))
    assert [(q.name, q.queued) for q in store.queue_list()] == [("reports", 0)]


def test_a_finished_jobs_revision_survives_type_changes(store: Store, factory: JobFactory) -> None:
    made = factory.make(JobStatus.COMPLETED)
    factory.register(priority=1)
    assert store.job_get(made.id).type_revision == 1


# -- leadership -------------------------------------------------------------------------------


def test_one_leader_at_a_time(store: Store, clock: FakeClock) -> None:
    assert store.leader_acquire("reaper", "a", ttl=10)
    assert not store.leader_acquire("reaper", "b", ttl=10)
    clock.advance(9)
    assert store.leader_acquire("reaper", "a", ttl=10)  # renews to T0 + 19
    clock.advance(9)
    assert not store.leader_acquire("reaper", "b", ttl=10)  # would have expired at T0 + 10
    clock.advance(1.5)
    assert store.leader_acquire("reaper", "b", ttl=10)  # a missed its renewal: takeover
    assert not store.leader_acquire("reaper", "a", ttl=10)


def test_duties_are_led_independently(store: Store) -> None:
    assert store.leader_acquire("reaper", "a", ttl=10)
    assert store.leader_acquire("releaser", "b", ttl=10)
    assert not store.leader_acquire("releaser", "a", ttl=10)
    assert not store.leader_acquire("reaper", "b", ttl=10)


def test_leadership_is_shared_across_stores(
    make_store: Callable[..., Store], store: Store, clock: FakeClock
) -> None:
    other = make_store(clock=clock)
    assert store.leader_acquire("pruner", "host-1", ttl=30)
    assert not other.leader_acquire("pruner", "host-2", ttl=30)
    clock.advance(31)
    assert other.leader_acquire("pruner", "host-2", ttl=30)
    assert not store.leader_acquire("pruner", "host-1", ttl=30)
