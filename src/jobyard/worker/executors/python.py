"""The child side of the prefork pool: run one Python job after another.

A pool child (forked by :mod:`jobyard.worker.pool`) waits for an
:class:`~jobyard.worker.protocol.Assignment`, runs the job's function (``async def`` through
:func:`asyncio.run`), and answers with :class:`~jobyard.worker.protocol.Done`. Around each job it
writes begin and end markers on both output pipes so the supervisor can tell which execution wrote
each line (:class:`~jobyard.worker.capture.ChildStream`).
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import inspect
import json
import logging
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from jobyard.app import App
from jobyard.core.errors import JobCancelled, NonRetryable
from jobyard.core.models import JSON
from jobyard.worker.capture import marker
from jobyard.worker.context import Channel, ChannelHandler, ChannelStream, JobContext, JobInfo
from jobyard.worker.protocol import Assignment, Done, Report

JOB_LOGGER = "jobyard.job"  # ctx.log is "jobyard.job.<type>"; records stop at this logger


def child_main(app: App, channel: Channel, *, token: str, out_fd: int, err_fd: int) -> NoReturn:
    """Serve jobs until the supervisor says stop (None) or goes away. Never returns."""
    # The graceful signal raises JobCancelled in job code. SIGINT (Ctrl-C) is the worker's to
    # handle: the child is in its own process group, and ignores it should one reach it anyway.
    signal.signal(signal.SIGTERM, channel.on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # job code's subprocesses are its own to reap
    signal.set_wakeup_fd(-1)  # whatever the worker woke on is not ours
    sys.stdout = ChannelStream(channel, "stdout", 1)
    sys.stderr = ChannelStream(channel, "stderr", 2)
    runner = Runner(app, channel, token=token, out_fd=out_fd, err_fd=err_fd)
    while True:
        try:
            message = channel.receive()
        except (EOFError, OSError):
            os._exit(0)
        if message is None:
            os._exit(0)
        if isinstance(message, Assignment):
            runner.run(message)
        # anything else is a reply to a reserve the last job gave up waiting for: skipped


class Runner:
    def __init__(self, app: App, channel: Channel, *, token: str, out_fd: int, err_fd: int) -> None:
        self._app = app
        self._channel = channel
        self._token = token
        self._out_fd = out_fd  # private copies of the output pipes: job code may close fd 1 or 2
        self._err_fd = err_fd
        self._wants_ctx: dict[str, bool] = {}
        self._libc = _libc()
        logger = logging.getLogger(JOB_LOGGER)
        logger.handlers[:] = [ChannelHandler(channel)]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # else root handlers would print each record to stderr again

    def run(self, assignment: Assignment) -> None:
        os.dup2(self._out_fd, 1)  # undo whatever the last job did to its fds 1 and 2
        os.dup2(self._err_fd, 2)
        self._mark("begin", assignment.execution_id)
        channel = self._channel
        channel.assignment = assignment
        channel.cancelled = False
        reset_peak_rss()
        info = JobInfo(
            assignment.job_id,
            assignment.execution_id,
            assignment.type,
            assignment.args,
            assignment.attempt,
            assignment.max_tries,
            assignment.timeout,
        )
        ctx = JobContext(info, channel, logging.getLogger(f"{JOB_LOGGER}.{assignment.type}"))
        try:
            function = self._app.function(assignment.type)
            channel.in_job = True
            result = invoke(function, ctx, assignment.args, self._wants(assignment.type, function))
            channel.in_job = False
            report = _result_report(result)
        except JobCancelled as exc:
            report = _error_report(exc, cancelled=True)
        except BaseException as exc:
            report = _error_report(exc)
        finally:
            channel.in_job = False
        self._finish(assignment, report)

    def _finish(self, assignment: Assignment, report: Report) -> None:
        for name, fd in (("stdout", 1), ("stderr", 2)):
            stream = getattr(sys, name)
            if isinstance(stream, ChannelStream):
                stream.flush_partial()
            else:  # job code replaced it: put ours back for the next job
                setattr(sys, name, ChannelStream(self._channel, name, fd))
        if self._libc is not None:
            self._libc.fflush(None)  # C stdio buffers (printf from extensions) reach the pipe now
        self._channel.assignment = None
        self._mark("end", assignment.execution_id)
        report = dataclasses.replace(report, peak_rss=peak_rss("self"), reusable=_clean())
        self._channel.send(Done(assignment.execution_id, report))

    def _mark(self, what: str, execution_id: int) -> None:
        line = marker(self._token, what, execution_id)
        for fd in (self._out_fd, self._err_fd):
            os.write(fd, line)

    def _wants(self, name: str, function: Callable[..., Any]) -> bool:
        if name not in self._wants_ctx:
            self._wants_ctx[name] = wants_ctx(function)
        return self._wants_ctx[name]


def wants_ctx(function: Callable[..., Any]) -> bool:
    """True when the function's first parameter is named ``ctx``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return next(iter(parameters), None) == "ctx"


def invoke(function: Callable[..., Any], ctx: JobContext, args: JSON, with_ctx: bool) -> Any:
    """Call a job function: object args as keywords, list args as positions, else one argument."""
    positional: list[Any]
    keywords: dict[str, Any] = {}
    if isinstance(args, dict):
        positional, keywords = [], args
    elif isinstance(args, list):
        positional = list(args)
    elif args is None:
        positional = []
    else:
        positional = [args]
    if with_ctx:
        positional.insert(0, ctx)
    result = function(*positional, **keywords)
    if inspect.iscoroutine(result):
        return asyncio.run(result)
    if inspect.isawaitable(result):
        return asyncio.run(_wait(result))
    return result


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def _result_report(result: Any) -> Report:
    try:
        text = json.dumps(result, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        return Report(
            ok=False,
            error_type="TypeError",
            error_message=f"the job's result must be JSON: {exc}",
            retryable=False,
        )
    return Report(ok=True, result_json=text)


def _error_report(exc: BaseException, *, cancelled: bool = False) -> Report:
    cls = type(exc)
    module = cls.__module__
    name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = f"<{name}: str() failed>"
    try:
        trace = "".join(traceback.format_exception(exc))
    except Exception:
        trace = None
    return Report(
        ok=False,
        error_type=name,
        error_message=message,
        traceback=trace,
        retryable=not isinstance(exc, NonRetryable),
        cancelled=cancelled,
    )


def _clean() -> bool:
    """No thread or child process of the last job lives on to write into the next one's log.

    Python threads only: C libraries' worker threads (BLAS pools) do not print.
    """
    if threading.active_count() > 1:
        return False
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return not f.read().strip()
    except OSError:
        return True


def reset_peak_rss() -> None:
    """Start this process's peak RSS (VmHWM) afresh, so it measures the job about to run."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss(pid: int | str) -> int | None:
    """Peak resident memory of a process in bytes (VmHWM), or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if pid == "self":
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return None


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when the thread that forked it ends (Linux)."""
    libc = _libc()
    prctl = getattr(libc, "prctl", None)
    if prctl is not None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
