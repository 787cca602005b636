"""Schedules: a cron expression in a time zone that enqueues a job type with fixed arguments.

Pure: parsing and checking a schedule, the ticks of a cron expression (``cronsim``, which follows
Debian cron across daylight-saving changes: a daily 02:30 runs once on both change days), and the
decision of what one engine round does for a due schedule (:func:`plan`). The store records each
tick it acts on in ``schedule_run`` under a unique key, so however many engines decide the same
thing at once, one job is made per tick.

Catch-up after a gap (the engine was down, or slower than the schedule): the due ticks are those
from the schedule's ``next_fire_at`` up to now. The latest of them is *on time* when it is at most
``grace`` seconds old; every earlier one was *missed*. ``skip`` runs only an on-time tick and
records the others as skipped; ``once`` runs one job for all of them, under the latest tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from jobyard.core.errors import Invalid
from jobyard.core.models import check_json, check_name
from jobyard.core.states import JobStatus

JSON = Any
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_COUNTED = 10_000  # missed ticks counted one by one after a gap; beyond, the count stops


class CatchUp(StrEnum):
    """What a schedule does with ticks it missed (the engine was down when they came)."""

    SKIP = "skip"  # run none of them; wait for the next tick
    ONCE = "once"  # run one job for all of them, now


def check_cron(expr: object, field: str = "cron") -> str:
    """A cron expression: 5 fields (minute hour day month weekday), 6 with seconds first, or an
    alias (@hourly, @daily, @weekly, @monthly, @yearly)."""
    if not isinstance(expr, str) or not expr.strip() or len(expr) > 200:
        raise Invalid("cron is an expression such as '*/5 * * * *'", field=field)
    text = " ".join(expr.split())
    try:
        CronSim(ALIASES.get(text.lower(), text), datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError, IndexError) as exc:
        raise Invalid(f"cron {text!r} is not a cron expression: {exc}", field=field) from exc
    return text


def check_timezone(name: object, field: str = "timezone") -> str:
    """An IANA time zone name (Europe/Berlin, America/New_York, UTC)."""
    if not isinstance(name, str) or not name or len(name) > 100 or name.startswith("/"):
        raise Invalid("timezone is an IANA name such as 'Europe/Berlin'", field=field)
    try:
        ZoneInfo(name)
    # OSError: a folder of the zone database ("America") or a file that is not a zone
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise Invalid(f"unknown time zone {name!r}", field=field) from exc
    return name


def ticks(cron: str, timezone: str, after: float, count: int) -> list[float]:
    """The next ``count`` ticks strictly after ``after`` (epoch seconds), fewer if the expression
    has no more within 50 years."""
    if count <= 0:
        return []
    zone = ZoneInfo(timezone)
    start = datetime.fromtimestamp(after, UTC).astimezone(zone)
    found: list[float] = []
    for moment in CronSim(ALIASES.get(cron.lower(), cron), start):
        found.append(moment.timestamp())
        if len(found) >= count:
            break
    return found


def next_tick(cron: str, timezone: str, after: float) -> float | None:
    found = ticks(cron, timezone, after, 1)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one engine round does for a due schedule."""

    fire_at: float  # the tick the run is recorded under: the latest due one
    enqueue: bool  # False: the tick came too late and the schedule skips missed ticks
    missed: int  # due ticks before ``fire_at`` that get no job of their own
    next_fire_at: float | None  # the first tick after now; None when there is none


def plan(
    cron: str,
    timezone: str,
    *,
    next_fire_at: float,
    now: float,
    catch_up: CatchUp,
    grace: float,
) -> Plan | None:
    """The run for the ticks due at ``now``, starting with ``next_fire_at``; None if none is."""
    if next_fire_at > now:
        return None
    latest, missed = next_fire_at, 0
    while True:
        batch = ticks(cron, timezone, latest, 256)
        due = [t for t in batch if t <= now]
        if due:
            missed += len(due)
            latest = due[-1]
        if len(due) < len(batch) or not batch or missed >= MAX_COUNTED:
            break
    if missed >= MAX_COUNTED:  # a long gap: jump to the latest tick, the count stops here
        latest = max(latest, _latest_until(cron, timezone, now))
    on_time = now - latest <= grace
    return Plan(
        fire_at=latest,
        enqueue=on_time or catch_up is CatchUp.ONCE,
        missed=missed,
        next_fire_at=next_tick(cron, timezone, now),
    )


