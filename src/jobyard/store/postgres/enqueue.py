"""Enqueueing one job on PostgreSQL in one round trip (PostgresStore part).

The general path (SqlStore.job_enqueue) reads the job's type, inserts the job, then writes its
event, its queue and the wake-up and commits: three round trips, as the insert waits for the type
and the commit for the insert's id. A single call with one plain job is the most common call
there is, so it has a path of its own: the type as this process last read it (revisions never
change once written), and one statement in autocommit (``job_enqueue_one``) that writes
everything and commits synchronously, so the job is durable before its id is returned, as on the
general path. The statement writes nothing when the type has moved on (a new revision, archived);
then, and for jobs with a unique key or an external id, the general path runs and says what is
wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from jobyard.core.errors import NotFound
from jobyard.core.models import JobSpec, JobType
from jobyard.store.postgres.tx import PgTx
from jobyard.store.sqlstore import SqlStore


class EnqueueOne(SqlStore):
    """Mixed into PostgresStore; relies on its ``_statement``."""

    _statement: Callable[[], AbstractContextManager[PgTx]]

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._types_read: dict[str, JobType] = {}  # name -> as last read, never archived
        self._types_lock = threading.Lock()

    def job_enqueue(self, specs: Sequence[JobSpec], *, created_by: str | None = None) -> list[int]:
        if len(specs) == 1:
            spec = specs[0]
            if spec.unique_key is None and spec.external_id is None:
                job_id = self._enqueue_one(spec, created_by)
                if job_id is not None:
                    return [job_id]
        return super().job_enqueue(specs, created_by=created_by)

    def _enqueue_one(self, spec: JobSpec, created_by: str | None) -> int | None:
        """The job's id, or None when the general path must decide."""
        job_type = self._types_read.get(spec.type)
        if job_type is None:
            try:
                job_type = self.type_get(spec.type)
            except NotFound:
                return None  # the general path raises the same
            if job_type.archived_at is not None:
                return None
            with self._types_lock:
                self._types_read[spec.type] = job_type
        self._check_specs([spec], {spec.type: job_type})  # the interface of that revision
        now = self.now()
        params = self._new_job(spec, job_type, now=now, created_by=created_by)
        params["event"] = self._state_event(0, params["status"], now)["data"]
        with self._statement() as tx:
            row = tx.one("job_enqueue_one", **params)
        if row is None:  # the type has a new revision, or was archived
            with self._types_lock:
                self._types_read.pop(spec.type, None)
            return None
        self._wake_local()
        return int(row["id"])
