"""Retention: finished jobs leave the history table once they are older than its retention.

Without it the history table, the process table and the event log grow for ever (the bloat
Oban's and Sidekiq's users meet first). A job goes with everything that is only about it: its
executions, its events and log lines, its recipe edges. A recipe's jobs go together, and only
once every job of the recipe has finished and is past retention, so a recipe is never shown
half pruned; the recipe row goes with its last job.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jobyard.core.errors import Invalid
from jobyard.store.tx import Tx


class RetentionProtocol(Protocol):
    def job_history_prune(self, *, older_than: float, limit: int = 500) -> int:
        """Delete up to ``limit`` finished jobs that finished more than ``older_than`` seconds
        ago, oldest first, with their executions, events and recipe edges; how many jobs."""
        ...


class RetentionStore:
    """Mixed into SqlStore; relies on its ``_tx``, ``_list`` and ``now``."""

    _tx: Callable[..., AbstractContextManager[Tx]]
    _list: Callable[[list[int]], Any]
    now: Callable[[], float]

    def job_history_prune(self, *, older_than: float, limit: int = 500) -> int:
        if not older_than > 0:
            raise Invalid("older_than must be a positive number of seconds", field="older_than")
        if not limit > 0:
            raise Invalid("limit must be a positive number", field="limit")
        with self._tx() as tx:
            picked = tx.rows("history_prune_pick", before=self.now() - older_than, limit=limit)
            if not picked:
                return 0
            ids = self._list(sorted({r["id"] for r in picked}))
            recipes = self._list(sorted({r["recipe_id"] for r in picked if r["recipe_id"]}))
            for statement in (
                "history_prune_events",
                "history_prune_executions",
                "history_prune_dependencies",
                "history_prune_recipe_jobs",
            ):
                tx.run(statement, ids=ids)
            tx.run("history_prune_empty_recipes", recipes=recipes)
            return tx.run("history_prune_jobs", ids=ids)