def _latest_until(cron: str, timezone: str, now: float) -> float:
    zone = ZoneInfo(timezone)
    start = datetime.fromtimestamp(int(now) + 1, UTC).astimezone(zone)
    for moment in CronSim(ALIASES.get(cron.lower(), cron), start, reverse=True):
        return moment.timestamp()
    return now  # pragma: no cover - plan() only calls this after counting due ticks


_SPEC_KEYS = frozenset(
    {
        "name",
        "cron",
        "timezone",
        "type",
        "args",
        "queue",
        "priority",
        "enabled",
        "catch_up",
        "description",
    }
)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A schedule as a person declares it."""

    name: str
    cron: str  # when: a cron expression, read in ``timezone``
    type: str  # the job type each tick enqueues
    args: JSON = field(default_factory=dict)  # the same arguments every time
    timezone: str = "UTC"
    queue: str | None = None  # else the job type's
    priority: int | None = None  # else the job type's
    enabled: bool = True
    catch_up: CatchUp = CatchUp.SKIP
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        object.__setattr__(self, "cron", check_cron(self.cron))
        check_timezone(self.timezone)
        check_name(self.type, "type")
        check_json(self.args, "args")
        if self.queue is not None:
            check_name(self.queue, "queue")
        p = self.priority
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or abs(p) >= 2**31):
            raise Invalid("priority must be a 32-bit integer", field="priority")
        if not isinstance(self.enabled, bool):
            raise Invalid("enabled is true or false", field="enabled")
        try:
            object.__setattr__(self, "catch_up", CatchUp(self.catch_up))
        except ValueError as exc:
            raise Invalid("catch_up is 'skip' or 'once'", field="catch_up") from exc
        if not isinstance(self.description, str) or len(self.description) > 10_000:
            raise Invalid(
                "description is a string of at most 10000 characters", field="description"
            )

    def to_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "type": self.type,
            "args": self.args,
            "queue": self.queue,
            "priority": self.priority,
            "enabled": self.enabled,
            "catch_up": self.catch_up.value,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: object) -> ScheduleSpec:
        """Parse a request body; unknown keys are an error, not silently dropped."""
        if not isinstance(data, Mapping):
            raise Invalid("a schedule is an object", field="body")
        _check_keys(data)
        for name in ("name", "cron", "type"):
            if name not in data:
                raise Invalid(f"a schedule needs {name}", field=name)
        return cls(**dict(data))

    def changed(self, changes: Mapping[str, JSON]) -> ScheduleSpec:
        """This schedule with ``changes`` applied (a PATCH body); the name cannot change."""
        _check_keys(changes)
        if "name" in changes and changes["name"] != self.name:
            raise Invalid("a schedule's name cannot change", field="name")
        return replace(self, **dict(changes))


def _check_keys(data: Mapping[str, JSON]) -> None:
    unknown = sorted(set(data) - _SPEC_KEYS)
    if unknown:
        raise Invalid(f"unknown schedule option {unknown[0]!r}", field=unknown[0])


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule and where it stands."""

    id: int
    spec: ScheduleSpec
    revision: int  # +1 on every edit; a round planned on an older revision fires nothing
    next_fire_at: datetime | None  # the next tick it has not acted on; None: none is left
    last_fire_at: datetime | None  # the latest tick it acted on (ran or skipped)
    created_at: datetime
    updated_at: datetime
    created_by: str | None

    @property
    def name(self) -> str:
        return self.spec.name

    def next_runs(self, count: int = 5, *, after: float | None = None) -> list[datetime]:
        """The next ``count`` ticks (from its next_fire_at, or strictly after ``after``)."""
        zone = ZoneInfo(self.spec.timezone)
        if after is None:
            if self.next_fire_at is None:
                return []
            first = self.next_fire_at.timestamp()
            found = [first, *ticks(self.spec.cron, self.spec.timezone, first, count - 1)]
        else:
            found = ticks(self.spec.cron, self.spec.timezone, after, count)
        return [datetime.fromtimestamp(t, UTC).astimezone(zone) for t in found[:count]]


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One tick a schedule acted on: the job it made, or why it made none."""

    schedule_id: int
    fire_at: datetime  # the tick
    recorded_at: datetime  # when an engine acted on it
    job_id: int | None  # None: skipped (too late, catch-up skip) or failed to enqueue
    job_status: JobStatus | None  # the job's current state
    missed: int  # earlier due ticks folded into this one (once) or skipped with it (skip)
    error: str | None  # why no job was made, when one should have been
