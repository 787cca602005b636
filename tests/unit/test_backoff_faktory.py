"""Faktory's backoff as a policy choice: its formula, its bounds, and stored definitions."""

from __future__ import annotations

import random

import pytest

from jobyard.core.backoff import Backoff, after_failure, faktory_delay
from jobyard.core.errors import Invalid
from jobyard.core.states import Event


@pytest.mark.parametrize("count", [0, 1, 2, 5, 24])
def test_faktory_formula_bounds(count: int) -> None:
    rng = random.Random(7)
    samples = {faktory_delay(count, rng) for _ in range(400)}
    low = count**4 + 15
    assert min(samples) == low  # rand(30) drew 0 at least once in 400 tries
    assert max(samples) == low + 29 * (count + 1)
    assert all((s - low) % (count + 1) == 0 for s in samples)


def test_faktory_kind_counts_failures_before_this_one() -> None:
    b = Backoff(kind="faktory")
    rng = random.Random(1)
    assert 15 <= b.delay(1, rng) <= 44  # the first failure: count 0
    assert 16 + 0 <= b.delay(2, rng) <= 1 + 15 + 29 * 2  # the second: count 1
    assert b.delay(26, rng) >= 25**4  # nothing caps it: Faktory waits days


def test_faktory_kind_round_trips_and_default_stays_as_it_was() -> None:
    b = Backoff(kind="faktory")
    assert Backoff.parse(b.to_dict()) == b
    assert "kind" not in Backoff().to_dict()  # definitions stored before kinds existed still match
    assert Backoff.parse({"kind": "exponential", "base": 2}) == Backoff(base=2)


@pytest.mark.parametrize("kind", ["linear", 3, None])
def test_unknown_kind_names_the_field(kind: object) -> None:
    with pytest.raises(Invalid) as err:
        Backoff.parse({"kind": kind})
    assert err.value.field == "backoff.kind"


def test_after_failure_uses_the_job_backoff_kind() -> None:
    d = after_failure(
        tries=3, max_tries=6, retryable=True, backoff=Backoff(kind="faktory"), now=1000.0,
        rng=random.Random(3),
    )  # fmt: skip
    assert d.event is Event.RETRY
    assert d.run_at is not None and 1000 + 2**4 + 15 <= d.run_at <= 1000 + 16 + 15 + 29 * 3
