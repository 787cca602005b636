"""Recipes: the part of SqlStore that makes graphs of jobs and moves them along.

A recipe's jobs are made in one transaction: those without parents ``queued``, the others
``blocked``. Each edge is a ``job_dependency`` row (parent, child, the outputs the child takes).
The transaction that completes a job with children (``jobs_for_executions`` says which have any,
one index probe per job) releases every child whose parents have now all completed: ``blocked`` ->
``queued``, its arguments built from its recipe inputs and its parents' results. A failed or
canceled parent releases nothing, so its descendants stay blocked until it is requeued and
completes. A requeued recipe job whose parents have not all completed goes back to ``blocked``
(``Event.REBLOCK``).

Concurrency (PostgreSQL, READ COMMITTED): two parents of one child may complete at once. Each
transaction locks the child (``FOR UPDATE``) after writing its own parent to history and only then
reads the parents' states, so whichever locks second sees the first's commit and releases it.
Children are locked in id order, after their parents (a parent's id is always smaller).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import JobSpec, JobType, Outcome, utc
from jobyard.core.recipes import (
    JobLink,
    JobLinks,
    Recipe,
    RecipeEdge,
    RecipeGraph,
    RecipeNode,
    RecipeStatus,
    RecipeSummary,
    RecipeType,
    RecipeTypeDefinition,
    base_args,
    check_inputs,
    check_job_types,
    child_args,
    connections_from_json,
    connections_to_json,
    recipe_status,
)
from jobyard.core.states import Event, ExecutionStatus, JobStatus, transition
from jobyard.store.tx import Row, Tx

#: recipe statuses as SQL computes them from counts (the same rules as core recipe_status)
_STATUS_SQL = """CASE WHEN s.completed = s.jobs THEN 'completed'
     WHEN r.canceled_at IS NOT NULL THEN 'canceled'
     WHEN s.failed > 0 THEN 'failed'
     WHEN s.canceled > 0 THEN 'canceled'
     ELSE 'running' END"""


#: per recipe: how many jobs, and how many completed, failed and canceled (every recipe's jobs)
_COUNTS_SQL = """SELECT recipe_id, COUNT(*) AS jobs,
       SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,
       SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
       SUM(CASE WHEN status = 'canceled' THEN 1 ELSE 0 END) AS canceled
  FROM (SELECT rj.recipe_id, j.status FROM recipe_job rj JOIN live_job j ON j.id = rj.job_id
        UNION ALL
        SELECT rj.recipe_id, h.status FROM recipe_job rj JOIN job_history h ON h.id = rj.job_id
       ) x
 GROUP BY recipe_id"""


def _dumps(value: Any) -> str:
    # as sqlstore._dumps: UTF-8 text where it can be, \\u-escapes where it cannot (a surrogate)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"))
    return text


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class RecipeStoreProtocol(Protocol):
    """The recipe operations of the Store protocol."""

    def recipe_type_register(self, definition: RecipeTypeDefinition) -> RecipeType:
        """Store a recipe type, checked against the job types it names before anything is
        written (Invalid naming the field). Same as the current one: nothing changes; different:
        revision + 1. Recipes keep the revision they were made from."""
        ...

    def recipe_type_get(self, name: str, *, revision: int | None = None) -> RecipeType:
        """The current revision (or ``revision``); NotFound otherwise."""
        ...

    def recipe_type_list(self) -> list[RecipeType]: ...

    def recipe_create(
        self, type: str, inputs: Mapping[str, Any] | None = None, *, created_by: str | None = None
    ) -> Recipe:
        """A recipe of the current revision of ``type`` and ALL its jobs, in one transaction:
        jobs without parents ``queued``, the others ``blocked``. Unknown type: NotFound; inputs
        missing or unknown, or a job type that no longer fits: Invalid naming the field."""
        ...

    def recipe_get(self, recipe_id: int) -> Recipe:
        """A recipe with its graph: each job's id and state, and the edges. NotFound otherwise."""
        ...

    def recipe_list(
        self,
        *,
        type: str | None = None,
        statuses: Sequence[RecipeStatus | str] = (),
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[int, list[RecipeSummary]]:
        """(count, one page) of recipes, newest first, with their jobs counted by state."""
        ...

    def recipe_cancel(self, recipe_id: int, *, by: str | None = None) -> Recipe:
        """Cancel every unfinished job (a running one is killed: its worker stops it), and mark
        the recipe canceled. Finished jobs stay as they are."""
        ...

    def recipe_requeue(self, recipe_id: int, *, by: str | None = None) -> Recipe:
        """Requeue its failed and canceled jobs (those whose parents have not all completed go
        back to ``blocked``), and clear its canceled mark."""
        ...

    def job_links(self, job_id: int) -> JobLinks | None:
        """The recipe a job belongs to, its name there, its parents and children; None when it
        is not a recipe job. NotFound when there is no such job."""
        ...

    def job_parents(self, job_id: int) -> list[JobLink]:
        """The jobs this one waits for (empty when none, or not a recipe job)."""
        ...


class RecipeStore:
    """Mixed into SqlStore; relies on its transactions, job insertion and hooks."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    now: Callable[[], float]
    _list: Callable[[Iterable[Any]], Any]
    _in: Callable[..., str]
    _new_job: Callable[..., dict[str, Any]]
    _insert_jobs: Callable[[Tx, Sequence[tuple[JobSpec, dict[str, Any]]]], list[tuple[int, bool]]]
    _state_event: Callable[..., dict[str, Any]]
    _announce: Callable[[Tx, Iterable[str]], None]
    _wake_local: Callable[[], None]
    _cancel: Callable[..., None]
    _job_type: Callable[[Row], JobType]
    job_requeue: Callable[..., list[int]]

    # -- recipe types -----------------------------------------------------------------------

    def recipe_type_register(self, definition: RecipeTypeDefinition) -> RecipeType:
        now = self.now()
        wanted = definition.to_dict()
        with self._tx() as tx:
            self._check_types(tx, definition.graph)
            current = tx.one("recipe_type_current", name=definition.name)
            if current is not None and _loads(current["definition"]) == wanted:
                return _recipe_type(current)
            revision = 1 if current is None else current["revision"] + 1
            params = {
                "name": definition.name,
                "revision": revision,
                "definition": _dumps(wanted),
                "now": now,
            }
            tx.run("recipe_type_store", **params)
            tx.run("recipe_type_rev_insert", **params)
        return RecipeType(definition, revision, utc(now))  # type: ignore[arg-type]

    def recipe_type_get(self, name: str, *, revision: int | None = None) -> RecipeType:
        with self._tx(write=False) as tx:
            if revision is None:
                row = tx.one("recipe_type_current", name=name)
            else:
                row = tx.one("recipe_type_rev_get", name=name, revision=revision)
        if row is None:
            which = "" if revision is None else f" revision {revision}"
            raise NotFound(f"no recipe type {name!r}{which}", field="type", type=name)
        return _recipe_type(row)

    def recipe_type_list(self) -> list[RecipeType]:
        with self._tx(write=False) as tx:
            return [_recipe_type(r) for r in tx.rows("recipe_type_list")]

    def _check_types(self, tx: Tx, graph: RecipeGraph) -> dict[str, JobType]:
        """The current job types the graph names, checked against it (check_job_types)."""
        found: dict[str, JobType] = {}
        for name in sorted({j.job_type for j in graph.jobs}):
            row = tx.one("type_current", name=name)
            if row is not None:
                found[name] = self._job_type(row)
        definitions = {name: found[name].definition if name in found else None
                       for name in {j.job_type for j in graph.jobs}}  # fmt: skip
        archived = {name for name, t in found.items() if t.archived_at is not None}
        check_job_types(graph, definitions, archived=archived)
        return found

    # -- making a recipe --------------------------------------------------------------------

    def recipe_create(
        self, type: str, inputs: Mapping[str, Any] | None = None, *, created_by: str | None = None
    ) -> Recipe:
        now = self.now()
        with self._tx() as tx:
            row = tx.one("recipe_type_current", name=type)
            if row is None:
                raise NotFound(f"no recipe type {type!r}", field="type", type=type)
            recipe_type = _recipe_type(row)
            graph = recipe_type.definition.graph
            values = check_inputs(graph, inputs)
            job_types = self._check_types(tx, graph)  # a job type may have changed since
            created = tx.one(
                "recipe_insert", type=type, type_revision=recipe_type.revision,
                inputs=_dumps(values), now=now, created_by=created_by,
            )  # fmt: skip
            assert created is not None
            recipe_id = int(created["id"])
            # parents before children: ids increase along every edge (the lock order above)
            jobs: list[tuple[JobSpec, dict[str, Any]]] = []
            nodes = [graph.job(name) for name in graph.order]
            for node in nodes:
                spec = JobSpec(
                    type=node.job_type,
                    args=base_args(node, values),
                    queue=node.queue,
                    priority=node.priority,
                )
                interface = job_types[node.job_type].definition.interface
                if interface is not None and not node.dependencies:  # it has all its inputs
                    try:
                        interface.check_args(spec.args)
                    except Invalid as exc:
                        raise Invalid(
                            f"recipe job {node.name!r}: {exc.message}",
                            field=f"jobs.{node.name}.{exc.field}",
                        ) from exc
                params = self._new_job(
                    spec, job_types[node.job_type], now=now, created_by=created_by
                )
                params["status"] = (
                    JobStatus.BLOCKED if node.dependencies else JobStatus.QUEUED
                ).value
                jobs.append((spec, params))
            ids = {
                node.name: job_id
                for node, (job_id, _) in zip(nodes, self._insert_jobs(tx, jobs), strict=True)
            }
            tx.many(
                "recipe_job_insert",
                [
                    {"job_id": ids[n.name], "recipe_id": recipe_id, "name": n.name,
                     "args": _dumps(spec.args)}
                    for n, (spec, _) in zip(nodes, jobs, strict=True)
                ],
            )  # fmt: skip
            edges = [
                {
                    "parent_id": ids[dep.name],
                    "child_id": ids[node.name],
                    "connections": _dumps(connections_to_json(dep.connections)),
                }
                for node in nodes
                for dep in node.dependencies
            ]
            if edges:
                tx.many("recipe_dependency_insert", edges)
            queues = {params["queue"] for _, params in jobs}
            for queue in sorted(queues):
                tx.run("queue_ensure", name=queue, now=now)
            tx.many(
                "event_insert",
                [
                    self._state_event(
                        ids[node.name], params["status"], now, recipe_id=recipe_id,
                        recipe_job=node.name,
                    )
                    for node, (_, params) in zip(nodes, jobs, strict=True)
                ],
            )  # fmt: skip
            ready = {p["queue"] for _, p in jobs if p["status"] == JobStatus.QUEUED.value}
            self._announce(tx, ready)
        self._wake_local()
        return self.recipe_get(recipe_id)

    # -- reading ----------------------------------------------------------------------------

    def recipe_get(self, recipe_id: int) -> Recipe:
        with self._tx(write=False) as tx:
            row = tx.one("recipe_get", id=recipe_id)
            if row is None:
                raise NotFound(f"no recipe {recipe_id}", recipe_id=recipe_id)
            jobs = tx.rows("recipe_jobs", id=recipe_id)
            edges = tx.rows("recipe_edges", id=recipe_id)
        return _recipe(row, jobs, edges)

    def recipe_list(
        self,
        *,
        type: str | None = None,
        statuses: Sequence[RecipeStatus | str] = (),
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[int, list[RecipeSummary]]:
        wanted = []
        for status in statuses:
            try:
                wanted.append(RecipeStatus(status).value)
            except ValueError as exc:
                names = ", ".join(s.value for s in RecipeStatus)
                raise Invalid(
                    f"unknown recipe status {status!r}; one of {names}", field="status"
                ) from exc
        params: dict[str, Any] = {"limit": per_page, "offset": (page - 1) * per_page}
        where = []
        if type is not None:
            where.append("r.type = :type")
            params["type"] = type
        if wanted:
            # the status is read from the jobs: every recipe's jobs are counted (see the docs)
            where.append(f"{_STATUS_SQL} IN {self._in('statuses')}")
            params["statuses"] = self._list(wanted)
            source = f"recipe r JOIN ({_COUNTS_SQL}) s ON s.recipe_id = r.id"
        else:
            source = "recipe r"
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._tx(write=False) as tx:
            count = tx.sql(f"SELECT COUNT(*) AS n FROM {source}{clause}", params)[0]["n"]
            rows = tx.sql(
                f"SELECT r.* FROM {source}{clause} ORDER BY r.id DESC LIMIT :limit OFFSET :offset",
                params,
            )
            states: dict[int, list[Row]] = {}
            if rows:
                ids = self._list(int(r["id"]) for r in rows)
                for s in tx.sql(self._states_sql(), {"ids": ids}):
                    states.setdefault(int(s["recipe_id"]), []).append(s)
        return int(count), [_summary(r, states.get(int(r["id"]), [])) for r in rows]

    def _states_sql(self) -> str:
        """Per recipe of ``:ids`` and job state: how many jobs, the latest finish."""
        return (
            "SELECT recipe_id, status, COUNT(*) AS n, MAX(finished_at) AS finished_at FROM ("
            "SELECT rj.recipe_id, j.status, j.finished_at FROM recipe_job rj "
            f"JOIN live_job j ON j.id = rj.job_id WHERE rj.recipe_id IN {self._in('ids', 'int')} "
            "UNION ALL SELECT rj.recipe_id, h.status, h.finished_at FROM recipe_job rj "
            f"JOIN job_history h ON h.id = rj.job_id WHERE rj.recipe_id IN {self._in('ids', 'int')}"
            ") x GROUP BY recipe_id, status"
        )

    def job_links(self, job_id: int) -> JobLinks | None:
        with self._tx(write=False) as tx:
            row = tx.one("recipe_of_job", id=job_id)
            if row is None:
                if tx.one("job_get", id=job_id) is None:
                    raise NotFound(f"no job {job_id}", job_id=job_id)
                return None
            parents = tx.rows("recipe_job_parents", id=job_id)
            children = tx.rows("recipe_job_children", id=job_id)
        return JobLinks(
            recipe_id=int(row["recipe_id"]),
            recipe_type=row["type"],
            name=row["name"],
            parents=tuple(_link(r) for r in parents),
            children=tuple(_link(r) for r in children),
        )

    def job_parents(self, job_id: int) -> list[JobLink]:
        links = self.job_links(job_id)
        return [] if links is None else list(links.parents)

    # -- moving a recipe along ----------------------------------------------------------------

    @staticmethod
    def _completed_parents(
        current: Mapping[int, Row], outcomes: Sequence[Outcome], held: Sequence[bool]
    ) -> list[int]:
        """The jobs of a finish batch that completed and have children (``has_children`` from
        ``jobs_for_executions``): the only ones whose finish looks at the recipe tables."""
        found = []
        for outcome, ok in zip(outcomes, held, strict=True):
            row = current.get(outcome.execution_id)
            if ok and row is not None and row["has_children"]:
                if outcome.status is ExecutionStatus.COMPLETED:
                    found.append(int(row["id"]))
        return found

    def _release_children(self, tx: Tx, parents: Sequence[int], now: float) -> None:
        """Inside the transaction that completed ``parents`` (jobs that have children): every
        blocked child whose parents have now all completed -> queued, with their outputs."""
        if not parents:
            return
        found = tx.rows("recipe_children", ids=self._list(sorted(set(parents))))
        children = sorted({int(r["child_id"]) for r in found})
        if not children:
            return
        locked = tx.rows("recipe_blocked_lock", ids=self._list(children))
        if not locked:
            return
        queue_of = {int(r["id"]): r["queue"] for r in locked}
        states = tx.rows("recipe_parent_states", ids=self._list(sorted(queue_of)))
        done = _ready(states)
        ready = [c for c in sorted(queue_of) if c in done]
        if not ready:
            return
        rows = tx.rows("recipe_base_args", ids=self._list(ready))
        base = {int(r["job_id"]): _loads(r["args"]) for r in rows}
        events = []
        for child in ready:
            transition(child, JobStatus.BLOCKED, Event.UNBLOCK)
            args, missing = child_args(base.get(child, {}), _inputs_of(states, child))
            tx.run("recipe_release", id=child, args=_dumps(args), now=now)
            events.append(
                self._state_event(child, JobStatus.QUEUED.value, now, missing=missing or None)
            )
        tx.many("event_insert", events)
        self._announce(tx, {queue_of[c] for c in ready})

    def _requeue_status(self, tx: Tx, job_id: int, now: float) -> JobStatus:
        """Inside job_requeue, after the job is back in the live table as ``queued``: a recipe
        job whose parents have not all completed goes back to ``blocked``; one whose parents
        have completed gets their outputs again (it may have been canceled while blocked)."""
        states = tx.rows("recipe_parent_states", ids=self._list([job_id]))
        if not states:
            return JobStatus.QUEUED
        if job_id not in _ready(states):
            tx.run("recipe_reblock", id=job_id, now=now)
            return JobStatus.BLOCKED
        base = tx.rows("recipe_base_args", ids=self._list([job_id]))
        args, _ = child_args(_loads(base[0]["args"]) if base else {}, _inputs_of(states, job_id))
        tx.run("recipe_set_args", id=job_id, args=_dumps(args))
        return JobStatus.QUEUED

    def recipe_cancel(self, recipe_id: int, *, by: str | None = None) -> Recipe:
        now = self.now()
        with self._tx() as tx:
            if tx.one("recipe_get", id=recipe_id) is None:
                raise NotFound(f"no recipe {recipe_id}", recipe_id=recipe_id)
            for live in tx.rows("recipe_live_lock", id=recipe_id):
                if live["status"] == JobStatus.RUNNING:
                    tx.run("job_request_kill", id=live["id"], by=by, now=now)
                    data = {"status": "running", "kill_requested": True, "by": by}
                    tx.run("event_insert", job_id=live["id"], now=now, kind="state",
                           data=_dumps(data))  # fmt: skip
                else:
                    self._cancel(tx, live, by=by, now=now)
            tx.run("recipe_set_canceled", id=recipe_id, by=by, now=now)
        return self.recipe_get(recipe_id)

    def recipe_requeue(self, recipe_id: int, *, by: str | None = None) -> Recipe:
        with self._tx() as tx:
            if tx.one("recipe_get", id=recipe_id) is None:
                raise NotFound(f"no recipe {recipe_id}", recipe_id=recipe_id)
            ids = [int(r["id"]) for r in tx.rows("recipe_failed_jobs", id=recipe_id)]
            tx.run("recipe_clear_canceled", id=recipe_id)
        if ids:  # parents first (ids increase along edges): children see them requeued
            self.job_requeue(ids, by=by)
        return self.recipe_get(recipe_id)


# -- rows to models -------------------------------------------------------------------------------


def _recipe_type(row: Row) -> RecipeType:
    definition = RecipeTypeDefinition.from_dict(_loads(row["definition"]))
    return RecipeType(definition, int(row["revision"]), utc(row["created_at"]))  # type: ignore[arg-type]


def _ready(states: Sequence[Row]) -> set[int]:
    """Children (of ``recipe_parent_states`` rows) whose parents have all completed."""
    ready: dict[int, bool] = {}
    for s in states:
        child = int(s["child_id"])
        ready[child] = ready.get(child, True) and s["status"] == JobStatus.COMPLETED.value
    return {c for c, ok in ready.items() if ok}


def _inputs_of(states: Sequence[Row], child: int) -> list[tuple[Any, Any]]:
    return [
        (connections_from_json(_loads(s["connections"])), _loads(s["result"]))
        for s in states
        if int(s["child_id"]) == child
    ]


def _link(row: Row) -> JobLink:
    return JobLink(int(row["job_id"]), row["name"], JobStatus(row["status"]))


def _recipe(row: Row, jobs: Sequence[Row], edges: Sequence[Row]) -> Recipe:
    name_of = {int(j["job_id"]): j["name"] for j in jobs}
    parents: dict[int, list[str]] = {}
    out_edges = []
    for e in edges:
        parent, child = int(e["parent_id"]), int(e["child_id"])
        if parent in name_of and child in name_of:
            parents.setdefault(child, []).append(name_of[parent])
            out_edges.append(
                RecipeEdge(name_of[parent], name_of[child],
                           connections_from_json(_loads(e["connections"])))
            )  # fmt: skip
    nodes = tuple(
        RecipeNode(
            name=j["name"],
            job_id=int(j["job_id"]),
            type=j["type"],
            status=JobStatus(j["status"]),
            parents=tuple(parents.get(int(j["job_id"]), [])),
        )
        for j in jobs
    )
    status = recipe_status([n.status for n in nodes], canceled=row["canceled_at"] is not None)
    finished = [j["finished_at"] for j in jobs if j["finished_at"] is not None]
    return Recipe(
        id=int(row["id"]),
        type=row["type"],
        type_revision=int(row["type_revision"]),
        status=status,
        inputs=_loads(row["inputs"]),
        nodes=nodes,
        edges=tuple(out_edges),
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"],
        completed_at=utc(max(finished)) if status is RecipeStatus.COMPLETED and finished else None,
        canceled_at=utc(row["canceled_at"]),
        canceled_by=row["canceled_by"],
    )


def _summary(row: Row, states: Sequence[Row]) -> RecipeSummary:
    counts = {s["status"]: int(s["n"]) for s in states}
    statuses = [JobStatus(s) for s, n in counts.items() for _ in range(n)]
    status = recipe_status(statuses, canceled=row["canceled_at"] is not None)
    finished = [s["finished_at"] for s in states if s["finished_at"] is not None]
    return RecipeSummary(
        id=int(row["id"]),
        type=row["type"],
        type_revision=int(row["type_revision"]),
        status=status,
        jobs=sum(counts.values()),
        counts=counts,
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"],
        completed_at=utc(max(finished)) if status is RecipeStatus.COMPLETED and finished else None,
        canceled_at=utc(row["canceled_at"]),
    )
