"""Faktory fixtures: the commands over a store on a fake clock, both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from behaviour.factory import FakeClock
from jobyard.core.settings import Settings
from jobyard.faktory.service import Faktory, FaktoryConfig, Peer
from jobyard.store import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(make_store: Callable[..., Store], clock: FakeClock) -> Store:
    return make_store(clock=clock)


@pytest.fixture
def fk(store: Store) -> Faktory:
    return Faktory(store, Settings(), FaktoryConfig())


@pytest.fixture
def peer(fk: Faktory) -> Peer:
    """A worker's connection, registered as its HELLO would."""
    p = Peer(id=1, hostname="host-a", pid=4242, wid="wid-00000001")
    fk.hello(p, ["python", "test"])
    return p
