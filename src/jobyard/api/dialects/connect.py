"""The Posit Connect dialect (seed 000): an application's processes as Connect's content jobs.

Mounted at ``/__api__``, where ``posit-sdk`` and connectapi look:

=================================================  =============================================
``GET server_settings``                            the version Connect clients gate features on
``GET v1/content/{guid}``                          the application, as content
``GET v1/content/{guid}/jobs``                     its processes: every execution of its types
``GET v1/content/{guid}/jobs/{key}``               one of them
``DELETE v1/content/{guid}/jobs/{key}``            kill it (409, code 163, when not active)
``GET v1/content/{guid}/jobs/{key}/log``           its log (``maxLogLines``, at most 5000)
``GET applications/{guid}/jobs``, ``…/job/{key}``  the legacy list and detail (before 2022.10)
=================================================  =============================================

Content is a jobyard application, its guid the app's guid (its name works too); a Connect job is
an execution, its ``key`` the execution's key, ``variant_id`` its job's id and ``bundle_id`` the
revision of its job type. ids are strings, ``status`` is 0 (active: the process runs), 1
(finished: it ended and its job will run again) or 2 (finalized), times are RFC 3339 (epoch
seconds in the legacy routes). Sign in with ``Authorization: Key <API token>`` (or as on the
native API). Errors are ``{"code", "error", "payload"}``: code 4 for a thing that does not exist
(with status 404: connectapi tells a missing route from missing content by it), 22 for not
signed in or not allowed, 163 for killing a job that is not active, 3 for bad input (jobyard's
choice: the clients read only the status).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from jobyard.api.auth import Principal, require
from jobyard.api.deps import StoreDep
from jobyard.core.errors import InvalidTransition, JobyardError, NotFound
from jobyard.core.models import Role
from jobyard.core.processes import (
    AppInfo,
    Process,
    ProcessFilter,
    execution_id_of,
)
from jobyard.core.states import ExecutionStatus
from jobyard.store.base import Store

log = logging.getLogger("jobyard.api.connect")

PREFIX = "/__api__"
CONNECT_VERSION = "2025.01.0"  # the newest shape: content_id and content_guid on each job
MAX_LOG_LINES = 5000
MAX_JOBS = 10_000  # newest first: a content's job list stays a bounded answer
NOT_FOUND, NOT_ALLOWED, NOT_ACTIVE, INVALID = 4, 22, 163, 3
_GUID_NAMESPACE = uuid.UUID("0c9a1b55-7f0e-5d67-8a2f-5d1e3c7b9a40")


class ConnectError(Exception):
    def __init__(self, status: int, code: int, error: str) -> None:
        super().__init__(error)
        self.status, self.code, self.error = status, code, error


def error_response(status: int, code: int, error: str) -> JSONResponse:
    return JSONResponse({"code": code, "error": error, "payload": None}, status_code=status)


class ConnectRoute(APIRoute):
    """Every failure as Connect's error body."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except ConnectError as exc:
                return error_response(exc.status, exc.code, exc.error)
            except NotFound as exc:
                return error_response(404, NOT_FOUND, exc.message)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
                return error_response(400, INVALID, f"{where}: {first.get('msg', 'invalid')}")
            except HTTPException as exc:
                code = NOT_ALLOWED if exc.status_code in (401, 403, 429) else NOT_FOUND
                response = error_response(exc.status_code, code, str(exc.detail))
                response.headers.update(exc.headers or {})  # WWW-Authenticate, Retry-After
                return response
            except JobyardError as exc:
                return error_response(exc.http_status, INVALID, exc.message)
            except Exception:
                log.exception("connect %s %s failed", request.method, request.url.path)
                return error_response(500, 1, "an unexpected error occurred; see the server log")

        return handle


router = APIRouter(prefix=PREFIX, tags=["Posit Connect dialect"], route_class=ConnectRoute)
Reader = Annotated[Principal, Depends(require(Role.VIEWER))]
Killer = Annotated[Principal, Depends(require(Role.OPERATOR))]


# -- translation ------------------------------------------------------------------------------


def rfc3339(moment: datetime | None, *, nano: bool = False) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f" if nano else "%Y-%m-%dT%H:%M:%S")
    return f"{text}{'000' if nano else ''}Z"


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def status_code(p: Process) -> int:
    """0 active, 1 finished (its job will run again), 2 finalized."""
    if p.execution.status is ExecutionStatus.RUNNING:
        return 0
    if p.current and p.job_status is not None and not p.job_status.is_terminal:
        return 1
    return 2


