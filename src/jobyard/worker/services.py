"""The worker's side of services: readiness checks and reload signals of the instances it runs.

The engine decides when instances start and stop; the worker that runs one is the only place its
readiness can be checked (the probe's ``127.0.0.1`` is the instance's host) and its process
signalled. :class:`ServiceWatch` is called by the store loop: ``claimed`` / ``started`` /
``ended`` as executions come and go, and ``tick`` on every turn, which

- checks readiness: up for ``ready.after`` seconds, or a probe (command or HTTP) every
  ``ready.interval`` seconds on a small thread pool, so the loop never waits for one;
- reports a passed check (``Store.service_ready``), retrying while the store is unreachable;
- at each heartbeat, takes the signals asked of its instances (reload) and sends them.

Workers that run no service instance never call the store for any of this.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from jobyard.core.models import Claim
from jobyard.core.services import Readiness, ServiceDefinition
from jobyard.store.base import Store
from jobyard.worker.report import Retry

log = logging.getLogger("jobyard.worker")

PROBE_TIMEOUT = 5.0  # seconds one probe may take, at most


@dataclass(eq=False)
class _Instance:
    claim: Claim
    service: ServiceDefinition
    started: float | None = None  # monotonic time its process started
    next_probe: float = 0.0
    probe: Future[bool] | None = None
    ready: bool = False  # the check passed
    reported: bool = False  # and the store knows


def run_probe(ready: Readiness) -> bool:
    """One readiness probe: the command exits 0, or the URL answers below 400."""
    timeout = min(PROBE_TIMEOUT, max(ready.interval, 1.0))
    if ready.command:
        try:
            done = subprocess.run(
                list(ready.command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0
    assert ready.url is not None
    try:
        with urllib.request.urlopen(ready.url, timeout=timeout) as response:
            return int(response.status) < 400
    except (OSError, ValueError, urllib.error.URLError):
        return False


class ServiceWatch:
    def __init__(
        self,
        store: Store,
        services: dict[str, ServiceDefinition],
        retry: Retry,
        *,
        probe: Callable[[Readiness], bool] = run_probe,
    ) -> None:
        self._store = store
        self._services = services  # by type name: the types of services
        self._retry = retry
        self._probe = probe
        self._instances: dict[int, _Instance] = {}
        self._pool: ThreadPoolExecutor | None = None

    def __bool__(self) -> bool:
        return bool(self._instances)

    def is_service(self, type_name: str) -> bool:
        return type_name in self._services

    def claimed(self, claim: Claim) -> None:
        service = self._services.get(claim.type)
        if service is not None:
            self._instances[claim.execution_id] = _Instance(claim, service)

    def started(self, execution_id: int, now: float) -> None:
        instance = self._instances.get(execution_id)
        if instance is not None and instance.started is None:
            instance.started = now
            instance.next_probe = now

    def ended(self, execution_id: int) -> None:
        instance = self._instances.pop(execution_id, None)
        if instance is not None and instance.probe is not None:
            instance.probe.cancel()

    def running(self) -> list[int]:
        return sorted(self._instances)

    # -- every turn of the store loop ---------------------------------------------------------

    def tick(self, now: float) -> None:
        for execution_id, instance in list(self._instances.items()):
            if instance.started is None or instance.ready:
                continue
            ready = instance.service.ready
            if ready.kind == "after":
                instance.ready = now >= instance.started + ready.after
            elif instance.probe is not None:
                if instance.probe.done():
                    passed = not instance.probe.cancelled() and instance.probe.exception() is None
                    instance.ready = passed and instance.probe.result()
                    instance.probe = None
                    instance.next_probe = now + ready.interval
            elif now >= instance.next_probe:
                instance.probe = self._probes().submit(self._probe, ready)
            if instance.ready:
                log.info("execution %d (%s) is ready", execution_id, instance.service.name)
        pending = [i for i, x in self._instances.items() if x.ready and not x.reported]
        if pending:
            self._retry.step("service_ready", lambda: self._report(pending))

    def _report(self, pending: list[int]) -> None:
        for execution_id in pending:
            self._store.service_ready(execution_id)
            instance = self._instances.get(execution_id)
            if instance is not None:
                instance.reported = True

    def deliver_signals(self, send: Callable[[int, int], None]) -> None:
        """At a heartbeat: send the signals asked of the instances this worker runs."""
        if not self._instances:
            return
        try:
            asked = self._store.service_signals_take(self.running())
        except Exception as exc:
            log.warning("cannot read the signals asked of service instances: %s", exc)
            return
        for execution_id, name in asked:
            if execution_id in self._instances:
                log.info("execution %d: sending %s (reload)", execution_id, name)
                send(execution_id, int(signal.Signals[name]))

    def _probes(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobyard-probe")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
