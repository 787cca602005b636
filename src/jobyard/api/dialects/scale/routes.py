"""Scale's queue services (seed 004) and the models they answer with, over jobyard's store.

======================================  ==============================================
``GET load/``                           job load per sampling time (31 days at most)
``GET queue/status/``                   queued jobs grouped by job type
``POST queue/new-job/``                 a job of a job type, from Scale job data
``POST queue/requeue-jobs/``            failed and canceled jobs back on the queue
``GET|POST job-types/``                 job types (integer ids), list and create
``GET job-types/<id>/``                 a job type's details
``GET jobs/<id>/``                      a job's details
``GET job-executions/<id>/``            an execution's details
======================================  ==============================================

Mounted at ``/scale/`` and ``/scale/v3/``. Reading needs a viewer, the rest an operator, signed
in as for the native API. ``started`` and ``ended`` are durations or ``Z``/``+`` datetimes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import store_of
from jobyard.api.dialects.scale import models
from jobyard.api.dialects.scale.protocol import (
    Params,
    ScaleError,
    ScaleRoute,
    bad,
    check_time_range,
    not_found,
    page_args,
    page_reply,
)
from jobyard.api.routes.operations import default_start
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import Job, JobFilter, JobSpec, JobType, PageRequest, TypeDefinition
from jobyard.core.states import JobStatus
from jobyard.core.stats import LoadFilter
from jobyard.store.base import Store
from jobyard.store.catalog import TYPE_REV, rev_key

T = TypeVar("T")
PREFIXES = ("/scale", "/scale/v3")
REQUEUABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELED})


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store call, off the event loop."""
    return await to_thread.run_sync(functools.partial(fn, *args, **kwargs))


class Lookup:
    """Job types and revision ids, read once per request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.types: dict[tuple[str, int], JobType] = {}
        self.rev_ids: dict[tuple[str, int], int] = {}

    def load(self, jobs: Sequence[Job]) -> None:
        wanted = {(j.type, j.type_revision) for j in jobs} - set(self.types)
        for name in sorted({n for n, _ in wanted}):
            try:
                current = self.store.type_get(name)
            except NotFound:
                continue
            revisions = {t.revision: t for t in self.store.type_revisions(name)}
            for rev, t in revisions.items():
                self.types[(name, rev)] = JobType(
                    t.definition, rev, t.created_at, id=current.id, archived_at=current.archived_at
                )
        keys = [rev_key(n, r) for n, r in wanted]
        found = self.store.ident_ids(TYPE_REV, keys) if keys else {}
        for n, r in wanted:
            if rev_key(n, r) in found:
                self.rev_ids[(n, r)] = found[rev_key(n, r)]

    def of(self, job: Job) -> tuple[JobType | None, int | None]:
        key = (job.type, job.type_revision)
        return self.types.get(key), self.rev_ids.get(key)


def _details(store: Store, job: Job) -> dict[str, Any]:
    """A job's details, with the recipe it belongs to (BLOCKED behind a failed parent)."""
    lookup = Lookup(store)
    lookup.load([job])
    t, rev_id = lookup.of(job)
    links = store.job_links(job.id)
    if links is None:
        return models.job_details(job, t, rev_id)
    recipe = store.recipe_get(links.recipe_id)
    type_id = store.ident_ids("recipe_type", [recipe.type], create=True).get(recipe.type)
    summary = {
        "id": recipe.id,
        "recipe_type": {"id": type_id, "name": recipe.type},
        "event": None,
        "created": models.ts(recipe.created_at),
        "completed": models.ts(recipe.completed_at),
        "last_modified": models.ts(recipe.completed_at or recipe.created_at),
    }
    stopped = (JobStatus.FAILED, JobStatus.CANCELED)
    return models.job_details(
        job, t, rev_id, recipes=[summary],
        parent_failed=any(p.status in stopped for p in links.parents),
    )  # fmt: skip


