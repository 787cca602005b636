"""/api/v1/recipe-types and /api/v1/recipes: graphs of jobs, made together, run in order."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import MAX_ID, PageQ, PerPageQ, StoreDep, csv, page_links
from jobyard.api.schemas import ListOut
from jobyard.core.errors import Invalid
from jobyard.core.recipes import (
    Recipe,
    RecipeSummary,
    RecipeType,
    RecipeTypeDefinition,
)

router = APIRouter(tags=["recipes"])
RecipeIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a recipe id")]
TYPE_SORTS = ("name", "revision", "created_at")


class RecipeTypeOut(BaseModel):
    name: str
    version: str
    title: str
    description: str
    revision: int = Field(description="1 for the first definition, +1 for every change")
    created_at: datetime = Field(description="when this revision was stored")
    definition: dict[str, Any] = Field(description="Scale's recipe definition: input_data, jobs")

    @classmethod
    def of(cls, t: RecipeType) -> RecipeTypeOut:
        return cls(**t.definition.to_dict(), revision=t.revision, created_at=t.created_at)


class ConnectionOut(BaseModel):
    output: str
    input: str


class NodeOut(BaseModel):
    name: str = Field(description="the job's name in the recipe definition")
    job_id: int
    type: str
    status: str
    parents: list[str] = Field(description="names of the jobs it waits for")


class EdgeOut(BaseModel):
    parent: str
    child: str
    connections: list[ConnectionOut] = Field(description="the parent's outputs the child takes")


class RecipeSummaryOut(BaseModel):
    id: int
    type: str
    type_revision: int
    status: str = Field(description="running, completed, failed or canceled")
    jobs: int
    counts: dict[str, int] = Field(description="its jobs by state")
    created_at: datetime
    created_by: str | None
    completed_at: datetime | None
    canceled_at: datetime | None

    @classmethod
    def of(cls, r: RecipeSummary) -> RecipeSummaryOut:
        return cls(
            id=r.id, type=r.type, type_revision=r.type_revision, status=r.status.value,
            jobs=r.jobs, counts=r.counts, created_at=r.created_at, created_by=r.created_by,
            completed_at=r.completed_at, canceled_at=r.canceled_at,
        )  # fmt: skip


class RecipeOut(BaseModel):
    id: int
    type: str
    type_revision: int
    status: str = Field(description="running, completed, failed or canceled")
    inputs: dict[str, Any]
    counts: dict[str, int] = Field(description="its jobs by state")
    created_at: datetime
    created_by: str | None
    completed_at: datetime | None = Field(description="when its last job completed")
    canceled_at: datetime | None
    canceled_by: str | None
    nodes: list[NodeOut] = Field(description="its jobs, parents before children")
    edges: list[EdgeOut]

    @classmethod
    def of(cls, r: Recipe) -> RecipeOut:
        return cls(
            id=r.id,
            type=r.type,
            type_revision=r.type_revision,
            status=r.status.value,
            inputs=r.inputs,
            counts=r.counts,
            created_at=r.created_at,
            created_by=r.created_by,
            completed_at=r.completed_at,
            canceled_at=r.canceled_at,
            canceled_by=r.canceled_by,
            nodes=[
                NodeOut(
                    name=n.name,
                    job_id=n.job_id,
                    type=n.type,
                    status=n.status.value,
                    parents=list(n.parents),
                )
                for n in r.nodes
            ],
            edges=[
                EdgeOut(
                    parent=e.parent,
                    child=e.child,
                    connections=[
                        ConnectionOut(output=c.output, input=c.input) for c in e.connections
                    ],
                )
                for e in r.edges
            ],
        )


class RecipeIn(BaseModel):
    type: str = Field(min_length=1, max_length=200, description="the recipe type's name")
    inputs: dict[str, Any] = Field(default_factory=dict, description="a value per recipe input")


RECIPE_TYPE_BODY = {
    "description": "`{name, version?, title?, description?, definition}`; the definition is "
    "Scale's: `{version?, input_data: [{name, type?, required?}], jobs: [{name, job_type: "
    "{name, version?}, recipe_inputs?: [{recipe_input, job_input}], dependencies?: [{name, "
    "connections?: [{output, input}]}], args?, queue?, priority?}]}`",
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
            "example": {
                "name": "thumbnails",
                "definition": {
                    "input_data": [{"name": "image"}],
                    "jobs": [
                        {"name": "fetch", "job_type": {"name": "img.fetch"},
                         "recipe_inputs": [{"recipe_input": "image", "job_input": "url"}]},
                        {"name": "resize", "job_type": {"name": "img.resize"},
                         "dependencies": [{"name": "fetch", "connections": [
                             {"output": "path", "input": "source"}]}]},
                    ],
                },
            },
        }
    },
}  # fmt: skip


@router.get("/recipe-types", response_model=ListOut[RecipeTypeOut])
def list_recipe_types(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    sort: Annotated[str, Query(description=f"one of {', '.join(TYPE_SORTS)}")] = "name",
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> ListOut[RecipeTypeOut]:
    field = sort.lstrip("-")
    if field not in TYPE_SORTS:
        raise Invalid(f"sort must be one of {', '.join(TYPE_SORTS)}", field="sort")
    needle = (search or "").lower()
    items = [
        RecipeTypeOut.of(t)
        for t in store.recipe_type_list()
        if not needle
        or needle in t.name.lower()
        or needle in t.definition.title.lower()
        or needle in t.definition.description.lower()
    ]
    items.sort(key=lambda t: getattr(t, field), reverse=sort.startswith("-"))
    start = (page - 1) * per_page
    nxt, prev = page_links(request, page=page, per_page=per_page, count=len(items))
    return ListOut[RecipeTypeOut](
        count=len(items), next=nxt, previous=prev, results=items[start : start + per_page]
    )


@router.post(
    "/recipe-types",
    status_code=201,
    response_model=RecipeTypeOut,
    openapi_extra={"requestBody": RECIPE_TYPE_BODY},
)
def create_recipe_type(
    store: StoreDep,
    _: Operator,
    # any JSON: the definition's parser names the field at fault (definition.jobs[2]...)
    body: Annotated[Any, Body()],
) -> RecipeTypeOut:
    """Store a recipe type, checked against the job types it names. The same definition again
    changes nothing; a different one makes a new revision."""
    return RecipeTypeOut.of(store.recipe_type_register(RecipeTypeDefinition.from_dict(body)))


@router.get("/recipe-types/{name}", response_model=RecipeTypeOut)
def get_recipe_type(
    name: str,
    store: StoreDep,
    _: Viewer,
    revision: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> RecipeTypeOut:
    return RecipeTypeOut.of(store.recipe_type_get(name, revision=revision))


@router.post("/recipes", status_code=201, response_model=RecipeOut)
def create_recipe(store: StoreDep, who: Operator, body: RecipeIn) -> RecipeOut:
    """A recipe and all its jobs, in one transaction: the jobs without parents are queued, the
    others blocked until their parents complete."""
    return RecipeOut.of(store.recipe_create(body.type, body.inputs, created_by=who.name))


@router.get("/recipes", response_model=ListOut[RecipeSummaryOut])
def list_recipes(
    request: Request,
    store: StoreDep,
    _: Viewer,
    page: PageQ = 1,
    per_page: PerPageQ = 50,
    type: Annotated[str | None, Query(max_length=200, description="a recipe type")] = None,
    status: Annotated[
        list[str] | None, Query(description="running, completed, failed, canceled")
    ] = None,
) -> ListOut[RecipeSummaryOut]:
    """Recipes, newest first, their jobs counted by state."""
    count, found = store.recipe_list(type=type, statuses=csv(status), page=page, per_page=per_page)
    nxt, prev = page_links(request, page=page, per_page=per_page, count=count)
    return ListOut[RecipeSummaryOut](
        count=count, next=nxt, previous=prev, results=[RecipeSummaryOut.of(r) for r in found]
    )


@router.get("/recipes/{recipe_id}", response_model=RecipeOut)
def get_recipe(recipe_id: RecipeIdPath, store: StoreDep, _: Viewer) -> RecipeOut:
    """The recipe's graph: every job with its id and state, and the edges between them."""
    return RecipeOut.of(store.recipe_get(recipe_id))


@router.post("/recipes/{recipe_id}/cancel", response_model=RecipeOut)
def cancel_recipe(recipe_id: RecipeIdPath, store: StoreDep, who: Operator) -> RecipeOut:
    """Cancel every unfinished job (a running one is killed); finished ones stay."""
    return RecipeOut.of(store.recipe_cancel(recipe_id, by=who.name))


@router.post("/recipes/{recipe_id}/requeue", response_model=RecipeOut)
def requeue_recipe(recipe_id: RecipeIdPath, store: StoreDep, who: Operator) -> RecipeOut:
    """Requeue its failed and canceled jobs; those whose parents have not completed wait again."""
    return RecipeOut.of(store.recipe_requeue(recipe_id, by=who.name))
