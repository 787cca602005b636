"""Every operation of the native API, once: how to ask, and how to read the reply.

An operation is a :class:`Call` (method, path, query, body, and a function from the reply's JSON
to the result) or, when it takes several requests or a live stream, a *plan*: a generator that
yields steps (a :class:`Call` to make, a stream to :class:`Open`, a line to read, a pause) and
receives what each produced; it yields :class:`Emit` for every item the caller should get. The
plans live in :mod:`jobyard.client._plans`. ``sync.Client`` and ``aio.AsyncClient`` only carry
the steps out with httpx, so no operation is written twice (the shape of httpx's own
``_client.py``, where ``BaseClient`` builds and the two clients send).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import httpx

from jobyard.client import _recipes as r
from jobyard.client import models as m
from jobyard.core import errors
from jobyard.core.errors import Invalid, InvalidTransition, JobyardError
from jobyard.core.models import ApiToken, Job, JobType, QueueInfo, Role
from jobyard.core.recipes import Recipe, RecipeSummary, RecipeType
from jobyard.core.schedules import Schedule

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:7420"
API_PREFIX = "/api/v1"
USER_AGENT = "jobyard-client"


# -- what one request is --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request, and the function that turns its reply's JSON into the result."""

    method: str
    path: str  # under /api/v1
    parse: Callable[[Any], T]
    params: Mapping[str, str] | None = None
    body: Any = None  # sent as JSON when not None


def _nothing(_: Any) -> None:
    return None


def _first_id(d: Any) -> int:
    return int(d["ids"][0])


def _ids(d: Any) -> list[int]:
    return [int(i) for i in d["ids"]]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float):
        return str(value)
    return ",".join(_text(v) for v in value)  # a sequence: the API reads comma-separated lists


def query(**values: Any) -> dict[str, str]:
    """Query parameters as text; None (not given) is left out."""
    return {k: _text(v) for k, v in values.items() if v is not None}


def _job_body(type: str, args: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type, "args": {} if args is None else args}
    for name, value in options.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif name == "tags":
            value = list(value)
        body[name] = value
    return body


# -- the operations -------------------------------------------------------------------------


def health() -> Call[m.Health]:
    """Whether the server and its database answer (no sign-in needed)."""
    return Call("GET", "/health", m.health_from)


def version() -> Call[m.Version]:
    """The server's jobyard version and API version."""
    return Call("GET", "/version", m.version_from)


def job_types(*, page: int, per_page: int, filters: Mapping[str, Any]) -> Call[m.Page[JobType]]:
    """The stored job types (by name unless ``sort`` says), matching :class:`TypeFilters`."""
    params = query(page=page, per_page=per_page, **filters)
    return Call("GET", "/types", m.page_from(m.job_type_from), params)


def job_type(name: str) -> Call[JobType]:
    """One job type, its current revision."""
    return Call("GET", f"/types/{_seg(name)}", m.job_type_from)


def enqueue(type: str, args: Any, options: Mapping[str, Any]) -> Call[int]:
    """Enqueue one job of ``type``; returns its id. Options: :class:`EnqueueOptions`."""
    return Call("POST", "/jobs", _first_id, body=_job_body(type, args, options))


def enqueue_many(jobs: Iterable[Mapping[str, Any]]) -> Call[list[int]]:
    """Enqueue several jobs in one transaction (all or none); returns their ids in order."""
    body = []
    for job in jobs:
        options = {k: v for k, v in job.items() if k not in ("type", "args")}
        body.append(_job_body(job["type"], job.get("args"), options))
    return Call("POST", "/jobs", _ids, body=body)


def jobs(*, page: int, per_page: int, filters: Mapping[str, Any]) -> Call[m.Page[Job]]:
    """One page of jobs matching :class:`JobFilters` (newest first unless ``sort`` says)."""
    params = query(page=page, per_page=per_page, **filters)
    return Call("GET", "/jobs", m.page_from(m.job_from), params)


def job(job_id: int) -> Call[Job]:
    """The job, with every execution (attempt) it had."""
    return Call("GET", f"/jobs/{int(job_id)}", m.job_from)


