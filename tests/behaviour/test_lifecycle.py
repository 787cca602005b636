"""Every operation from every source state: the table's target, or refused and nothing changed.

Single-job operations a person calls (kill, cancel, restart, remove, requeue) raise
InvalidTransition when the job's state does not allow them. Batch operations a worker or the engine
calls (claim, finish, release_due, reap) skip jobs they do not apply to; for those "refused" means
the call returns without touching the job. Either way the job, the event log and the set of jobs
are exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from behaviour.factory import DELAY, LEASE, JobFactory, Made
from jobyard.core.errors import InvalidTransition
from jobyard.core.models import Outcome
from jobyard.core.states import ExecutionStatus, JobStatus

S = JobStatus
NO_EXECUTION = 999_999  # an execution id no job ever had
REFUSED = "refused"  # InvalidTransition, nothing changed
IGNORED = "ignored"  # a batch operation skipped the job, nothing changed


def _execution(f: JobFactory, made: Made) -> int:
    return made.execution_id if made.execution_id is not None else NO_EXECUTION


def _finish(status: ExecutionStatus) -> Callable[[JobFactory, Made], Any]:
    def run(f: JobFactory, made: Made) -> Any:
        outcome = Outcome(
            execution_id=_execution(f, made),
            status=status,
            result={"done": True} if status is ExecutionStatus.COMPLETED else None,
            error_type=None if status is ExecutionStatus.COMPLETED else "E",
            error_message=None if status is ExecutionStatus.COMPLETED else "it broke",
            stopped_by="bob" if status is ExecutionStatus.CANCELED else None,
        )
        return f.store.job_finish([outcome])

    return run


def _claim(f: JobFactory, made: Made) -> Any:
    return f.store.job_claim(
        worker_id="w9", queues=[made.queue], types=["test.echo"], limit=10, lease=LEASE
    )


def _release_due(f: JobFactory, made: Made) -> Any:
    f.clock.advance(DELAY + 1)  # past every factory run_at (scheduled and retrying)
    return f.store.job_release_due()


def _reap(f: JobFactory, made: Made) -> Any:
    f.clock.advance(LEASE + 1)  # past every factory lease
    return f.store.execution_reap()


OPERATIONS: dict[str, Callable[[JobFactory, Made], Any]] = {
    "claim": _claim,
    "finish_completed": _finish(ExecutionStatus.COMPLETED),
    "finish_failed": _finish(ExecutionStatus.FAILED),
    "finish_timed_out": _finish(ExecutionStatus.TIMED_OUT),
    "finish_canceled": _finish(ExecutionStatus.CANCELED),
    "finish_released": _finish(ExecutionStatus.RELEASED),
    "kill": lambda f, m: f.store.job_kill(m.id, by="alice"),
    "cancel": lambda f, m: f.store.job_cancel(m.id, by="alice"),
    "restart": lambda f, m: f.store.job_restart(m.id, by="alice"),
    "remove": lambda f, m: f.store.job_remove(m.id, by="alice"),
    "requeue": lambda f, m: f.store.job_requeue([m.id], by="alice"),
    "release_due": _release_due,
    "reap": _reap,
}

_WAITING = (S.SCHEDULED, S.BLOCKED, S.QUEUED, S.RETRYING)
_TERMINAL = (S.COMPLETED, S.FAILED, S.CANCELED)


def _only(allowed: dict[JobStatus, JobStatus], otherwise: str) -> dict[JobStatus, Any]:
    return {s: allowed.get(s, otherwise) for s in JobStatus}


# operation -> source state -> target state, REFUSED or IGNORED. Written from DESIGN.md and the
# Store docstrings, not from core/states.py, so the store is checked against the contract.
EXPECTED: dict[str, dict[JobStatus, Any]] = {
    "claim": _only({S.QUEUED: S.RUNNING}, IGNORED),
    "finish_completed": _only({S.RUNNING: S.COMPLETED}, IGNORED),
    "finish_failed": _only({S.RUNNING: S.RETRYING}, IGNORED),
    "finish_timed_out": _only({S.RUNNING: S.RETRYING}, IGNORED),
    "finish_canceled": _only({S.RUNNING: S.CANCELED}, IGNORED),
    "finish_released": _only({S.RUNNING: S.QUEUED}, IGNORED),
    # a running job stays running until its worker confirms the process is gone
    "kill": _only({S.RUNNING: S.RUNNING, **dict.fromkeys(_WAITING, S.CANCELED)}, REFUSED),
    "cancel": _only(dict.fromkeys(_WAITING, S.CANCELED), REFUSED),
    # the old job keeps its state; a new queued job is made
    "restart": _only({s: s for s in _TERMINAL}, REFUSED),
    "remove": _only({**dict.fromkeys(_WAITING, S.CANCELED), **{s: s for s in _TERMINAL}}, REFUSED),
    "requeue": _only({S.FAILED: S.QUEUED, S.CANCELED: S.QUEUED}, REFUSED),
    "release_due": _only({S.SCHEDULED: S.QUEUED, S.RETRYING: S.QUEUED}, IGNORED),
    "reap": _only({S.RUNNING: S.RETRYING}, IGNORED),
}

CASES = [(op, status) for op in OPERATIONS for status in JobStatus]


def test_every_operation_has_an_expectation() -> None:
    assert set(EXPECTED) == set(OPERATIONS)
    for op, table in EXPECTED.items():
        assert set(table) == set(JobStatus), op


@pytest.mark.parametrize(("op", "source"), CASES, ids=[f"{s}-{op}" for op, s in CASES])
def test_operation_from_state(factory: JobFactory, op: str, source: JobStatus) -> None:
    made = factory.make(source)
    expected = EXPECTED[op][source]
    before = factory.get(made.id)
    jobs_before = factory.all_jobs()
    last_event = factory.last_event_id()

    if expected == REFUSED:
        with pytest.raises(InvalidTransition) as info:
            OPERATIONS[op](factory, made)
        err = info.value
        assert (err.job_id, err.status, err.operation) == (made.id, source.value, op)
        assert str(made.id) in err.message and source.value in err.message
    else:
        result = OPERATIONS[op](factory, made)

    if expected in (REFUSED, IGNORED):
        if expected == IGNORED:
            assert result in ([], 0, [False]), result
        assert factory.get(made.id) == before
        assert factory.all_jobs() == jobs_before
        assert factory.last_event_id() == last_event
        return

    after = factory.get(made.id)
    assert after.status is expected
    _check_moved(factory, op, source, before, after, result)
    new_events = factory.store.event_list(after=last_event)
    assert new_events, "a state change appends an event"
    mine = [e for e in new_events if e.job_id == made.id and e.kind == "state"]
    assert mine[-1].data["status"] == expected.value
    assert all(e.at.timestamp() == factory.clock() for e in new_events)


def _check_moved(
    f: JobFactory, op: str, source: JobStatus, before: Any, after: Any, result: Any
) -> None:
    now = f.clock()
    if op == "claim":
        [claim] = result
        assert claim.job_id == after.id
        assert after.tries == before.tries + 1
        assert after.execution_id == claim.execution_id
    elif op.startswith("finish_"):
        assert result == [True]
        status = ExecutionStatus(op.removeprefix("finish_"))
        assert after.executions[-1].status is status
        assert after.executions[-1].ended_at.timestamp() == now
        if status is ExecutionStatus.RELEASED:
            assert after.tries == before.tries - 1  # the try is not counted
        if status is ExecutionStatus.CANCELED:
            assert after.canceled_by == "bob"
    elif op == "kill" and source is S.RUNNING:
        assert after.kill_requested_by == "alice"
        assert after.kill_requested_at.timestamp() == now
        assert after.canceled_at is None
    elif op in ("kill", "cancel"):
        assert (after.canceled_by, after.canceled_at.timestamp()) == ("alice", now)
        assert after.finished_at.timestamp() == now
    elif op == "restart":
        new = f.get(result.id)
        assert new.status is S.QUEUED
        assert (after.restarted_as, new.restart_of) == (new.id, after.id)
        assert after.result == before.result
    elif op == "remove":
        assert (after.removed_by, after.removed_at.timestamp()) == ("alice", now)
        if source not in _TERMINAL:
            assert after.canceled_by == "alice"
    elif op == "requeue":
        assert result == [after.id]
        assert after.max_tries == after.tries + 1
        assert after.run_at.timestamp() == now
        assert after.finished_at is None
    elif op == "release_due":
        assert result == 1
        assert after.tries == before.tries
    elif op == "reap":
        assert result == 1
        assert after.executions[-1].status is ExecutionStatus.LOST
    else:  # pragma: no cover
        raise AssertionError(op)
