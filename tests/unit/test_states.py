"""The state machine: every (state, event) pair, against a table written out here by hand."""

from __future__ import annotations

import itertools

import pytest

from jobyard.core.errors import InvalidTransition
from jobyard.core.states import (
    LIVE,
    TERMINAL,
    TRANSITIONS,
    WAITING,
    Event,
    JobStatus,
    sources,
    status_values,
    target,
    transition,
)

S = JobStatus

# (event, source) -> target, spelled out independently of core/states.py so a change to the
# module's table shows up here as a failure, not as a silently updated expectation.
ALLOWED: dict[tuple[Event, JobStatus], JobStatus] = {
    (Event.RELEASE, S.SCHEDULED): S.QUEUED,
    (Event.RELEASE, S.RETRYING): S.QUEUED,
    (Event.UNBLOCK, S.BLOCKED): S.QUEUED,
    (Event.CLAIM, S.QUEUED): S.RUNNING,
    (Event.COMPLETE, S.RUNNING): S.COMPLETED,
    (Event.RETRY, S.RUNNING): S.RETRYING,
    (Event.FAIL, S.RUNNING): S.FAILED,
    (Event.KILL, S.RUNNING): S.CANCELED,
    (Event.CANCEL, S.SCHEDULED): S.CANCELED,
    (Event.CANCEL, S.BLOCKED): S.CANCELED,
    (Event.CANCEL, S.QUEUED): S.CANCELED,
    (Event.CANCEL, S.RETRYING): S.CANCELED,
    (Event.GIVE_BACK, S.RUNNING): S.QUEUED,
    (Event.REQUEUE, S.FAILED): S.QUEUED,
    (Event.REQUEUE, S.CANCELED): S.QUEUED,
    (Event.REBLOCK, S.FAILED): S.BLOCKED,
    (Event.REBLOCK, S.CANCELED): S.BLOCKED,
}

PAIRS = list(itertools.product(JobStatus, Event))


@pytest.mark.parametrize(("status", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_state_and_event(status: JobStatus, event: Event) -> None:
    expected = ALLOWED.get((event, status))
    if expected is not None:
        assert transition(41, status, event) is expected
        assert transition(41, status.value, event) is expected  # plain strings from SQL rows
        return
    with pytest.raises(InvalidTransition) as info:
        transition(41, status, event)
    err = info.value
    assert "41" in err.message
    assert status.value in err.message
    assert event.value in err.message
    assert (err.job_id, err.status, err.operation) == (41, status.value, event.value)
    assert err.details == {"job_id": 41, "status": status.value, "operation": event.value}
    assert (err.code, err.http_status) == ("invalid_transition", 409)


def test_table_matches_the_module() -> None:
    from_module = {
        (event, source): to for event, (allowed, to) in TRANSITIONS.items() for source in allowed
    }
    assert from_module == ALLOWED
    assert set(TRANSITIONS) == set(Event)


def test_sources_and_target() -> None:
    assert sources(Event.CANCEL) == {S.SCHEDULED, S.BLOCKED, S.QUEUED, S.RETRYING}
    assert sources(Event.REQUEUE) == {S.FAILED, S.CANCELED}
    assert target(Event.GIVE_BACK) is S.QUEUED
    assert target(Event.KILL) is S.CANCELED


def test_terminal_states_have_no_way_out_but_requeue() -> None:
    for status in TERMINAL:
        allowed = {event for (event, source) in ALLOWED if source is status}
        assert allowed <= {Event.REQUEUE, Event.REBLOCK}, status
    assert {event for (event, source) in ALLOWED if source is S.COMPLETED} == set()


def test_state_groups() -> None:
    assert TERMINAL == {S.COMPLETED, S.FAILED, S.CANCELED}
    assert WAITING == {S.SCHEDULED, S.BLOCKED, S.QUEUED, S.RETRYING}
    assert LIVE == WAITING | {S.RUNNING}
    assert [s for s in JobStatus if s.is_terminal] == [S.COMPLETED, S.FAILED, S.CANCELED]
    assert [s for s in JobStatus if s.is_waiting] == [S.SCHEDULED, S.BLOCKED, S.QUEUED, S.RETRYING]


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="paused"):
        transition(1, "paused", Event.CLAIM)


def test_status_values_are_sorted_strings() -> None:
    assert status_values([S.RUNNING, S.BLOCKED, S.QUEUED]) == ["blocked", "queued", "running"]