def _control(job_id: int, action: str) -> Call[Job]:
    return Call("POST", f"/jobs/{int(job_id)}/{action}", m.job_from)


def kill(job_id: int) -> Call[Job]:
    """Stop a running job (its whole process tree); a waiting job is canceled at once."""
    return _control(job_id, "kill")


def cancel(job_id: int) -> Call[Job]:
    """Cancel a job that has not started (InvalidTransition once it runs: kill it instead)."""
    return _control(job_id, "cancel")


def restart(job_id: int) -> Call[Job]:
    """A new job like this finished one, linked both ways; returns the new job."""
    return _control(job_id, "restart")


def remove(job_id: int) -> Call[Job]:
    """Hide a job from listings (still readable by id); a waiting job is canceled first."""
    return _control(job_id, "remove")


def requeue(
    ids: Sequence[int] | None,
    *,
    status: Sequence[str] | None,
    type: Sequence[str] | None,
    queue: Sequence[str] | None,
    tag: str | None,
    priority: int | None,
    extra_tries: int,
) -> Call[list[int]]:
    """Failed or canceled jobs back to the queue: these ids, or every match of the filters."""
    body = {
        "ids": None if ids is None else [int(i) for i in ids],
        "status": status,
        "type": type,
        "queue": queue,
        "tag": tag,
        "priority": priority,
        "extra_tries": extra_tries,
    }
    body = {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in body.items()}
    return Call(
        "POST", "/jobs/requeue", _ids, body={k: v for k, v in body.items() if v is not None}
    )


def log(job_id: int, *, after: int, limit: int) -> Call[m.LogPage]:
    """Up to ``limit`` log lines after the cursor ``after`` (0: from the first)."""
    params = query(after=after, limit=limit)
    return Call("GET", f"/jobs/{int(job_id)}/log", m.log_page_from, params)


def queues() -> Call[list[QueueInfo]]:
    """Every queue with its depth: queued, running and waiting jobs."""
    return Call("GET", "/queues", m.list_from(m.queue_from))


def pause_queue(name: str) -> Call[QueueInfo]:
    """Pause a queue: its jobs stay queued and no worker claims them until resumed."""
    return Call("POST", f"/queues/{_seg(name)}/pause", m.queue_from)


def resume_queue(name: str) -> Call[QueueInfo]:
    """Resume a paused queue."""
    return Call("POST", f"/queues/{_seg(name)}/resume", m.queue_from)


def tracking(jid: str) -> Call[m.Tracking]:
    """The tracking status of a job, by id or by its external id."""
    return Call("GET", f"/tracking/{_seg(jid)}", m.tracking_from)


def set_tracking(
    jid: str, *, percent: float | None, desc: str | None, reserve_for: float | None
) -> Call[m.Tracking]:
    """Set a running job's percent and desc; ``reserve_for`` extends its lease (seconds)."""
    body = {"percent": percent, "desc": desc, "reserve_for": reserve_for}
    body = {k: v for k, v in body.items() if v is not None}
    return Call("POST", f"/tracking/{_seg(jid)}", m.tracking_from, body=body)


def users() -> Call[list[m.UserInfo]]:
    """Every user and role (admins only)."""
    return Call("GET", "/users", m.list_from(m.user_from))


def add_user(name: str, *, role: Role | str, password: str) -> Call[m.UserInfo]:
    """Add a user who signs in with ``password`` (admins only)."""
    body = {"name": name, "role": _text(role), "password": password}
    return Call("POST", "/users", m.user_from, body=body)


def update_user(name: str, *, role: Role | str | None, password: str | None) -> Call[m.UserInfo]:
    """Change a user's role and/or password (admins only)."""
    body = {"role": None if role is None else _text(role), "password": password}
    body = {k: v for k, v in body.items() if v is not None}
    return Call("PATCH", f"/users/{_seg(name)}", m.user_from, body=body)


def remove_user(name: str) -> Call[None]:
    """Remove a user and revoke their tokens (admins only)."""
    return Call("DELETE", f"/users/{_seg(name)}", _nothing)


