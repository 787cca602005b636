"""Applications and the process table: the part of SqlStore that knows who ran what, where.

An application row is made (or touched) by every worker of an App when it starts; ``app_type``
says which app registered each job type. The process table is the execution table read with its
job (live or finished: two primary-key joins), the worker's advertised cluster and image, and the
application of the job's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import EventRecord, Execution, check_name, epoch, utc
from jobyard.core.processes import (
    PROCESS_SORTS,
    AppInfo,
    Process,
    ProcessFilter,
    ProcessPage,
    app_guid,
    execution_key,
)
from jobyard.core.services import parse_instance_key
from jobyard.core.states import JobStatus
from jobyard.store.tx import Row, Tx

_PROCESS_FROM = """
  FROM execution e
  LEFT JOIN live_job l ON l.id = e.job_id
  LEFT JOIN job_history h ON h.id = e.job_id
  LEFT JOIN worker w ON w.id = e.worker_id
  LEFT JOIN app_type t ON t.type = COALESCE(l.type, h.type)
  LEFT JOIN app a ON a.name = t.app"""

_PROCESS_COLUMNS = """SELECT e.*,
       COALESCE(l.type, h.type) AS j_type,
       COALESCE(l.type_revision, h.type_revision) AS j_type_revision,
       COALESCE(l.queue, h.queue) AS j_queue,
       COALESCE(l.tags, h.tags) AS j_tags,
       COALESCE(l.status, h.status) AS j_status,
       COALESCE(l.execution_id, h.execution_id) AS j_execution_id,
       COALESCE(l.unique_key, h.unique_key) AS j_unique_key,
       w.cluster AS w_cluster, w.image AS w_image,
       a.id AS a_id, a.name AS a_name, a.guid AS a_guid"""


class AppsProtocol(Protocol):
    def app_register(
        self, name: str, *, types: Sequence[str], services: Sequence[str] = ()
    ) -> AppInfo:
        """Record that app ``name`` registered these job types (``services``: those that are
        the types of services). The app keeps its id and guid; a type moves to the app that
        registered it last."""
        ...

    def app_list(self) -> list[AppInfo]: ...

    def app_get(self, name_or_guid: str) -> AppInfo:
        """An app by name or guid; NotFound otherwise."""
        ...

    def worker_advertise(self, worker_id: str, *, cluster: str | None, image: str | None) -> None:
        """Where a registered worker runs; its executions show it in the process table."""
        ...

    def process_list(self, filters: ProcessFilter, *, page: int = 1, per_page: int = 50,
                     sort: str = "-id") -> ProcessPage:  # fmt: skip
        """The process table: executions matching ``filters``, newest first by default."""
        ...

    def process_get(self, execution_id: int) -> Process:
        """One row of the process table; NotFound otherwise."""
        ...

    def execution_log_tail(self, execution_id: int, *, limit: int = 5000) -> list[EventRecord]:
        """The last ``limit`` log lines of one execution, oldest first."""
        ...


def _app(row: Row, types: Iterable[Row]) -> AppInfo:
    listed = list(types)
    return AppInfo(
        id=int(row["id"]),
        name=row["name"],
        guid=row["guid"],
        types=tuple(t["type"] for t in listed),
        services=tuple(t["type"] for t in listed if t["service"]),
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        updated_at=utc(row["updated_at"]),  # type: ignore[arg-type]
    )


class AppsStore:
    """Mixed into SqlStore; relies on its ``_tx``, ``now``, list hooks and row readers."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    now: Callable[[], float]
    _list: Callable[[Iterable[Any]], Any]
    _in: Callable[..., str]
    _tag_clause: Callable[[str], str]
    _execution: Callable[[Row], Execution]

    def app_register(
        self, name: str, *, types: Sequence[str], services: Sequence[str] = ()
    ) -> AppInfo:
        check_name(name, "app")
        now = self.now()
        service_types = set(services)
        with self._tx() as tx:
            tx.run("app_insert", name=name, guid=app_guid(name), now=now)
            row = tx.one("app_touch", name=name, now=now)
            assert row is not None
            for type_name in sorted(set(types) | service_types):
                tx.run(
                    "app_type_set", type=type_name, app=name,
                    service=1 if type_name in service_types else 0,
                )  # fmt: skip
            listed = tx.rows("app_types_of", app=name)
        return _app(row, listed)

    def app_list(self) -> list[AppInfo]:
        with self._tx(write=False) as tx:
            apps = tx.rows("app_list")
            types = tx.rows("app_types_all")
        return [_app(a, (t for t in types if t["app"] == a["name"])) for a in apps]

    def app_get(self, name_or_guid: str) -> AppInfo:
        with self._tx(write=False) as tx:
            row = tx.one("app_by_name", name=name_or_guid)
            if row is None:
                raise NotFound(f"no app {name_or_guid!r}", field="app", app=name_or_guid)
            types = tx.rows("app_types_of", app=row["name"])
        return _app(row, types)

    def worker_advertise(self, worker_id: str, *, cluster: str | None, image: str | None) -> None:
        with self._tx() as tx:
            if not tx.run("worker_advertise", id=worker_id, cluster=cluster, image=image):
                raise NotFound(f"no worker {worker_id!r}", field="worker")

    # -- the process table ----------------------------------------------------------------

    def _process_where(self, f: ProcessFilter) -> tuple[list[str], dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}

        def any_of(column: str, name: str, values: Sequence[Any], kind: str = "text") -> None:
            if values:
                where.append(f"{column} IN {self._in(name, kind)}")
                params[name] = self._list(values)

        if f.apps:
            where.append(f"(a.name IN {self._in('apps')} OR a.guid IN {self._in('apps')})")
            params["apps"] = self._list(f.apps)
        any_of("e.status", "statuses", [s.value for s in f.statuses])
        any_of("e.hostname", "hosts", f.hosts)
        any_of("COALESCE(l.queue, h.queue)", "queues", f.queues)
        any_of("e.worker_id", "workers", f.workers)
        any_of("COALESCE(l.type, h.type)", "types", f.types)
        if f.services:
            # an instance's job is of the service's type and has its instance key
            any_of("COALESCE(l.type, h.type)", "services", f.services)
            where.append("COALESCE(l.unique_key, h.unique_key) LIKE 'service:%'")
        if f.tag is not None:
            where.append(self._tag_clause("tag").replace("j.tags", "COALESCE(l.tags, h.tags)"))
            params["tag"] = f.tag
        if f.job_id is not None:
            where.append("e.job_id = :job_id")
            params["job_id"] = f.job_id
        if f.started_after is not None:
            where.append("e.started_at >= :started_after")
            params["started_after"] = epoch(f.started_after)
        if f.started_before is not None:
            where.append("e.started_at < :started_before")
            params["started_before"] = epoch(f.started_before)
        return where, params

    def process_list(
        self, filters: ProcessFilter, *, page: int = 1, per_page: int = 50, sort: str = "-id"
    ) -> ProcessPage:
        field = sort.lstrip("-")
        if field not in PROCESS_SORTS:
            raise Invalid(f"sort must be one of {', '.join(PROCESS_SORTS)}", field="sort")
        if page < 1 or not 1 <= per_page <= 1000:
            raise Invalid("page is from 1, per_page from 1 to 1000", field="per_page")
        direction = "DESC" if sort.startswith("-") else "ASC"
        where, params = self._process_where(filters)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        params.update(limit=per_page, offset=(page - 1) * per_page)
        with self._tx(write=False) as tx:
            count = tx.sql(f"SELECT COUNT(*) AS n {_PROCESS_FROM}{clause}", params)[0]["n"]
            rows = tx.sql(
                f"{_PROCESS_COLUMNS}{_PROCESS_FROM}{clause} "
                f"ORDER BY e.{field} {direction}, e.id {direction} LIMIT :limit OFFSET :offset",
                params,
            )
        return ProcessPage(
            count=int(count),
            page=page,
            per_page=per_page,
            results=tuple(self._process(r) for r in rows),
        )

    def process_get(self, execution_id: int) -> Process:
        with self._tx(write=False) as tx:
            rows = tx.sql(
                f"{_PROCESS_COLUMNS}{_PROCESS_FROM} WHERE e.id = :id", {"id": execution_id}
            )
        if not rows:
            raise NotFound(f"no execution {execution_id}", execution_id=execution_id)
        return self._process(rows[0])

    def execution_log_tail(self, execution_id: int, *, limit: int = 5000) -> list[EventRecord]:
        with self._tx(write=False) as tx:
            found = tx.one("execution_job", id=execution_id)
            if found is None:
                raise NotFound(f"no execution {execution_id}", execution_id=execution_id)
            rows = tx.rows(
                "execution_log_tail", job_id=found["job_id"], execution_id=execution_id,
                limit=limit,
            )  # fmt: skip
        return [
            EventRecord(
                id=int(r["id"]),
                job_id=r["job_id"],
                at=utc(r["at"]),  # type: ignore[arg-type]
                kind=r["kind"],
                data=_loads(r["data"]),
            )
            for r in reversed(rows)
        ]

    def _process(self, row: Row) -> Process:
        execution = self._execution(row)
        instance = parse_instance_key(row["j_unique_key"])
        status = row["j_status"]
        return Process(
            execution=execution,
            key=execution_key(execution.id),
            type=row["j_type"],
            type_revision=row["j_type_revision"],
            queue=row["j_queue"],
            tags=tuple(_loads(row["j_tags"]) or ()),
            job_status=None if status is None else JobStatus(status),
            current=row["j_execution_id"] == execution.id,
            app=row["a_name"],
            app_guid=row["a_guid"],
            app_id=None if row["a_id"] is None else int(row["a_id"]),
            service=instance[0] if instance and instance[0] == row["j_type"] else None,
            cluster=row["w_cluster"],
            image=row["w_image"],
        )


def _loads(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str | bytes) else value