def _tag(p: Process) -> str:
    if p.service is not None:
        return "run_app"
    return next((t for t in p.tags if t != "service"), "unknown")


def _exit_code(p: Process) -> int | None:
    e = p.execution
    if e.status is ExecutionStatus.RUNNING:
        return None
    if e.exit_code is not None:
        return e.exit_code
    return 128 + e.signal if e.signal else None


def job_of(p: Process) -> dict[str, Any]:
    """A Connect job (v1, 2025.01 shape)."""
    e = p.execution
    return {
        "id": str(e.id),
        "ppid": None if e.ppid is None else str(e.ppid),
        "pid": None if e.pid is None else str(e.pid),
        "key": p.key,
        "remote_id": None,
        "app_id": None if p.app_id is None else str(p.app_id),
        "variant_id": str(e.job_id),
        "bundle_id": None if p.type_revision is None else str(p.type_revision),
        "start_time": rfc3339(e.started_at),
        "end_time": rfc3339(e.ended_at),
        "last_heartbeat_time": rfc3339(e.heartbeat_at),
        "queued_time": rfc3339(e.queued_at),
        "queue_name": p.queue,
        "tag": _tag(p),
        "exit_code": _exit_code(p),
        "status": status_code(p),
        "hostname": e.hostname,
        "cluster": p.cluster,
        "image": p.image,
        "run_as": e.run_as,
        "content_id": None if p.app_id is None else str(p.app_id),
        "content_guid": p.app_guid,
    }


def legacy_job_of(p: Process) -> dict[str, Any]:
    """A Connect job as the applications/ routes (before 2022.10) show it."""
    e = p.execution
    return {
        "id": e.id,
        "pid": e.pid,
        "key": p.key,
        "app_id": p.app_id,
        "app_guid": p.app_guid,
        "variant_id": e.job_id,
        "bundle_id": p.type_revision,
        "start_time": _epoch(e.started_at),
        "end_time": _epoch(e.ended_at),
        "tag": _tag(p),
        "exit_code": _exit_code(p),
        "finalized": status_code(p) == 2,
        "hostname": e.hostname,
    }