def _reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def make_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["scale dialect"], route_class=ScaleRoute)

    @router.get("/load/")
    async def load(request: Request, _: Viewer) -> JSONResponse:
        """Job load per sampling time: pending, queued and running jobs summed over types."""
        params = Params(request, {})
        store = store_of(request)
        now = store.now()
        started = params.timestamp("started", now=now)
        started = default_start(now) if started is None else started
        ended = params.timestamp("ended", now=now)
        check_time_range(started, now if ended is None else ended)
        filters = LoadFilter(
            started=started,
            ended=ended,
            type_ids=tuple(params.integers("job_type_id")),
            types=tuple(params.texts("job_type_name")),
            categories=tuple(params.texts("job_type_category")),
            priorities=tuple(params.integers("job_type_priority")),
        )
        page, size = page_args(params)
        found = await run(store.load_history, filters, page=page, per_page=size)
        results = [
            {
                "time": models.ts(p.time),
                "pending_count": p.pending + p.blocked,
                "queued_count": p.queued,
                "running_count": p.running,
            }
            for p in found.results
        ]
        return _reply(page_reply(request, page=page, size=size, count=found.count,
                                 results=results))  # fmt: skip

    @router.get("/queue/status/")
    async def queue_status(request: Request, _: Viewer) -> JSONResponse:
        """Queued jobs by job type (not paginated, as in this version of Scale)."""
        statuses = await run(store_of(request).queue_status)
        return _reply(
            {
                "queue_status": [
                    {
                        "count": s.queued,
                        "longest_queued": models.ts(s.oldest_queued_at),
                        "job_type_name": s.type,
                        "job_type_version": s.version,
                        "highest_priority": s.highest_priority,
                        "is_job_type_paused": s.paused,
                    }
                    for s in statuses
                    if s.queued
                ]
            }
        )

    @router.post("/queue/new-job/")
    async def new_job(request: Request, who: Operator) -> JSONResponse:
        """A new job of ``job_type_id`` from ``job_data``; 201 with its details."""
        params = await Params.of(request)
        type_id = params.integer("job_type_id")
        data = params.mapping("job_data") if params.has("job_data") else {}
        store = store_of(request)
        assert type_id is not None
        try:
            job_type = await run(store.type_by_id, type_id)
        except NotFound:
            raise not_found() from None
        try:
            args = models.args_of(data)
            spec = JobSpec(type=job_type.name, args=args)
            [job_id] = await run(store.job_enqueue, [spec], created_by=who.name)
        except (ValueError, Invalid):
            raise ScaleError(400, "Invalid job information.", bare=True) from None
        job = await run(store.job_get, job_id)
        body = await run(_details, store, job)
        exes = body["job_exes"]
        location = (
            f"{prefix}/job-executions/{exes[-1]['id']}/" if exes else f"{prefix}/jobs/{job_id}/"
        )
        return _reply(body, 201, {"Location": location})

    @router.post("/queue/requeue-jobs/")
    async def requeue_jobs(request: Request, who: Operator) -> JSONResponse:
        """Failed and canceled jobs among the matches go back on the queue; 404 if none match."""
        params = await Params.of(request)
        store = store_of(request)
        now = store.now()
        started = params.timestamp("started", now=now)
        ended = params.timestamp("ended", now=now)
        check_time_range(started, ended)
        status = params.text("status")
        if status is not None and status not in models.STATUS_FILTER:
            raise bad(f'Parameter "status" values must be one of: {sorted(models.STATUS_FILTER)}')
        priority = params.integer("priority", required=False)
        if priority is not None and abs(priority) >= 2**31:
            raise bad('Parameter must be a valid integer: "priority"')
        names = await run(
            _type_names, store, params.integers("job_type_ids"), params.texts("job_type_names"),
            params.texts("job_type_categories"),
        )  # fmt: skip
        if names is not None and not names:
            raise not_found()
        filters = JobFilter(
            statuses=models.STATUS_FILTER[status] if status else (),
            ids=tuple(params.integers("job_ids")),
            types=tuple(names or ()),
            updated_after=None if started is None else datetime.fromtimestamp(started, UTC),
            updated_before=None if ended is None else datetime.fromtimestamp(ended, UTC),
            include_removed=True,
        )
        jobs = await run(_all_jobs, store, filters)
        if not jobs:
            raise not_found()
        await run(_requeue, store, jobs, priority=priority, by=who.name)
        page, size = page_args(params)
        ids = tuple(j.id for j in jobs)
        found = await run(
            store.job_list,
            JobFilter(ids=ids, include_removed=True),
            PageRequest(page=page, per_page=size, sort="id"),
        )
        lookup = Lookup(store)
        await run(lookup.load, found.results)
        results = [models.job_list_item(j, *lookup.of(j)) for j in found.results]
        return _reply(page_reply(request, page=page, size=size, count=len(ids), results=results))

    @router.get("/job-types/")
    async def job_types(request: Request, _: Viewer) -> JSONResponse:
        """Job types (active ones; ``is_active=false`` for archived), by name."""
        params = Params(request, {})
        active = (params.text("is_active") or "true").lower() not in ("false", "0", "f")
        names = set(params.texts("name"))
        categories = set(params.texts("category"))
        found = await run(store_of(request).type_list)
        chosen = [
            t
            for t in found
            if (t.archived_at is None) == active
            and (not names or t.name in names)
            and (not categories or t.definition.category in categories)
        ]
        page, size = page_args(params)
        items = [models.type_full(t) for t in chosen[(page - 1) * size : page * size]]
        return _reply(page_reply(request, page=page, size=size, count=len(chosen), results=items))

    @router.post("/job-types/")
    async def create_job_type(request: Request, _: Operator) -> JSONResponse:
        """A new job type from Scale's model: a command type with its interface."""
        params = await Params.of(request)
        store = store_of(request)
        try:
            definition = TypeDefinition.from_dict(models.definition_of(params.body))
        except ValueError as exc:
            raise bad(str(exc)) from None
        except Invalid as exc:
            raise bad(f"Invalid job type: {exc.message}") from None
        made = await run(store.type_create, definition)
        return _reply(
            models.type_details(made), 201, {"Location": f"{prefix}/job-types/{made.id}/"}
        )

    @router.get("/job-types/{type_id}/")
    async def job_type(request: Request, type_id: str, _: Viewer) -> JSONResponse:
        store = store_of(request)
        found = await run(store.type_by_id, _id(type_id))
        first = (await run(store.type_revisions, found.name))[0]
        return _reply(models.type_details(found, created=first.created_at))

    @router.get("/jobs/{job_id}/")
    async def job(request: Request, job_id: str, _: Viewer) -> JSONResponse:
        store = store_of(request)
        found = await run(store.job_get, _id(job_id))
        return _reply(await run(_details, store, found))

    @router.get("/job-executions/{exe_id}/")
    async def job_execution(request: Request, exe_id: str, _: Viewer) -> JSONResponse:
        store = store_of(request)
        job_id, n = divmod(_id(exe_id), models.EXE_BASE)
        found = await run(store.job_get, job_id) if job_id else None
        if found is None or n < 1:
            raise not_found()
        pending = found.status in models.WAITING_FOR_EXE
        if n > len(found.executions) + (1 if pending else 0):
            raise not_found()
        lookup = Lookup(store)
        await run(lookup.load, [found])
        return _reply(models.exe_details(found, *lookup.of(found), n))

    return router


