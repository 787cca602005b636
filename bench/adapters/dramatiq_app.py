"""Dramatiq with the Redis broker (db ``BENCH_REDIS_DB``), its defaults.

Producer: ``noop.send(n)``. No bulk API (``group`` sends one message each): n/a.
Workers: one ``dramatiq --processes 2 --threads 1`` (2 worker processes, one thread each).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.adapters.base import Adapter as Base
from bench.common import REDIS_URL, Proc, record, redis_flush, venv_bin

broker = RedisBroker(url=REDIS_URL)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="default", max_retries=0)
def noop(n: int) -> None:
    record(n)


class Adapter(Base):
    name = "dramatiq"
    label = "Dramatiq"
    backend = "redis"
    packages = ("dramatiq", "redis")
    durability = "Redis in memory (this Redis: no RDB, no AOF); acks after the actor returns"
    concurrency = "1 `dramatiq --processes 2 --threads 1` (2 worker processes)"

    def setup(self) -> None:
        redis_flush()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [venv_bin("dramatiq"), "bench.adapters.dramatiq_app", "--processes", "2",
                "--threads", "1"]  # fmt: skip
        return [Proc(argv, env=env, log=log_dir / "dramatiq-worker.log")]

    def enqueue_one(self, n: int) -> None:
        noop.send(n)
