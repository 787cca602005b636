"""Recipes: graphs of jobs made in one transaction, released as their parents complete.

Every recipe job here runs in a queue of its own (``q-<name>``), so the test claims exactly the
job it means to, and finishes it with the result it chooses.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from behaviour.factory import LEASE, T0, FakeClock, JobFactory
from jobyard.core.errors import Invalid, InvalidTransition, NotFound
from jobyard.core.interface import Interface, Param, ParamType
from jobyard.core.models import Outcome
from jobyard.core.recipes import Recipe, RecipeStatus, RecipeTypeDefinition
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

S = JobStatus
TYPE = "test.echo"


def node(
    name: str,
    *parents: str | tuple[str, dict[str, str]],
    type: str = TYPE,
    inputs: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A recipe job; a parent is a name, or (name, {output: input}) to take its outputs."""
    deps = []
    for p in parents:
        name_, conns = (p, {}) if isinstance(p, str) else p
        deps.append(
            {"name": name_, "connections": [{"output": o, "input": i} for o, i in conns.items()]}
        )
    return {
        "name": name,
        "job_type": {"name": type},
        "queue": f"q-{name}",
        "recipe_inputs": [{"recipe_input": r, "job_input": j} for r, j in (inputs or {}).items()],
        "dependencies": deps,
        **extra,
    }


def recipe_type(
    store: Store, *jobs: dict[str, Any], name: str = "r", inputs: tuple[str, ...] = ()
) -> RecipeTypeDefinition:
    definition = RecipeTypeDefinition.from_dict(
        {
            "name": name,
            "definition": {
                "input_data": [{"name": i, "type": "property"} for i in inputs],
                "jobs": list(jobs),
            },
        }
    )
    store.recipe_type_register(definition)
    return definition


def claim(store: Store, recipe: Recipe, name: str) -> tuple[int, int]:
    """Claim the recipe job ``name``: (job id, execution id)."""
    job_id = recipe.node(name).job_id
    [c] = store.job_claim(
        worker_id="w", queues=[f"q-{name}"], types=[TYPE, "test.other"], limit=5, lease=LEASE
    )
    assert c.job_id == job_id
    return job_id, c.execution_id


def finish(store: Store, recipe: Recipe, name: str, result: Any = None, **kw: Any) -> int:
    job_id, execution_id = claim(store, recipe, name)
    status = kw.pop("status", ExecutionStatus.COMPLETED)
    [held] = store.job_finish(
        [Outcome(execution_id=execution_id, status=status, result=result, **kw)]
    )
    assert held
    return job_id


def states(store: Store, recipe_id: int) -> dict[str, JobStatus]:
    return {n.name: n.status for n in store.recipe_get(recipe_id).nodes}


@pytest.fixture
def types(factory: JobFactory) -> None:
    factory.register(TYPE)
    factory.register("test.other")


# -- definitions --------------------------------------------------------------------------------


BAD_DEFINITIONS = [
    ("unknown job type", [node("a", type="nope")], "definition.jobs[0].job_type.name"),
    (
        "unknown recipe input",
        [node("a", inputs={"missing": "x"})],
        "definition.jobs[0].recipe_inputs[0].recipe_input",
    ),
    (
        "unknown dependency",
        [node("a"), node("b", "ghost")],
        "definition.jobs[1].dependencies[0].name",
    ),
    ("cycle", [node("a", "c"), node("b", "a"), node("c", "b")], "definition.jobs[0].dependencies"),
    ("self", [node("a", "a")], "definition.jobs[0].dependencies"),
    ("duplicate name", [node("a"), node("a")], "definition.jobs[1].name"),
    (
        "one input filled twice",
        [node("a"), node("b"), node("c", ("a", {"o": "x"}), ("b", {"o": "x"}))],
        "definition.jobs[2].dependencies[1].connections[0].input",
    ),
    ("no jobs", [], "definition.jobs"),
    (
        "pinned version",
        [{**node("a"), "job_type": {"name": TYPE, "version": "9.9"}}],
        "definition.jobs[0].job_type.version",
    ),
]


