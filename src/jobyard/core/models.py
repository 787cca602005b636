"""What jobyard stores and hands around: frozen dataclasses, no I/O.

Times are timezone-aware UTC datetimes in models and float epoch seconds in the database.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid
from jobyard.core.interface import Interface
from jobyard.core.limits import WaitReason, check_amount, check_limit
from jobyard.core.states import ExecutionStatus, JobStatus

if TYPE_CHECKING:  # core/recipes.py imports this module
    from jobyard.core.recipes import JobLinks

JSON = Any  # a value json.dumps accepts

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,199}$")


def utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def epoch(dt: datetime | float | None) -> float | None:
    if dt is None or isinstance(dt, float | int):
        return None if dt is None else float(dt)
    if not isinstance(dt, datetime):
        raise Invalid("run_at must be an ISO-8601 time with a time zone", field="run_at")
    if dt.tzinfo is None:
        raise Invalid("datetimes must carry a time zone", field="run_at")
    return dt.timestamp()


def check_name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise Invalid(
            f"{field} must be 1-200 characters of letters, digits, '_', '.', ':' or '-'",
            field=field,
        )
    return value


MAX_ARGS = 1024 * 1024  # bytes of a job's args as JSON: bulk data belongs in files or a store


# one encoder for every check: json.dumps with options builds a new one each call, which was
# a third of the cost of making a JobSpec
_encode_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def check_json(value: object, field: str) -> str:
    """The JSON text of ``value``; :class:`Invalid` naming ``field`` when it is not JSON."""
    try:
        return _encode_json(value)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{field} must be JSON: {exc}", field=field) from exc


def _check_int(value: object, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{field} must be an integer from {low} to {high}", field=field)
    return value


def _check_text(value: object, field: str, *, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high or not value.isprintable():
        raise Invalid(f"{field} must be {low}-{high} printable characters", field=field)
    return value


def _check_seconds(value: object, field: str, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        raise Invalid(f"{field} must be a positive number of seconds", field=field)
    return float(value)  # type: ignore[arg-type]


class TypeKind(StrEnum):
    PYTHON = "python"  # target is "module:function"
    COMMAND = "command"  # target is an argv list with ${name} placeholders
    REMOTE = "remote"  # run by a client of a wire protocol; target names it ("faktory")


@dataclass(frozen=True, slots=True)
class TypeDefinition:
    """What a job type is, as its author declares it; any change makes a new revision."""

    name: str
    kind: TypeKind
    target: str | tuple[str, ...]  # "module:function", or argv for a command
    queue: str = "default"
    priority: int = 100  # lower runs first
    timeout: float | None = None  # seconds per attempt; None runs without limit
    max_tries: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    cpus: float = 0.0  # resources the job needs (0 = no claim on the resource)
    mem: float = 0.0  # MiB
    tags: tuple[str, ...] = ()
    description: str = ""
    version: str = "1.0"  # the author's version of the type (Scale's job type version)
    title: str = ""  # a name for people; empty: the name
    category: str = ""  # a group to filter by (queue status, load history)
    disk: float = 0.0  # MiB of scratch disk the job needs
    interface: Interface | None = None  # named, typed inputs and outputs; None: any args
    concurrency: int | None = None  # at most this many of its jobs run at once; None: no limit

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        check_name(self.queue, "queue")
        _check_text(self.version, "version", low=1, high=50)
        _check_text(self.title, "title", low=0, high=200)
        _check_text(self.category, "category", low=0, high=100)
        _check_seconds(self.disk, "disk", allow_zero=True)
        if self.interface is not None and not isinstance(self.interface, Interface):
            raise Invalid("interface must be an Interface", field="interface")
        if self.concurrency is not None:
            check_limit(self.concurrency, "concurrency")
        _check_int(self.priority, "priority", low=-(2**31), high=2**31 - 1)
        _check_int(self.max_tries, "max_tries", low=1, high=10_000)
        if self.timeout is not None:
            _check_seconds(self.timeout, "timeout")
        _check_seconds(self.cpus, "cpus", allow_zero=True)
        _check_seconds(self.mem, "mem", allow_zero=True)
        if self.kind is TypeKind.COMMAND:
            if (
                not isinstance(self.target, tuple)
                or not self.target
                or not all(isinstance(a, str) for a in self.target)
            ):
                raise Invalid("a command type needs an argv list of strings", field="command")
        elif self.kind is TypeKind.REMOTE:
            if not isinstance(self.target, str) or not self.target:
                raise Invalid("a remote type's target names its protocol", field="target")
        elif not isinstance(self.target, str) or ":" not in self.target:
            raise Invalid("a python type's target is 'module:function'", field="target")

    def to_dict(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "target": list(self.target) if self.kind is TypeKind.COMMAND else self.target,
            "queue": self.queue,
            "priority": self.priority,
            "timeout": self.timeout,
            "max_tries": self.max_tries,
            "backoff": self.backoff.to_dict(),
            "cpus": self.cpus,
            "mem": self.mem,
            "tags": list(self.tags),
            "description": self.description,
            **self._extras(),
        }

    def _extras(self) -> dict[str, JSON]:
        # left out at their defaults, so a definition stored before they existed stays equal to
        # the same definition now, and registering it again makes no new revision
        d: dict[str, JSON] = {}
        if self.version != "1.0":
            d["version"] = self.version
        if self.title:
            d["title"] = self.title
        if self.category:
            d["category"] = self.category
        if self.disk:
            d["disk"] = self.disk
        if self.interface is not None:
            d["interface"] = self.interface.to_dict()
        if self.concurrency is not None:
            d["concurrency"] = self.concurrency
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> TypeDefinition:
        try:
            kind = TypeKind(data["kind"])
        except (KeyError, ValueError) as exc:
            kinds = ", ".join(k.value for k in TypeKind)
            raise Invalid(f"kind is one of {kinds}", field="kind") from exc
        target = data.get("target", "")
        return cls(
            name=data["name"],
            kind=kind,
            target=tuple(target)
            if kind is TypeKind.COMMAND and isinstance(target, list | tuple)
            else target,
            queue=data.get("queue", "default"),
            priority=data.get("priority", 100),
            timeout=data.get("timeout"),
            max_tries=data.get("max_tries", 3),
            backoff=Backoff.parse(data.get("backoff", {})),
            cpus=data.get("cpus", 0.0),
            mem=data.get("mem", 0.0),
            tags=tuple(data.get("tags", ())),
            description=data.get("description", ""),
            version=data.get("version", "1.0"),
            title=data.get("title", ""),
            category=data.get("category", ""),
            disk=data.get("disk", 0.0),
            interface=None
            if data.get("interface") is None
            else Interface.from_dict(data["interface"]),
            concurrency=data.get("concurrency"),
        )


@dataclass(frozen=True, slots=True)
class JobType:
    """A stored type: its current definition and revision number."""

    definition: TypeDefinition
    revision: int  # 1 for the first definition, +1 for every change
    created_at: datetime  # when this revision was stored
    id: int | None = None  # a stable integer id for the name (Scale's job type id, load filters)
    archived_at: datetime | None = None  # archived: refuses new jobs, hidden from listings
    paused: bool = False  # its jobs stay queued, unclaimed, until it is resumed (no new revision)

    @property
    def name(self) -> str:
        return self.definition.name


class OnDuplicate(StrEnum):
    REFUSE = "refuse"  # raise Duplicate while the first job with the key is unfinished
    RETURN = "return"  # hand back the unfinished job's id instead


MAX_UNIQUE_FOR = 10 * 366 * 86400.0  # seconds: ten years

_SPEC_OPTIONS = frozenset(
    {
        "type",
        "args",
        "queue",
        "priority",
        "run_at",
        "delay",
        "timeout",
        "max_tries",
        "backoff",
        "tags",
        "unique_key",
        "on_duplicate",
        "external_id",
        "cpus",
        "mem",
        "disk",
        "concurrency_key",
        "concurrency_limit",
        "unique_for",
    }
)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A request to run a job type; options left as None take the type's defaults."""

    type: str
    args: JSON = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    run_at: datetime | None = None  # absolute time; or delay in seconds from now
    delay: float | None = None
    timeout: float | None = None
    max_tries: int | None = None
    backoff: Backoff | None = None
    tags: tuple[str, ...] | None = None
    unique_key: str | None = None  # at most one unfinished job per key
    on_duplicate: OnDuplicate = OnDuplicate.REFUSE
    external_id: str | None = None  # the caller's own id (a Faktory jid), unique for ever
    cpus: float | None = None  # resources it needs (the type's unless given)
    mem: float | None = None  # MiB
    disk: float | None = None  # MiB
    concurrency_key: str | None = None  # jobs sharing a key run at most concurrency_limit at once
    concurrency_limit: int | None = None  # default 1 when a key is given
    unique_for: float | None = None  # seconds the unique key stays taken after this job's creation
    # the args as checked, in JSON text: a job stores its args as they were when its spec was
    # made (a dict changed afterwards is not what was checked), and is not encoded twice
    args_json: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.type, "type")
        text = check_json(self.args, "args")
        object.__setattr__(self, "args_json", text)
        size = len(text)  # ASCII JSON: characters are bytes
        if size > MAX_ARGS:
            raise Invalid(
                f"args are limited to {MAX_ARGS} bytes of JSON; these are {size}", field="args"
            )
        if type(self.on_duplicate) is not OnDuplicate:
            try:  # frozen: normalise a plain string once, here
                object.__setattr__(self, "on_duplicate", OnDuplicate(self.on_duplicate))
            except ValueError as exc:
                raise Invalid("on_duplicate is 'refuse' or 'return'", field="on_duplicate") from exc
        if self.queue is not None:
            check_name(self.queue, "queue")
        if self.priority is not None:
            _check_int(self.priority, "priority", low=-(2**31), high=2**31 - 1)
        if self.max_tries is not None:
            _check_int(self.max_tries, "max_tries", low=1, high=10_000)
        if self.timeout is not None:
            _check_seconds(self.timeout, "timeout")
        if self.delay is not None:
            _check_seconds(self.delay, "delay", allow_zero=True)
        if self.run_at is not None and self.delay is not None:
            raise Invalid("give run_at or delay, not both", field="delay")
        if self.run_at is not None:
            epoch(self.run_at)
        for name in ("unique_key", "external_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 255):
                raise Invalid(f"{name} must be a string of 1-255 characters", field=name)
        if self.tags is not None and not all(isinstance(t, str) and t for t in self.tags):
            raise Invalid("tags must be non-empty strings", field="tags")
        self._check_limits()

    def _check_limits(self) -> None:
        for name in ("cpus", "mem", "disk"):
            if getattr(self, name) is not None:
                check_amount(getattr(self, name), name, finite=True)
        key = self.concurrency_key
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 255):
            raise Invalid(
                "concurrency_key must be a string of 1-255 characters", field="concurrency_key"
            )
        if self.concurrency_limit is not None:
            if key is None:
                raise Invalid(
                    "concurrency_limit needs a concurrency_key", field="concurrency_limit"
                )
            check_limit(self.concurrency_limit, "concurrency_limit")
        if self.unique_for is not None:
            if self.unique_key is None:
                raise Invalid("unique_for needs a unique_key", field="unique_for")
            _check_seconds(self.unique_for, "unique_for")
            if self.unique_for > MAX_UNIQUE_FOR:
                raise Invalid(
                    f"unique_for must be at most {MAX_UNIQUE_FOR:.0f} seconds", field="unique_for"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> JobSpec:
        """Parse a request body; unknown options are an error, not silently dropped."""
        if not isinstance(data, Mapping):
            raise Invalid("a job must be an object", field="job")
        unknown = set(data) - _SPEC_OPTIONS
        if unknown:
            name = sorted(unknown)[0]
            raise Invalid(f"unknown job option {name!r}", field=name)
        if "type" not in data:
            raise Invalid("a job needs a type", field="type")
        options = dict(data)
        if options.get("backoff") is not None:
            options["backoff"] = Backoff.parse(options["backoff"])
        if options.get("tags") is not None:
            if isinstance(options["tags"], str) or not isinstance(options["tags"], Sequence):
                raise Invalid("tags must be a list of strings", field="tags")
            options["tags"] = tuple(options["tags"])
        if isinstance(options.get("run_at"), str):
            try:
                options["run_at"] = datetime.fromisoformat(options["run_at"])
            except ValueError as exc:
                raise Invalid("run_at must be an ISO-8601 time", field="run_at") from exc
        return cls(**options)


@dataclass(frozen=True, slots=True)
class Execution:
    """One attempt at a job: one process. Also a row of the process table."""

    id: int  # also the lease's fencing token
    job_id: int
    attempt: int  # 1 for the first try
    status: ExecutionStatus
    worker_id: str | None  # the worker that claimed it
    hostname: str | None
    pid: int | None  # the process that ran the job
    ppid: int | None  # its parent: the worker supervisor
    run_as: str | None  # OS user
    queued_at: datetime | None  # when the job became ready for this attempt
    started_at: datetime
    ended_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime
    exit_code: int | None
    signal: int | None  # the signal that ended the process, if one did
    peak_rss: int | None  # bytes
    error_type: str | None
    error_message: str | None
    traceback: str | None
    stopped_by: str | None  # who killed it, for canceled executions


@dataclass(frozen=True, slots=True)
class Job:
    """One request to run a job type, with its current state."""

    id: int
    type: str
    type_revision: int
    status: JobStatus
    queue: str
    priority: int
    args: JSON
    tags: tuple[str, ...]
    unique_key: str | None
    external_id: str | None
    tries: int  # attempts started so far
    max_tries: int
    timeout: float | None
    backoff: Backoff
    run_at: datetime  # when it may run (scheduled / retrying)
    created_at: datetime
    started_at: datetime | None  # the latest attempt's start
    finished_at: datetime | None
    updated_at: datetime
    result: JSON
    error: dict[str, JSON] | None  # {"type", "message", "traceback"} of the last failure
    progress: float | None  # percent, 0-100
    progress_desc: str | None
    execution_id: int | None  # the current or last attempt
    kill_requested_at: datetime | None
    kill_requested_by: str | None
    canceled_by: str | None
    canceled_at: datetime | None
    removed_at: datetime | None  # hidden from queue listings, still readable
    removed_by: str | None
    restart_of: int | None  # the job this one restarted
    restarted_as: int | None  # the job that restarted this one
    created_by: str | None
    executions: tuple[Execution, ...] = ()  # filled by job_get
    cpus: float = 0.0  # resources it needs, resolved from its type at enqueue
    mem: float = 0.0  # MiB
    disk: float = 0.0  # MiB
    type_concurrency: int | None = None  # its type revision's limit of jobs at once
    concurrency_key: str | None = None
    concurrency_limit: int | None = None  # of jobs with concurrency_key at once
    waiting: WaitReason | None = None  # why it waits (API job detail); None when not asked
    links: JobLinks | None = None  # its recipe, parents and children (API job detail)


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker has just claimed, with what the worker needs to run it."""

    job_id: int
    execution_id: int  # the fencing token for heartbeat, progress and finish
    type: str
    type_revision: int
    args: JSON
    attempt: int
    max_tries: int
    timeout: float | None
    lease_expires_at: float
    cpus: float = 0.0  # what the job reserves of its worker's resources while it runs
    mem: float = 0.0  # MiB
    disk: float = 0.0  # MiB


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an execution ended, as its worker reports it."""

    execution_id: int
    status: ExecutionStatus  # completed, failed, canceled, timed_out or released
    result: JSON = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retryable: bool = True
    exit_code: int | None = None
    signal: int | None = None
    peak_rss: int | None = None
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the store tells a worker when it renews its leases."""

    kill: tuple[int, ...]  # execution ids a person asked to kill
    gone: tuple[int, ...]  # execution ids no longer current (reaped or finished elsewhere)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An entry of the append-only event log; ``id`` increases, so followers resume after it."""

    id: int
    job_id: int | None
    at: datetime
    kind: str  # "state", "progress" or "log"
    data: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line a job wrote: stdout, stderr or its ctx.log."""

    job_id: int
    execution_id: int
    at: float
    stream: str  # "stdout", "stderr" or "log"
    text: str  # at most MAX_LOG_LINE characters: a longer one is cut (cut_line)
    level: str | None = None  # for ctx.log records

    def __post_init__(self) -> None:
        if len(self.text) > MAX_LOG_LINE:
            object.__setattr__(self, "text", cut_line(self.text))


MAX_LOG_LINE = 64 * 1024  # characters of one log line; a longer one keeps its start and end
LOG_TAIL = 256  # characters kept from the end of a cut line
_CUT_NOTE = 40  # room for " [... N characters cut ...] "


def cut_line(text: str) -> str:
    """``text`` if it fits in MAX_LOG_LINE; else its start and its last LOG_TAIL characters
    around a note of how many were cut, MAX_LOG_LINE characters at most in all."""
    if len(text) <= MAX_LOG_LINE:
        return text
    head = MAX_LOG_LINE - LOG_TAIL - _CUT_NOTE
    cut = len(text) - head - LOG_TAIL
    return f"{text[:head]} [... {cut} characters cut ...] {text[-LOG_TAIL:]}"


@dataclass(frozen=True, slots=True)
class JobFilter:
    statuses: tuple[JobStatus, ...] = ()
    types: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None  # substring of args or error
    include_removed: bool = False
    ids: tuple[int, ...] = ()
    external_ids: tuple[str, ...] = ()
    updated_after: datetime | None = None  # last changed at or after (Scale's requeue filters)
    updated_before: datetime | None = None


SORTABLE = ("id", "created_at", "updated_at", "priority", "status", "type", "queue")


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    per_page: int = 50
    sort: str = "-id"  # a SORTABLE field, "-" for descending

    def __post_init__(self) -> None:
        _check_int(self.page, "page", low=1, high=10**9)
        _check_int(self.per_page, "per_page", low=1, high=1000)
        if self.sort.lstrip("-") not in SORTABLE:
            raise Invalid(f"sort must be one of {', '.join(SORTABLE)}", field="sort")


@dataclass(frozen=True, slots=True)
class Page:
    count: int
    page: int
    per_page: int
    results: tuple[Job, ...]


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    paused: bool
    queued: int
    running: int
    waiting: int  # scheduled, retrying or blocked


def job_status(value: str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in JobStatus)
        raise Invalid(f"unknown status {value!r}; one of {names}", field="status") from exc


class Role(StrEnum):
    """What a user may do; each role includes the ones below it."""

    VIEWER = "viewer"  # read everything
    OPERATOR = "operator"  # and enqueue and control jobs, queues
    ADMIN = "admin"  # and manage users and tokens

    @property
    def rank(self) -> int:
        return {"viewer": 0, "operator": 1, "admin": 2}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str  # argon2id; never the password
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user: str  # the token acts as this user, with this user's role
    name: str  # a label to tell tokens apart
    created_at: datetime
    revoked_at: datetime | None
