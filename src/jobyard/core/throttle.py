"""Failures counted per key in a sliding window: what limits guessing at passwords.

The HTTP app keys failed sign-ins by user name and by client address; the Faktory listener keys
failed handshakes by address. Pure bookkeeping in memory, with the clock passed in.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Throttle:
    """Once a key has ``limit`` failures in the last ``window`` seconds, :meth:`wait` says how
    long until the oldest of them leaves the window; until then the caller refuses to try."""

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,  # keys remembered; past it the stale ones are dropped
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            found = self._failures.get(key)
            if not found:
                return 0.0
            while found and found[0] <= now - self.window:
                found.popleft()
            if len(found) < self.limit:
                return 0.0
            # the window frees a slot when the failure that filled it leaves
            return found[len(found) - self.limit] + self.window - now

    def failed(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            if key not in self._failures and len(self._failures) >= self.max_keys:
                old = now - self.window
                for stale in [k for k, v in self._failures.items() if not v or v[-1] <= old]:
                    del self._failures[stale]
                if len(self._failures) >= self.max_keys:  # a flood of fresh keys: start over
                    self._failures.clear()
            found = self._failures.setdefault(key, deque())
            found.append(now)
            while len(found) > self.limit:
                found.popleft()  # more than the limit is never needed to answer wait()

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def __len__(self) -> int:
        """Keys remembered."""
        return len(self._failures)
