"""Puts a job in any state through the public Store API only, and owns the clock.

Every job the factory makes gets a queue of its own (unless one is given), so claiming it never
picks another test job. In a shared queue, make the jobs that must be claimed (running and later)
before the ones left queued; the factory checks it claimed the job it meant to.

A ``blocked`` job is the child of a two-job recipe whose parent (of type ``test.parent``, in a
queue no test claims from) stays queued.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from jobyard.core.backoff import Backoff
from jobyard.core.models import (
    Claim,
    Job,
    JobFilter,
    JobSpec,
    JobType,
    Outcome,
    PageRequest,
    TypeDefinition,
    TypeKind,
)
from jobyard.core.recipes import RecipeTypeDefinition
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store

T0 = 1_800_000_000.0  # 2027-01-15: a fixed, realistic epoch for the fake clock
TYPE = "test.echo"
LEASE = 30.0  # seconds of every factory claim
BACKOFF = Backoff(base=10, factor=2, max=3600, jitter=0)  # exact retry times
MAX_TRIES = 3
DELAY = 3600.0  # how far in the future a factory-scheduled job runs
PARENT_TYPE = "test.parent"  # the parent of a factory-made blocked job
PARENT_QUEUE = "fq-parents"  # where those parents wait; no factory claim looks there


class FakeClock:
    """A clock the test moves by hand; pass it as ``make_store(clock=clock)``."""

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.t += seconds
            return self.t


def definition(name: str = TYPE, **overrides: Any) -> TypeDefinition:
    values: dict[str, Any] = {
        "name": name,
        "kind": TypeKind.PYTHON,
        "target": "jobapps:echo",
        "max_tries": MAX_TRIES,
        "backoff": BACKOFF,
        "priority": 100,
        "queue": "default",
    }
    values.update(overrides)
    return TypeDefinition(**values)


@dataclass(frozen=True)
class Made:
    """A job the factory made, and its current execution when it has one."""

    id: int
    queue: str
    execution_id: int | None = None


class JobFactory:
    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self._queues = (f"fq{n}" for n in itertools.count(1))
        self._types: set[str] = set()

    # -- building blocks ---------------------------------------------------------------------

    def register(self, name: str = TYPE, **overrides: Any) -> JobType:
        self._types.add(name)
        return self.store.type_register(definition(name, **overrides))

    def enqueue(self, type: str = TYPE, **spec: Any) -> int:
        if type not in self._types:
            self.register(type)
        [job_id] = self.store.job_enqueue([JobSpec(type=type, **spec)])
        return job_id

    def claim_one(self, queue: str, *, worker_id: str = "w1", lease: float = LEASE) -> Claim:
        claims = self.store.job_claim(
            worker_id=worker_id, queues=[queue], types=sorted(self._types), limit=1, lease=lease
        )
        assert len(claims) == 1, f"expected one claim in {queue!r}, got {claims}"
        return claims[0]

    def finish(self, execution_id: int, status: ExecutionStatus, **outcome: Any) -> bool:
        [held] = self.store.job_finish(
            [Outcome(execution_id=execution_id, status=status, **outcome)]
        )
        return held

    def fail(self, execution_id: int, **outcome: Any) -> bool:
        outcome.setdefault("error_type", "ValueError")
        outcome.setdefault("error_message", "boom")
        outcome.setdefault("traceback", "Traceback (most recent call last): ...")
        return self.finish(execution_id, ExecutionStatus.FAILED, **outcome)

    def get(self, job_id: int) -> Job:
        return self.store.job_get(job_id)

    # -- a job in any state ------------------------------------------------------------------

    def make(self, status: JobStatus, *, queue: str | None = None, **spec: Any) -> Made:
        """A new job in ``status``, made by the operations a user or worker would call."""
        queue = queue or next(self._queues)
        if status is JobStatus.BLOCKED:
            made = Made(self.blocked(queue=queue, **spec), queue)
        elif status is JobStatus.SCHEDULED:
            made = Made(self.enqueue(queue=queue, delay=DELAY, **spec), queue)
        elif status is JobStatus.CANCELED:
            job_id = self.enqueue(queue=queue, **spec)
            self.store.job_cancel(job_id, by="factory")
            made = Made(job_id, queue)
        else:
            if status is JobStatus.FAILED:
                spec.setdefault("max_tries", 1)
            made = Made(self.enqueue(queue=queue, **spec), queue)
            if status is not JobStatus.QUEUED:
                made = self._run(made, status)
        job = self.get(made.id)
        assert job.status is status, f"factory made {job.status}, wanted {status}"
        return made

    def blocked(self, *, queue: str, type: str = TYPE, **options: Any) -> int:
        """A job of ``type`` in ``queue`` that waits for a parent (recipe job options: ``args``,
        ``priority``); returns its id."""
        unknown = set(options) - {"args", "priority"}
        if unknown:
            raise TypeError(f"a blocked factory job takes args and priority, not {unknown}")
        if type not in self._types:
            self.register(type)
        if PARENT_TYPE not in self._types:
            self.register(PARENT_TYPE, queue=PARENT_QUEUE)
        name = f"factory.{queue}"
        child = {"name": "child", "job_type": {"name": type}, "queue": queue, **options}
        child["dependencies"] = [{"name": "parent"}]
        graph = {"jobs": [{"name": "parent", "job_type": {"name": PARENT_TYPE}}, child]}
        self.store.recipe_type_register(
            RecipeTypeDefinition.from_dict({"name": name, "definition": graph})
        )
        recipe = self.store.recipe_create(name)
        return recipe.node("child").job_id

    def _run(self, made: Made, status: JobStatus) -> Made:
        claim = self.claim_one(made.queue)
        assert claim.job_id == made.id
        made = Made(made.id, made.queue, claim.execution_id)
        if status is JobStatus.RUNNING:
            return made
        if status is JobStatus.COMPLETED:
            assert self.finish(claim.execution_id, ExecutionStatus.COMPLETED, result={"ok": 1})
        elif status in (JobStatus.RETRYING, JobStatus.FAILED):
            assert self.fail(claim.execution_id)
        else:  # pragma: no cover - make() covers every status
            raise AssertionError(status)
        return made

    # -- reading -----------------------------------------------------------------------------

    def all_jobs(self) -> list[Job]:
        """Every job, removed ones too, by id."""
        page = self.store.job_list(
            JobFilter(include_removed=True), PageRequest(per_page=1000, sort="id")
        )
        return list(page.results)

    def last_event_id(self) -> int:
        events = self.store.event_list(limit=100_000)
        return events[-1].id if events else 0
