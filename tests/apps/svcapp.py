"""Services the service tests run (``svcapp:app``): three that depend on each other, a
single-instance one, and a long job for the Connect dialect.

Each service records its pid as a file ``<name>.<pid>`` in $SVC_DIR (the test's folder, from the
server's environment), prints a line, then runs until it is stopped: ``svc.a`` is a Python
service (a pool child of the worker), the others are commands.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from jobyard.app import App

app = App("svcapp")

SERVE = (
    "import os, pathlib, sys, time\n"
    "name = sys.argv[1]\n"
    "folder = os.environ.get('SVC_DIR')\n"
    "if folder:\n"
    "    pathlib.Path(folder, f'{name}.{os.getpid()}').touch()\n"
    "print(f'{name} up as {os.getpid()}', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
FAST = {"base": 0.2, "factor": 2.0, "max": 2.0, "jitter": 0.0}


@app.service(name="svc.a", autostart=False, ready=0.3, backoff=FAST)
def serve_a(ctx: Any) -> None:
    """svc.a: runs until stopped, in the worker's pool."""
    folder = os.environ.get("SVC_DIR")
    if folder:
        Path(folder, f"svc.a.{os.getpid()}").touch()
    print(f"svc.a up as {os.getpid()}", flush=True)
    while not ctx.cancelled:
        time.sleep(0.05)


for name, deps in (("svc.b", ("svc.a",)), ("svc.c", ("svc.b",))):
    app.command_service(
        name,
        [sys.executable, "-c", SERVE, name],
        depends_on=deps,
        autostart=False,
        ready=0.3,
        backoff=FAST,
        description=f"{name}: sleeps until killed",
    )

app.command_service(
    "svc.solo",
    [sys.executable, "-c", SERVE, "svc.solo"],
    autostart=False,
    ready=0.2,
    backoff=FAST,
    description="one copy, cluster-wide",
)


@app.job(name="svc.sleep", tags=["build_report"])
def sleep(ctx: Any, seconds: float = 60.0) -> str:
    """Prints a line, then sleeps (the Connect dialect's job to look at and kill)."""
    print("sleeping", flush=True)
    ctx.log.info("for %s s", seconds)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "slept"
