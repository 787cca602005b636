"""Finished jobs leave history once past their retention, with everything only about them."""

from __future__ import annotations

import pytest

from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import LogLine
from jobyard.core.recipes import RecipeTypeDefinition
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.engine.pruner import Pruner, PrunerConfig
from jobyard.store import Store

from .factory import FakeClock, JobFactory

DAY = 86400.0
RETENTION = 30 * DAY


def gone(store: Store, job_id: int) -> bool:
    try:
        store.job_get(job_id)
    except NotFound:
        return True
    return False


def test_an_old_finished_job_goes_with_its_executions_events_and_log(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    old = factory.make(JobStatus.COMPLETED)
    assert old.execution_id is not None
    store.job_log_append(
        [LogLine(job_id=old.id, execution_id=old.execution_id, at=clock(), stream="log",
                 text="a line of the old job")]
    )  # fmt: skip
    assert store.job_log(old.id)
    clock.advance(RETENTION + 1)
    recent = factory.make(JobStatus.FAILED)
    waiting = factory.make(JobStatus.QUEUED)

    assert store.job_history_prune(older_than=RETENTION) == 1

    assert gone(store, old.id)
    assert store.execution_list(job_id=old.id) == []
    with pytest.raises(NotFound):
        store.job_log(old.id)
    assert [e for e in store.event_list(limit=100_000) if e.job_id == old.id] == []
    assert store.job_get(recent.id).status is JobStatus.FAILED
    assert store.job_get(waiting.id).status is JobStatus.QUEUED
    assert store.job_history_prune(older_than=RETENTION) == 0


def test_canceled_and_failed_jobs_are_pruned_like_completed_ones(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    jobs = [factory.make(s).id for s in (JobStatus.CANCELED, JobStatus.FAILED)]
    clock.advance(RETENTION + 1)
    assert store.job_history_prune(older_than=RETENTION) == 2
    assert all(gone(store, j) for j in jobs)


def test_a_recipe_goes_whole_once_every_job_is_finished_and_old(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    factory.register("ret.parent", queue="ret-parents")
    factory.register("ret.child", queue="ret-children")
    graph = {"jobs": [
        {"name": "parent", "job_type": {"name": "ret.parent"}},
        {"name": "child", "job_type": {"name": "ret.child"}, "dependencies": [{"name": "parent"}]},
    ]}  # fmt: skip
    store.recipe_type_register(RecipeTypeDefinition.from_dict({"name": "ret", "definition": graph}))
    recipe = store.recipe_create("ret")
    parent, child = recipe.node("parent").job_id, recipe.node("child").job_id

    claim = factory.claim_one("ret-parents")
    assert factory.finish(claim.execution_id, ExecutionStatus.COMPLETED)
    clock.advance(RETENTION + 1)
    # the parent is old and finished, but its recipe still has a job to run
    assert store.job_history_prune(older_than=RETENTION) == 0
    assert store.job_get(parent).status is JobStatus.COMPLETED

    claim = factory.claim_one("ret-children")
    assert claim.job_id == child
    assert factory.finish(claim.execution_id, ExecutionStatus.COMPLETED)
    # now both are finished, but the child only just
    assert store.job_history_prune(older_than=RETENTION) == 0
    clock.advance(RETENTION + 1)
    assert store.job_history_prune(older_than=RETENTION) == 2
    assert gone(store, parent) and gone(store, child)
    with pytest.raises(NotFound):
        store.recipe_get(recipe.id)


def test_the_pruner_goes_through_every_batch(
    store: Store, factory: JobFactory, clock: FakeClock
) -> None:
    jobs = [factory.make(JobStatus.COMPLETED).id for _ in range(5)]
    clock.advance(RETENTION + 1)
    assert store.job_history_prune(older_than=RETENTION, limit=2) == 2
    pruner = Pruner(store, PrunerConfig(history_retention=RETENTION, batch=2))
    assert pruner.run_once() >= 3  # the other three jobs, and the old events
    assert all(gone(store, j) for j in jobs)


@pytest.mark.parametrize(("field", "options"), [
    ("older_than", {"older_than": 0}),
    ("limit", {"older_than": RETENTION, "limit": 0}),
])  # fmt: skip
def test_bad_arguments_name_the_field(store: Store, field: str, options: dict[str, float]) -> None:
    with pytest.raises(Invalid) as caught:
        store.job_history_prune(**options)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_pruner_config_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(Invalid, match="history_retention"):
        PrunerConfig(history_retention=0)
