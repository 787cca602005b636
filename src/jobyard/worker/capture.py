"""Output capture: bytes to lines, lines to the right execution, lines to the store in batches.

Three pieces, used by the supervisor thread (the first two) and the store loop (the third):

- :class:`LineSplitter` cuts a pipe's bytes into lines; a partial line waits for its newline or
  the end of the stream. A line longer than ``MAX_LINE`` bytes keeps its start and its last
  ``TAIL`` bytes around a note of how much was cut, ``MAX_LINE`` in all: a job printing a
  gigabyte without a newline costs the worker and the log that much, not a gigabyte.
- :class:`ChildStream` is one output pipe of a reused pool child. The child writes a *begin* and
  an *end* marker line around every job (``\\0jobyard:<token>:begin:<execution id>``), so each line
  belongs to exactly the execution between its markers; anything outside (a thread the last job
  left behind) is *stray* and goes to the worker's own log.
- :class:`LogBatch` keeps log lines and progress updates in the order they happened and writes
  them with one ``job_log_append`` per run of lines, at most every ``max_age`` seconds or
  ``max_lines`` lines.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque

from jobyard.core.errors import (
    InvalidTransition,
    JobyardError,
    LeaseLost,
    NotFound,
    StoreUnavailable,
)
from jobyard.core.models import LOG_TAIL, MAX_LOG_LINE, LogLine
from jobyard.store.base import Store
from jobyard.worker.protocol import Progress

log = logging.getLogger("jobyard.worker")


def transient(exc: BaseException) -> bool:
    """A store error worth retrying: the database is unreachable (or an untranslated driver error).

    Any other JobyardError (Invalid, NotFound, ...) would only repeat.
    """
    return isinstance(exc, StoreUnavailable | OSError) or not isinstance(exc, JobyardError)


def decode(line: bytes) -> str:
    """Text of a captured line: UTF-8, undecodable bytes replaced, a trailing CR dropped."""
    if line.endswith(b"\r"):
        line = line[:-1]
    return line.decode("utf-8", errors="replace")


def read_available(fd: int) -> bytes | None:
    """What a non-blocking pipe has now: b"" at end of file, None for nothing (spurious wake)."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


MAX_LINE = MAX_LOG_LINE  # bytes of a captured line, cut included
TAIL = LOG_TAIL  # bytes kept from the end of a cut line (a pool child's end marker is among them)
_NOTE = 40  # room for the " [... N bytes cut ...] " note
FLUSH_LINES = 5000  # log lines one flush writes at most (one transaction of a few MB)


class LineSplitter:
    def __init__(self, limit: int = MAX_LINE) -> None:
        self._partial = bytearray()
        self._limit = limit
        self._head = max(1, limit - TAIL - _NOTE)  # bytes kept from the start of a cut line
        self._cut = 0  # bytes of the current line past the limit
        self._tail = b""  # the last TAIL of them

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines ``data`` finishes, without their newlines."""
        if b"\n" not in data:
            self._keep(data)
            return []
        *lines, rest = data.split(b"\n")
        first = 0
        if self._partial or self._cut:
            self._keep(lines[0])
            lines[0] = self._take()
            first = 1  # already cut if it had to be
        whole = lines[first:] if first else lines
        if whole and max(map(len, whole)) > self._limit:
            whole = [line if len(line) <= self._limit else self._whole(line) for line in whole]
            lines = lines[:first] + whole
        self._keep(rest)
        return lines

    def tail(self) -> bytes | None:
        """At the end of the stream: the last line if it had no newline."""
        if not self._partial and not self._cut:
            return None
        return self._take()

    def _keep(self, data: bytes) -> None:
        if not self._cut:
            if len(self._partial) + len(data) <= self._limit:
                self._partial += data
                return
            # past the limit: keep the head, count the rest (its last TAIL bytes kept too)
            data = bytes(self._partial) + data
            self._partial[:] = data[: self._head]
            data = data[self._head :]
        self._cut += len(data)
        self._tail = (self._tail + data[-TAIL:])[-TAIL:]

    def _take(self) -> bytes:
        line = bytes(self._partial)
        if self._cut:
            dropped = self._cut - len(self._tail)
            if dropped:
                line += b" [... %d bytes cut ...] " % dropped
            line += self._tail
        self._partial.clear()
        self._cut, self._tail = 0, b""
        return line

    def _whole(self, line: bytes) -> bytes:
        """A complete line of more than the limit, cut."""
        self._keep(line)
        return self._take()


def marker(token: str, what: str, execution_id: int) -> bytes:
    """The line a pool child writes on fd 1 and fd 2 when a job begins or ends."""
    return f"\0jobyard:{token}:{what}:{execution_id}\n".encode()


class ChildStream:
    """stdout or stderr of a pool child, attributed to executions by their markers."""

    def __init__(self, name: str, token: str) -> None:
        self.name = name  # "stdout" or "stderr"
        self._splitter = LineSplitter()
        self._marker = re.compile(
            rb"\0jobyard:" + re.escape(token.encode()) + rb":(begin|end):(\d+)$"
        )
        self.current: int | None = None  # the execution whose lines arrive now
        self.ended: set[int] = set()  # executions whose end marker has arrived

    def feed(self, data: bytes) -> list[tuple[int | None, bytes]]:
        """``(execution id or None for stray, line)`` for every complete line in ``data``."""
        out: list[tuple[int | None, bytes]] = []
        for line in self._splitter.feed(data):
            self._line(line, out)
        return out

    def close(self) -> list[tuple[int | None, bytes]]:
        """End of stream: the partial last line, and the current execution's stream is over."""
        out: list[tuple[int | None, bytes]] = []
        tail = self._splitter.tail()
        if tail is not None:
            self._line(tail, out)
        if self.current is not None:
            self.ended.add(self.current)
        return out

    def _line(self, line: bytes, out: list[tuple[int | None, bytes]]) -> None:
        found = self._marker.search(line) if b"\0jobyard:" in line else None
        if found is None:
            out.append((self.current, line))
            return
        if found.start():  # the job's last line had no newline: the marker ends it
            out.append((self.current, line[: found.start()]))
        execution_id = int(found.group(2))
        if found.group(1) == b"begin":
            self.current = execution_id
        else:
            self.ended.add(execution_id)
            self.current = None


