"""The client methods of workers, for both clients (operations built once in ``_workers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from jobyard.client import _workers as ops
from jobyard.client._base import Call, doc
from jobyard.core.workers import WorkerInfo

T = TypeVar("T")


class WorkersMixin:
    if TYPE_CHECKING:  # provided by the client class this is mixed into

        def _call(self, call: Call[T]) -> T: ...

    @doc(ops.workers)
    def workers(
        self, *, include_stopped: bool = False, kind: str | None = None, state: str | None = None
    ) -> list[WorkerInfo]:
        return self._call(ops.workers(include_stopped=include_stopped, kind=kind, state=state))

    @doc(ops.worker)
    def worker(self, worker_id: str) -> WorkerInfo:
        return self._call(ops.worker(worker_id))

    @doc(ops.quiet_worker)
    def quiet_worker(self, worker_id: str) -> WorkerInfo:
        return self._call(ops.quiet_worker(worker_id))

    @doc(ops.stop_worker)
    def stop_worker(self, worker_id: str) -> WorkerInfo:
        return self._call(ops.stop_worker(worker_id))


class AsyncWorkersMixin:
    if TYPE_CHECKING:  # provided by the client class this is mixed into

        async def _call(self, call: Call[T]) -> T: ...

    @doc(ops.workers)
    async def workers(
        self, *, include_stopped: bool = False, kind: str | None = None, state: str | None = None
    ) -> list[WorkerInfo]:
        return await self._call(
            ops.workers(include_stopped=include_stopped, kind=kind, state=state)
        )

    @doc(ops.worker)
    async def worker(self, worker_id: str) -> WorkerInfo:
        return await self._call(ops.worker(worker_id))

    @doc(ops.quiet_worker)
    async def quiet_worker(self, worker_id: str) -> WorkerInfo:
        return await self._call(ops.quiet_worker(worker_id))

    @doc(ops.stop_worker)
    async def stop_worker(self, worker_id: str) -> WorkerInfo:
        return await self._call(ops.stop_worker(worker_id))
