"""Job types under limits, for the worker tests of store/limits.py (importable as
``limited:app``)."""

from __future__ import annotations

import time

from jobyard.app import App

app = App("limited")


@app.job(name="limited.nap", concurrency=2)
def nap(seconds: float = 0.1) -> float:
    """At most two run at once, however many workers there are."""
    time.sleep(seconds)
    return seconds


@app.job(name="limited.big", cpus=2, mem=64)
def big() -> str:
    """Needs two cpus of its worker."""
    return "big"


@app.job(name="limited.small", cpus=1)
def small(seconds: float = 0.0) -> list[float]:
    """Needs one cpu; returns when it ran, [start, end], by the wall clock."""
    start = time.time()
    time.sleep(seconds)
    return [start, time.time()]
