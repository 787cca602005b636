"""Huey with Redis (db ``BENCH_REDIS_DB``), its defaults (results not stored).

Producer: calling the task, ``noop(n)``. No bulk enqueue API: n/a.
Workers: one ``huey_consumer -k process -w 2`` (2 worker processes).
"""

from __future__ import annotations

from typing import Any

from huey import RedisHuey

from bench.adapters.base import Adapter as Base
from bench.common import REDIS_DB, REDIS_HOST, REDIS_PORT, Proc, record, redis_flush, venv_bin

huey = RedisHuey("bench", host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, results=False)


@huey.task()
def noop(n: int) -> None:
    record(n)


class Adapter(Base):
    name = "huey"
    label = "Huey"
    backend = "redis"
    packages = ("huey", "redis")
    durability = "Redis in memory (this Redis: no RDB, no AOF)"
    concurrency = "1 `huey_consumer -k process -w 2` (2 worker processes)"

    def setup(self) -> None:
        redis_flush()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [venv_bin("huey_consumer"), "bench.adapters.huey_app.huey", "-k", "process",
                "-w", "2", "-q"]  # fmt: skip
        return [Proc(argv, env=env, log=log_dir / "huey-worker.log")]

    def enqueue_one(self, n: int) -> None:
        noop(n)
