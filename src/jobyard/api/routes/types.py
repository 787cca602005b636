"""/api/v1/types: job types as managed objects: list, create, update, revisions, pause, archive.

Every change of a definition is a new revision; jobs keep the revision they were made with.
Archiving changes no revision: an archived type refuses new jobs and is left out of the list
unless ``include_archived`` asks for it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import PageQ, PerPageQ, StoreDep, csv, page_links
from jobyard.api.schemas import JobTypeOut, ListOut
from jobyard.core.errors import Invalid
from jobyard.core.models import TypeDefinition

router = APIRouter(prefix="/types", tags=["types"])
TYPE_SORTS = ("name", "queue", "priority", "revision", "created_at", "category")
NULLABLE = frozenset({"timeout", "interface", "concurrency"})  # null: none, any args, no limit


class TypeFields(BaseModel):
    """What a definition may set; core checks the values and names the field at fault."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["python", "command", "remote"] | None = None
    target: str | list[str] | None = Field(
        default=None, description="'module:function' (python), or an argv list (command)"
    )
    queue: str | None = None
    priority: int | None = Field(default=None, description="lower runs first")
    timeout: float | None = Field(default=None, description="seconds per attempt; null: none")
    max_tries: int | None = None
    backoff: float | dict[str, Any] | None = Field(
        default=None, description="base seconds, or {base, factor, max, jitter}"
    )
    cpus: float | None = None
    mem: float | None = Field(default=None, description="MiB")
    disk: float | None = Field(default=None, description="MiB")
    concurrency: int | None = Field(
        default=None, description="at most this many of its jobs run at once; null: no limit"
    )
    tags: list[str] | None = None
    description: str | None = None
    version: str | None = Field(default=None, description="your version of the type, e.g. 1.2.0")
    title: str | None = None
    category: str | None = None
    interface: dict[str, Any] | None = Field(
        default=None,
        description="{inputs: [{name, type, required?, description?, media_types?}], outputs}; "
        "types: string, integer, number, boolean, object, array, file, files",
    )

    def changes(self) -> dict[str, Any]:
        """The fields given, as a stored definition spells them; null only where it means none."""
        given = self.model_dump(exclude_unset=True)
        for name, value in given.items():
            if value is None and name not in NULLABLE:
                raise Invalid(f"{name} cannot be null", field=name)
        return given


class TypeIn(TypeFields):
    name: str = Field(description="letters, digits, '_', '.', ':' or '-'")
    kind: Literal["python", "command", "remote"]
    target: str | list[str]


@router.get("", response_model=ListOut[JobTypeOut])
def list_types(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    sort: Annotated[str, Query(description=f"one of {', '.join(TYPE_SORTS)}")] = "name",
    search: Annotated[str | None, Query(max_length=200)] = None,
    queue: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[str | None, Query(pattern="^(python|command|remote)$")] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[list[str] | None, Query()] = None,
    include_archived: bool = False,
) -> ListOut[JobTypeOut]:
    field = sort.lstrip("-")
    if field not in TYPE_SORTS:
        raise Invalid(f"sort must be one of {', '.join(TYPE_SORTS)}", field="sort")
    items = [JobTypeOut.of(t) for t in store.type_list()]
    needle = (search or "").lower()
    queues, categories = set(csv(queue)), set(csv(category))
    items = [
        t
        for t in items
        if (not needle or any(needle in text.lower() for text in (t.name, t.description, t.title)))
        and (not queues or t.queue in queues)
        and (kind is None or t.kind == kind)
        and (tag is None or tag in t.tags)
        and (not categories or t.category in categories)
        and (include_archived or t.archived_at is None)
    ]
    items.sort(key=lambda t: getattr(t, field), reverse=sort.startswith("-"))
    start = (page - 1) * per_page
    nxt, prev = page_links(request, page=page, per_page=per_page, count=len(items))
    return ListOut[JobTypeOut](
        count=len(items), next=nxt, previous=prev, results=items[start : start + per_page]
    )


@router.post("", response_model=JobTypeOut, status_code=201)
def create_type(body: TypeIn, store: StoreDep, _: Operator) -> JobTypeOut:
    """A new job type at revision 1 (409 if the name exists: PATCH it instead)."""
    return JobTypeOut.of(store.type_create(TypeDefinition.from_dict(body.changes())))


@router.get("/{name}", response_model=JobTypeOut)
def get_type(name: str, store: StoreDep, _: Viewer) -> JobTypeOut:
    return JobTypeOut.of(store.type_get(name))


@router.patch("/{name}", response_model=JobTypeOut)
def update_type(name: str, body: TypeFields, store: StoreDep, _: Operator) -> JobTypeOut:
    """Change some fields: a new revision when anything changed; jobs keep their revision."""
    return JobTypeOut.of(store.type_update(name, body.changes()))


@router.get("/{name}/revisions", response_model=list[JobTypeOut])
def revisions(name: str, store: StoreDep, _: Viewer) -> list[JobTypeOut]:
    """Every revision, oldest first; ``id`` is the revision's own id."""
    return [JobTypeOut.of(t) for t in store.type_revisions(name)]


@router.post("/{name}/pause", response_model=JobTypeOut)
def pause(name: str, store: StoreDep, _: Operator) -> JobTypeOut:
    """Its jobs stay queued, unclaimed (each says why), until it is resumed; no new revision."""
    return JobTypeOut.of(store.type_set_paused(name, True))


@router.post("/{name}/resume", response_model=JobTypeOut)
def resume(name: str, store: StoreDep, _: Operator) -> JobTypeOut:
    """Workers claim its jobs again."""
    return JobTypeOut.of(store.type_set_paused(name, False))


@router.post("/{name}/archive", response_model=JobTypeOut)
def archive(name: str, store: StoreDep, who: Operator) -> JobTypeOut:
    """New jobs are refused; jobs already made run as before. Listed only when asked."""
    return JobTypeOut.of(store.type_archive(name, by=who.name))


@router.post("/{name}/unarchive", response_model=JobTypeOut)
def unarchive(name: str, store: StoreDep, _: Operator) -> JobTypeOut:
    """The type takes new jobs again."""
    return JobTypeOut.of(store.type_unarchive(name))
