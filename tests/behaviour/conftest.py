"""Behaviour fixtures: every store here runs on a fake clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from behaviour.factory import FakeClock, JobFactory
from jobyard.store import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(make_store: Callable[..., Store], clock: FakeClock) -> Store:
    return make_store(clock=clock)


@pytest.fixture
def factory(store: Store, clock: FakeClock) -> JobFactory:
    return JobFactory(store, clock)