def tokens(*, user: str | None, include_revoked: bool) -> Call[list[ApiToken]]:
    """API tokens (never their values), of everyone or of one user (admins only)."""
    params = query(user=user, include_revoked=include_revoked or None)
    return Call("GET", "/tokens", m.list_from(m.token_from), params)


def create_token(name: str, *, user: str | None) -> Call[m.NewToken]:
    """A new token acting as ``user`` (default: you); its value is in the reply, once."""
    body = {"name": name} if user is None else {"name": name, "user": user}
    return Call("POST", "/tokens", m.new_token_from, body=body)


def revoke_token(token_id: int) -> Call[None]:
    """Revoke a token: requests with it are refused from now on (admins only)."""
    return Call("DELETE", f"/tokens/{int(token_id)}", _nothing)


def recipe_types(*, page: int, per_page: int, search: str | None) -> Call[m.Page[RecipeType]]:
    """The stored recipe types (their current revisions), by name."""
    params = query(page=page, per_page=per_page, search=search)
    return Call("GET", "/recipe-types", m.page_from(r.recipe_type_from), params)


def recipe_type(name: str, *, revision: int | None) -> Call[RecipeType]:
    """One recipe type: its current revision, or ``revision``."""
    params = query(revision=revision)
    return Call("GET", f"/recipe-types/{_seg(name)}", r.recipe_type_from, params)


def create_recipe_type(definition: Mapping[str, Any]) -> Call[RecipeType]:
    """Store a recipe type ``{name, version?, title?, description?, definition}`` (Scale's
    definition); the same one again changes nothing, a different one makes a new revision."""
    return Call("POST", "/recipe-types", r.recipe_type_from, body=dict(definition))


def create_recipe(type: str, inputs: Mapping[str, Any] | None) -> Call[Recipe]:
    """A recipe of ``type`` and all its jobs: those without parents queued, the others blocked
    until their parents complete."""
    body = {"type": type, "inputs": dict(inputs or {})}
    return Call("POST", "/recipes", r.recipe_from, body=body)


def recipes(
    *, page: int, per_page: int, type: str | None, status: Sequence[str] | str | None
) -> Call[m.Page[RecipeSummary]]:
    """Recipes, newest first, with their jobs counted by state."""
    params = query(page=page, per_page=per_page, type=type, status=status)
    return Call("GET", "/recipes", m.page_from(r.recipe_summary_from), params)


def recipe(recipe_id: int) -> Call[Recipe]:
    """A recipe's graph: each job with its id and state, and the edges between them."""
    return Call("GET", f"/recipes/{int(recipe_id)}", r.recipe_from)


def cancel_recipe(recipe_id: int) -> Call[Recipe]:
    """Cancel every unfinished job of a recipe (a running one is killed)."""
    return Call("POST", f"/recipes/{int(recipe_id)}/cancel", r.recipe_from)


def requeue_recipe(recipe_id: int) -> Call[Recipe]:
    """Requeue a recipe's failed and canceled jobs; those whose parents have not completed
    wait for them again."""
    return Call("POST", f"/recipes/{int(recipe_id)}/requeue", r.recipe_from)


def schedules(
    *, page: int, per_page: int, type: str | None, enabled: bool | None
) -> Call[m.Page[Schedule]]:
    """Schedules, by name."""
    params = query(page=page, per_page=per_page, type=type, enabled=enabled)
    return Call("GET", "/schedules", m.page_from(r.schedule_from), params)


def schedule(name: str, *, next: int, history: int) -> Call[r.ScheduleDetail]:
    """A schedule, its next ``next`` ticks and its latest ``history`` runs (each with its job)."""
    params = query(next=next, history=history)
    return Call("GET", f"/schedules/{_seg(name)}", r.schedule_detail_from, params)


def create_schedule(spec: Mapping[str, Any]) -> Call[Schedule]:
    """A new schedule ``{name, cron, type, args?, timezone?, queue?, priority?, enabled?,
    catch_up?, description?}``: the engine enqueues one job of ``type`` per tick."""
    return Call("POST", "/schedules", r.schedule_from, body=dict(spec))


