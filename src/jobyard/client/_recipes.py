"""Reading the API's recipes and schedules into the core models (see :mod:`.models`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobyard.core.recipes import (
    Connection,
    JobLink,
    JobLinks,
    Recipe,
    RecipeEdge,
    RecipeNode,
    RecipeStatus,
    RecipeSummary,
    RecipeType,
    RecipeTypeDefinition,
)
from jobyard.core.schedules import CatchUp, Schedule, ScheduleRun, ScheduleSpec
from jobyard.core.states import JobStatus


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class ScheduleDetail:
    """A schedule, its next ticks and its latest runs."""

    schedule: Schedule
    next_runs: tuple[datetime, ...]
    history: tuple[ScheduleRun, ...]


def links_from(d: Mapping[str, Any]) -> JobLinks | None:
    """``recipe``, ``parents`` and ``children`` of a job detail; None for a job of no recipe."""
    recipe = d.get("recipe")
    if not recipe:
        return None

    def link(x: Mapping[str, Any]) -> JobLink:
        return JobLink(int(x["job_id"]), x["name"], JobStatus(x["status"]))

    return JobLinks(
        recipe_id=int(recipe["id"]),
        recipe_type=recipe["type"],
        name=recipe["name"],
        parents=tuple(link(p) for p in d.get("parents") or ()),
        children=tuple(link(c) for c in d.get("children") or ()),
    )


def recipe_type_from(d: Mapping[str, Any]) -> RecipeType:
    keys = ("name", "version", "title", "description", "definition")
    definition = RecipeTypeDefinition.from_dict({k: d[k] for k in keys if k in d})
    return RecipeType(definition, int(d["revision"]), _at(d["created_at"]))


def recipe_from(d: Mapping[str, Any]) -> Recipe:
    return Recipe(
        id=int(d["id"]),
        type=d["type"],
        type_revision=int(d["type_revision"]),
        status=RecipeStatus(d["status"]),
        inputs=dict(d.get("inputs") or {}),
        nodes=tuple(
            RecipeNode(
                n["name"],
                int(n["job_id"]),
                n["type"],
                JobStatus(n["status"]),
                tuple(n.get("parents") or ()),
            )
            for n in d["nodes"]
        ),
        edges=tuple(
            RecipeEdge(
                e["parent"],
                e["child"],
                tuple(Connection(c["output"], c["input"]) for c in e.get("connections") or ()),
            )
            for e in d["edges"]
        ),
        created_at=_at(d["created_at"]),
        created_by=d.get("created_by"),
        completed_at=_dt(d.get("completed_at")),
        canceled_at=_dt(d.get("canceled_at")),
        canceled_by=d.get("canceled_by"),
    )


def recipe_summary_from(d: Mapping[str, Any]) -> RecipeSummary:
    return RecipeSummary(
        id=int(d["id"]),
        type=d["type"],
        type_revision=int(d["type_revision"]),
        status=RecipeStatus(d["status"]),
        jobs=int(d["jobs"]),
        counts={k: int(v) for k, v in (d.get("counts") or {}).items()},
        created_at=_at(d["created_at"]),
        created_by=d.get("created_by"),
        completed_at=_dt(d.get("completed_at")),
        canceled_at=_dt(d.get("canceled_at")),
    )


def schedule_from(d: Mapping[str, Any]) -> Schedule:
    spec = ScheduleSpec(
        name=d["name"],
        cron=d["cron"],
        type=d["type"],
        args=d.get("args"),
        timezone=d["timezone"],
        queue=d.get("queue"),
        priority=d.get("priority"),
        enabled=bool(d["enabled"]),
        catch_up=CatchUp(d["catch_up"]),
        description=d.get("description") or "",
    )
    return Schedule(
        id=int(d["id"]),
        spec=spec,
        revision=int(d["revision"]),
        next_fire_at=_dt(d.get("next_fire_at")),
        last_fire_at=_dt(d.get("last_fire_at")),
        created_at=_at(d["created_at"]),
        updated_at=_at(d["updated_at"]),
        created_by=d.get("created_by"),
    )


def run_from(d: Mapping[str, Any], schedule_id: int) -> ScheduleRun:
    status = d.get("job_status")
    return ScheduleRun(
        schedule_id=schedule_id,
        fire_at=_at(d["fire_at"]),
        recorded_at=_at(d["recorded_at"]),
        job_id=d.get("job_id"),
        job_status=None if status is None else JobStatus(status),
        missed=int(d.get("missed") or 0),
        error=d.get("error"),
    )


def schedule_detail_from(d: Mapping[str, Any]) -> ScheduleDetail:
    schedule = schedule_from(d)
    return ScheduleDetail(
        schedule=schedule,
        next_runs=tuple(_at(t) for t in d.get("next_runs") or ()),
        history=tuple(run_from(r, schedule.id) for r in d.get("history") or ()),
    )
