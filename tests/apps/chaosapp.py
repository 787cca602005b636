"""Job types of the fault-injection suite (tests/chaos), importable as ``chaosapp:app``.

Every attempt appends ``<job id> <attempt> <pid> <epoch start>`` to the file named by the env
var JOBYARD_CHAOS_STARTS (one short O_APPEND write, atomic between processes): the real moment
each attempt's process began, which the checker compares with the database's record of the
attempt before it."""

from __future__ import annotations

import os
import signal
import sys
import time

from jobyard.app import App
from jobyard.worker import JobContext

app = App("chaosapp")


def _started(ctx: JobContext) -> None:
    path = os.environ.get("JOBYARD_CHAOS_STARTS")
    if path:
        line = f"{ctx.job.id} {ctx.job.attempt} {os.getpid()} {time.time():.6f}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


# many tries and a short backoff: a fault costs an attempt, never the job
@app.job(name="chaos.work", max_tries=100, backoff=0.2)
def work(ctx: JobContext, n: int, ms: float = 5) -> int:
    _started(ctx)
    time.sleep(ms / 1000)
    return n + 1


@app.job(name="chaos.flood", max_tries=1, timeout=600)
def flood(ctx: JobContext, megabytes: int) -> int:
    """Writes ``megabytes`` MB of log lines to stdout as fast as it can."""
    line = b"x" * 1023 + b"\n"
    chunk = line * 1024  # 1 MiB
    for _ in range(megabytes):
        os.write(1, chunk)
    return megabytes


@app.job(name="chaos.garbage", max_tries=1)
def garbage(ctx: JobContext, size: int = 65536) -> int:
    """Prints random bytes: invalid UTF-8, NULs, escapes, lines of any length."""
    data = os.urandom(size)
    os.write(1, data)
    sys.stderr.buffer.write(data[::-1] + b"\x00\r\x1b[2J")
    sys.stderr.flush()
    return size


@app.job(name="chaos.deaf", max_tries=1)
def deaf(ctx: JobContext, pidfile: str) -> None:
    """Ignores SIGTERM (and SIGINT) for good: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(0.05)


# the test writes the script: grandchildren in their own sessions that ignore SIGTERM and SIGHUP
app.command("chaos.forker", ["sh", "-c", "${script}"], max_tries=1)
