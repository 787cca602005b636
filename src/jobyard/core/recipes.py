"""Recipes: graphs of jobs made together from a recipe type, in Scale's definition. No I/O.

A recipe type's definition (Scale ``recipe/configuration/definition``)::

    {"version": "1.0",
     "input_data": [{"name": "image", "type": "property", "required": true}],
     "jobs": [
       {"name": "parse", "job_type": {"name": "img.parse", "version": "1.0"},
        "recipe_inputs": [{"recipe_input": "image", "job_input": "path"}]},
       {"name": "thumb", "job_type": {"name": "img.thumb"},
        "dependencies": [{"name": "parse",
                          "connections": [{"output": "pixels", "input": "source"}]}]}]}

Each job of a recipe runs its job type with arguments built from three sources, later ones
winning: the job's constant ``args`` (jobyard's addition), the recipe inputs mapped to job inputs,
and, when its parents have completed, their outputs mapped by the connections. A job's output is
its result, a JSON object: output ``pixels`` is ``result["pixels"]``.

:func:`RecipeGraph.from_dict` checks the shape (names, unknown dependencies and recipe inputs,
cycles) and :func:`check_job_types` checks it against the job types it names; both raise
:class:`~jobyard.core.errors.Invalid` naming the field, as
``definition.jobs[1].dependencies[0].name``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobyard.core.errors import Invalid
from jobyard.core.models import TypeDefinition, check_json, check_name
from jobyard.core.states import JobStatus

JSON = Any
INPUT_TYPES = ("property", "file", "files")  # Scale's; a value is any JSON in jobyard
_PREFIX = "definition"
MAX_JOBS = 1000  # jobs in one recipe


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"{where} must be an object", field=where)
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise Invalid(f"{where} must be a list", field=where)
    return value


def _keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid(f"{where}: unknown key {unknown[0]!r}", field=f"{where}.{unknown[0]}")


def _name(value: object, where: str) -> str:
    try:
        return check_name(value, where)
    except Invalid as exc:
        raise Invalid(f"{where}: {exc.message}", field=where) from exc


@dataclass(frozen=True, slots=True)
class RecipeInput:
    """A named input of the recipe; a recipe is created with a value for each required one."""

    name: str
    type: str = "property"  # property, file or files (Scale); the value is any JSON
    required: bool = True
    media_types: tuple[str, ...] = ()  # kept for Scale; jobyard does not check them

    def to_dict(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"name": self.name, "type": self.type, "required": self.required}
        if self.media_types:
            out["media_types"] = list(self.media_types)
        return out


@dataclass(frozen=True, slots=True)
class Connection:
    """The parent's output ``output`` becomes the child's input ``input``."""

    output: str
    input: str


@dataclass(frozen=True, slots=True)
class Dependency:
    """The job waits for the recipe job ``name`` and takes outputs of it as inputs."""

    name: str
    connections: tuple[Connection, ...] = ()


@dataclass(frozen=True, slots=True)
class RecipeJob:
    """One node of the graph: a job of ``job_type`` and where its inputs come from."""

    name: str
    job_type: str
    job_version: str | None = None  # the job type's version, when the definition pins one
    recipe_inputs: tuple[tuple[str, str], ...] = ()  # (recipe_input, job_input)
    dependencies: tuple[Dependency, ...] = ()
    args: Mapping[str, JSON] = field(default_factory=dict)  # constant inputs (jobyard's own)
    queue: str | None = None  # else the job type's
    priority: int | None = None  # else the job type's

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dependencies)

    def to_dict(self) -> dict[str, JSON]:
        job_type: dict[str, JSON] = {"name": self.job_type}
        if self.job_version is not None:
            job_type["version"] = self.job_version
        out: dict[str, JSON] = {
            "name": self.name,
            "job_type": job_type,
            "recipe_inputs": [{"recipe_input": r, "job_input": j} for r, j in self.recipe_inputs],
            "dependencies": [
                {
                    "name": d.name,
                    "connections": [{"output": c.output, "input": c.input} for c in d.connections],
                }
                for d in self.dependencies
            ],
        }
        if self.args:
            out["args"] = dict(self.args)
        if self.queue is not None:
            out["queue"] = self.queue
        if self.priority is not None:
            out["priority"] = self.priority
        return out


_JOB_KEYS = {"name", "job_type", "recipe_inputs", "dependencies", "args", "queue", "priority"}


def _job(data: object, where: str) -> RecipeJob:
    d = _obj(data, where)
    _keys(d, _JOB_KEYS, where)
    if "name" not in d:
        raise Invalid(f"{where} needs a name", field=f"{where}.name")
    name = _name(d["name"], f"{where}.name")
    raw_type = d.get("job_type")
    version: str | None = None
    if isinstance(raw_type, Mapping):
        _keys(raw_type, {"name", "version"}, f"{where}.job_type")
        version_value = raw_type.get("version")
        if version_value is not None and not isinstance(version_value, str):
            raise Invalid("a job type version is a string", field=f"{where}.job_type.version")
        version = version_value
        raw_type = raw_type.get("name")
    if raw_type is None:
        raise Invalid(f"recipe job {name!r} needs a job_type", field=f"{where}.job_type")
    job_type = _name(raw_type, f"{where}.job_type.name")
    mappings: list[tuple[str, str]] = []
    for i, item in enumerate(_list(d.get("recipe_inputs"), f"{where}.recipe_inputs")):
        here = f"{where}.recipe_inputs[{i}]"
        m = _obj(item, here)
        _keys(m, {"recipe_input", "job_input"}, here)
        mappings.append(
            (_name(m.get("recipe_input"), f"{here}.recipe_input"),
             _name(m.get("job_input"), f"{here}.job_input"))
        )  # fmt: skip
    dependencies: list[Dependency] = []
    for i, item in enumerate(_list(d.get("dependencies"), f"{where}.dependencies")):
        here = f"{where}.dependencies[{i}]"
        dep = _obj(item, here)
        _keys(dep, {"name", "connections"}, here)
        connections = []
        for k, conn in enumerate(_list(dep.get("connections"), f"{here}.connections")):
            at = f"{here}.connections[{k}]"
            c = _obj(conn, at)
            _keys(c, {"output", "input"}, at)
            connections.append(
                Connection(_name(c.get("output"), f"{at}.output"),
                           _name(c.get("input"), f"{at}.input"))
            )  # fmt: skip
        dependencies.append(Dependency(_name(dep.get("name"), f"{here}.name"), tuple(connections)))
    args = d.get("args", {})
    if not isinstance(args, Mapping):
        raise Invalid("a recipe job's args are an object", field=f"{where}.args")
    check_json(args, f"{where}.args")
    queue = d.get("queue")
    if queue is not None:
        _name(queue, f"{where}.queue")
    priority = d.get("priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int)
        or not -(2**31) <= priority < 2**31
    ):  # fmt: skip
        raise Invalid("priority must be a 32-bit integer", field=f"{where}.priority")
    return RecipeJob(
        name=name,
        job_type=job_type,
        job_version=version,
        recipe_inputs=tuple(mappings),
        dependencies=tuple(dependencies),
        args=dict(args),
        queue=queue,
        priority=priority,
    )


@dataclass(frozen=True, slots=True)
class RecipeGraph:
    """A checked recipe definition: inputs and jobs, the jobs in a valid (acyclic) order."""

    inputs: tuple[RecipeInput, ...]
    jobs: tuple[RecipeJob, ...]  # in definition order (field paths count in it)
    order: tuple[str, ...]  # the job names, parents before children
    version: str = "1.0"

    def job(self, name: str) -> RecipeJob:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def to_dict(self) -> dict[str, JSON]:
        return {
            "version": self.version,
            "input_data": [i.to_dict() for i in self.inputs],
            "jobs": [j.to_dict() for j in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: object, *, prefix: str = _PREFIX) -> RecipeGraph:
        """Parse and check a definition; :class:`Invalid` names the first field at fault."""
        d = _obj(data, prefix)
        _keys(d, {"version", "input_data", "jobs"}, prefix)
        version = d.get("version", "1.0")
        if not isinstance(version, str):
            raise Invalid("version is a string", field=f"{prefix}.version")
        inputs: list[RecipeInput] = []
        for i, item in enumerate(_list(d.get("input_data"), f"{prefix}.input_data")):
            here = f"{prefix}.input_data[{i}]"
            raw = _obj(item, here)
            _keys(raw, {"name", "type", "required", "media_types"}, here)
            name = _name(raw.get("name"), f"{here}.name")
            if any(x.name == name for x in inputs):
                raise Invalid(f"recipe input {name!r} is defined twice", field=f"{here}.name")
            kind = raw.get("type", "property")
            if kind not in INPUT_TYPES:
                raise Invalid(
                    f"input type is one of {', '.join(INPUT_TYPES)}", field=f"{here}.type"
                )
            required = raw.get("required", True)
            if not isinstance(required, bool):
                raise Invalid("required is true or false", field=f"{here}.required")
            media = _list(raw.get("media_types"), f"{here}.media_types")
            if not all(isinstance(m, str) for m in media):
                raise Invalid("media_types are strings", field=f"{here}.media_types")
            inputs.append(RecipeInput(name, kind, required, tuple(media)))
        raw_jobs = _list(d.get("jobs"), f"{prefix}.jobs")
        if not raw_jobs:
            raise Invalid("a recipe needs at least one job", field=f"{prefix}.jobs")
        if len(raw_jobs) > MAX_JOBS:
            raise Invalid(f"a recipe has at most {MAX_JOBS} jobs", field=f"{prefix}.jobs")
        jobs = [_job(item, f"{prefix}.jobs[{i}]") for i, item in enumerate(raw_jobs)]
        _check_links(jobs, {x.name for x in inputs}, prefix)
        order = _topological(jobs, prefix)
        return cls(tuple(inputs), tuple(jobs), tuple(jobs[i].name for i in order), version)


def _check_links(jobs: Sequence[RecipeJob], inputs: set[str], prefix: str) -> None:
    index: dict[str, int] = {}
    for i, job in enumerate(jobs):
        if job.name in index:
            raise Invalid(
                f"recipe job {job.name!r} is defined twice", field=f"{prefix}.jobs[{i}].name"
            )
        index[job.name] = i
    for i, job in enumerate(jobs):
        where = f"{prefix}.jobs[{i}]"
        sources: list[tuple[str, str, str]] = []  # (job input, what fills it, field)
        for k, (recipe_input, job_input) in enumerate(job.recipe_inputs):
            at = f"{where}.recipe_inputs[{k}]"
            if recipe_input not in inputs:
                raise Invalid(
                    f"recipe job {job.name!r} names an unknown recipe input {recipe_input!r}",
                    field=f"{at}.recipe_input",
                )
            sources.append((job_input, f"recipe input {recipe_input!r}", f"{at}.job_input"))
        seen: set[str] = set()
        for k, dep in enumerate(job.dependencies):
            at = f"{where}.dependencies[{k}]"
            if dep.name not in index:
                raise Invalid(
                    f"recipe job {job.name!r} depends on an unknown job {dep.name!r}",
                    field=f"{at}.name",
                )
            if dep.name in seen:
                raise Invalid(
                    f"recipe job {job.name!r} names dependency {dep.name!r} twice",
                    field=f"{at}.name",
                )
            seen.add(dep.name)
            for n, conn in enumerate(dep.connections):
                source = f"output {conn.output!r} of {dep.name!r}"
                sources.append((conn.input, source, f"{at}.connections[{n}].input"))
        filled: dict[str, str] = {}  # two sources for one input would race: refused
        for job_input, source, at in sources:
            if job_input in filled:
                raise Invalid(
                    f"recipe job {job.name!r}: input {job_input!r} is filled by both "
                    f"{filled[job_input]} and {source}",
                    field=at,
                )
            filled[job_input] = source


def _topological(jobs: Sequence[RecipeJob], prefix: str) -> list[int]:
    """Indexes of ``jobs`` with parents first (Kahn, stable); a cycle is :class:`Invalid`."""
    index = {job.name: i for i, job in enumerate(jobs)}
    waiting = [len(job.dependencies) for job in jobs]
    children: list[list[int]] = [[] for _ in jobs]
    for i, job in enumerate(jobs):
        for dep in job.dependencies:
            children[index[dep.name]].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for child in children[i]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(jobs):
        done = set(order)
        stuck = [i for i in range(len(jobs)) if i not in done]
        cycle = _a_cycle(jobs, stuck, index)
        first = min(cycle, key=lambda name: index[name])
        at = cycle.index(first)
        cycle = cycle[at:] + cycle[:at]  # told from the job defined first
        raise Invalid(
            f"the recipe's dependencies form a cycle: {' -> '.join([*cycle, cycle[0]])}",
            field=f"{prefix}.jobs[{index[first]}].dependencies",
            cycle=cycle,
        )
    return order


def _a_cycle(jobs: Sequence[RecipeJob], stuck: list[int], index: dict[str, int]) -> list[str]:
    """One cycle among the jobs Kahn's algorithm could not order, as job names."""
    left = set(stuck)
    path: list[int] = []
    at = stuck[0]
    while at not in path:
        path.append(at)
        at = next(index[d.name] for d in jobs[at].dependencies if index[d.name] in left)
    cycle = path[path.index(at) :]
    cycle.reverse()  # parent -> child order reads as the dependencies run
    return [jobs[i].name for i in cycle]