def _id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise not_found()
    return int(text)


def _type_names(
    store: Store, ids: Sequence[int], names: Sequence[str], categories: Sequence[str]
) -> list[str] | None:
    """Names of the types the filters choose (None: no type filter at all)."""
    if not ids and not names and not categories:
        return None
    chosen = set(names)
    for type_id in ids:
        try:
            chosen.add(store.ident_key("job_type", type_id))
        except NotFound:
            pass
    if categories:
        wanted = set(categories)
        chosen |= {t.name for t in store.type_list() if t.definition.category in wanted}
    return sorted(chosen)


def _all_jobs(store: Store, filters: JobFilter) -> list[Job]:
    jobs: list[Job] = []
    page = 1
    while True:
        found = store.job_list(filters, PageRequest(page=page, per_page=1000, sort="id"))
        jobs.extend(found.results)
        if page * 1000 >= found.count:
            return jobs
        page += 1


def _requeue(store: Store, jobs: Sequence[Job], *, priority: int | None, by: str) -> None:
    """Scale's requeue: a job queued before gets ``max_tries = num_exes + 1`` and the new
    priority; one never queued goes back as it was (to wait for its parents, in a recipe)."""
    ran = [j.id for j in jobs if j.status in REQUEUABLE and j.tries > 0]
    if ran:
        store.job_requeue(ran, priority=priority, extra_tries=1, by=by)
    never: dict[int, list[int]] = {}
    for j in jobs:
        if j.status in REQUEUABLE and j.tries == 0:
            never.setdefault(j.max_tries, []).append(j.id)
    for max_tries, ids in sorted(never.items()):
        store.job_requeue(ids, extra_tries=max_tries, by=by)