def content_of(app: AppInfo, request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    content: dict[str, Any] = {
        "guid": app.guid,
        "id": str(app.id),
        "name": app.name,
        "title": app.name,
        "description": f"jobyard application {app.name}: {len(app.types)} job types, "
        f"{len(app.services)} services",
        "access_type": "acl",
        "locked": False,
        "created_time": rfc3339(app.created_at),
        "last_deployed_time": rfc3339(app.updated_at),
        "bundle_id": None,
        "app_mode": "python-api" if app.services else "unknown",
        "content_category": "",
        "parameterized": False,
        "owner_guid": None,
        "content_url": f"{base}/api/v1/apps/{app.name}",
        "dashboard_url": f"{base}/api/v1/apps/{app.name}",
        "app_role": "viewer",
    }
    includes = {i.strip() for i in request.query_params.get("include", "").split(",")}
    if "owner" in includes:
        content["owner"] = None
    if "tags" in includes:
        content["tags"] = []
    if "vanity_url" in includes:
        content["vanity_url"] = None
    return content


# -- lookups ----------------------------------------------------------------------------------


def find_app(store: Store, guid: str) -> AppInfo:
    try:
        return store.app_get(guid)
    except NotFound:
        raise ConnectError(404, NOT_FOUND, f"Content {guid!r} does not exist.") from None


def find_job(store: Store, app: AppInfo, key: str) -> Process:
    digits = key.isascii() and key.isdigit() and len(key) <= 19
    execution_id = int(key) if digits else execution_id_of(key)
    missing = ConnectError(404, NOT_FOUND, f"Job {key!r} does not exist.")
    if execution_id is None or not 0 < execution_id < 2**63:
        raise missing
    try:
        p = store.process_get(execution_id)
    except NotFound:
        raise missing from None
    if p.app != app.name:
        raise missing
    return p


def list_jobs(store: Store, app: AppInfo, *, active_only: bool = False) -> list[Process]:
    statuses = (ExecutionStatus.RUNNING,) if active_only else ()
    filters = ProcessFilter(apps=(app.name,), statuses=statuses)
    found: list[Process] = []
    page = 1
    while len(found) < MAX_JOBS:
        batch = store.process_list(filters, page=page, per_page=1000)
        found.extend(batch.results)
        if page * 1000 >= batch.count:
            break
        page += 1
    return found[:MAX_JOBS]


# -- routes -------------------------------------------------------------------------------------


@router.get("/server_settings")
def server_settings(request: Request) -> dict[str, Any]:
    """Open to all, like the native /api/v1/version."""
    return {
        "version": CONNECT_VERSION,
        "build": f"jobyard {package_version('jobyard')}",
        "hostname": socket.gethostname(),
        "api_key_auth": True,
    }


@router.get("/v1/content/{guid}")
def get_content(guid: str, request: Request, store: StoreDep, _: Reader) -> dict[str, Any]:
    return content_of(find_app(store, guid), request)


@router.get("/v1/content/{guid}/jobs")
def get_jobs(
    guid: str,
    store: StoreDep,
    _: Reader,
    status: Annotated[int | None, Query(ge=0, le=2)] = None,
    key: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """Every process of the content, newest first. ``status`` and ``key`` narrow the list (the
    clients filter again on their side)."""
    app = find_app(store, guid)
    if key is not None:
        try:
            found = [find_job(store, app, key)]
        except ConnectError:
            found = []
    else:
        found = list_jobs(store, app, active_only=status == 0)
    jobs = [job_of(p) for p in found]
    return [j for j in jobs if status is None or j["status"] == status]


@router.get("/v1/content/{guid}/jobs/{key}")
def get_job(guid: str, key: str, store: StoreDep, _: Reader) -> dict[str, Any]:
    return job_of(find_job(store, find_app(store, guid), key))


@router.delete("/v1/content/{guid}/jobs/{key}")
def kill_job(guid: str, key: str, store: StoreDep, who: Killer) -> dict[str, Any]:
    """Kill an active job's process (its whole process group); its worker carries it out."""
    app = find_app(store, guid)
    p = find_job(store, app, key)
    not_active = ConnectError(
        409, NOT_ACTIVE, "The specified job cannot be terminated because it is not active"
    )
    if p.execution.status is not ExecutionStatus.RUNNING or not p.current:
        raise not_active
    try:
        store.job_kill(p.execution.job_id, by=who.name)
    except InvalidTransition:
        raise not_active from None
    return {
        "guid": str(uuid.uuid5(_GUID_NAMESPACE, p.key))[:8],
        "app_id": app.id,
        "app_guid": app.guid,
        "job_id": p.execution.id,
        "job_key": p.key,
        "result": "Order to kill job registered",
    }


@router.get("/v1/content/{guid}/jobs/{key}/log")
def job_log(
    guid: str,
    key: str,
    store: StoreDep,
    _: Reader,
    max_log_lines: Annotated[
        int, Query(alias="maxLogLines", ge=1, le=MAX_LOG_LINES)
    ] = MAX_LOG_LINES,
) -> dict[str, Any]:
    """The last ``maxLogLines`` lines, oldest first; ``ctx.log`` records count as stderr."""
    p = find_job(store, find_app(store, guid), key)
    lines = store.execution_log_tail(p.execution.id, limit=max_log_lines)
    return {
        "entries": [
            {
                "source": "stdout" if e.data.get("stream") == "stdout" else "stderr",
                "timestamp": rfc3339(e.at, nano=True),
                "data": str(e.data.get("text", "")),
            }
            for e in lines
        ]
    }


@router.get("/applications/{guid}/jobs")
def legacy_jobs(guid: str, store: StoreDep, _: Reader) -> list[dict[str, Any]]:
    return [legacy_job_of(p) for p in list_jobs(store, find_app(store, guid))]


@router.get("/applications/{guid}/job/{key}")
def legacy_job(guid: str, key: str, store: StoreDep, _: Reader) -> dict[str, Any]:
    p = find_job(store, find_app(store, guid), key)
    lines = store.execution_log_tail(p.execution.id, limit=MAX_LOG_LINES)
    job = legacy_job_of(p)
    job["stdout"] = "".join(
        f"{e.data.get('text', '')}\n" for e in lines if e.data.get("stream") == "stdout"
    )
    job["stderr"] = "".join(
        f"{e.data.get('text', '')}\n" for e in lines if e.data.get("stream") != "stdout"
    )
    job["logged_error"] = p.execution.error_message
    return job
