"""Request and response bodies of the native API (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from jobyard.core.models import ApiToken, EventRecord, Job, JobType, Role, User

T = TypeVar("T")


class BackoffOut(BaseModel):
    base: float
    factor: float
    max: float
    jitter: float
    kind: str = Field(
        default="exponential",
        description="exponential, or faktory (Faktory's formula; the other fields do not apply)",
    )


class ExecutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    attempt: int
    status: str
    worker_id: str | None
    hostname: str | None
    pid: int | None
    ppid: int | None
    run_as: str | None
    queued_at: datetime | None
    started_at: datetime
    ended_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime
    exit_code: int | None
    signal: int | None
    peak_rss: int | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    stopped_by: str | None


class ProgressOut(BaseModel):
    percent: float | None
    desc: str | None


class WaitingOut(BaseModel):
    code: str = Field(
        description="scheduled, retrying, blocked, queue_paused, type_paused, concurrency_full, "
        "no_worker, no_resources or ready"
    )
    message: str = Field(description="the reason, for people")
    until: datetime | None = Field(description="scheduled / retrying: when it becomes ready")
    details: dict[str, Any] = Field(description="what the message names: queue, key, limit, ...")


class JobRecipeOut(BaseModel):
    id: int
    type: str
    name: str = Field(description="this job's name in the recipe definition")


class JobLinkOut(BaseModel):
    job_id: int
    name: str = Field(description="its name in the recipe definition")
    status: str


class JobOut(BaseModel):
    id: int
    type: str
    type_revision: int
    status: str
    queue: str
    priority: int
    args: Any
    tags: list[str]
    unique_key: str | None
    external_id: str | None
    tries: int
    max_tries: int
    timeout: float | None
    backoff: BackoffOut
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    result: Any
    error: dict[str, Any] | None
    progress: ProgressOut
    execution_id: int | None
    kill_requested_at: datetime | None
    kill_requested_by: str | None
    canceled_by: str | None
    canceled_at: datetime | None
    removed_at: datetime | None
    removed_by: str | None
    restart_of: int | None
    restarted_as: int | None
    created_by: str | None
    executions: list[ExecutionOut] | None = Field(
        default=None, description="every attempt, oldest first (job detail only)"
    )
    cpus: float = Field(default=0.0, description="cpus it needs of its worker")
    mem: float = Field(default=0.0, description="MiB of memory it needs")
    disk: float = Field(default=0.0, description="MiB of disk it needs")
    type_concurrency: int | None = Field(
        default=None, description="its type's limit of jobs running at once (null: none)"
    )
    concurrency_key: str | None = None
    concurrency_limit: int | None = Field(
        default=None, description="jobs with its concurrency_key that may run at once"
    )
    waiting: WaitingOut | None = Field(
        default=None,
        description="why it is not running yet (job detail of a waiting job; else null)",
    )
    recipe: JobRecipeOut | None = Field(
        default=None, description="the recipe it belongs to (job detail of a recipe job)"
    )
    parents: list[JobLinkOut] | None = Field(
        default=None, description="the recipe jobs it waits for (job detail of a recipe job)"
    )
    children: list[JobLinkOut] | None = Field(
        default=None, description="the recipe jobs that wait for it (job detail of a recipe job)"
    )

    @classmethod
    def of(cls, job: Job, *, detail: bool = False) -> JobOut:
        return cls(
            id=job.id,
            type=job.type,
            type_revision=job.type_revision,
            status=job.status.value,
            queue=job.queue,
            priority=job.priority,
            args=job.args,
            tags=list(job.tags),
            unique_key=job.unique_key,
            external_id=job.external_id,
            tries=job.tries,
            max_tries=job.max_tries,
            timeout=job.timeout,
            backoff=BackoffOut.model_validate(job.backoff.to_dict()),
            run_at=job.run_at,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
            result=job.result,
            error=job.error,
            progress=ProgressOut(percent=job.progress, desc=job.progress_desc),
            execution_id=job.execution_id,
            kill_requested_at=job.kill_requested_at,
            kill_requested_by=job.kill_requested_by,
            canceled_by=job.canceled_by,
            canceled_at=job.canceled_at,
            removed_at=job.removed_at,
            removed_by=job.removed_by,
            restart_of=job.restart_of,
            restarted_as=job.restarted_as,
            created_by=job.created_by,
            executions=[ExecutionOut.model_validate(e) for e in job.executions] if detail else None,
            cpus=job.cpus,
            mem=job.mem,
            disk=job.disk,
            type_concurrency=job.type_concurrency,
            concurrency_key=job.concurrency_key,
            concurrency_limit=job.concurrency_limit,
            waiting=None if job.waiting is None else WaitingOut(**job.waiting.to_dict()),
            **_links(job),
        )


def _links(job: Job) -> dict[str, Any]:
    """recipe, parents and children of a recipe job whose links were read (job detail)."""
    links = job.links
    if links is None:
        return {}
    return {
        "recipe": JobRecipeOut(id=links.recipe_id, type=links.recipe_type, name=links.name),
        "parents": [JobLinkOut(job_id=p.job_id, name=p.name, status=p.status.value)
                    for p in links.parents],
        "children": [JobLinkOut(job_id=c.job_id, name=c.name, status=c.status.value)
                     for c in links.children],
    }  # fmt: skip


class JobTypeOut(BaseModel):
    name: str
    revision: int
    kind: str
    target: str | list[str]
    queue: str
    priority: int
    timeout: float | None
    max_tries: int
    backoff: BackoffOut
    cpus: float
    mem: float
    tags: list[str]
    description: str
    created_at: datetime
    id: int | None = Field(default=None, description="a stable integer id for the name")
    version: str = Field(default="1.0", description="the author's version of the type")
    title: str = ""
    category: str = ""
    disk: float = Field(default=0.0, description="MiB of scratch disk a job needs")
    interface: dict[str, Any] | None = Field(
        default=None, description="{inputs, outputs}: named, typed parameters; null: any args"
    )
    archived_at: datetime | None = Field(
        default=None, description="archived: takes no new jobs, listed only when asked"
    )
    concurrency: int | None = Field(
        default=None, description="at most this many of its jobs run at once; null: no limit"
    )
    paused: bool = Field(default=False, description="its jobs wait, unclaimed, until resumed")

    @classmethod
    def of(cls, t: JobType) -> JobTypeOut:
        d = t.definition.to_dict()
        return cls(
            **d, revision=t.revision, created_at=t.created_at, id=t.id, archived_at=t.archived_at,
            paused=t.paused,
        )  # fmt: skip


class EventOut(BaseModel):
    id: int
    job_id: int | None
    at: datetime
    kind: str
    data: dict[str, Any]

    @classmethod
    def of(cls, e: EventRecord) -> EventOut:
        return cls(id=e.id, job_id=e.job_id, at=e.at, kind=e.kind, data=e.data)


class ListOut(BaseModel, Generic[T]):
    count: int = Field(description="items matching the filters, on every page")
    next: str | None = Field(description="URL of the next page, if any")
    previous: str | None = Field(description="URL of the previous page, if any")
    results: list[T]


class LogPage(BaseModel):
    results: list[EventOut]
    next_after: int = Field(description="pass as `after` to read the lines that follow")


class EnqueueResult(BaseModel):
    ids: list[int]


class RequeueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=10_000, description="these jobs; or every match of:"
    )
    status: list[str] | None = Field(default=None, description="failed and/or canceled")
    type: list[str] | None = None
    queue: list[str] | None = None
    tag: str | None = None
    priority: int | None = Field(
        default=None, ge=-(2**31), le=2**31 - 1, description="a new priority for them"
    )
    extra_tries: int = Field(default=1, ge=1, le=10_000)


class TrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    percent: float | None = Field(default=None, ge=0, le=100)
    desc: str | None = Field(default=None, max_length=10_000)
    reserve_for: float | None = Field(default=None, gt=0, le=7 * 86400)


class TrackingOut(BaseModel):
    jid: str
    state: str = Field(description="unknown, enqueued, working, success, failed or dead")
    updated_at: datetime | None
    percent: float | None = None
    desc: str | None = None


class QueueOut(BaseModel):
    name: str
    paused: bool
    queued: int
    running: int
    waiting: int


class Health(BaseModel):
    status: str
    database: str
    backend: str
    schema_version: int


class Version(BaseModel):
    version: str
    api: str


class UserOut(BaseModel):
    name: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(name=u.name, role=u.role, created_at=u.created_at)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.VIEWER
    password: str = Field(min_length=8, max_length=1000)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(
            id=t.id, user=t.user, name=t.name, created_at=t.created_at, revoked_at=t.revoked_at
        )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="a label to tell tokens apart")
    user: str | None = Field(default=None, description="who the token acts as (default: you)")


class NewTokenOut(TokenOut):
    token: str = Field(description="the token itself: shown this once, only its hash is kept")