class LogBatch:
    """Log lines and progress updates of this worker's executions, waiting to be written."""

    def __init__(self, *, max_lines: int = 500, max_age: float = 0.1, cap: int = 200_000) -> None:
        self.max_lines = max_lines
        self.max_age = max_age
        self.cap = cap  # beyond this many waiting items (store down for long) the oldest go
        self._items: deque[LogLine | Progress] = deque()
        self._since: float | None = None  # when the oldest waiting item arrived
        self.dropped = 0
        self.more = False  # the last flush stopped at FLUSH_LINES with lines still waiting

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: LogLine | Progress, now: float) -> None:
        last = self._items[-1] if self._items else None
        if (
            isinstance(item, Progress)
            and isinstance(last, Progress)
            and last.execution_id == item.execution_id
        ):
            self._items[-1] = item  # only the latest of back-to-back updates matters
            return
        self._items.append(item)
        if self._since is None:
            self._since = now
        if len(self._items) > self.cap:
            self._items.popleft()
            self.dropped += 1
            if self.dropped in (1, 1000) or self.dropped % 100_000 == 0:
                log.warning("log backlog over %d items: %d oldest dropped", self.cap, self.dropped)

    def due_at(self) -> float | None:
        """When the batch should be written (monotonic seconds); None when empty."""
        if self._since is None:
            return None
        return self._since if len(self._items) >= self.max_lines else self._since + self.max_age

    def flush(self, store: Store, now: float) -> None:
        """Write what is waiting, in order, up to ``FLUSH_LINES`` log lines; ``more`` tells
        whether some were left for the next call. A flood is written over several rounds of
        the worker loop, which heartbeats between them: one transaction of everything waiting
        could outlast the lease (tests/chaos/test_hostile_jobs.py). A store error leaves the
        unwritten part waiting."""
        written = 0
        while self._items and written < FLUSH_LINES:
            head = self._items[0]
            if isinstance(head, Progress):
                try:
                    store.job_progress(head.execution_id, head.percent, head.desc)
                except (LeaseLost, InvalidTransition, NotFound) as exc:
                    log.debug("progress of execution %d dropped: %s", head.execution_id, exc)
                self._items.popleft()
                continue
            lines: list[LogLine] = []
            for item in self._items:
                if not isinstance(item, LogLine) or written + len(lines) >= FLUSH_LINES:
                    break
                lines.append(item)
            try:
                store.job_log_append(lines)
            except Exception as exc:
                if transient(exc):
                    raise
                log.error("%d log lines dropped: the store refuses them: %s", len(lines), exc)
            for _ in lines:
                self._items.popleft()
            written += len(lines)
        self.more = bool(self._items) and written >= FLUSH_LINES
        self._since = None if not self._items else now
