"""Job types the worker tests run (importable as ``sample:app``; tests/conftest.py puts this
folder on sys.path, and worker subprocesses get it through PYTHONPATH)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jobyard.app import App
from jobyard.core.errors import JobCancelled, NonRetryable
from jobyard.worker import JobContext

app = App("sample")


@app.job(name="sample.add")
def add(a: int, b: int) -> int:
    return a + b


@app.job(name="sample.chatty")
def chatty(ctx: JobContext, lines: int = 3) -> dict[str, Any]:
    """Writes through every channel, in a known order."""
    print("out 1")
    ctx.log.info("log 2")
    print("err 3", file=sys.stderr)
    ctx.progress(50, "half")
    ctx.log.warning("log 4")
    print("out 5", end="")  # no newline: still its own line at the end of the job
    return {"id": ctx.job.id, "attempt": ctx.job.attempt, "pid": os.getpid()}


@app.job(name="sample.fd_output")
def fd_output(ctx: JobContext) -> None:
    """Output below Python: a raw write to fd 1, C stdio, and a grandchild process."""
    os.write(1, b"raw fd line\n")
    libc = ctypes.CDLL(None)
    libc.printf(b"from printf\n")  # buffered by C stdio; the worker flushes it at the job's end
    os.system("echo from grandchild; echo grandchild err >&2")
    os.write(2, b"bad utf8 \xff\xfe end\n")


@app.job(name="sample.leaky")
def leaky(ctx: JobContext) -> str:
    """Leaves a thread behind that keeps writing after the job ended."""

    def chatter() -> None:
        while True:
            print("leak")
            os.write(1, b"leak fd\n")
            time.sleep(0.005)

    threading.Thread(target=chatter, daemon=True).start()
    time.sleep(0.05)
    return "left a thread"


@app.job(name="sample.positional")
def positional(x: int, y: int) -> list[int]:
    return [y, x]


@app.job(name="sample.async")
async def async_job(ctx: JobContext, delay: float = 0.01) -> str:
    await asyncio.sleep(delay)
    ctx.log.info("async done")
    return "async ok"


@app.job(name="sample.fail", max_tries=2, backoff=0.1)
def fail(ctx: JobContext) -> None:
    raise ValueError(f"attempt {ctx.job.attempt} broke")


@app.job(name="sample.fatal", max_tries=5, backoff=0.1)
def fatal() -> None:
    raise NonRetryable("do not try again")


@app.job(name="sample.not_json")
def not_json() -> object:
    return object()


@app.job(name="sample.spin", max_tries=1)
def spin(ctx: JobContext, pidfile: str) -> None:
    Path(pidfile).write_text(str(os.getpid()))
    while True:
        pass


@app.job(name="sample.stubborn", max_tries=1)
def stubborn(ctx: JobContext, pidfile: str) -> None:
    """Ignores the graceful signal: only SIGKILL ends it."""
    Path(pidfile).write_text(str(os.getpid()))
    while True:
        try:
            while True:
                time.sleep(0.01)
        except JobCancelled:
            print("ignoring the cancel")


@app.job(name="sample.sleep", max_tries=1)
def sleep(ctx: JobContext, seconds: float = 1000, pidfile: str | None = None) -> str:
    if pidfile:
        Path(pidfile).write_text(str(os.getpid()))
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except JobCancelled:
        print(f"cancelled={ctx.cancelled}")
        raise
    return "slept"


@app.job(name="sample.crashy", max_tries=3, backoff=0.1)
def crashy(ctx: JobContext, marker: str, seconds: float = 1000) -> dict[str, Any]:
    """First attempt: sleeps (the test SIGKILLs its worker). Later attempts complete."""
    Path(f"{marker}.{ctx.job.attempt}").write_text(f"{os.getpid()} {time.time()}")
    if ctx.job.attempt == 1:
        time.sleep(seconds)
    return {"attempt": ctx.job.attempt, "pid": os.getpid()}


@app.job(name="sample.reserve")
def reserve(ctx: JobContext, seconds: float = 300) -> float:
    return ctx.reserve(seconds)


@app.job(name="sample.die", max_tries=1)
def die() -> None:
    os._exit(3)


@app.job(name="sample.node")
def node(ctx: JobContext, name: str, **inputs: int) -> dict[str, Any]:
    """A recipe step: ``total`` is 1 + its inputs' totals, so a result shows its parents ran
    first and what they gave it."""
    return {"name": name, "total": 1 + sum(inputs.values()), "job": ctx.job.id}


@app.job(name="sample.gate", max_tries=1)
def gate(ctx: JobContext, closed: str, **inputs: int) -> dict[str, Any]:
    """Fails while the file ``closed`` exists; then passes its inputs' total on."""
    if Path(closed).exists():
        raise NonRetryable(f"{closed} exists")
    return {"total": 1 + sum(inputs.values())}


app.command("sample.echo", ["echo", "${message}", "literal $${x}"])
app.command("sample.sh", ["sh", "-c", "${script}"], max_tries=1)
app.command("sample.cmd_sleep", ["sleep", "${seconds}"], max_tries=1)
app.command("sample.false", ["sh", "-c", "echo before failing; exit 3"], max_tries=1)
