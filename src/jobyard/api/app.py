"""The HTTP application: native routes under /api/v1, OpenAPI, docs, errors, limits."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse

from jobyard import web
from jobyard.api import errors, metrics
from jobyard.api.auth import Authenticator
from jobyard.api.dialects import connect, core4, scale
from jobyard.api.limits import BodyLimit, LoginLimiter, Subscribers
from jobyard.api.routes import apps as app_routes
from jobyard.api.routes import (
    events,
    executions,
    jobs,
    queues,
    system,
    tracking,
    types,
    users,
    workers,
)
from jobyard.api.routes import operations as operation_routes
from jobyard.api.routes import recipes as recipe_routes
from jobyard.api.routes import schedules as schedule_routes
from jobyard.api.routes import services as service_routes
from jobyard.api.routes import session as session_routes
from jobyard.api.session import Sessions
from jobyard.core.settings import Settings
from jobyard.store.base import Store

API_PREFIX = "/api/v1"
MAX_BODY = 16 * 1024 * 1024  # bytes; a bigger request is refused before it is read


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="jobyard",
        summary="Durable jobs you can see, follow, kill and trust.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings = settings or Settings.from_env()
    limiter = LoginLimiter(
        per_name=int(settings.login_failures),
        per_address=int(settings.login_failures_per_address),
        window=settings.login_window,
    )
    app.state.authenticator = Authenticator(store, limiter)
    app.state.subscribers = Subscribers(int(settings.sse_per_user))
    app.state.sessions = Sessions(
        store, secret=app.state.settings.secret_key, lifetime=app.state.settings.session_lifetime
    )
    errors.install(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY)

    api = APIRouter(prefix=API_PREFIX)
    for module in (system, types, jobs, executions, events, queues, tracking, users, workers):
        api.include_router(module.router)
    api.include_router(operation_routes.router)
    api.include_router(recipe_routes.router)
    api.include_router(schedule_routes.router)
    api.include_router(app_routes.router)
    api.include_router(service_routes.router)
    api.include_router(session_routes.router)
    app.include_router(api)
    app.include_router(core4.router)
    app.include_router(metrics.router)
    for router in scale.routers:
        app.include_router(router)
    app.include_router(connect.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    web.install(app)  # the dashboard, at /ui/: static files that use the API above

    return app
