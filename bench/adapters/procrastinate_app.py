"""Procrastinate (database ``bench_procrastinate``), its defaults.

Producer: ``noop.defer(n=...)`` (sync, after ``app.open()``), bulk ``noop.batch_defer(...)``.
Workers: one ``procrastinate worker --concurrency 2`` (one asyncio process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import procrastinate

from bench.adapters.base import Adapter as Base
from bench.common import Proc, pg_recreate, pg_url, record, venv_bin

DATABASE = "bench_procrastinate"
URL = pg_url(DATABASE)

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=URL))


@app.task(name="noop")
async def noop(n: int) -> None:
    record(n)


class Adapter(Base):
    name = "procrastinate"
    label = "procrastinate"
    backend = "postgresql"
    packages = ("procrastinate",)
    durability = "PostgreSQL commit (fsync on) before defer returns"
    concurrency = "1 `procrastinate worker --concurrency 2` (one asyncio process)"
    bulk_api = "`task.batch_defer(*kwargs)`"

    def setup(self) -> None:
        pg_recreate(DATABASE)
        with app.open():
            app.schema_manager.apply_schema()

    def open(self) -> None:
        app.open()

    def close(self) -> None:
        app.close()
        super().close()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [
            venv_bin("procrastinate"), "--app", "bench.adapters.procrastinate_app.app",
            "worker", "--concurrency", "2",
        ]  # fmt: skip
        return [Proc(argv, env=env, log=log_dir / "procrastinate-worker.log")]

    def enqueue_one(self, n: int) -> None:
        noop.defer(n=n)

    def enqueue_bulk(self, ns: Sequence[int]) -> None:
        noop.batch_defer(*({"n": n} for n in ns))
