"""Runs engine duties on a thread, only on the instance that leads the engine.

Leadership is one database row with a TTL (``Store.leader_acquire``): any number of engines may
run against one database, and one of them leads and runs every duty. A leader that dies stops
renewing; another engine takes over once the TTL has passed. One row for all duties, not one
per duty: an idle engine then writes once per renewal, not once per duty (bench ``idle``), and
the duties never split between two half-working engines.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from jobyard.core.settings import Settings
from jobyard.engine.duty import Duty
from jobyard.engine.pruner import Pruner, PrunerConfig
from jobyard.engine.reaper import Reaper
from jobyard.engine.releaser import Releaser
from jobyard.engine.rollup import Rollup
from jobyard.engine.sampler import Sampler
from jobyard.engine.schedules import Scheduler, SchedulerConfig
from jobyard.engine.services import Services, ServicesConfig
from jobyard.store.base import Store

log = logging.getLogger("jobyard.engine")

LEADER_TTL = 15.0  # seconds a leader holds the engine without renewing
LEADERSHIP = "engine"  # the leadership row's key


def default_duties(store: Store, settings: Settings) -> list[Duty]:
    return [
        Releaser(store),
        Reaper(store),
        Pruner(
            store,
            PrunerConfig(
                event_retention=settings.event_retention,
                history_retention=settings.history_retention,
            ),
        ),
        Rollup(store),
        Sampler(store),
        Scheduler(store, SchedulerConfig(run_retention=settings.history_retention)),
        Services(store, ServicesConfig(interval=settings.service_interval)),
    ]


class Engine:
    def __init__(
        self,
        store: Store,
        duties: Sequence[Duty],
        *,
        holder: str | None = None,
        leader_ttl: float = LEADER_TTL,
    ) -> None:
        self.store = store
        self.duties = list(duties)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader_ttl = leader_ttl
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_run = {d.name: 0.0 for d in self.duties}
        self._lead_until = 0.0
        self._ask_at = 0.0  # when a follower next asks to lead

    def tick(self) -> dict[str, int]:
        """Run every duty that is due, if this engine leads; returns what each handled."""
        handled: dict[str, int] = {}
        for duty in self.duties:
            now = time.monotonic()
            # Leadership is kept or sought on its own rhythm, not the duties': a leader renews
            # before its row expires, and a follower asks again every TTL/6, so a dead leader's
            # duties move within TTL + TTL/6 (about 17 s) (tests/chaos/test_leader.py).
            if not self._lead(now):
                return handled
            if now < self._next_run[duty.name]:
                continue
            try:
                handled[duty.name] = duty.run_once()
            except Exception:
                log.exception("engine duty %s failed; it runs again in %.1f s", duty.name,
                              duty.interval)  # fmt: skip
            # read after the round: a duty may space its rounds by what it found
            self._next_run[duty.name] = now + duty.interval
        return handled

    def _lead(self, now: float) -> bool:
        # renew at a third of the TTL, not every tick: a fast duty would otherwise write each time
        if now < self._lead_until - self.leader_ttl * 2 / 3:
            return True
        if now < self._ask_at:  # a follower, not yet time to ask again
            return False
        try:
            leading = self.store.leader_acquire(LEADERSHIP, self.holder, ttl=self.leader_ttl)
        except Exception:
            log.exception("cannot reach the store to lead the engine")
            leading = False
        self._lead_until = now + self.leader_ttl if leading else 0.0
        self._ask_at = 0.0 if leading else now + self.leader_ttl / 6
        return leading

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jobyard-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            wait = min(self._next_run.values(), default=1.0) - time.monotonic()
            if self._lead_until == 0.0:  # a follower: nothing to do until it asks again
                wait = self._ask_at - time.monotonic()
            self._stop.wait(max(0.05, min(wait, 1.0)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
