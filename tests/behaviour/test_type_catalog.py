"""Job types as managed objects: create, update, revisions, archive, interfaces, integer ids."""

from __future__ import annotations

from typing import Any

import pytest

from behaviour.factory import T0, TYPE, FakeClock, JobFactory, definition
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.interface import Interface, Param, ParamType
from jobyard.core.models import JobFilter, JobSpec, PageRequest
from jobyard.store import Store

INTERFACE = Interface(
    inputs=(
        Param("name", ParamType.STRING),
        Param("count", ParamType.INTEGER),
        Param("ratio", ParamType.NUMBER, required=False),
        Param("dry", ParamType.BOOLEAN, required=False),
        Param("options", ParamType.OBJECT, required=False),
        Param("tags", ParamType.ARRAY, required=False),
        Param("source", ParamType.FILE, required=False, media_types=("image/png",)),
        Param("parts", ParamType.FILES, required=False),
    ),
    outputs=(Param("report", ParamType.FILE),),
)


def jobs_written(store: Store) -> int:
    return store.job_list(JobFilter(include_removed=True), PageRequest(per_page=1)).count


def test_create_stores_revision_one_with_every_field(store: Store) -> None:
    made = store.type_create(
        definition(
            version="2.1.0", title="Echo", category="tools", disk=512.0, cpus=0.5, mem=128.0,
            interface=INTERFACE,
        )
    )  # fmt: skip
    assert made.revision == 1 and made.id is not None and made.archived_at is None
    got = store.type_get(TYPE)
    assert got == made
    d = got.definition
    assert (d.version, d.title, d.category, d.disk, d.interface) == (
        "2.1.0", "Echo", "tools", 512.0, INTERFACE,
    )  # fmt: skip


def test_create_refuses_a_name_that_exists(store: Store) -> None:
    store.type_create(definition())
    with pytest.raises(Duplicate) as caught:
        store.type_create(definition(priority=1))
    assert caught.value.details["field"] == "name"
    assert store.type_get(TYPE).revision == 1


def test_update_makes_a_revision_and_jobs_keep_theirs(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register()
    old_job = factory.enqueue()
    clock.advance(10)
    updated = store.type_update(TYPE, {"priority": 5, "title": "Echo v2", "version": "2.0"})
    assert (updated.revision, updated.definition.priority, updated.definition.title) == (
        2, 5, "Echo v2",
    )  # fmt: skip
    assert updated.id == store.type_get(TYPE).id  # the id names the type, not the revision
    new_job = factory.enqueue()
    assert store.job_get(old_job).type_revision == 1
    assert store.job_get(new_job).type_revision == 2
    assert store.job_get(new_job).priority == 5
    same = store.type_update(TYPE, {"priority": 5})
    assert same.revision == 2  # no change, no revision
    revisions = store.type_revisions(TYPE)
    assert [r.revision for r in revisions] == [1, 2]
    assert [r.created_at.timestamp() for r in revisions] == [T0, T0 + 10]
    assert revisions[0].definition.priority == 100 and revisions[1].definition.priority == 5
    assert len({r.id for r in revisions}) == 2  # each revision has an id of its own


def test_update_refuses_bad_values_naming_the_field(store: Store) -> None:
    store.type_create(definition())
    for changes, field in (
        ({"max_tries": 0}, "max_tries"),
        ({"version": ""}, "version"),
        ({"disk": -1}, "disk"),
        ({"interface": {"inputs": [{"name": "x", "type": "decimal"}]}}, "interface.inputs[0].type"),
        ({"name": "other"}, "name"),
    ):
        with pytest.raises(Invalid) as caught:
            store.type_update(TYPE, changes)
        assert caught.value.field == field, (changes, caught.value)
    assert store.type_get(TYPE).revision == 1
    with pytest.raises(NotFound):
        store.type_update("no.such.type", {"priority": 1})
    with pytest.raises(NotFound):
        store.type_revisions("no.such.type")


def test_registering_a_definition_stored_before_the_new_fields_keeps_its_revision(
    store: Store,
) -> None:
    """Fields at their defaults are left out of the stored definition: no spurious revision."""
    first = store.type_register(definition())
    assert set(definition().to_dict()) == {
        "name", "kind", "target", "queue", "priority", "timeout", "max_tries", "backoff", "cpus",
        "mem", "tags", "description",
    }  # fmt: skip
    assert store.type_register(definition()).revision == first.revision


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"count": 1}, "args.name"),  # required input missing
        ({"name": "a", "count": "1"}, "args.count"),
        ({"name": "a", "count": True}, "args.count"),  # a boolean is not an integer
        ({"name": "a", "count": 1, "ratio": "x"}, "args.ratio"),
        ({"name": "a", "count": 1, "dry": 1}, "args.dry"),
        ({"name": "a", "count": 1, "options": []}, "args.options"),
        ({"name": "a", "count": 1, "tags": {}}, "args.tags"),
        ({"name": "a", "count": 1, "source": ""}, "args.source"),
        ({"name": "a", "count": 1, "source": -1}, "args.source"),
        ({"name": "a", "count": 1, "parts": []}, "args.parts"),
        ({"name": "a", "count": 1, "extra": 1}, "args.extra"),  # not an input
        ([1, 2], "args"),
    ],
)
def test_enqueue_checks_args_against_the_interface(store: Store, args: Any, field: str) -> None:
    store.type_create(definition(interface=INTERFACE))
    with pytest.raises(Invalid) as caught:
        store.job_enqueue([JobSpec(type=TYPE, args=args)])
    assert caught.value.field == field
    assert field in caught.value.message
    assert jobs_written(store) == 0


