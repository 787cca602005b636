"""The core4 Job Management API (seed 002) under ``/core4/api/v1``, over jobyard's store.

=========================================  ============================================
``GET /job/list``                          the job types (core4's registry), paginated
``POST /job``                              enqueue ``{qual_name, args, follow=true}``
``GET /job``, ``GET|POST /job/queue``      the core4 queue, paginated
``GET /job/<_id>``, ``GET /job/detail/…``  details of a current or past job
``GET /job/follow/<_id>``                  its state and log as server-sent events
``GET /job/log/<_id>``                     its log, paginated or (``follow=true``) streamed
``PUT /job/kill|restart|remove/<_id>``     control a job of the queue
``GET|POST /login``                        where core4 sends people who are not signed in
=========================================  ============================================

Arguments come from the query string or the JSON body, even on GET. Reading needs a viewer;
enqueue, kill, restart and remove need an operator. Not signed in: a redirect (302) to the login
URL, which answers 401 and says how to sign in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from anyio import sleep, to_thread
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from jobyard.api.auth import Principal
from jobyard.api.dialects.core4 import docs
from jobyard.api.dialects.core4.protocol import (
    LOGIN_URL,
    PREFIX,
    Args,
    Core4Error,
    PageOf,
    Redirect,
    error_reply,
    page_reply,
    reply,
    require,
    sign_in,
)
from jobyard.api.dialects.core4.stream import stream
from jobyard.api.limits import Subscribers
from jobyard.core.errors import Duplicate, Invalid, InvalidTransition, JobyardError, NotFound
from jobyard.core.models import Job, JobSpec, PageRequest, Role
from jobyard.core.settings import Settings
from jobyard.core.states import JobStatus
from jobyard.store.base import Store

log = logging.getLogger("jobyard.api.core4")
T = TypeVar("T")
MAX_PER_PAGE = 1000
CONTROLS = ("kill", "restart", "remove", "log", "follow", "detail")


class Core4Route(APIRoute):
    """Every failure as a core4 error envelope; not signed in as a redirect to the login URL."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except Redirect:
                return RedirectResponse(LOGIN_URL, status_code=302)
            except Core4Error as exc:
                return error_reply(request, exc.status, exc.error)
            except NotFound as exc:
                return error_reply(request, 404, exc.message)
            except (Invalid, Duplicate, InvalidTransition) as exc:
                return error_reply(request, 400, exc.message)
            except JobyardError as exc:
                return error_reply(request, exc.http_status, exc.message)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                return error_reply(request, 400, str(first.get("msg", "invalid request")))
            except HTTPException as exc:
                response = error_reply(request, exc.status_code, str(exc.detail))
                response.headers.update(exc.headers or {})  # Retry-After of a 429
                return response
            except Exception:
                log.exception("core4 %s %s failed", request.method, request.url.path)
                return error_reply(request, 500, "an unexpected error occurred; see the log")

        return handle


router = APIRouter(prefix=PREFIX, tags=["core4 dialect"], route_class=Core4Route)


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A blocking store call, off the event loop."""
    return await to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def held(request: Request, who: Principal) -> Callable[[AsyncIterator[str]], AsyncIterable[str]]:
    """Counts a stream against ``who``'s live streams on this server (429 past the limit)."""
    subscribers: Subscribers = request.app.state.subscribers
    return functools.partial(subscribers.hold, who.name)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def job_id(text: str) -> int:
    if docs.is_id(text):
        return int(text)
    raise Core4Error(404, f"job [{text}] not found")


async def find_job(store: Store, text: str) -> Job:
    try:
        return await run(store.job_get, job_id(text))
    except NotFound:
        raise Core4Error(404, f"job [{text}] not found") from None


async def queued_job(store: Store, text: str) -> Job:
    """A job of core4's queue (kill, restart and remove act only there): else 404."""
    job = await find_job(store, text)
    if not docs.in_queue(job):
        raise Core4Error(404, f"job [{text}] not found in the queue (it is journaled)")
    return job


async def stopped(store: Store, job: Job, settings: Settings) -> Job:
    """A running job whose kill was asked for, once its worker has stopped it (bounded wait)."""
    deadline = time.monotonic() + settings.kill_grace + 5 * settings.heartbeat + 10.0
    while (
        job.status is JobStatus.RUNNING
        and job.kill_requested_at is not None
        and time.monotonic() < deadline
    ):
        await sleep(0.2)
        job = await run(store.job_get, job.id)
    return job


