"""jobyard: the no-op job as an App, and the adapter both backends share.

Producer: ``store.job_enqueue([JobSpec(...)])`` (the Python API, no HTTP), one call per job for
enqueue_single and one call with every spec for enqueue_bulk. Workers: one
``jobyard worker --concurrency 2`` (a store loop and a prefork pool of 2 child processes; every
job runs in a child).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from bench.adapters.base import Adapter
from bench.common import WORK_DIR, Proc, record, venv_bin
from jobyard import App, JobSpec, open_store

app = App("bench")


@app.job(name="bench.noop")
def noop(ctx: Any, n: int) -> None:
    record(n)


class JobyardAdapter(Adapter):
    packages = ("jobyard",)
    concurrency = "1 `jobyard worker --concurrency 2`: 2 child processes (prefork pool)"
    bulk_api = "`store.job_enqueue([...])` with every spec in one call"
    url = ""

    def setup(self) -> None:
        store = open_store(self.url)
        try:
            store.schema_upgrade()
            for definition in app.definitions():
                store.type_register(definition)
        finally:
            store.close()

    def open(self) -> None:
        self.store = open_store(self.url)
        self.store.schema_version()  # connected, as the peers' open() leaves them

    def close(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()
        super().close()

    def workers(self, env: dict[str, str], log_dir: Any) -> list[Proc]:
        argv = [
            venv_bin("jobyard"), "worker", "--app", "bench.adapters.jobyard_app:app",
            "--concurrency", "2", "--database-url", self.url,
        ]  # fmt: skip
        return [Proc(argv, env=env, log=log_dir / f"{self.name}-worker.log")]

    def enqueue_one(self, n: int) -> None:
        self.store.job_enqueue([JobSpec(type="bench.noop", args={"n": n})])

    def enqueue_bulk(self, ns: Sequence[int]) -> None:
        self.store.job_enqueue([JobSpec(type="bench.noop", args={"n": n}) for n in ns])


def fresh_dir() -> str:
    path = WORK_DIR / "jobyard-sqlite"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)
