"""Scale's recipes over jobyard's: ``queue/new-recipe/``, ``recipe-types/`` and ``recipes/<id>/``.

A recipe type's definition is Scale's (``input_data``, ``jobs`` with ``job_type``,
``recipe_inputs`` and ``dependencies``); recipe types get integer ids the first time the dialect
names them (ident kind ``recipe_type``); a recipe keeps jobyard's id. Recipe data's
``input_data`` become the recipe's inputs, as job data's become a job's args.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import store_of
from jobyard.api.dialects.scale import models
from jobyard.api.dialects.scale.protocol import (
    Params,
    ScaleError,
    bad,
    not_found,
    page_args,
    page_reply,
)
from jobyard.api.dialects.scale.routes import Lookup, _id, run
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import JobFilter, PageRequest
from jobyard.core.recipes import Recipe, RecipeType, RecipeTypeDefinition
from jobyard.store.base import Store

RECIPE_TYPE = "recipe_type"  # ident kind
_TYPE_KEYS = ("name", "version", "title", "description", "definition")


def recipe_type_dict(t: RecipeType, type_id: int | None, *, detail: bool = True) -> dict[str, Any]:
    d = t.definition
    base: dict[str, Any] = {
        "id": type_id,
        "name": d.name,
        "version": d.version,
        "title": d.title or d.name,
        "description": d.description,
        "is_active": True,
        "revision_num": t.revision,
        "created": models.ts(t.created_at),
        "last_modified": models.ts(t.created_at),
        "archived": None,
    }
    if detail:
        base["definition"] = d.graph.to_dict()
        base["trigger_rule"] = None
    return base


def recipe_dict(store: Store, recipe: Recipe, t: RecipeType | None, type_id: int | None) -> Any:
    """RecipeDetailsSerializer: the recipe, its data and each job (JobSerializer)."""
    ids = tuple(n.job_id for n in recipe.nodes)
    found = store.job_list(JobFilter(ids=ids, include_removed=True), PageRequest(per_page=1000))
    jobs = {j.id: j for j in found.results}
    lookup = Lookup(store)
    lookup.load(list(jobs.values()))
    stuck: set[str] = set()  # failed, canceled, or BLOCKED behind one (nodes come parents first)
    items = []
    for node in recipe.nodes:
        if node.status.value in ("failed", "canceled"):
            stuck.add(node.name)
        job = jobs.get(node.job_id)
        if job is None:
            continue
        item = models.job_list_item(job, *lookup.of(job))
        if set(node.parents) & stuck:
            item["status"] = models.job_status(job, parent_failed=True)
            if item["status"] == "BLOCKED":
                stuck.add(node.name)
        items.append({"job_name": node.name, "job": item})
    inputs = [{"name": k, "value": v} for k, v in recipe.inputs.items()]
    return {
        "id": recipe.id,
        "recipe_type": recipe_type_dict(t, type_id) if t is not None else {"name": recipe.type},
        "event": None,
        "created": models.ts(recipe.created_at),
        "completed": models.ts(recipe.completed_at),
        "last_modified": models.ts(recipe.completed_at or recipe.created_at),
        "data": {"version": "1.0", "input_data": inputs},
        "input_files": [],
        "jobs": items,
    }


def _recipe_details(store: Store, recipe_id: int) -> Any:
    recipe = store.recipe_get(recipe_id)
    try:
        t = store.recipe_type_get(recipe.type, revision=recipe.type_revision)
    except NotFound:
        t = None
    type_id = store.ident_ids(RECIPE_TYPE, [recipe.type], create=True).get(recipe.type)
    return recipe_dict(store, recipe, t, type_id)


def _types_with_ids(store: Store) -> list[tuple[RecipeType, int]]:
    found = store.recipe_type_list()
    ids = store.ident_ids(RECIPE_TYPE, [t.name for t in found], create=True)
    return [(t, ids[t.name]) for t in found]


def _type_by_id(store: Store, type_id: int) -> RecipeType:
    return store.recipe_type_get(store.ident_key(RECIPE_TYPE, type_id))


def add_routes(router: APIRouter, prefix: str) -> None:
    @router.post("/queue/new-recipe/")
    async def new_recipe(request: Request, who: Operator) -> JSONResponse:
        """A new recipe of ``recipe_type_id`` from ``recipe_data``; 201 with its details."""
        params = await Params.of(request)
        type_id = params.integer("recipe_type_id")
        data = params.mapping("recipe_data") if params.has("recipe_data") else {}
        store = store_of(request)
        assert type_id is not None
        try:
            recipe_type = await run(_type_by_id, store, type_id)
        except NotFound:
            raise not_found() from None
        try:
            inputs = models.args_of(data)
            recipe = await run(store.recipe_create, recipe_type.name, inputs, created_by=who.name)
        except (ValueError, Invalid):
            raise ScaleError(400, "Invalid recipe information.", bare=True) from None
        body = await run(_recipe_details, store, recipe.id)
        return JSONResponse(
            body, status_code=201, headers={"Location": f"{prefix}/recipes/{recipe.id}/"}
        )

    @router.get("/recipes/{recipe_id}/")
    async def recipe(request: Request, recipe_id: str, _: Viewer) -> JSONResponse:
        return JSONResponse(await run(_recipe_details, store_of(request), _id(recipe_id)))

    @router.get("/recipe-types/")
    async def recipe_types(request: Request, _: Viewer) -> JSONResponse:
        params = Params(request, {})
        found = await run(_types_with_ids, store_of(request))
        page, size = page_args(params)
        items = [
            recipe_type_dict(t, i, detail=False) for t, i in found[(page - 1) * size : page * size]
        ]
        return JSONResponse(
            page_reply(request, page=page, size=size, count=len(found), results=items)
        )

    @router.post("/recipe-types/")
    async def create_recipe_type(request: Request, _: Operator) -> JSONResponse:
        """A new recipe type from Scale's model (its definition checked against the job types)."""
        params = await Params.of(request)
        store = store_of(request)
        body = {k: params.body[k] for k in _TYPE_KEYS if params.body.get(k) is not None}
        try:
            definition = RecipeTypeDefinition.from_dict(body)
        except Invalid as exc:
            raise bad(f"Invalid recipe type: {exc.message}") from None
        try:
            await run(store.recipe_type_get, definition.name)
        except NotFound:
            pass
        else:
            raise bad(f"Recipe type {definition.name!r} already exists")
        try:
            made = await run(store.recipe_type_register, definition)
        except Invalid as exc:
            raise bad(f"Invalid recipe type: {exc.message}") from None
        ids = await run(store.ident_ids, RECIPE_TYPE, [made.name], create=True)
        type_id = ids[made.name]
        return JSONResponse(
            recipe_type_dict(made, type_id),
            status_code=201,
            headers={"Location": f"{prefix}/recipe-types/{type_id}/"},
        )

    @router.get("/recipe-types/{type_id}/")
    async def recipe_type(request: Request, type_id: str, _: Viewer) -> JSONResponse:
        found = await run(_type_by_id, store_of(request), _id(type_id))
        return JSONResponse(recipe_type_dict(found, int(type_id)))