def test_enqueue_accepts_args_that_fit_the_interface(store: Store) -> None:
    store.type_create(definition(interface=INTERFACE))
    args = {
        "name": "a", "count": 3, "ratio": 0.5, "dry": False, "options": {"k": 1}, "tags": ["x"],
        "source": "s3://bucket/in.png", "parts": [7, "/tmp/b"],
    }  # fmt: skip
    [job_id] = store.job_enqueue([JobSpec(type=TYPE, args=args)])
    assert store.job_get(job_id).args == args
    store.job_enqueue([JobSpec(type=TYPE, args={"name": "b", "count": 1, "ratio": 2})])


def test_a_bad_job_in_a_batch_is_named_by_its_index_and_nothing_is_written(store: Store) -> None:
    store.type_create(definition(interface=INTERFACE))
    good = JobSpec(type=TYPE, args={"name": "a", "count": 1})
    bad = JobSpec(type=TYPE, args={"name": "a"})
    with pytest.raises(Invalid) as caught:
        store.job_enqueue([good, good, bad])
    assert caught.value.field == "[2].args.count"
    assert jobs_written(store) == 0


def test_a_type_without_an_interface_takes_any_args(store: Store) -> None:
    store.type_create(definition())
    store.job_enqueue([JobSpec(type=TYPE, args=[1, "two"]), JobSpec(type=TYPE, args="x")])
    assert jobs_written(store) == 2


def test_archived_types_refuse_jobs_until_unarchived(store: Store, factory: JobFactory) -> None:
    factory.register()
    waiting = factory.enqueue()
    archived = store.type_archive(TYPE, by="alice")
    assert archived.archived_at is not None and archived.revision == 1
    assert store.type_archive(TYPE).archived_at == archived.archived_at  # already archived
    with pytest.raises(Invalid) as caught:
        store.job_enqueue([JobSpec(type=TYPE)])
    assert caught.value.field == "type" and "archived" in caught.value.message
    assert jobs_written(store) == 1
    assert store.job_get(waiting).status.value == "queued"  # jobs already made stay
    with pytest.raises(Duplicate) as dup:
        store.type_create(definition())
    assert "archived" in dup.value.message
    assert store.type_unarchive(TYPE).archived_at is None
    store.job_enqueue([JobSpec(type=TYPE)])
    assert jobs_written(store) == 2
    with pytest.raises(NotFound):
        store.type_archive("no.such.type")


def test_integer_ids_are_stable_and_resolve_back(store: Store) -> None:
    a = store.type_create(definition("t.a"))
    b = store.type_create(definition("t.b"))
    assert a.id is not None and b.id is not None and a.id != b.id
    assert store.type_by_id(a.id) == store.type_get("t.a")
    assert store.type_update("t.a", {"priority": 1}).id == a.id
    assert store.ident_ids("job_type", ["t.a", "t.b", "t.none"]) == {"t.a": a.id, "t.b": b.id}
    assert store.ident_key("job_type", b.id) == "t.b"
    with pytest.raises(NotFound):
        store.type_by_id(10**9)
    made = store.ident_ids("recipe_type", ["r.one"], create=True)
    assert store.ident_ids("recipe_type", ["r.one"], create=True) == made


def test_listing_shows_archived_types_with_their_date(store: Store) -> None:
    store.type_create(definition("t.a"))
    store.type_create(definition("t.b"))
    store.type_archive("t.b")
    listed = {t.name: t.archived_at is not None for t in store.type_list()}
    assert listed == {"t.a": False, "t.b": True}