# -- against the job types ----------------------------------------------------------------------


def declared_outputs(definition: TypeDefinition) -> frozenset[str] | None:
    """Names of the outputs a job type declares; None when it declares no interface."""
    if definition.interface is None:
        return None
    return frozenset(p.name for p in definition.interface.outputs)


def declared_inputs(definition: TypeDefinition) -> frozenset[str] | None:
    if definition.interface is None:
        return None
    return frozenset(p.name for p in definition.interface.inputs)


def check_job_types(
    graph: RecipeGraph,
    types: Mapping[str, TypeDefinition | None],
    *,
    archived: Collection[str] = (),
    prefix: str = _PREFIX,
) -> None:
    """Every job type exists (in its pinned version, not archived), and every mapping names an
    input the job's type takes and every connection an output the parent's type produces, where
    the types declare an interface.

    ``types`` maps each job type name to its current definition, or None when there is none.
    """
    by_name = {j.name: j for j in graph.jobs}
    for position, job in enumerate(graph.jobs):
        where = f"{prefix}.jobs[{position}]"
        definition = types.get(job.job_type)
        if definition is None:
            raise Invalid(
                f"recipe job {job.name!r}: unknown job type {job.job_type!r}",
                field=f"{where}.job_type.name",
                type=job.job_type,
            )
        if job.job_type in archived:
            raise Invalid(
                f"recipe job {job.name!r}: job type {job.job_type!r} is archived",
                field=f"{where}.job_type.name",
                type=job.job_type,
            )
        if job.job_version is not None and definition.version != job.job_version:
            raise Invalid(
                f"recipe job {job.name!r}: job type {job.job_type!r} is version "
                f"{definition.version}, not {job.job_version}",
                field=f"{where}.job_type.version",
            )
        inputs = declared_inputs(definition)
        if inputs is not None:
            wanted = [(f"{where}.args.{name}", name) for name in job.args]
            wanted += [
                (f"{where}.recipe_inputs[{k}].job_input", m[1])
                for k, m in enumerate(job.recipe_inputs)
            ]
            wanted += [
                (f"{where}.dependencies[{k}].connections[{n}].input", c.input)
                for k, d in enumerate(job.dependencies)
                for n, c in enumerate(d.connections)
            ]
            for at, job_input in wanted:
                if job_input not in inputs:
                    raise Invalid(
                        f"recipe job {job.name!r}: job type {job.job_type!r} has no input "
                        f"{job_input!r}",
                        field=at,
                    )
        for k, dep in enumerate(job.dependencies):
            parent = types.get(by_name[dep.name].job_type)
            outputs = None if parent is None else declared_outputs(parent)
            if outputs is None:
                continue
            for n, conn in enumerate(dep.connections):
                if conn.output not in outputs:
                    raise Invalid(
                        f"recipe job {job.name!r}: {dep.name!r} (job type "
                        f"{by_name[dep.name].job_type!r}) produces no output {conn.output!r}",
                        field=f"{where}.dependencies[{k}].connections[{n}].output",
                    )


