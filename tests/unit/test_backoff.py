"""Retry policy: exponential growth, the cap, jitter bounds and the retry-or-fail decision."""

from __future__ import annotations

import math
import random

import pytest

from jobyard.core.backoff import Backoff, RetryDecision, after_failure
from jobyard.core.errors import Invalid
from jobyard.core.states import Event


def test_grows_exponentially_without_jitter() -> None:
    b = Backoff(base=5, factor=2, max=3600, jitter=0)
    assert [b.delay(t) for t in range(1, 7)] == [5, 10, 20, 40, 80, 160]


def test_zeroth_try_waits_the_base() -> None:
    assert Backoff(base=3, factor=4, jitter=0).delay(0) == 3


def test_factor_one_is_constant() -> None:
    b = Backoff(base=7, factor=1, jitter=0)
    assert {b.delay(t) for t in range(1, 20)} == {7}


def test_capped_at_max() -> None:
    b = Backoff(base=5, factor=10, max=100, jitter=0)
    assert [b.delay(t) for t in range(1, 5)] == [5, 50, 100, 100]
    assert b.delay(10_000) == 100  # no overflow for absurd try counts


def test_zero_base_never_waits() -> None:
    assert Backoff(base=0, jitter=0.5).delay(5, random.Random(1)) == 0


def test_defaults() -> None:
    b = Backoff()
    assert b.to_dict() == {"base": 5.0, "factor": 2.0, "max": 3600.0, "jitter": 0.1}


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_stays_within_bounds(jitter: float) -> None:
    b = Backoff(base=10, factor=2, max=1000, jitter=jitter)
    rng = random.Random(1234)
    for tries in range(1, 10):
        raw = min(10 * 2 ** (tries - 1), 1000)
        samples = [b.delay(tries, rng) for _ in range(300)]
        assert min(samples) >= max(0.0, raw * (1 - jitter))
        assert max(samples) <= raw * (1 + jitter)
        # spread over the range, not stuck at one end
        assert min(samples) < raw < max(samples)
        assert len(set(samples)) > 250


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    b = Backoff(base=10, jitter=0.3)
    first = [b.delay(t, random.Random(99)) for t in range(1, 6)]
    again = [b.delay(t, random.Random(99)) for t in range(1, 6)]
    assert first == again
    assert first != [b.delay(t, random.Random(100)) for t in range(1, 6)]


def test_jitter_applies_after_the_cap() -> None:
    b = Backoff(base=10, factor=10, max=50, jitter=0.2)
    rng = random.Random(7)
    samples = [b.delay(6, rng) for _ in range(200)]
    assert 40 <= min(samples) < 50 < max(samples) <= 60


def test_retry_while_tries_are_left() -> None:
    b = Backoff(base=5, factor=3, jitter=0)
    assert after_failure(tries=1, max_tries=3, retryable=True, backoff=b, now=1000.0) == (
        RetryDecision(Event.RETRY, 1005.0)
    )
    assert after_failure(tries=2, max_tries=3, retryable=True, backoff=b, now=1000.0) == (
        RetryDecision(Event.RETRY, 1015.0)
    )


def test_fail_when_out_of_tries() -> None:
    b = Backoff(jitter=0)
    assert after_failure(tries=3, max_tries=3, retryable=True, backoff=b, now=1.0) == (
        RetryDecision(Event.FAIL, None)
    )
    assert after_failure(tries=4, max_tries=3, retryable=True, backoff=b, now=1.0).event is (
        Event.FAIL
    )


def test_not_retryable_fails_at_once() -> None:
    decision = after_failure(tries=1, max_tries=10, retryable=False, backoff=Backoff(), now=1.0)
    assert decision == RetryDecision(Event.FAIL, None)


def test_retry_uses_the_rng() -> None:
    b = Backoff(base=100, jitter=0.5)
    d1 = after_failure(
        tries=1, max_tries=2, retryable=True, backoff=b, now=0.0, rng=random.Random(5)
    )
    d2 = after_failure(
        tries=1, max_tries=2, retryable=True, backoff=b, now=0.0, rng=random.Random(5)
    )
    assert d1 == d2
    assert d1.run_at is not None and 50 <= d1.run_at <= 150 and d1.run_at != 100


# -- parsing --------------------------------------------------------------------------------


def test_parse_accepts_a_backoff_seconds_or_an_object() -> None:
    b = Backoff(base=1, jitter=0)
    assert Backoff.parse(b) is b
    assert Backoff.parse(30) == Backoff(base=30.0)
    assert Backoff.parse(2.5) == Backoff(base=2.5)
    assert Backoff.parse({}) == Backoff()
    assert Backoff.parse({"base": 1, "factor": 3, "max": 60, "jitter": 0}) == Backoff(
        base=1, factor=3, max=60, jitter=0
    )
    assert Backoff.parse({"max": "120"}) == Backoff(max=120.0)  # numeric strings, as in forms


def test_round_trips_through_to_dict() -> None:
    b = Backoff(base=1.5, factor=1.25, max=90, jitter=0.05)
    assert Backoff.parse(b.to_dict()) == b


@pytest.mark.parametrize("value", [None, "5", [5], True, False, object()])
def test_parse_rejects_other_shapes(value: object) -> None:
    with pytest.raises(Invalid) as info:
        Backoff.parse(value)
    assert info.value.field == "backoff"
    assert "seconds or an object" in info.value.message


def test_parse_names_an_unknown_option() -> None:
    with pytest.raises(Invalid, match="'maximum'") as info:
        Backoff.parse({"base": 1, "maximum": 5})
    assert info.value.field == "backoff"


@pytest.mark.parametrize("value", [{"base": "soon"}, {"factor": None}, {"max": [1]}])
def test_parse_rejects_values_that_are_not_numbers(value: dict[str, object]) -> None:
    with pytest.raises(Invalid, match="must be numbers") as info:
        Backoff.parse(value)
    assert info.value.field == "backoff"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"base": -1}, "backoff.base"),
        ({"max": -0.5}, "backoff.max"),
        ({"jitter": -0.1}, "backoff.jitter"),
        ({"jitter": 1.5}, "backoff.jitter"),
        ({"factor": 0.5}, "backoff.factor"),
        (-3, "backoff.base"),
    ],
)
def test_parse_rejects_out_of_range_values(value: object, field: str) -> None:
    with pytest.raises(Invalid) as info:
        Backoff.parse(value)
    assert info.value.field == field


@pytest.mark.parametrize("value", [math.nan, {"base": "nan"}, {"factor": math.nan}])
def test_parse_rejects_nan(value: object) -> None:
    with pytest.raises(Invalid):
        Backoff.parse(value)
