"""jobyard on SQLite (a fresh file in the bench's work directory, WAL, synchronous=FULL)."""

from __future__ import annotations

from bench.adapters.jobyard_app import JobyardAdapter, fresh_dir
from bench.common import WORK_DIR


class Adapter(JobyardAdapter):
    name = "jobyard-sqlite"
    label = "jobyard (SQLite)"
    backend = "sqlite"
    durability = "SQLite commit in WAL mode with synchronous=FULL (fsync) before enqueue returns"
    url = f"sqlite:///{WORK_DIR}/jobyard-sqlite/bench.db"

    def setup(self) -> None:
        fresh_dir()
        super().setup()
