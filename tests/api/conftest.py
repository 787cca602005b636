"""The native API in-process: ``create_app(store)`` under a TestClient, on both backends.

``api`` signs in as people of each role (users and tokens made directly in the store), makes jobs
in the states a route needs (``api.world()``), and takes snapshots of everything a request could
change, so a refused request can be shown to have changed nothing.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from jobyard.api.app import create_app
from jobyard.api.auth import hash_password, token_hash
from jobyard.core.backoff import Backoff
from jobyard.core.models import (
    Claim,
    Job,
    JobFilter,
    JobSpec,
    JobType,
    Outcome,
    PageRequest,
    TypeDefinition,
    TypeKind,
)
from jobyard.core.settings import Settings
from jobyard.core.states import ExecutionStatus
from jobyard.store import Store, open_store
from support.remote import database
from support.servers import Server

from .live import SHORT_RETENTION, Live, start

ROLES = ("viewer", "operator", "admin")
PASSWORD = {role: f"{role}-password" for role in ROLES}
TOKEN = {role: f"jy_{role}_token" for role in ROLES}
REVOKED_TOKEN = "jy_revoked_admin_token"
TYPE = "t.echo"
ERROR_KEYS = {"code", "message", "details"}


@cache
def password_hash(role: str) -> str:
    """argon2 is slow on purpose: hash each test password once per session."""
    return hash_password(PASSWORD[role])


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with the one error shape; returns its ``error`` object."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ERROR_KEYS, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    return error


class DisconnectAfterHeaders:
    """ASGI wrapper: the client goes away as soon as the response has started.

    A TestClient reads a response to its end, and a live event stream has none; with this the
    stream's status and headers are seen and the server's disconnect handling ends it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = anyio.Event()
        body_read = False

        async def send_(message: Any) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        async def receive_() -> Any:
            nonlocal body_read
            if not body_read:
                message = await receive()
                body_read = message["type"] != "http.request" or not message.get("more_body")
                return message
            await started.wait()
            return {"type": "http.disconnect"}

        await self.app(scope, receive_, send_)


@dataclass(frozen=True)
class World:
    """Jobs in the states routes act on, each in a queue of its own."""

    queue: str
    queued: int
    running: int
    running_execution: int
    completed: int
    failed: int
    user: str  # a viewer of its own
    token_id: int  # a live token of that user


