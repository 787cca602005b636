"""Wake-ups in tests: a store whose listener is connected and whose connect wake-up is spent."""

from __future__ import annotations

from jobyard.store import Store
from support.servers import wait_for


def listening(store: Store, queue: str) -> Store:
    """``store`` hearing of work from every process (PostgreSQL: LISTEN connected), with the one
    wake-up its listener's connecting gives already taken, so the next wait ends only for work."""
    store.wait_for_work([queue], timeout=0.01)  # PostgreSQL: starts the listener
    wait_for(lambda: store.announces_work, message="the store hears of work from every process")
    store.wait_for_work([queue], timeout=0.01)  # the connect wake-up (none on SQLite: harmless)
    return store