def update_schedule(name: str, changes: Mapping[str, Any]) -> Call[Schedule]:
    """Change any fields of a schedule but its name (``enabled=False`` pauses it)."""
    return Call("PATCH", f"/schedules/{_seg(name)}", r.schedule_from, body=dict(changes))


def delete_schedule(name: str) -> Call[None]:
    """Remove a schedule and its run history; the jobs it made stay."""
    return Call("DELETE", f"/schedules/{_seg(name)}", _nothing)


def _seg(value: str) -> str:
    """A path segment, quoted: a name may not smuggle in a '/' or a '?'."""
    from urllib.parse import quote

    return quote(str(value), safe="")


# -- sending, shared by both clients --------------------------------------------------------


def doc(source: Callable[..., Any]) -> Callable[[F], F]:
    """Give a client method the docstring of the operation it sends (written once, here)."""

    def copy(method: F) -> F:
        method.__doc__ = source.__doc__
        return method

    return copy


class BaseClient:
    """Where the server is and who is asking; the two clients add how to send."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if token and user:
            raise Invalid("sign in with a token or a user and password, not both", field="token")
        if user and password is None:
            raise Invalid(f"user {user!r} needs a password", field="password")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._auth = httpx.BasicAuth(user, password or "") if user else None

    def _httpx_options(self) -> dict[str, Any]:
        return {
            "base_url": self.url + API_PREFIX,
            "headers": self._headers,
            "auth": self._auth,
            "timeout": self.timeout,
            # loading the CA bundle costs a quarter of a second, a lot for one CLI command; a
            # plain-HTTP server never needs it (and redirects, which could lead to TLS, are off)
            "verify": self.url.startswith("https://"),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def build(http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    return http.build_request(
        call.method,
        call.path,
        params=call.params,
        json=call.body if call.body is not None else None,
    )


def reply(call: Call[T], response: httpx.Response) -> T:
    """The result of a call whose reply has been read; an error reply raises."""
    if response.status_code >= 400:
        raise error_from(response)
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    try:
        body = response.json()
    except ValueError as exc:
        raise JobyardError(f"the server sent a reply that is not JSON: {exc}") from exc
    try:
        return call.parse(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise JobyardError(f"unexpected reply to {call.method} {call.path}: {exc!r}") from exc


_ERRORS: dict[str, type[JobyardError]] = {
    cls.code: cls
    for cls in (
        errors.NotFound,
        errors.Invalid,
        errors.Duplicate,
        errors.LeaseLost,
        errors.Unauthorized,
        errors.Forbidden,
        errors.StoreUnavailable,
    )
}


def error_from(response: httpx.Response) -> JobyardError:
    """The :mod:`jobyard.core.errors` exception for an error reply ``{"error": {...}}``."""
    try:
        body = json.loads(response.content)
        error = body["error"]
        code, message = str(error["code"]), str(error["message"])
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().replace("\n", " ")[:200]
        code, message, details = "error", f"HTTP {response.status_code}: {text}", {}
    if code == InvalidTransition.code and {"job_id", "status", "operation"} <= set(details):
        return InvalidTransition(
            job_id=int(details["job_id"]),
            status=str(details["status"]),
            operation=str(details["operation"]),
        )
    if code == Invalid.code:
        field = details.pop("field", None)
        return Invalid(message, field=None if field is None else str(field), **details)
    cls = _ERRORS.get(code)
    if cls is None:
        if response.status_code in (401, 403):
            cls = errors.Unauthorized if response.status_code == 401 else errors.Forbidden
        else:
            error_ = JobyardError(message, **details)
            error_.code, error_.http_status = code, response.status_code
            return error_
    return cls(message, **details)


def unreachable(url: str, exc: httpx.TransportError) -> errors.Unreachable:
    reason = str(exc) or type(exc).__name__
    return errors.Unreachable(f"cannot reach jobyard at {url}: {reason}")