class Api:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.app = create_app(store, settings or Settings(database_url=store.url))
        # entered once: a TestClient outside ``with`` starts an event loop thread per request
        self.client = TestClient(
            self.app, follow_redirects=False, raise_server_exceptions=False
        ).__enter__()
        self.streams = TestClient(
            DisconnectAfterHeaders(self.app), follow_redirects=False, raise_server_exceptions=False
        ).__enter__()
        self._worlds = itertools.count(1)
        store.type_register(
            TypeDefinition(
                name=TYPE,
                kind=TypeKind.PYTHON,
                target="apitest:quick",
                max_tries=1,
                backoff=Backoff(base=1, jitter=0),
            )
        )
        for role in ROLES:
            store.user_add(role, role=role, password_hash=password_hash(role))
            store.token_create(role, token_hash=token_hash(TOKEN[role]), name=f"{role} token")
        revoked = store.token_create("admin", token_hash=token_hash(REVOKED_TOKEN), name="old")
        store.token_revoke(revoked.id)

    def add_type(self, name: str) -> JobType:
        """A job type of one's own, for a route that changes types."""
        return self.store.type_register(
            TypeDefinition(name=name, kind=TypeKind.PYTHON, target="apitest:quick")
        )

    def as_(self, role: str) -> dict[str, str]:
        return bearer(TOKEN[role])

    def request(self, method: str, url: str, role: str | None = "admin", **kwargs: Any) -> Any:
        headers = {**(self.as_(role) if role else {}), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.request("GET", url, role, **kwargs)

    def post(self, url: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.request("POST", url, role, **kwargs)

    # -- data ---------------------------------------------------------------------------------

    def enqueue(self, **spec: Any) -> int:
        spec.setdefault("type", TYPE)
        [job_id] = self.store.job_enqueue([JobSpec(**spec)])
        return job_id

    def _claim(self, queue: str) -> list[Claim]:
        return self.store.job_claim(worker_id="w", queues=[queue], types=[TYPE], limit=1, lease=60)

    def world(self) -> World:
        """A queued, a running, a completed and a failed job, in a queue of their own."""
        queue = f"w{next(self._worlds)}"
        running = self.enqueue(queue=queue)
        [claim] = self._claim(queue)
        completed = self.enqueue(queue=queue)
        [done] = self._claim(queue)
        self.store.job_finish(
            [Outcome(execution_id=done.execution_id, status=ExecutionStatus.COMPLETED, result=1)]
        )
        failed = self.enqueue(queue=queue)
        [bad] = self._claim(queue)
        self.store.job_finish(
            [
                Outcome(
                    execution_id=bad.execution_id,
                    status=ExecutionStatus.FAILED,
                    error_type="ValueError",
                    error_message="boom",
                    retryable=False,
                )
            ]
        )
        queued = self.enqueue(queue=queue)
        assert claim.job_id == running and done.job_id == completed and bad.job_id == failed
        user = f"user-{queue}"
        self.store.user_add(user, role="viewer", password_hash=password_hash("viewer"))
        token = self.store.token_create(user, token_hash=token_hash(f"jy_{user}"), name=queue)
        return World(queue, queued, running, claim.execution_id, completed, failed, user, token.id)

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change: jobs, executions, queues, events, users, tokens,
        workers."""
        store = self.store
        jobs = store.job_list(
            JobFilter(include_removed=True), PageRequest(per_page=1000, sort="id")
        ).results
        return {
            "jobs": [_job_row(j) for j in jobs],
            "executions": [
                (e.id, e.status, e.lease_expires_at, e.ended_at)
                for e in store.execution_list(limit=1000)
            ],
            "queues": [(q.name, q.paused, q.queued, q.running) for q in store.queue_list()],
            "last_event": store.event_last_id(),
            "types": [(t.name, t.revision, t.archived_at, t.paused) for t in store.type_list()],
            "users": [(u.name, u.role, u.password_hash) for u in store.user_list()],
            "tokens": [(t.id, t.user, t.revoked_at) for t in store.token_list()],
            "workers": [(w.id, w.state) for w in store.worker_list(include_stopped=True)],
            "recipe_types": [(t.name, t.revision) for t in store.recipe_type_list()],
            "recipes": [
                (r.id, r.status, r.canceled_at) for r in store.recipe_list(per_page=1000)[1]
            ],
            "schedules": [(s.name, s.revision) for s in store.schedule_list()],
            "services": [(s.name, s.desired, s.updated_at) for s in store.service_list()],
        }

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.streams.__exit__(None, None, None)


def _job_row(j: Job) -> tuple[Any, ...]:
    return (
        *(j.id, j.status, j.priority, j.tries, j.max_tries, j.progress, j.progress_desc),
        *(j.kill_requested_at, j.canceled_at, j.removed_at, j.restarted_as, j.updated_at),
    )


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    """A fresh database per test."""
    api = Api(store)
    yield api
    api.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[Api]:
    """One database per module and backend, for the many-request matrix and the fuzzer.

    Creating and dropping a PostgreSQL database costs half a second, more than a matrix row;
    rows share a database but never data: each acts on a ``world()`` of its own.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api')}/jobyard.db"
    elif postgres_databases is None:
        pytest.skip("PostgreSQL backend unavailable (see the database_url fixture)")
    else:
        url = postgres_databases.create()
    store = open_store(url)
    store.schema_upgrade()
    api = Api(store)
    yield api
    api.close()
    store.close()
    if request.param == "postgresql":
        postgres_databases.drop(url)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[Live]:
    """`jobyard up --app apitest:app` per backend, shared by the tests that need real processes."""
    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    with database(request.param, folder, postgres_databases) as url:
        server = start(url, folder / "server.log")
        store = open_store(url)
        try:
            yield Live(server, store, folder, url)
        finally:
            store.close()
            server.stop()


@pytest.fixture(scope="session")
def second_server(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`jobyard server` (no worker) on the live server's database, forgetting tracking soon."""
    server = Server(
        database_url=live.database_url,
        log_path=tmp_path_factory.mktemp("second") / "server.log",
        command="server",
        app=None,
        JOBYARD_TRACKING_RETENTION=str(SHORT_RETENTION),
    )
    yield server
    server.stop()
