"""/api/v1/health and /api/v1/version: open to all, for load balancers and scripts."""

from __future__ import annotations

from importlib.metadata import version as package_version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from jobyard.api.deps import StoreDep
from jobyard.api.schemas import Health, Version

router = APIRouter(tags=["system"])

API_VERSION = "v1"


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(store: StoreDep) -> Health | JSONResponse:
    backend = store.url.split(":", 1)[0]
    try:
        version = store.schema_version()
    except Exception as exc:  # the one place an unreachable database is an answer, not an error
        body = Health(status="unavailable", database=str(exc)[:200], backend=backend,
                      schema_version=0)  # fmt: skip
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok", backend=backend, schema_version=version)


@router.get("/version", response_model=Version)
def version() -> Version:
    return Version(version=package_version("jobyard"), api=API_VERSION)
