"""The client methods of applications, services and the process table, for both clients.

The operations are built once in ``_apps``; :class:`AppsMixin` sends them blocking (mixed into
:class:`jobyard.client.Client`), :class:`AsyncAppsMixin` awaited (into ``AsyncClient``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, TypeVar, Unpack

from jobyard.client import _apps as ops
from jobyard.client import _plans as plans
from jobyard.client._base import Call, doc
from jobyard.client.models import Page
from jobyard.client.options import JobFilters
from jobyard.core.models import Job, JobType
from jobyard.core.processes import AppInfo, Process
from jobyard.core.services import Service, ServiceMessage

T = TypeVar("T")


class AppsMixin:
    if TYPE_CHECKING:  # provided by the client class this is mixed into

        def _call(self, call: Call[T]) -> T: ...

        def _run(self, plan: plans.Plan[T]) -> Iterator[T]: ...

    @doc(ops.executions)
    def executions(
        self, *, page: int = 1, per_page: int = 50, **filters: Unpack[ops.ProcessFilters]
    ) -> Page[Process]:
        return self._call(ops.executions(page=page, per_page=per_page, filters=filters))

    def iter_executions(
        self, *, per_page: int = 200, **filters: Unpack[ops.ProcessFilters]
    ) -> Iterator[Process]:
        """Every execution matching the filters, page after page (oldest first unless sort)."""
        filters.setdefault("sort", "id")
        return self._run(
            plans.pages(lambda n: ops.executions(page=n, per_page=per_page, filters=filters))
        )

    @doc(ops.execution)
    def execution(self, execution: int | str) -> Process:
        return self._call(ops.execution(execution))

    @doc(ops.apps)
    def apps(self) -> list[AppInfo]:
        return self._call(ops.apps())

    @doc(ops.app)
    def app(self, name: str) -> AppInfo:
        return self._call(ops.app(name))

    @doc(ops.app_types)
    def app_types(self, name: str) -> list[JobType]:
        return self._call(ops.app_types(name))

    @doc(ops.app_jobs)
    def app_jobs(
        self, name: str, *, page: int = 1, per_page: int = 50, **filters: Unpack[JobFilters]
    ) -> Page[Job]:
        return self._call(ops.app_jobs(name, page=page, per_page=per_page, filters=filters))

    @doc(ops.services)
    def services(self, *, app: str | None = None) -> list[Service]:
        return self._call(ops.services(app=app))

    @doc(ops.service)
    def service(self, name: str) -> Service:
        return self._call(ops.service(name))

    def start_service(self, name: str) -> Service:
        """Start a service, and first every service it depends on."""
        return self._call(ops.service_action(name, "start"))

    def stop_service(self, name: str) -> Service:
        """Stop a service, and first every service that depends on it."""
        return self._call(ops.service_action(name, "stop"))

    def restart_service(self, name: str) -> Service:
        """Kill a service's instances and start them again at once."""
        return self._call(ops.service_action(name, "restart"))

    def reload_service(self, name: str) -> Service:
        """Send a service's reload signal to its instances, or restart them without one."""
        return self._call(ops.service_action(name, "reload"))

    @doc(ops.service_messages)
    def service_messages(self, *, limit: int = 100) -> list[ServiceMessage]:
        return self._call(ops.service_messages(limit=limit))

    @doc(ops.service_updates)
    def service_updates(self, *, timeout: float = 30.0, limit: int = 100) -> list[ServiceMessage]:
        return self._call(ops.service_updates(timeout=timeout, limit=limit))


class AsyncAppsMixin:
    if TYPE_CHECKING:  # provided by the client class this is mixed into

        async def _call(self, call: Call[T]) -> T: ...

        def _run(self, plan: plans.Plan[T]) -> AsyncIterator[T]: ...

    @doc(ops.executions)
    async def executions(
        self, *, page: int = 1, per_page: int = 50, **filters: Unpack[ops.ProcessFilters]
    ) -> Page[Process]:
        return await self._call(ops.executions(page=page, per_page=per_page, filters=filters))

    def iter_executions(
        self, *, per_page: int = 200, **filters: Unpack[ops.ProcessFilters]
    ) -> AsyncIterator[Process]:
        """Every execution matching the filters, page after page (oldest first unless sort)."""
        filters.setdefault("sort", "id")
        return self._run(
            plans.pages(lambda n: ops.executions(page=n, per_page=per_page, filters=filters))
        )

    @doc(ops.execution)
    async def execution(self, execution: int | str) -> Process:
        return await self._call(ops.execution(execution))

    @doc(ops.apps)
    async def apps(self) -> list[AppInfo]:
        return await self._call(ops.apps())

    @doc(ops.app)
    async def app(self, name: str) -> AppInfo:
        return await self._call(ops.app(name))

    @doc(ops.app_types)
    async def app_types(self, name: str) -> list[JobType]:
        return await self._call(ops.app_types(name))

    @doc(ops.app_jobs)
    async def app_jobs(
        self, name: str, *, page: int = 1, per_page: int = 50, **filters: Unpack[JobFilters]
    ) -> Page[Job]:
        return await self._call(ops.app_jobs(name, page=page, per_page=per_page, filters=filters))

    @doc(ops.services)
    async def services(self, *, app: str | None = None) -> list[Service]:
        return await self._call(ops.services(app=app))

    @doc(ops.service)
    async def service(self, name: str) -> Service:
        return await self._call(ops.service(name))

    async def start_service(self, name: str) -> Service:
        """Start a service, and first every service it depends on."""
        return await self._call(ops.service_action(name, "start"))

    async def stop_service(self, name: str) -> Service:
        """Stop a service, and first every service that depends on it."""
        return await self._call(ops.service_action(name, "stop"))

    async def restart_service(self, name: str) -> Service:
        """Kill a service's instances and start them again at once."""
        return await self._call(ops.service_action(name, "restart"))

    async def reload_service(self, name: str) -> Service:
        """Send a service's reload signal to its instances, or restart them without one."""
        return await self._call(ops.service_action(name, "reload"))

    @doc(ops.service_messages)
    async def service_messages(self, *, limit: int = 100) -> list[ServiceMessage]:
        return await self._call(ops.service_messages(limit=limit))

    @doc(ops.service_updates)
    async def service_updates(
        self, *, timeout: float = 30.0, limit: int = 100
    ) -> list[ServiceMessage]:
        return await self._call(ops.service_updates(timeout=timeout, limit=limit))


__all__ = ["AppsMixin", "AsyncAppsMixin"]
