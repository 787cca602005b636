"""Demo job types: a sleeper that reports progress, a job that always fails, command jobs."""

from __future__ import annotations

import sys
import time
from typing import Any

from jobyard.app import App

app = App("demo")


@app.job(name="demo.sleep", description="Sleeps, logging a line and reporting progress each second")
def sleep(ctx: Any, sleep: float = 3.0) -> dict[str, float]:
    started = time.monotonic()
    steps = max(1, int(sleep))
    for step in range(steps):
        ctx.log.info("step %d of %d", step + 1, steps)
        ctx.progress(100.0 * step / steps, f"slept {step} of {steps} s")
        time.sleep(sleep / steps)
    ctx.progress(100.0, "done")
    return {"slept": round(time.monotonic() - started, 3)}


@app.job(
    name="demo.fail",
    max_tries=3,
    backoff={"base": 2.0, "factor": 2.0, "jitter": 0.1},
    description="Always raises; 3 tries with a few seconds of backoff, then failed",
)
def fail(ctx: Any, message: str = "this job always fails") -> None:
    print(f"attempt {ctx.job.attempt}: about to fail")
    raise RuntimeError(message)


app.command(
    "demo.echo",
    ["echo", "${message}"],
    description="A command job: echo its message (an argv list, never a shell)",
)

app.command(
    "demo.count",
    [
        sys.executable,
        "-c",
        "import sys, time\n"
        "for i in range(int(sys.argv[1])):\n"
        "    print('count', i + 1, flush=True)\n"
        "    time.sleep(0.5)\n",
        "${n}",
    ],
    timeout=60,
    description="A command job that counts to n, one line every half second",
)
