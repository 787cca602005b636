"""arq (db ``BENCH_REDIS_DB``), its defaults.

Producer: ``await pool.enqueue_job("noop", n)``. No bulk API: n/a.
Workers: one ``arq`` worker process with ``max_jobs = 2`` (asyncio; polls every 0.5 s, arq's
default ``poll_delay``).
"""

from __future__ import annotations

from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from bench.adapters.base import Adapter as Base
from bench.common import REDIS_URL, Proc, record, redis_flush, venv_bin

REDIS = RedisSettings.from_dsn(REDIS_URL)


async def noop(ctx: dict[str, Any], n: int) -> None:
    record(n)


class WorkerSettings:
    functions = (noop,)
    redis_settings = REDIS
    max_jobs = 2
    keep_result = 0


class Adapter(Base):
    name = "arq"
    label = "arq"
    backend = "redis"
    packages = ("arq", "redis")
    durability = "Redis in memory (this Redis: no RDB, no AOF)"
    concurrency = "1 `arq` worker, `max_jobs = 2` (one asyncio process)"

    def setup(self) -> None:
        redis_flush()

    def open(self) -> None:
        self.pool = self.run(create_pool(REDIS))

    def close(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            self.run(pool.aclose())
        super().close()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [venv_bin("arq"), "bench.adapters.arq_app.WorkerSettings"]
        return [Proc(argv, env=env, log=log_dir / "arq-worker.log")]

    def enqueue_one(self, n: int) -> None:
        self.run(self.pool.enqueue_job("noop", n))
