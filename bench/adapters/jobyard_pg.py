"""jobyard on PostgreSQL (database ``bench_jobyard``)."""

from __future__ import annotations

from bench.adapters.jobyard_app import JobyardAdapter
from bench.common import pg_recreate, pg_url

DATABASE = "bench_jobyard"


class Adapter(JobyardAdapter):
    name = "jobyard-pg"
    label = "jobyard (PostgreSQL)"
    backend = "postgresql"
    durability = "PostgreSQL commit (fsync on, synchronous_commit on) before enqueue returns"
    url = pg_url(DATABASE)

    def setup(self) -> None:
        pg_recreate(DATABASE)
        super().setup()