def check_inputs(
    graph: RecipeGraph, values: object, *, field_name: str = "inputs"
) -> dict[str, JSON]:
    """The values a new recipe is created with: an object with every required recipe input."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise Invalid("recipe inputs are an object of name: value", field=field_name)
    known = {i.name for i in graph.inputs}
    for name in values:
        if name not in known:
            raise Invalid(f"the recipe has no input {name!r}", field=f"{field_name}.{name}")
    for item in graph.inputs:
        if item.required and item.name not in values:
            raise Invalid(
                f"recipe input {item.name!r} is required", field=f"{field_name}.{item.name}"
            )
    check_json(values, field_name)
    return dict(values)


def base_args(job: RecipeJob, inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    """A recipe job's arguments before its parents run: constants, then recipe inputs."""
    args = dict(job.args)
    for recipe_input, job_input in job.recipe_inputs:
        if recipe_input in inputs:
            args[job_input] = inputs[recipe_input]
    return args


def child_args(
    base: Mapping[str, JSON], parents: Sequence[tuple[Sequence[Connection], JSON]]
) -> tuple[dict[str, JSON], list[str]]:
    """A released job's arguments: ``base`` with each parent's outputs mapped in.

    ``parents`` are (connections, the parent's result). Returns the arguments and the outputs
    that were missing (a result that is not an object, or lacks the name), as ``"output"``
    strings; a missing output leaves its input unset.
    """
    args = dict(base)
    missing: list[str] = []
    for connections, result in parents:
        for conn in connections:
            if isinstance(result, Mapping) and conn.output in result:
                args[conn.input] = result[conn.output]
            else:
                missing.append(conn.output)
    return args, missing


