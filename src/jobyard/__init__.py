"""jobyard: durable jobs you can see, follow, kill and trust.

The names below load on first use (PEP 562), so a command of the CLI that only talks to a
server starts without the store, the engine and their drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobyard.app import App
    from jobyard.core.backoff import Backoff
    from jobyard.core.errors import (
        Duplicate,
        Invalid,
        InvalidTransition,
        JobCancelled,
        JobyardError,
        LeaseLost,
        NonRetryable,
        NotFound,
    )
    from jobyard.core.models import JobFilter, JobSpec, PageRequest
    from jobyard.core.states import ExecutionStatus, JobStatus
    from jobyard.store import Store, open_store

__version__ = "0.1.0"

_WHERE = {
    "App": "jobyard.app",
    "Backoff": "jobyard.core.backoff",
    "Duplicate": "jobyard.core.errors",
    "ExecutionStatus": "jobyard.core.states",
    "Invalid": "jobyard.core.errors",
    "InvalidTransition": "jobyard.core.errors",
    "JobCancelled": "jobyard.core.errors",
    "JobFilter": "jobyard.core.models",
    "JobSpec": "jobyard.core.models",
    "JobStatus": "jobyard.core.states",
    "JobyardError": "jobyard.core.errors",
    "LeaseLost": "jobyard.core.errors",
    "NonRetryable": "jobyard.core.errors",
    "NotFound": "jobyard.core.errors",
    "PageRequest": "jobyard.core.models",
    "Store": "jobyard.store",
    "open_store": "jobyard.store",
}

__all__ = [
    "App",
    "Backoff",
    "Duplicate",
    "ExecutionStatus",
    "Invalid",
    "InvalidTransition",
    "JobCancelled",
    "JobFilter",
    "JobSpec",
    "JobStatus",
    "JobyardError",
    "LeaseLost",
    "NonRetryable",
    "NotFound",
    "PageRequest",
    "Store",
    "__version__",
    "open_store",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'jobyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value