def paginate(items: list[Any], args: Args) -> PageOf:
    """core4's pager over a list in memory: ``page`` 0-based (negative from the end)."""
    page, per_page = page_args(args)
    page_count = -(-len(items) // per_page)
    if page < 0:
        page += page_count
    chosen = items[page * per_page : (page + 1) * per_page] if 0 <= page < page_count else []
    return PageOf(chosen, len(items), page, per_page)


def page_args(args: Args) -> tuple[int, int]:
    per_page = args.integer("per_page", 10)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise Core4Error(400, f"per_page must be from 1 to {MAX_PER_PAGE}")
    page = args.integer("page", 0)
    if abs(page) >= 10**9:
        raise Core4Error(400, "page is out of range")
    return page, per_page


def unique_key(qual_name: str, args: Any) -> str:
    """core4 refuses a second unfinished job with the same type and args: jobyard's unique key."""
    text = json.dumps([qual_name, args], sort_keys=True, separators=(",", ":"))
    return "core4:" + hashlib.sha256(text.encode()).hexdigest()


# -- signing in -------------------------------------------------------------------------------


@router.get("/login")
@router.post("/login")
async def login(request: Request) -> Response:
    """Who you are when signed in; otherwise 401 and how to sign in."""
    principal = await sign_in(request, await Args.of(request))
    if principal is None:
        response = error_reply(
            request,
            401,
            "sign in with HTTP Basic (user and password, or username and password in the JSON "
            "body) or with 'Authorization: Bearer <jobyard API token>'; jobyard issues no core4 "
            "login tokens",
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="jobyard"'
        return response
    return reply(request, {"name": principal.name, "role": principal.role.value})


# -- the job registry -------------------------------------------------------------------------


@router.get("/job/list")
async def job_list(request: Request) -> Response:
    """Job types: ``search`` (case-insensitive, ``*`` and ``?`` wildcards), ``filter``, ``sort``."""
    args = await Args.of(request)
    await require(request, args, Role.VIEWER)
    query = dict(args.mapping("filter", {}))
    search = args.text("search", None)
    pairs = docs.sort_pairs(args.sequence("sort", [["_id", 1]]))
    items = [docs.type_doc(t) for t in await run(store_of(request).type_list)]
    if "qual_name" in query:
        query["_id"] = query.pop("qual_name")
    elif search:
        pattern = docs.glob(search)
        items = [d for d in items if pattern.search(d["_id"])]
    items = docs.sort_docs([d for d in items if docs.matches(d, query)], pairs)
    return page_reply(request, paginate(items, args))


# -- the queue --------------------------------------------------------------------------------


async def _queue(request: Request) -> Response:
    args = await Args.of(request)
    await require(request, args, Role.VIEWER)
    page, per_page = page_args(args)
    filters = docs.queue_filter(args.mapping("filter", {}))
    order = docs.queue_sort(args.sequence("sort", [["_id", 1]]))
    if filters is None:
        return page_reply(request, PageOf([], 0, page, per_page))
    store = store_of(request)
    if page < 0:  # counted from the end, as core4's pager does
        count = (await run(store.job_list, filters, PageRequest(1, 1, order))).count
        page += -(-count // per_page)
        if page < 0:
            return page_reply(request, PageOf([], count, page, per_page))
    found = await run(store.job_list, filters, PageRequest(page + 1, per_page, order))
    now = docs.now_utc()
    items = [docs.queue_item(j, now) for j in found.results]
    return page_reply(request, PageOf(items, found.count, page, per_page))


@router.get("/job")
async def queue_get(request: Request) -> Response:
    """The current jobs: ``page`` (0-based), ``per_page`` (10), ``filter``, ``sort``."""
    return await _queue(request)


@router.get("/job/queue")
@router.post("/job/queue")
async def queue_post(request: Request) -> Response:
    """The same as ``GET /job``."""
    return await _queue(request)


# -- enqueue ----------------------------------------------------------------------------------


@router.post("/job")
async def enqueue(request: Request) -> Response:
    """Enqueue ``qual_name`` with ``args``; ``follow`` (default true) streams it."""
    args = await Args.of(request)
    who = await require(request, args, Role.OPERATOR)
    qual_name = args.text("qual_name")
    follow = args.flag("follow", True)
    job_args = args.mapping("args", {})
    store = store_of(request)
    try:
        spec = JobSpec(type=qual_name, args=job_args, unique_key=unique_key(qual_name, job_args))
        (new_id,) = await run(store.job_enqueue, [spec], created_by=who.name)
    except NotFound:
        raise Core4Error(404, f"job [{qual_name}] not found") from None
    except Invalid as exc:
        if exc.field == "type":
            raise Core4Error(404, f"job [{qual_name}] not found") from None
        raise
    except Duplicate:
        raise Core4Error(400, f"job [{qual_name}] exists with args {job_args}") from None
    if follow:
        return stream(store, new_id, states=True, is_disconnected=request.is_disconnected,
                      hold=held(request, who))  # fmt: skip
    return reply(request, str(new_id))


# -- one job ----------------------------------------------------------------------------------


@router.get("/job/follow/{ref}")
async def follow(request: Request, ref: str) -> Response:
    """The job's state and log as server-sent events, until it has ended."""
    args = await Args.of(request)
    who = await require(request, args, Role.VIEWER)
    store = store_of(request)
    job = await find_job(store, ref)
    return stream(store, job.id, states=True, is_disconnected=request.is_disconnected,
                  hold=held(request, who))  # fmt: skip


@router.get("/job/log/{ref}")
async def job_log(request: Request, ref: str) -> Response:
    """The job's log: paginated (``page``, ``per_page``, ``filter``, ``sort``) or streamed."""
    args = await Args.of(request)
    who = await require(request, args, Role.VIEWER)
    store = store_of(request)
    job = await find_job(store, ref)
    if args.flag("follow", False):
        return stream(store, job.id, states=False, is_disconnected=request.is_disconnected,
                      hold=held(request, who))  # fmt: skip
    query = args.mapping("filter", {})
    pairs = docs.sort_pairs(args.sequence("sort", [["_id", 1]]))
    page_args(args)  # bad paging is refused before the log is read
    lines, after = [], 0
    while True:
        chunk = await run(store.job_log, job.id, after=after, limit=10_000)
        lines.extend(chunk)
        if len(chunk) < 10_000:
            break
        after = chunk[-1].id
    items = [d for d in (docs.log_doc(e, job) for e in lines) if docs.matches(d, query)]
    return page_reply(request, paginate(docs.sort_docs(items, pairs), args))


@router.get("/job/detail/{ref}")
async def detail(request: Request, ref: str) -> Response:
    """A job's details, from the queue or the journal (``journal: true``)."""
    args = await Args.of(request)
    await require(request, args, Role.VIEWER)
    job = await find_job(store_of(request), ref)
    return reply(request, docs.detail(job, docs.now_utc()))


@router.get("/job/{ref}")
async def detail_or_action(request: Request, ref: str) -> Response:
    """``GET /job/<_id>``: the same as ``/job/detail/<_id>``."""
    if docs.is_id(ref) or re.fullmatch(r"[0-9a-fA-F]{24}", ref):  # a jobyard id or an ObjectId
        return await detail(request, ref)
    await require(request, await Args.of(request), Role.VIEWER)
    raise Core4Error(405, f"unknown action GET [{ref}]")


@router.put("/job/kill/{ref}")
async def kill(request: Request, ref: str) -> Response:
    """Stop a running job (a waiting one is canceled); a stopped one stays as it is."""
    args = await Args.of(request)
    who = await require(request, args, Role.OPERATOR)
    store = store_of(request)
    job = await queued_job(store, ref)
    if not job.status.is_terminal:
        try:
            await run(store.job_kill, job.id, by=who.name)
        except InvalidTransition:
            pass  # it ended meanwhile
    return reply(request, True)


@router.put("/job/restart/{ref}")
async def restart(request: Request, ref: str) -> Response:
    """A stopped job: a new job (``data`` its id, or its stream with ``follow``, the default).

    A waiting job keeps its id; a running one gives ``"None"``, as in core4. A running job whose
    kill is on its way is restarted once it has stopped.
    """
    args = await Args.of(request)
    who = await require(request, args, Role.OPERATOR)
    follow_new = args.flag("follow", True)
    store = store_of(request)
    job = await stopped(store, await queued_job(store, ref), request.app.state.settings)
    if job.status is JobStatus.RUNNING:
        return reply(request, "None")
    new_id = job.id
    if job.status.is_terminal:
        new_id = (await run(store.job_restart, job.id, by=who.name)).id
        try:
            await run(store.job_remove, job.id, by=who.name)  # journaled, as core4 does
        except JobyardError as exc:  # the new job stands; the old one stays listed
            log.warning("restarted job %d as %d but could not remove it: %s", job.id, new_id, exc)
    if follow_new:
        return stream(store, new_id, states=True, is_disconnected=request.is_disconnected,
                      hold=held(request, who))  # fmt: skip
    return reply(request, str(new_id))


@router.put("/job/remove/{ref}")
async def remove(request: Request, ref: str) -> Response:
    """Take a job out of the queue into the journal (a waiting one is canceled first).

    A running job is removed once its kill has stopped it; one that runs on is refused.
    """
    args = await Args.of(request)
    who = await require(request, args, Role.OPERATOR)
    store = store_of(request)
    job = await stopped(store, await queued_job(store, ref), request.app.state.settings)
    if job.status is JobStatus.RUNNING:
        raise Core4Error(
            400, f"job [{ref}] is running: kill it first (jobyard removes jobs that do not run)"
        )
    await run(store.job_remove, job.id, by=who.name)
    return reply(request, True)


# -- everything else under the prefix ---------------------------------------------------------


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def unknown(request: Request, rest: str) -> Response:
    parts = rest.strip("/").split("/")
    if parts[0] != "job":
        raise Core4Error(404, f"no resource at {request.url.path}")
    await require(request, await Args.of(request), Role.VIEWER)
    action = parts[1] if len(parts) > 1 else ""
    if action in CONTROLS and (len(parts) < 3 or not parts[2]):
        raise Core4Error(400, "missing job _id")
    raise Core4Error(405, f"unknown action {request.method} [{action}]")
