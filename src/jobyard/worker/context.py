"""What job code sees: the job context, and the pool child's end of its control channel.

Everything here runs inside a pool child. Job code never touches the database: ``ctx.progress``,
``ctx.log``, ``ctx.reserve`` and Python-level ``print`` to ``sys.stdout``/``sys.stderr`` become
messages on one channel to the supervisor, so they keep the order the job made them in. Output
written straight to fd 1 and fd 2 (C code, subprocesses) goes through the output pipes instead and
is attributed by markers (:mod:`jobyard.worker.capture`).

A kill is the graceful signal (SIGTERM): :meth:`Channel.on_sigterm` sets ``ctx.cancelled`` and
raises :class:`~jobyard.core.errors.JobCancelled` in the job's main thread, but never in the middle
of a message, which would tear the channel: then it waits until the message is out.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import FrameType

from jobyard.core.errors import Invalid, JobCancelled, JobyardError, LeaseLost, StoreUnavailable
from jobyard.core.models import JSON, LogLine
from jobyard.worker.protocol import Assignment, Progress, Reply, ReserveRequest

_ERRORS: dict[str, type[JobyardError]] = {
    LeaseLost.code: LeaseLost,
    StoreUnavailable.code: StoreUnavailable,
}


@dataclass(frozen=True, slots=True)
class JobInfo:
    """``ctx.job``: the job and this attempt at it."""

    id: int
    execution_id: int
    type: str
    args: JSON
    attempt: int  # 1 for the first try
    max_tries: int
    timeout: float | None  # seconds this attempt may run

    @property
    def tries(self) -> int:
        return self.attempt


class Channel:
    """The child's end of its control connection; sends are safe from any thread."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._main_busy = False  # the main thread is inside a send or receive
        self._cancel_pending = False  # SIGTERM came while the main thread was busy
        self._requests = 0
        self.assignment: Assignment | None = None  # the job running now
        self.in_job = False  # job code runs: a SIGTERM raises JobCancelled
        self.cancelled = False

    def send(self, message: object) -> None:
        main = threading.current_thread() is threading.main_thread()
        with self._lock:
            self._main_busy = main
            try:
                self._conn.send(message)
            finally:
                self._main_busy = False
        if main:
            self._deliver_cancel()

    def request(self, execution_id: int, seconds: float) -> Reply:
        """Send a reserve request and wait for its reply (other replies are stale: skipped)."""
        main = threading.current_thread() is threading.main_thread()
        with self._lock:
            self._main_busy = main
            try:
                self._requests += 1
                self._conn.send(ReserveRequest(execution_id, self._requests, seconds))
                while True:
                    reply = self._conn.recv()
                    if isinstance(reply, Reply) and reply.request_id == self._requests:
                        break
            finally:
                self._main_busy = False
        if main:
            self._deliver_cancel()
        return reply

    def receive(self) -> object:
        """The next message from the supervisor (between jobs, in the main thread)."""
        return self._conn.recv()

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # The graceful signal: runs in the main thread between bytecodes. Raise only inside job
        # code, once, and never while the main thread is half-way through a message.
        self.cancelled = True
        if not self.in_job:
            return
        if self._main_busy:
            self._cancel_pending = True
            return
        self.in_job = False
        raise JobCancelled("the job was stopped")

    def _deliver_cancel(self) -> None:
        if self._cancel_pending and self.in_job:
            self._cancel_pending = False
            self.in_job = False
            raise JobCancelled("the job was stopped")


class ChannelStream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of a pool child: each complete line is one message."""

    def __init__(self, channel: Channel, name: str, fd: int) -> None:
        super().__init__()
        self._channel = channel
        self._name = name  # "stdout" or "stderr"
        self._fd = fd
        self._partial = ""
        self._lock = threading.Lock()
        self.buffer = open(fd, "wb", buffering=0, closefd=False)  # bytes go to the pipe itself

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        with self._lock:
            text = self._partial + s
            if "\n" not in text:
                self._partial = text
                return len(s)
            *lines, self._partial = text.split("\n")
        for line in lines:
            self._emit(line)
        return len(s)

    def flush_partial(self) -> None:
        """End of a job: its last line without a newline is a line too."""
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self._emit(line)

    def _emit(self, text: str) -> None:
        assignment = self._channel.assignment
        if assignment is None:  # a thread the last job left behind: stray, via the pipe
            os.write(self._fd, text.encode("utf-8", "replace") + b"\n")
            return
        self._channel.send(
            LogLine(assignment.job_id, assignment.execution_id, time.time(), self._name, text)
        )


class ChannelHandler(logging.Handler):
    """The handler behind ``ctx.log``: each record is one log line with its level."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.DEBUG)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        assignment = self._channel.assignment
        if assignment is None:
            os.write(2, f"{record.levelname} {text}\n".encode("utf-8", "replace"))
            return
        self._channel.send(
            LogLine(
                assignment.job_id,
                assignment.execution_id,
                record.created,
                "log",
                text,
                record.levelname,
            )
        )


class JobContext:
    """The first argument of a job function whose first parameter is named ``ctx``."""

    def __init__(self, job: JobInfo, channel: Channel, log: logging.Logger) -> None:
        self.job = job
        self.log = log  # its records go to the job log with their level
        self._channel = channel

    def __repr__(self) -> str:
        return f"<JobContext job={self.job.id} execution={self.job.execution_id}>"

    @property
    def cancelled(self) -> bool:
        """True once the job was asked to stop (a kill, its timeout, the worker shutting down)."""
        return self._channel.cancelled

    def progress(self, percent: float | None, desc: str | None = None) -> None:
        """Record progress: ``percent`` from 0 to 100 (None keeps it unknown), and a description."""
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, int | float):
                raise Invalid("progress percent must be a number from 0 to 100", field="percent")
            if not math.isfinite(percent) or not 0 <= percent <= 100:
                raise Invalid("progress percent must be a number from 0 to 100", field="percent")
        if desc is not None and not isinstance(desc, str):
            raise Invalid("progress desc must be a string", field="desc")
        self._channel.send(
            Progress(self.job.execution_id, None if percent is None else float(percent), desc)
        )

    def reserve(self, seconds: float) -> float:
        """Extend the lease to at least now + ``seconds``; returns its new expiry (epoch seconds).

        Raises :class:`~jobyard.core.errors.LeaseLost` when this attempt no longer holds the job.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise Invalid("reserve takes a positive number of seconds", field="seconds")
        reply = self._channel.request(self.job.execution_id, float(seconds))
        if reply.error_code is not None or reply.value is None:
            error = _ERRORS.get(reply.error_code or "", JobyardError)
            raise error(reply.error_message)
        return reply.value
