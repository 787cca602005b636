"""What a worker reports in bulk: the processes of the executions it started, one transaction.

A worker learns its children's pids a few at a time; writing each in its own transaction cost a
commit (an fsync) per job. These writes are no promise to anyone: a record lost with a database
crash only leaves an execution without its pid. So on PostgreSQL they commit asynchronously
(``synchronous_commit`` off for that transaction): the next synchronous commit, a job's finish,
flushes them with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from jobyard.store.tx import Tx


class ReportingProtocol(Protocol):
    def execution_started_many(
        self, started: Sequence[tuple[int, int]], *, ppid: int, hostname: str, run_as: str
    ) -> None:
        """Record the process of each ``(execution_id, pid)``, all in one transaction.

        The same as :meth:`Store.execution_started` for each; an execution that is gone is
        skipped. Not durable on its own on PostgreSQL (asynchronous commit).
        """
        ...


class ReportingStore:
    """Mixed into SqlStore; relies on its ``_tx`` and ``queries``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _commit_async: Callable[[Tx], None]

    def execution_started_many(
        self, started: Sequence[tuple[int, int]], *, ppid: int, hostname: str, run_as: str
    ) -> None:
        if not started:
            return
        rows = [
            {"execution_id": e, "pid": pid, "ppid": ppid, "hostname": hostname, "run_as": run_as}
            for e, pid in sorted(started)  # executions are locked in id order everywhere
        ]
        with self._tx() as tx:
            self._commit_async(tx)
            tx.many("execution_started", rows)
