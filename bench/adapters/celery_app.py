"""Celery with the Redis broker (db ``BENCH_REDIS_DB``), its defaults (results ignored).

Producer: ``noop.delay(n)``. No bulk API (a ``group`` publishes one message per task): n/a.
Workers: one ``celery worker --pool prefork --concurrency 2`` (2 child processes; prefetch
multiplier 4, acks early: Celery's defaults).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from bench.adapters.base import Adapter as Base
from bench.common import REDIS_URL, Proc, record, redis_flush, venv_bin

app = Celery("bench", broker=REDIS_URL)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)


@app.task(name="noop")
def noop(n: int) -> None:
    record(n)


class Adapter(Base):
    name = "celery"
    label = "Celery"
    backend = "redis"
    packages = ("celery", "kombu", "redis")
    durability = "Redis in memory (this Redis: no RDB, no AOF); acks on receipt (Celery default)"
    concurrency = "1 `celery worker --pool prefork --concurrency 2` (2 child processes)"

    def setup(self) -> None:
        redis_flush()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [
            venv_bin("celery"), "-A", "bench.adapters.celery_app", "worker", "--pool", "prefork",
            "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ]  # fmt: skip
        return [Proc(argv, env=env, log=log_dir / "celery-worker.log")]

    def enqueue_one(self, n: int) -> None:
        noop.delay(n)