def connections_to_json(connections: Sequence[Connection]) -> list[dict[str, str]]:
    return [{"output": c.output, "input": c.input} for c in connections]


def connections_from_json(data: Sequence[Mapping[str, str]]) -> tuple[Connection, ...]:
    return tuple(Connection(c["output"], c["input"]) for c in data)


# -- recipe types and recipes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipeTypeDefinition:
    """What a recipe type is, as its author declares it; any change makes a new revision."""

    name: str
    graph: RecipeGraph
    version: str = "1.0"  # the author's version string (Scale); revisions count changes
    title: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        for name in ("version", "title", "description"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > 10_000:
                raise Invalid(f"{name} is a string of at most 10000 characters", field=name)

    def to_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "definition": self.graph.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> RecipeTypeDefinition:
        """Parse a request body or a stored definition; unknown keys are an error."""
        d = _obj(data, "recipe_type")
        unknown = sorted(set(d) - {"name", "version", "title", "description", "definition"})
        if unknown:
            raise Invalid(f"unknown recipe type option {unknown[0]!r}", field=unknown[0])
        if "name" not in d:
            raise Invalid("a recipe type needs a name", field="name")
        if "definition" not in d:
            raise Invalid("a recipe type needs a definition", field="definition")
        return cls(
            name=d["name"],
            graph=RecipeGraph.from_dict(d["definition"]),
            version=d.get("version", "1.0"),
            title=d.get("title", ""),
            description=d.get("description", ""),
        )


@dataclass(frozen=True, slots=True)
class RecipeType:
    """A stored recipe type: its current definition and revision number."""

    definition: RecipeTypeDefinition
    revision: int  # 1 for the first definition, +1 for every change
    created_at: datetime  # when this revision was stored

    @property
    def name(self) -> str:
        return self.definition.name


class RecipeStatus(StrEnum):
    RUNNING = "running"  # some job is unfinished and none failed or was canceled
    COMPLETED = "completed"  # every job completed
    FAILED = "failed"  # some job failed and has not been requeued
    CANCELED = "canceled"  # the recipe, or one of its jobs, was canceled


def recipe_status(statuses: Sequence[JobStatus], *, canceled: bool) -> RecipeStatus:
    """A recipe's status from its jobs' states and whether a person canceled it as a whole."""
    if statuses and all(s is JobStatus.COMPLETED for s in statuses):
        return RecipeStatus.COMPLETED
    if canceled:
        return RecipeStatus.CANCELED
    if any(s is JobStatus.FAILED for s in statuses):
        return RecipeStatus.FAILED
    if any(s is JobStatus.CANCELED for s in statuses):
        return RecipeStatus.CANCELED
    return RecipeStatus.RUNNING


@dataclass(frozen=True, slots=True)
class RecipeNode:
    """A job of a recipe, as the recipe's graph shows it."""

    name: str  # the job's name in the recipe definition
    job_id: int
    type: str
    status: JobStatus
    parents: tuple[str, ...]  # names of the jobs it waits for


@dataclass(frozen=True, slots=True)
class RecipeEdge:
    parent: str
    child: str
    connections: tuple[Connection, ...]


@dataclass(frozen=True, slots=True)
class Recipe:
    """A recipe and its graph, with each job's current state."""

    id: int
    type: str
    type_revision: int
    status: RecipeStatus
    inputs: dict[str, JSON]
    nodes: tuple[RecipeNode, ...]  # parents before children
    edges: tuple[RecipeEdge, ...]
    created_at: datetime
    created_by: str | None
    completed_at: datetime | None  # when its last job completed
    canceled_at: datetime | None  # when a person canceled it as a whole (cleared by requeue)
    canceled_by: str | None

    def node(self, name: str) -> RecipeNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def counts(self) -> dict[str, int]:
        """How many of its jobs are in each state."""
        out: dict[str, int] = {}
        for node in self.nodes:
            out[node.status.value] = out.get(node.status.value, 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class RecipeSummary:
    """A recipe in a list: no graph, its jobs counted by state."""

    id: int
    type: str
    type_revision: int
    status: RecipeStatus
    jobs: int
    counts: dict[str, int]
    created_at: datetime
    created_by: str | None
    completed_at: datetime | None
    canceled_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobLink:
    """Another job of the same recipe."""

    job_id: int
    name: str
    status: JobStatus


@dataclass(frozen=True, slots=True)
class JobLinks:
    """Where a job sits in its recipe: the recipe, its name there, its parents and children."""

    recipe_id: int
    recipe_type: str
    name: str
    parents: tuple[JobLink, ...]
    children: tuple[JobLink, ...]
