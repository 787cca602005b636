"""The blocking client. Every operation is built in ``_base`` / ``_plans``; this only sends.

with Client("http://127.0.0.1:7420", token="jy_...") as jobyard:
    job_id = jobyard.enqueue("reports.build", {"customer": 42}, queue="reports")
    for event in jobyard.follow(job_id):
        print(event.kind, event.data)
    print(jobyard.job(job_id).result)
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from jobyard.client import _base as ops
from jobyard.client import _operations as catalog
from jobyard.client import _plans as plans
from jobyard.client._base import DEFAULT_URL, BaseClient, Call, doc
from jobyard.client._recipes import ScheduleDetail
from jobyard.client.apps import AppsMixin
from jobyard.client.models import (
    ApiToken,
    Event,
    Health,
    Job,
    JobType,
    LogPage,
    NewToken,
    Page,
    QueueInfo,
    Tracking,
    UserInfo,
    Version,
)
from jobyard.client.options import EnqueueOptions, JobFilters, TypeFilters
from jobyard.client.workers import WorkersMixin
from jobyard.core.models import Role, TypeDefinition
from jobyard.core.recipes import Recipe, RecipeSummary, RecipeType
from jobyard.core.schedules import Schedule
from jobyard.core.stats import LoadPoint, TypeStatus

T = TypeVar("T")


class Client(AppsMixin, WorkersMixin, BaseClient):
    """A blocking client of one jobyard server: a token, or a user and password, signs in."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token=token, user=user, password=password, timeout=timeout)
        self._http = httpx.Client(**self._httpx_options(), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------

    def _call(self, call: Call[T]) -> T:
        try:
            response = self._http.send(ops.build(self._http, call))
        except httpx.TransportError as exc:
            raise ops.unreachable(self.url, exc) from exc
        return ops.reply(call, response)

    def _run(self, plan: plans.Plan[T]) -> Generator[T, None, None]:
        response: httpx.Response | None = None
        lines: Iterator[str] = iter(())
        sent: Any = None
        try:
            while True:
                try:
                    step = plan.send(sent)
                except StopIteration:
                    return
                sent = None
                if isinstance(step, plans.Emit):
                    yield step.value
                elif isinstance(step, Call):
                    sent = self._call(step)
                elif isinstance(step, plans.ReadLine):
                    try:
                        sent = next(lines, None)
                    except httpx.TransportError as exc:
                        sent = exc
                elif isinstance(step, plans.Open):
                    if response is not None:
                        response.close()
                    try:
                        response = self._http.send(
                            plans.build_stream(self._http, step), stream=True
                        )
                    except httpx.TransportError as exc:
                        response, sent = None, exc
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise ops.error_from(response)
                    lines = response.iter_lines()
                elif isinstance(step, plans.Sleep):
                    time.sleep(step.seconds)
        finally:
            plan.close()
            if response is not None:
                response.close()

    def _one(self, plan: plans.Plan[T]) -> T:
        with closing(self._run(plan)) as items:
            for item in items:
                return item
        raise RuntimeError("the plan ended without a result")  # a bug in _plans, not your input

    # -- the operations ---------------------------------------------------------------------

    @doc(ops.health)
    def health(self) -> Health:
        return self._call(ops.health())

    @doc(ops.version)
    def version(self) -> Version:
        return self._call(ops.version())

    @doc(ops.job_types)
    def job_types(
        self, *, page: int = 1, per_page: int = 50, **filters: Unpack[TypeFilters]
    ) -> Page[JobType]:
        return self._call(ops.job_types(page=page, per_page=per_page, filters=filters))

    @doc(ops.job_type)
    def job_type(self, name: str) -> JobType:
        return self._call(ops.job_type(name))

    @doc(catalog.create_type)
    def create_type(self, definition: TypeDefinition | Mapping[str, Any]) -> JobType:
        return self._call(catalog.create_type(definition))

    @doc(catalog.update_type)
    def update_type(self, name: str, **changes: Any) -> JobType:
        return self._call(catalog.update_type(name, changes))

    @doc(catalog.type_revisions)
    def type_revisions(self, name: str) -> list[JobType]:
        return self._call(catalog.type_revisions(name))

    @doc(catalog.pause_type)
    def pause_type(self, name: str) -> JobType:
        return self._call(catalog.pause_type(name))

    @doc(catalog.resume_type)
    def resume_type(self, name: str) -> JobType:
        return self._call(catalog.resume_type(name))

    @doc(catalog.archive_type)
    def archive_type(self, name: str) -> JobType:
        return self._call(catalog.archive_type(name))

    @doc(catalog.unarchive_type)
    def unarchive_type(self, name: str) -> JobType:
        return self._call(catalog.unarchive_type(name))

    @doc(catalog.queue_status)
    def queue_status(
        self, *, window: float | None = None, category: Sequence[str] | None = None
    ) -> list[TypeStatus]:
        return self._call(catalog.queue_status(window=window, category=category))

    @doc(catalog.load)
    def load(
        self,
        *,
        started: str | datetime | None = None,
        ended: str | datetime | None = None,
        type_id: Sequence[int] | None = None,
        type: Sequence[str] | None = None,
        category: Sequence[str] | None = None,
        priority: Sequence[int] | None = None,
        page: int = 1,
        per_page: int = 100,
    ) -> Page[LoadPoint]:
        return self._call(
            catalog.load(
                started=started,
                ended=ended,
                type_id=type_id,
                type=type,
                category=category,
                priority=priority,
                page=page,
                per_page=per_page,
            )
        )

    @doc(ops.enqueue)
    def enqueue(self, type: str, args: Any = None, **options: Unpack[EnqueueOptions]) -> int:
        return self._call(ops.enqueue(type, args, options))

    @doc(ops.enqueue_many)
    def enqueue_many(self, jobs: Iterable[Mapping[str, Any]]) -> list[int]:
        return self._call(ops.enqueue_many(jobs))

    @doc(ops.jobs)
    def jobs(
        self, *, page: int = 1, per_page: int = 50, **filters: Unpack[JobFilters]
    ) -> Page[Job]:
        return self._call(ops.jobs(page=page, per_page=per_page, filters=filters))

    def iter_jobs(self, *, per_page: int = 200, **filters: Unpack[JobFilters]) -> Iterator[Job]:
        """Every job matching the filters, page after page (oldest first unless ``sort``)."""
        filters.setdefault("sort", "id")
        return self._run(
            plans.pages(lambda n: ops.jobs(page=n, per_page=per_page, filters=filters))
        )

    @doc(ops.job)
    def job(self, job_id: int) -> Job:
        return self._call(ops.job(job_id))

    @doc(ops.kill)
    def kill(self, job_id: int) -> Job:
        return self._call(ops.kill(job_id))

    @doc(ops.cancel)
    def cancel(self, job_id: int) -> Job:
        return self._call(ops.cancel(job_id))

    @doc(ops.restart)
    def restart(self, job_id: int) -> Job:
        return self._call(ops.restart(job_id))

    @doc(ops.remove)
    def remove(self, job_id: int) -> Job:
        return self._call(ops.remove(job_id))

    @doc(ops.requeue)
    def requeue(
        self,
        ids: Sequence[int] | None = None,
        *,
        status: Sequence[str] | None = None,
        type: Sequence[str] | None = None,
        queue: Sequence[str] | None = None,
        tag: str | None = None,
        priority: int | None = None,
        extra_tries: int = 1,
    ) -> list[int]:
        return self._call(
            ops.requeue(
                ids,
                status=status,
                type=type,
                queue=queue,
                tag=tag,
                priority=priority,
                extra_tries=extra_tries,
            )
        )

    @doc(ops.log)
    def log(self, job_id: int, *, after: int = 0, limit: int = 1000) -> LogPage:
        return self._call(ops.log(job_id, after=after, limit=limit))

    @doc(plans.follow_log)
    def follow_log(self, job_id: int, *, after: int = 0) -> Iterator[Event]:
        return self._run(plans.follow_log(job_id, after=after))

    @doc(plans.follow)
    def follow(self, job_id: int, *, last_event_id: int | None = None) -> Iterator[Event]:
        return self._run(plans.follow(job_id, last_event_id=last_event_id))

    @doc(plans.wait)
    def wait(self, job_id: int, *, timeout: float | None = None) -> Job:
        return self._one(plans.wait(job_id, timeout=timeout))

    @doc(plans.events)
    def events(
        self,
        *,
        job_id: int | None = None,
        kinds: str | list[str] | None = None,
        after: int | None = None,
    ) -> Iterator[Event]:
        return self._run(plans.events(job_id=job_id, kinds=kinds, after=after))

    @doc(ops.queues)
    def queues(self) -> list[QueueInfo]:
        return self._call(ops.queues())

    @doc(ops.pause_queue)
    def pause_queue(self, name: str) -> QueueInfo:
        return self._call(ops.pause_queue(name))

    @doc(ops.resume_queue)
    def resume_queue(self, name: str) -> QueueInfo:
        return self._call(ops.resume_queue(name))

    @doc(ops.tracking)
    def tracking(self, jid: str | int) -> Tracking:
        return self._call(ops.tracking(str(jid)))

    @doc(ops.set_tracking)
    def set_tracking(
        self,
        jid: str | int,
        *,
        percent: float | None = None,
        desc: str | None = None,
        reserve_for: float | None = None,
    ) -> Tracking:
        return self._call(
            ops.set_tracking(str(jid), percent=percent, desc=desc, reserve_for=reserve_for)
        )

    @doc(ops.users)
    def users(self) -> list[UserInfo]:
        return self._call(ops.users())

    @doc(ops.add_user)
    def add_user(self, name: str, *, role: Role | str = Role.VIEWER, password: str) -> UserInfo:
        return self._call(ops.add_user(name, role=role, password=password))

    @doc(ops.update_user)
    def update_user(
        self, name: str, *, role: Role | str | None = None, password: str | None = None
    ) -> UserInfo:
        return self._call(ops.update_user(name, role=role, password=password))

    @doc(ops.remove_user)
    def remove_user(self, name: str) -> None:
        self._call(ops.remove_user(name))

    @doc(ops.tokens)
    def tokens(self, *, user: str | None = None, include_revoked: bool = False) -> list[ApiToken]:
        return self._call(ops.tokens(user=user, include_revoked=include_revoked))

    @doc(ops.create_token)
    def create_token(self, name: str, *, user: str | None = None) -> NewToken:
        return self._call(ops.create_token(name, user=user))

    @doc(ops.revoke_token)
    def revoke_token(self, token_id: int) -> None:
        self._call(ops.revoke_token(token_id))

    # -- recipes and schedules ---------------------------------------------------------------

    @doc(ops.recipe_types)
    def recipe_types(
        self, *, page: int = 1, per_page: int = 50, search: str | None = None
    ) -> Page[RecipeType]:
        return self._call(ops.recipe_types(page=page, per_page=per_page, search=search))

    @doc(ops.recipe_type)
    def recipe_type(self, name: str, *, revision: int | None = None) -> RecipeType:
        return self._call(ops.recipe_type(name, revision=revision))

    @doc(ops.create_recipe_type)
    def create_recipe_type(self, definition: Mapping[str, Any]) -> RecipeType:
        return self._call(ops.create_recipe_type(definition))

    @doc(ops.create_recipe)
    def create_recipe(self, type: str, inputs: Mapping[str, Any] | None = None) -> Recipe:
        return self._call(ops.create_recipe(type, inputs))

    @doc(ops.recipes)
    def recipes(
        self,
        *,
        page: int = 1,
        per_page: int = 50,
        type: str | None = None,
        status: Sequence[str] | str | None = None,
    ) -> Page[RecipeSummary]:
        return self._call(ops.recipes(page=page, per_page=per_page, type=type, status=status))

    @doc(ops.recipe)
    def recipe(self, recipe_id: int) -> Recipe:
        return self._call(ops.recipe(recipe_id))

    @doc(ops.cancel_recipe)
    def cancel_recipe(self, recipe_id: int) -> Recipe:
        return self._call(ops.cancel_recipe(recipe_id))

    @doc(ops.requeue_recipe)
    def requeue_recipe(self, recipe_id: int) -> Recipe:
        return self._call(ops.requeue_recipe(recipe_id))

    @doc(ops.schedules)
    def schedules(
        self,
        *,
        page: int = 1,
        per_page: int = 50,
        type: str | None = None,
        enabled: bool | None = None,
    ) -> Page[Schedule]:
        return self._call(ops.schedules(page=page, per_page=per_page, type=type, enabled=enabled))

    @doc(ops.schedule)
    def schedule(self, name: str, *, next: int = 5, history: int = 20) -> ScheduleDetail:
        return self._call(ops.schedule(name, next=next, history=history))

    @doc(ops.create_schedule)
    def create_schedule(self, spec: Mapping[str, Any]) -> Schedule:
        return self._call(ops.create_schedule(spec))

    @doc(ops.update_schedule)
    def update_schedule(self, name: str, changes: Mapping[str, Any]) -> Schedule:
        return self._call(ops.update_schedule(name, changes))

    @doc(ops.delete_schedule)
    def delete_schedule(self, name: str) -> None:
        self._call(ops.delete_schedule(name))
