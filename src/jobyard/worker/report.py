"""What the store loop owes the store, and how it pays: in order, in batches, until it works.

Three kinds of writes wait here: the process of each started execution
(``execution_started_many``), log lines and progress (:class:`~jobyard.worker.capture.LogBatch`),
and outcomes (``job_finish``). Processes and outcomes are grouped: each waits ``FINISH_LINGER``
for others to share its call (one transaction for all that waited). They
are written in that order, so a job's log is complete before it is finished, and a later kind
waits while an earlier one fails.

A failing step is retried after 0.1 s, doubling to ``MAX_RETRY_DELAY``; what it had to write
stays. An error the store will repeat (a JobyardError other than StoreUnavailable) is not retried
for ever: the batch is split and the one write the store refuses is dropped and logged, so one
poisoned outcome cannot hold back the rest.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from jobyard.core.models import LogLine, Outcome
from jobyard.store.base import Store
from jobyard.worker.capture import LogBatch, transient
from jobyard.worker.protocol import Progress, Started

log = logging.getLogger("jobyard.worker")

FINISH_LINGER = 0.02  # seconds an outcome waits for others to share its job_finish call
FINISH_BATCH = 200  # ... or until this many are waiting
MAX_RETRY_DELAY = 2.0  # seconds between tries of a failing store step, at most
WRITE_POLL = 0.005  # seconds between looks at a background write that has not ended


class Retry:
    """Back-off per store step, and quiet logs: a warning while the delay grows, then silence."""

    def __init__(self) -> None:
        self._steps: dict[str, tuple[float, float]] = {}  # step -> (next try, delay)

    def pending(self, step: str) -> bool:
        retry = self._steps.get(step)
        return retry is not None and time.monotonic() < retry[0]

    def failed(self, step: str, exc: BaseException) -> None:
        first = step not in self._steps
        delay = min(self._steps.get(step, (0.0, 0.05))[1] * 2, MAX_RETRY_DELAY)
        self._steps[step] = (time.monotonic() + delay, delay)
        if first or delay < MAX_RETRY_DELAY:
            log.warning("store %s failed, retrying in %.1f s: %s", step, delay, exc)

    def succeeded(self, step: str) -> None:
        if self._steps.pop(step, None) is not None:
            log.info("store %s works again", step)

    def due_at(self) -> float | None:
        return min((at for at, _ in self._steps.values()), default=None)

    def step(self, name: str, write: Callable[[], None]) -> bool:
        """Run one write unless it is backing off; False when it is still owed."""
        if self.pending(name):
            return False
        try:
            write()
        except Exception as exc:
            self.failed(name, exc)
            return False
        self.succeeded(name)
        return True


class Reporter:
    """Owned by the store loop's thread. Processes and outcomes are written by one background
    thread (``_Writer``) while the loop goes on claiming and starting jobs; what it writes is a
    snapshot, and only the loop's thread changes what waits here, when it collects the result.
    Log lines are written on the loop's thread, after the previous write ended and before the
    outcomes that follow them are sent: a job's log is still complete before it is finished."""

    def __init__(
        self, store: Store, retry: Retry, *, ppid: int, hostname: str, run_as: str
    ) -> None:
        self._store = store
        self._retry = retry
        self._ppid = ppid  # the process this runs in: the supervisor of every execution
        self._hostname = hostname
        self._run_as = run_as
        self._started: deque[Started] = deque()
        self._started_since = 0.0
        self._batch = LogBatch()
        self._outcomes: list[Outcome] = []
        self._outcomes_since = 0.0
        self._writer = _Writer()
        self._inflight: Future[_Written] | None = None
        self._inflight_since = 0.0

    def add(self, item: Started | LogLine | Progress | Outcome, now: float) -> None:
        if isinstance(item, Started):
            if not self._started:
                self._started_since = now
            self._started.append(item)
        elif isinstance(item, Outcome):
            if not self._outcomes:
                self._outcomes_since = now
            self._outcomes.append(item)
        else:
            self._batch.add(item, now)

    def pending(self) -> bool:
        return bool(self._started or len(self._batch) or self._outcomes)

    def backlog(self) -> dict[str, int]:
        return {
            "started": len(self._started),
            "log": len(self._batch),
            "outcomes": len(self._outcomes),
        }

    def held(self) -> set[int]:
        """Executions whose outcome is not written yet: their leases must still be renewed."""
        return {o.execution_id for o in self._outcomes}

    def drop(self, execution_ids: set[int]) -> None:
        """Forget outcomes the store no longer wants (their executions were reaped)."""
        self._outcomes = [o for o in self._outcomes if o.execution_id not in execution_ids]

    def due_at(self) -> float | None:
        if self._inflight is not None:  # look again soon: its result frees the next write
            return self._inflight_since + WRITE_POLL
        times = [t for t in (self._batch.due_at(), self._retry.due_at()) if t is not None]
        if self._outcomes:
            times.append(self._outcomes_since + FINISH_LINGER)
        if self._started:
            times.append(self._started_since + FINISH_LINGER)
        return min(times, default=None)

    def close(self) -> None:
        self._writer.close()

    def flush(self, now: float, *, force: bool = False) -> None:
        """Write what is due (everything when ``force``, and wait for it): started, then logs,
        then outcomes. Without ``force`` processes and outcomes are only sent to the writer."""
        if self._inflight is not None:
            if not (force or self._inflight.done()):
                return
            self._collect(self._inflight.result(), now)
            self._inflight = None
        finish = bool(self._outcomes) and (
            force
            or len(self._outcomes) >= FINISH_BATCH
            or now >= self._outcomes_since + FINISH_LINGER
        )
        logs_due = self._batch.due_at()
        logs = logs_due is not None and (force or finish or now >= logs_due)
        # processes linger like outcomes, to share a transaction; they go first when anything
        # after them is written
        started = bool(self._started) and (
            force or finish or logs or now >= self._started_since + FINISH_LINGER
        )
        if started and self._retry.pending("started"):
            return
        if logs and not self._retry.step("logs", lambda: self._batch.flush(self._store, now)):
            return
        if logs and self._batch.more:  # a flood: the rest next round, and what follows after it
            return
        finish = finish and not self._retry.pending("finish")
        if not (started or finish):
            return
        job = _Written(
            started=list(self._started) if started else [],
            outcomes=list(self._outcomes) if finish else [],
        )
        self._inflight = self._writer.submit(lambda: self._write(job))
        self._inflight_since = now
        if force:
            self._collect(self._inflight.result(), now)
            self._inflight = None

    # -- on the writer's thread: store calls only, on a snapshot --------------------------------

    def _write(self, job: _Written) -> _Written:
        for step, write in (("started", self._write_started), ("finish", self._write_outcomes)):
            if (job.started if step == "started" else job.outcomes) and job.error is None:
                try:
                    write(job)
                except Exception as exc:
                    job.error, job.failed = exc, step
        return job

    def _write_started(self, job: _Written) -> None:
        # all of them in one transaction (store/reporting.py); one by one only to find one the
        # store refuses
        users = {s.run_as or self._run_as for s in job.started}
        try:
            for user in users:  # one transaction each: all the worker's own, but for run_as
                self._store.execution_started_many(
                    [(s.execution_id, s.pid) for s in job.started
                     if (s.run_as or self._run_as) == user],
                    ppid=self._ppid,
                    hostname=self._hostname,
                    run_as=user,
                )  # fmt: skip
            return
        except Exception as exc:
            if transient(exc):
                raise
        for started in job.started:
            try:
                self._store.execution_started(
                    started.execution_id,
                    pid=started.pid,
                    ppid=self._ppid,
                    hostname=self._hostname,
                    run_as=started.run_as or self._run_as,
                )
            except Exception as exc:
                if transient(exc):
                    raise
                log.info("execution %d: process not recorded: %s", started.execution_id, exc)

    def _write_outcomes(self, job: _Written) -> None:
        outcomes = job.outcomes
        try:
            held = self._store.job_finish(outcomes)
        except Exception as exc:
            if transient(exc):
                raise
            held = [self._finish_one(o) for o in outcomes]  # find the one the store refuses
        for outcome, ok in zip(outcomes, held, strict=False):
            if not ok:
                log.info("execution %d ended after losing its lease", outcome.execution_id)

    def _finish_one(self, outcome: Outcome) -> bool:
        try:
            return self._store.job_finish([outcome])[0]
        except Exception as exc:
            if transient(exc):
                raise
            log.error("execution %d: the store refuses its outcome: %s", outcome.execution_id, exc)
            return True

    # -- back on the loop's thread ----------------------------------------------------------------

    def _collect(self, job: _Written, now: float) -> None:
        """Forget what was written; a failed step keeps its share and backs off."""
        if job.started and job.failed != "started":
            done = {id(s) for s in job.started}
            self._started = deque(s for s in self._started if id(s) not in done)
            self._started_since = now
            self._retry.succeeded("started")
        if job.outcomes and job.failed is None:
            done = {id(o) for o in job.outcomes}
            self._outcomes = [o for o in self._outcomes if id(o) not in done]
            self._outcomes_since = now
            self._retry.succeeded("finish")
        if job.failed is not None and job.error is not None:
            self._retry.failed(job.failed, job.error)


@dataclass(eq=False)
class _Written:
    """One background write: what it took, and the step that failed."""

    started: list[Started]
    outcomes: list[Outcome]
    failed: str | None = None
    error: BaseException | None = None


class _Writer:
    """One thread that runs the writes it is given, one at a time, started on first use."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, write: Callable[[], _Written]) -> Future[_Written]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="jobyard-report")
        return self._executor.submit(write)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
