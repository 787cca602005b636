"""One adapter per system; ``ADAPTERS`` maps a system's name to the module that defines it.

Each module defines ``Adapter``, a subclass of :class:`bench.adapters.base.Adapter`, and the
system's own no-op job (importable by its worker command).
"""

from __future__ import annotations

import importlib

from bench.adapters.base import Adapter

ADAPTERS = {
    "jobyard-sqlite": "bench.adapters.jobyard_sqlite",
    "jobyard-pg": "bench.adapters.jobyard_pg",
    "procrastinate": "bench.adapters.procrastinate_app",
    "pgqueuer": "bench.adapters.pgqueuer_app",
    "celery": "bench.adapters.celery_app",
    "rq": "bench.adapters.rq_app",
    "dramatiq": "bench.adapters.dramatiq_app",
    "arq": "bench.adapters.arq_app",
    "huey": "bench.adapters.huey_app",
}


def load(name: str) -> Adapter:
    module = importlib.import_module(ADAPTERS[name])
    adapter: Adapter = module.Adapter()
    return adapter
