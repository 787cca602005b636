"""Python client for the jobyard HTTP API: :class:`Client` (blocking) and :class:`AsyncClient`.

Both have the same operations with the same names and arguments; results are the frozen
dataclasses of :mod:`jobyard.client.models`, and an error reply raises the matching
:mod:`jobyard.core.errors` class (``NotFound``, ``Invalid``, ``InvalidTransition``,
``Duplicate``, ``Unauthorized``, ``Forbidden``; ``Unreachable`` when there is no server).
"""

from jobyard.client._apps import ProcessFilters
from jobyard.client._base import DEFAULT_URL
from jobyard.client.aio import AsyncClient
from jobyard.client.models import (
    Event,
    Health,
    LogPage,
    NewToken,
    Page,
    Tracking,
    UserInfo,
    Version,
)
from jobyard.client.options import EnqueueOptions, JobFilters, JobRequest, TypeFilters
from jobyard.client.sync import Client

__all__ = [
    "DEFAULT_URL",
    "AsyncClient",
    "Client",
    "EnqueueOptions",
    "Event",
    "Health",
    "JobFilters",
    "JobRequest",
    "LogPage",
    "NewToken",
    "Page",
    "ProcessFilters",
    "Tracking",
    "TypeFilters",
    "UserInfo",
    "Version",
]
