"""Job types for tests/api: jobs a test steers with gate files, so no test has to guess timing.

A gate is a file the test creates; a job waiting at a gate polls for it (and gives up after
``patience`` seconds, so a broken test never leaves a job running for ever).
"""

from __future__ import annotations

import os
import time
from typing import Any

from jobyard.app import App

app = App("apitest")


def _wait_for(path: str, ctx: Any, patience: float) -> None:
    deadline = time.monotonic() + patience
    while not os.path.exists(path):
        if ctx.cancelled or time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} never opened")
        time.sleep(0.02)


@app.job(name="apitest.steps", max_tries=1)
def steps(ctx: Any, n: int = 3, gate: str | None = None, patience: float = 30.0) -> dict[str, int]:
    """Log a line and report progress ``n`` times; step i waits for ``{gate}.{i}`` if gated."""
    for i in range(1, n + 1):
        if gate:
            _wait_for(f"{gate}.{i}", ctx, patience)
        ctx.log.info("step %d of %d", i, n)
        ctx.progress(100.0 * i / n, f"step {i} of {n}")
    return {"steps": n}


@app.job(name="apitest.hold", max_tries=1)
def hold(ctx: Any, gate: str, fail: bool = False, patience: float = 30.0) -> dict[str, int]:
    """Wait for ``{gate}.{attempt}``, reporting nothing, then succeed (or raise when ``fail``)."""
    _wait_for(f"{gate}.{ctx.job.attempt}", ctx, patience)
    if fail:
        raise RuntimeError(f"attempt {ctx.job.attempt} failed on purpose")
    return {"attempt": ctx.job.attempt}


@app.job(name="apitest.quick", max_tries=1)
def quick(ctx: Any, value: int = 0) -> dict[str, int]:
    """Log one line and return at once."""
    ctx.log.info("quick %d", value)
    return {"value": value}