@pytest.mark.parametrize(
    ("why", "jobs", "field"), BAD_DEFINITIONS, ids=[b[0] for b in BAD_DEFINITIONS]
)
def test_a_bad_definition_is_refused_naming_the_field(
    store: Store, types: None, why: str, jobs: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(Invalid) as info:
        recipe_type(store, *jobs, inputs=("image",))
    assert info.value.field == field, info.value.message
    assert store.recipe_type_list() == []  # checked before anything was written


def typed(factory: JobFactory) -> None:
    """test.make takes ``path`` (required) and ``size``, and produces ``file``."""
    interface = Interface(
        inputs=(Param("path"), Param("size", ParamType.INTEGER, required=False)),
        outputs=(Param("file"),),
    )
    factory.register("test.make", interface=interface)


MAKE = {"type": "test.make", "inputs": {"image": "path"}}
TYPED_BAD = {
    "output the parent does not produce": (
        [node("a", **MAKE), node("b", ("a", {"nothing": "size"}), **MAKE)],
        "definition.jobs[1].dependencies[0].connections[0].output",
    ),
    "input the child does not take": (
        [node("a", **MAKE), node("b", ("a", {"file": "colour"}), **MAKE)],
        "definition.jobs[1].dependencies[0].connections[0].input",
    ),
    "recipe input to an unknown job input": (
        [node("a", type="test.make", inputs={"image": "depth"})],
        "definition.jobs[0].recipe_inputs[0].job_input",
    ),
    "constant for an unknown input": (
        [node("a", type="test.make", args={"depth": 1})],
        "definition.jobs[0].args.depth",
    ),
}


@pytest.mark.parametrize("why", TYPED_BAD)
def test_connections_are_checked_against_the_job_types_interfaces(
    store: Store, factory: JobFactory, why: str
) -> None:
    jobs, field = TYPED_BAD[why]
    typed(factory)
    with pytest.raises(Invalid) as info:
        recipe_type(store, *jobs, inputs=("image",))
    assert info.value.field == field, info.value.message
    assert store.recipe_type_list() == []


def test_typed_jobs_connect_by_their_declared_outputs(store: Store, factory: JobFactory) -> None:
    typed(factory)
    recipe_type(
        store,
        node("a", type="test.make", inputs={"image": "path"}),
        node("b", ("a", {"file": "path"}), type="test.make"),
        inputs=("image",),
    )
    with pytest.raises(Invalid) as info:  # a root job's args are complete: checked at creation
        store.recipe_create("r", {"image": 5})
    assert info.value.field == "jobs.a.args.path"
    recipe = store.recipe_create("r", {"image": "in.png"})
    a_id = recipe.node("a").job_id
    [c] = store.job_claim(worker_id="w", queues=["q-a"], types=["test.make"], limit=1, lease=LEASE)
    assert c.job_id == a_id and c.args == {"path": "in.png"}
    made = Outcome(c.execution_id, ExecutionStatus.COMPLETED, result={"file": "out.png"})
    store.job_finish([made])
    assert store.job_get(recipe.node("b").job_id).args == {"path": "out.png"}


def test_an_archived_job_type_takes_no_recipe_jobs(
    store: Store, types: None, factory: JobFactory
) -> None:
    recipe_type(store, node("a"), node("b", "a", type="test.other"))
    store.type_archive("test.other")
    with pytest.raises(Invalid) as info:
        store.recipe_create("r")
    assert info.value.field == "definition.jobs[1].job_type.name"
    with pytest.raises(Invalid):
        recipe_type(store, node("a", type="test.other"), name="again")
    assert store.recipe_list() == (0, [])


def test_a_cycle_is_named_in_the_message(store: Store, types: None) -> None:
    with pytest.raises(Invalid, match="cycle: a -> b -> c -> a") as info:
        recipe_type(store, node("a", "c"), node("b", "a"), node("c", "b"), node("d", "a"))
    assert info.value.details["cycle"] == ["a", "b", "c"]


def test_recipe_types_are_revisions(store: Store, types: None, clock: FakeClock) -> None:
    recipe_type(store, node("a"))
    first = store.recipe_type_get("r")
    assert first.revision == 1
    recipe_type(store, node("a"))  # the same definition: nothing changes
    assert store.recipe_type_get("r").revision == 1
    clock.advance(5)
    recipe_type(store, node("a"), node("b", "a"))
    assert store.recipe_type_get("r").revision == 2
    assert [j.name for j in store.recipe_type_get("r", revision=1).definition.graph.jobs] == ["a"]
    assert [t.name for t in store.recipe_type_list()] == ["r"]
    with pytest.raises(NotFound):
        store.recipe_type_get("r", revision=3)


# -- making a recipe ----------------------------------------------------------------------------


def test_creating_a_recipe_makes_every_job_roots_queued_the_rest_blocked(
    store: Store, types: None
) -> None:
    recipe_type(
        store,
        node("report", "left", "right"),  # listed first, made last: parents come first
        node("load", inputs={"day": "date"}, args={"source": "s3"}),
        node("left", ("load", {"rows": "rows"})),
        node("right", "load"),
        inputs=("day",),
    )
    before = store.event_last_id()
    recipe = store.recipe_create("r", {"day": "2027-01-15"}, created_by="alice")
    assert recipe.status is RecipeStatus.RUNNING
    assert [(n.name, n.status) for n in recipe.nodes] == [
        ("load", S.QUEUED), ("left", S.BLOCKED), ("right", S.BLOCKED), ("report", S.BLOCKED),
    ]  # fmt: skip
    ids = {n.name: n.job_id for n in recipe.nodes}
    assert ids["load"] < ids["left"] < ids["right"] < ids["report"]
    assert recipe.node("report").parents == ("left", "right")
    assert {(e.parent, e.child) for e in recipe.edges} == {
        ("load", "left"), ("load", "right"), ("left", "report"), ("right", "report"),
    }  # fmt: skip
    load = store.job_get(ids["load"])
    assert load.args == {"source": "s3", "date": "2027-01-15"}
    assert (load.queue, load.created_by) == ("q-load", "alice")
    events = store.event_list(after=before)
    assert [(e.job_id, e.data["status"]) for e in events] == [
        (ids["load"], "queued"), (ids["left"], "blocked"), (ids["right"], "blocked"),
        (ids["report"], "blocked"),
    ]  # fmt: skip
    assert all(e.data["recipe_id"] == recipe.id for e in events)
    assert store.recipe_get(recipe.id) == recipe


def test_recipe_inputs_are_checked(store: Store, types: None) -> None:
    recipe_type(store, node("a", inputs={"day": "date"}), inputs=("day",))
    with pytest.raises(Invalid) as info:
        store.recipe_create("r", {})
    assert info.value.field == "inputs.day"
    with pytest.raises(Invalid) as info:
        store.recipe_create("r", {"day": 1, "night": 2})
    assert info.value.field == "inputs.night"
    with pytest.raises(NotFound):
        store.recipe_create("nope", {})
    assert store.recipe_list() == (0, [])


# -- running --------------------------------------------------------------------------------------


def test_a_child_waits_for_all_its_parents_and_receives_their_outputs(
    store: Store, types: None, clock: FakeClock
) -> None:
    recipe_type(
        store,
        node("a"),
        node("b"),
        node("c", ("a", {"total": "left"}), ("b", {"total": "right", "unit": "unit"})),
    )
    recipe = store.recipe_create("r")
    finish(store, recipe, "a", {"total": 3, "other": 9})
    assert states(store, recipe.id)["c"] is S.BLOCKED  # b has not completed yet
    clock.advance(10)
    before = store.event_last_id()
    b = finish(store, recipe, "b", {"total": 4, "unit": "kg"})
    c = store.job_get(recipe.node("c").job_id)
    assert c.status is S.QUEUED
    assert c.args == {"left": 3, "right": 4, "unit": "kg"}
    assert c.run_at.timestamp() == T0 + 10  # ready since its last parent completed
    events = [e for e in store.event_list(after=before) if e.data["status"] != "running"]
    assert [(e.job_id, e.data["status"]) for e in events] == [(b, "completed"), (c.id, "queued")]
    finish(store, recipe, "c", {"done": True})
    done = store.recipe_get(recipe.id)
    assert done.status is RecipeStatus.COMPLETED
    assert done.completed_at is not None and done.completed_at.timestamp() == T0 + 10


def test_a_missing_output_leaves_the_input_unset_and_says_so(store: Store, types: None) -> None:
    recipe_type(store, node("a"), node("b", ("a", {"total": "n", "unit": "u"})))
    recipe = store.recipe_create("r")
    finish(store, recipe, "a", {"total": 1})  # no "unit"
    b = store.job_get(recipe.node("b").job_id)
    assert (b.status, b.args) == (S.QUEUED, {"n": 1})
    assert store.event_list(job_id=b.id)[-1].data == {"status": "queued", "missing": ["unit"]}


def test_a_failed_parent_keeps_its_descendants_blocked_until_requeued(
    store: Store, types: None
) -> None:
    recipe_type(
        store,
        node("a"),
        node("b", ("a", {"x": "x"})),
        node("c", ("b", {"y": "y"})),
        node("d", "a"),
    )
    recipe = store.recipe_create("r")
    finish(store, recipe, "a", {"x": 1})
    b, ex = claim(store, recipe, "b")
    store.job_finish(
        [Outcome(execution_id=ex, status=ExecutionStatus.FAILED, error_type="E", retryable=False)]
    )
    finish(store, recipe, "d", {})
    assert states(store, recipe.id) == {
        "a": S.COMPLETED,
        "b": S.FAILED,
        "c": S.BLOCKED,
        "d": S.COMPLETED,
    }
    assert store.recipe_get(recipe.id).status is RecipeStatus.FAILED
    [summary] = store.recipe_list()[1]
    assert (summary.status, summary.counts) == (
        RecipeStatus.FAILED, {"completed": 2, "failed": 1, "blocked": 1},
    )  # fmt: skip

    assert store.job_requeue([b]) == [b]
    assert store.job_get(b).status is S.QUEUED
    assert store.recipe_get(recipe.id).status is RecipeStatus.RUNNING
    finish(store, recipe, "b", {"y": 2})
    c = store.job_get(recipe.node("c").job_id)
    assert (c.status, c.args) == (S.QUEUED, {"y": 2})
    finish(store, recipe, "c", None)
    assert store.recipe_get(recipe.id).status is RecipeStatus.COMPLETED


def test_a_retrying_or_lost_parent_releases_nothing(
    store: Store, types: None, clock: FakeClock
) -> None:
    recipe_type(store, node("a"), node("b", "a"))
    recipe = store.recipe_create("r")
    claim(store, recipe, "a")
    clock.advance(LEASE + 1)
    assert store.execution_reap() == 1  # lost: a retries
    assert states(store, recipe.id) == {"a": S.RETRYING, "b": S.BLOCKED}


def test_a_killed_parent_does_not_release_its_children(store: Store, types: None) -> None:
    recipe_type(store, node("a"), node("b", "a"))
    recipe = store.recipe_create("r")
    a, ex = claim(store, recipe, "a")
    store.job_kill(a, by="alice")
    # the job completes as its kill lands: it counts as canceled, and b stays blocked
    store.job_finish([Outcome(execution_id=ex, status=ExecutionStatus.COMPLETED, result={})])
    assert states(store, recipe.id) == {"a": S.CANCELED, "b": S.BLOCKED}
    assert store.recipe_get(recipe.id).status is RecipeStatus.CANCELED


def test_a_canceled_parent_keeps_children_blocked_until_requeued(store: Store, types: None) -> None:
    recipe_type(store, node("a"), node("b", ("a", {"v": "v"})))
    recipe = store.recipe_create("r")
    a = recipe.node("a").job_id
    store.job_cancel(a, by="alice")
    assert states(store, recipe.id) == {"a": S.CANCELED, "b": S.BLOCKED}
    store.job_requeue([a])
    finish(store, recipe, "a", {"v": 5})
    assert store.job_get(recipe.node("b").job_id).args == {"v": 5}


def test_blocked_jobs_cannot_be_claimed_or_requeued(store: Store, types: None) -> None:
    recipe_type(store, node("a"), node("b", "a"))
    recipe = store.recipe_create("r")
    assert store.job_claim(worker_id="w", queues=["q-b"], types=[TYPE], limit=5, lease=1) == []
    with pytest.raises(InvalidTransition):
        store.job_requeue([recipe.node("b").job_id])


# -- cancel and requeue a recipe ------------------------------------------------------------------


def test_cancel_a_recipe_then_requeue_it(store: Store, types: None) -> None:
    recipe_type(store, node("a"), node("b"), node("c", ("a", {"x": "x"}), "b"), node("d", "c"))
    recipe = store.recipe_create("r")
    finish(store, recipe, "a", {"x": 7})
    b, ex = claim(store, recipe, "b")

    canceled = store.recipe_cancel(recipe.id, by="alice")
    assert canceled.status is RecipeStatus.CANCELED
    assert (canceled.canceled_by, canceled.canceled_at is not None) == ("alice", True)
    assert states(store, recipe.id) == {
        "a": S.COMPLETED,
        "b": S.RUNNING,
        "c": S.CANCELED,
        "d": S.CANCELED,
    }
    assert store.job_get(b).kill_requested_by == "alice"  # its worker stops it
    store.job_finish(
        [Outcome(execution_id=ex, status=ExecutionStatus.CANCELED, stopped_by="alice")]
    )
    assert states(store, recipe.id)["b"] is S.CANCELED

    requeued = store.recipe_requeue(recipe.id, by="bob")
    # b runs again; c and d wait for their parents again; a stays completed
    assert states(store, recipe.id) == {
        "a": S.COMPLETED,
        "b": S.QUEUED,
        "c": S.BLOCKED,
        "d": S.BLOCKED,
    }
    assert (requeued.status, requeued.canceled_at) == (RecipeStatus.RUNNING, None)
    events = store.event_list(job_id=recipe.node("c").job_id)
    assert events[-1].data == {"status": "blocked", "by": "bob"}
    finish(store, recipe, "b", {})
    c = store.job_get(recipe.node("c").job_id)
    assert (c.status, c.args) == (S.QUEUED, {"x": 7})
    finish(store, recipe, "c", {})
    finish(store, recipe, "d", {})
    assert store.recipe_get(recipe.id).status is RecipeStatus.COMPLETED


def test_a_child_canceled_while_blocked_gets_its_outputs_when_requeued_later(
    store: Store, types: None
) -> None:
    recipe_type(store, node("a"), node("b", ("a", {"x": "x"})))
    recipe = store.recipe_create("r")
    b = recipe.node("b").job_id
    store.job_cancel(b)
    finish(store, recipe, "a", {"x": 3})
    assert store.job_get(b).status is S.CANCELED  # a canceled job is not released
    store.job_requeue([b])
    assert (store.job_get(b).status, store.job_get(b).args) == (S.QUEUED, {"x": 3})


def test_unknown_recipes(store: Store) -> None:
    for call in (store.recipe_get, store.recipe_cancel, store.recipe_requeue):
        with pytest.raises(NotFound):
            call(999)


# -- links and listing ----------------------------------------------------------------------------


def test_a_jobs_parents_and_children(store: Store, types: None, factory: JobFactory) -> None:
    recipe_type(store, node("a"), node("b"), node("c", "a", "b"), node("d", "c"))
    recipe = store.recipe_create("r")
    ids = {n.name: n.job_id for n in recipe.nodes}
    links = store.job_links(ids["c"])
    assert links is not None
    assert (links.recipe_id, links.recipe_type, links.name) == (recipe.id, "r", "c")
    assert [(p.job_id, p.name, p.status) for p in links.parents] == [
        (ids["a"], "a", S.QUEUED), (ids["b"], "b", S.QUEUED),
    ]  # fmt: skip
    assert [(p.job_id, p.name, p.status) for p in links.children] == [(ids["d"], "d", S.BLOCKED)]
    assert [p.name for p in store.job_parents(ids["c"])] == ["a", "b"]
    plain = factory.enqueue()
    assert store.job_links(plain) is None
    assert store.job_parents(plain) == []
    with pytest.raises(NotFound):
        store.job_links(10**9)


def test_recipe_list_pages_and_filters(store: Store, types: None) -> None:
    recipe_type(store, node("a"))
    recipe_type(store, node("a"), name="other")
    made = [store.recipe_create("r").id for _ in range(3)] + [store.recipe_create("other").id]
    store.recipe_cancel(made[1])
    count, page = store.recipe_list(per_page=2)
    assert (count, [r.id for r in page]) == (4, [made[3], made[2]])
    count, page = store.recipe_list(page=2, per_page=2)
    assert [r.id for r in page] == [made[1], made[0]]
    assert store.recipe_list(type="other")[0] == 1
    count, page = store.recipe_list(statuses=["canceled"])
    assert (count, [(r.id, r.status, r.jobs) for r in page]) == (
        1, [(made[1], RecipeStatus.CANCELED, 1)],
    )  # fmt: skip
    assert store.recipe_list(statuses=["running"], type="r")[0] == 2
    with pytest.raises(Invalid) as info:
        store.recipe_list(statuses=["lost"])
    assert info.value.field == "status"


# -- concurrency ----------------------------------------------------------------------------------


def test_parents_completing_at_once_release_their_child_once(
    make_store: Any, clock: FakeClock, factory: JobFactory, types: None
) -> None:
    """Two workers complete the two parents of one child in the same instant, from two stores
    (two connections): whichever commits second sees the first and releases the child."""
    store = factory.store
    others = [make_store(clock=clock) for _ in range(2)]
    recipe_type(store, node("a"), node("b"), node("c", ("a", {"v": "x"}), ("b", {"w": "y"})))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def complete(s: Store, ex: int, value: int) -> None:
        try:
            barrier.wait()
            s.job_finish([Outcome(ex, ExecutionStatus.COMPLETED, result={"v": value, "w": value})])
        except BaseException as exc:  # pragma: no cover - shown below
            errors.append(exc)

    for _ in range(8):
        recipe = store.recipe_create("r")
        executions = [claim(store, recipe, n)[1] for n in ("a", "b")]
        threads = [
            threading.Thread(target=complete, args=(s, ex, i))
            for i, (s, ex) in enumerate(zip(others, executions, strict=True))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        c = store.job_get(recipe.node("c").job_id)
        assert (c.status, c.args) == (S.QUEUED, {"x": 0, "y": 1})
        released = [e for e in store.event_list(job_id=c.id) if e.data["status"] == "queued"]
        assert len(released) == 1
