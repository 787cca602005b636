"""PgQueuer (database ``bench_pgqueuer``), asyncpg driver, its defaults.

Producer: ``Queries.enqueue("noop", payload)``; bulk: ``Queries.enqueue([...], [...], [...])``.
Workers: one asyncio process, ``pgqueuer.run(main, max_concurrent_tasks=2, batch_size=1)`` —
what ``pgq run --max-concurrent-tasks 2 --batch-size 1`` does (PgQueuer requires
max_concurrent_tasks >= 2 x batch_size; a per-entrypoint ``concurrency_limit=2`` with the default
batch of 10 was 5x slower here). The ``pgq run`` command
itself of pgqueuer 1.6.0 fails at start (``setup_fancy_logger`` is given a str), so the worker is
started through the documented ``pgqueuer.run`` API instead.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pgqueuer
from pgqueuer import PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job

from bench.adapters.base import Adapter as Base
from bench.common import Proc, pg_recreate, pg_url, record

DATABASE = "bench_pgqueuer"
URL = pg_url(DATABASE)


@asynccontextmanager
async def main() -> AsyncIterator[PgQueuer]:
    """The worker's factory (``pgq run bench.adapters.pgqueuer_app:main``)."""
    connection = await asyncpg.connect(URL)
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        record(int(job.payload or b"0"))

    try:
        yield pgq
    finally:
        await connection.close()


class Adapter(Base):
    name = "pgqueuer"
    label = "PgQueuer"
    backend = "postgresql"
    packages = ("pgqueuer", "asyncpg")
    durability = "PostgreSQL commit (fsync on) before enqueue returns"
    concurrency = "1 asyncio process, `max_concurrent_tasks=2, batch_size=1`"
    bulk_api = "`Queries.enqueue([entrypoints], [payloads], [priorities])`"

    def setup(self) -> None:
        pg_recreate(DATABASE)

        async def install() -> None:
            connection = await asyncpg.connect(URL)
            try:
                await Queries(AsyncpgDriver(connection)).install()
            finally:
                await connection.close()

        self.run(install())

    def open(self) -> None:
        self.connection = self.run(asyncpg.connect(URL))
        self.queries = Queries(AsyncpgDriver(self.connection))

    def close(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            self.run(connection.close())
        super().close()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [sys.executable, "-m", "bench.adapters.pgqueuer_app"]
        return [Proc(argv, env=env, log=log_dir / "pgqueuer-worker.log")]

    def enqueue_one(self, n: int) -> None:
        self.run(self.queries.enqueue("noop", str(n).encode()))

    def enqueue_bulk(self, ns: Sequence[int]) -> None:
        self.run(
            self.queries.enqueue(["noop"] * len(ns), [str(n).encode() for n in ns], [0] * len(ns))
        )


if __name__ == "__main__":
    asyncio.run(pgqueuer.run(main, max_concurrent_tasks=2, batch_size=1))
