"""What an adapter does for the driver (bench/driver.py), and the defaults most share."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from bench.common import Proc

T = TypeVar("T")


class NotApplicable(Exception):
    """The workload does not apply to this system; the message says why."""


class Adapter(ABC):
    name = ""
    label = ""  # the row's name in the report
    backend = ""  # postgresql, redis or sqlite
    packages: Sequence[str] = ()  # distributions whose versions the report names
    durability = ""  # what an acknowledged enqueue survives, as this adapter runs it
    concurrency = ""  # how the 2-slot budget is spent
    bulk_api = ""  # the call enqueue_bulk uses ("" when none: n/a)

    _loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @abstractmethod
    def setup(self) -> None:
        """Fresh storage: drop and recreate the database, or FLUSHDB; install the schema."""

    def open(self) -> None:  # noqa: B027 - an optional hook: most producers connect lazily
        """Connect the producer (after setup)."""

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    @abstractmethod
    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        """Start the workers: 2 processes, or one async process with concurrency 2."""

    # -- producing ------------------------------------------------------------------------------

    @abstractmethod
    def enqueue_one(self, n: int) -> None:
        """Enqueue job ``n`` with one call, durable as the library normally makes it."""

    def enqueue_bulk(self, ns: Sequence[int]) -> None:
        """Enqueue all of ``ns`` through the library's bulk API."""
        raise NotApplicable(f"{self.label} has no bulk enqueue API")

    def fill(self, ns: Sequence[int]) -> None:
        """Put ``ns`` in the queue as fast as the library allows (drain's setup, not timed)."""
        try:
            for i in range(0, len(ns), 5000):
                self.enqueue_bulk(ns[i : i + 5000])
        except NotApplicable:
            for n in ns:
                self.enqueue_one(n)

    # -- helpers --------------------------------------------------------------------------------

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the adapter's own event loop (for asyncio libraries)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)  # type: ignore[arg-type]
