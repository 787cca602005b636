"""The core4 dialect: seed 002's Job Management API as a thin translation over jobyard's core.

``protocol`` holds core4's envelope, arguments and sign-in; ``docs`` the translation of jobs,
states, types and log lines (the state table is there); ``stream`` the server-sent events;
``routes`` the routes, mounted by ``jobyard.api.app``.
"""

from jobyard.api.dialects.core4.routes import router

__all__ = ["router"]
