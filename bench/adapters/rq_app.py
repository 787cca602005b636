"""RQ (db ``BENCH_REDIS_DB``), its defaults.

Producer: ``queue.enqueue(noop, n)``; bulk: ``queue.enqueue_many([...])`` (one pipeline).
Workers: 2 ``rq worker`` processes (RQ's default worker forks a work horse per job).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue

from bench.adapters.base import Adapter as Base
from bench.common import REDIS_URL, Proc, record, redis_flush, venv_bin


def noop(n: int) -> None:
    record(n)


class Adapter(Base):
    name = "rq"
    label = "RQ"
    backend = "redis"
    packages = ("rq", "redis")
    durability = "Redis in memory (this Redis: no RDB, no AOF)"
    concurrency = "2 `rq worker` processes (each forks a work horse per job: RQ's default)"
    bulk_api = "`Queue.enqueue_many([...])` (one Redis pipeline)"

    def setup(self) -> None:
        redis_flush()

    def open(self) -> None:
        self.queue = Queue("default", connection=redis.Redis.from_url(REDIS_URL))

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [venv_bin("rq"), "worker", "--url", REDIS_URL, "--quiet", "default"]
        return [Proc(argv, env=env, log=log_dir / f"rq-worker-{i}.log") for i in range(2)]

    def enqueue_one(self, n: int) -> None:
        self.queue.enqueue(noop, n)

    def enqueue_bulk(self, ns: Sequence[int]) -> None:
        self.queue.enqueue_many([Queue.prepare_data(noop, (n,)) for n in ns])
