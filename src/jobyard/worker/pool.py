"""The prefork pool: Python children forked from the worker and reused from job to job.

Each child has a control channel (a socket pair of pickled messages), its own stdout and stderr
pipes, and its own process group, so one ``killpg`` ends the child and everything it started.
A child that was killed, died or may be in a bad state (after a kill or a timeout, or a job that
left threads behind) is *retired*: its process group is killed and, once reaped, a freshly forked
child takes its place. The :class:`Pool` registers each child's descriptors in the supervisor's
selector, the key's data being the supervisor's handler to call when it is ready.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import selectors
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection

from jobyard.app import App
from jobyard.worker.capture import ChildStream
from jobyard.worker.context import Channel
from jobyard.worker.executors.python import child_main, die_with_parent
from jobyard.worker.processes import kill_group, open_pidfd, reap
from jobyard.worker.protocol import Assignment
from jobyard.worker.warden import Warden

log = logging.getLogger("jobyard.worker")


@dataclass(eq=False)
class PoolChild:
    """The supervisor's handle on one pool child."""

    pid: int  # also its process group id
    conn: Connection  # the supervisor's end of the control channel
    pidfd: int | None  # readable once the child exits (Linux); None: poll with waitpid
    streams: dict[int, ChildStream] = field(default_factory=dict)  # stdout, stderr: by read fd,
    # each removed (and closed) at its end of file
    execution_id: int | None = None  # the job it runs now
    retired: bool = False  # no more jobs: killed, or waiting to be
    exited: bool = False  # reaped
    status: int | None = None  # its wait status once reaped

    def fds(self) -> list[int]:
        """Its descriptors still open in the supervisor."""
        fds = [self.conn.fileno(), *self.streams]
        return fds if self.pidfd is None else [*fds, self.pidfd]

    def close(self) -> None:
        for fd in self.streams:
            os.close(fd)
        self.streams.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.conn.close()


class Pool:
    """The pool children of one supervisor; only the supervisor thread calls it."""

    def __init__(
        self,
        app: App,
        *,
        size: int,
        selector: selectors.BaseSelector,
        warden: Warden | None,
        inherited: Callable[[], list[int]],
        on_message: Callable[[PoolChild], None],
        on_output: Callable[[PoolChild, int], None],
        on_exit: Callable[[PoolChild], None],
    ) -> None:
        self._app = app
        self._on_message = on_message  # its control channel is readable
        self._on_output = on_output  # one of its output pipes is readable
        self._on_exit = on_exit  # its pidfd is readable: it exited
        self.size = size  # children kept forked (0 when the app has no Python types)
        self._selector = selector
        self._warden = warden
        self._inherited = inherited  # the supervisor's other descriptors, closed in children
        self.children: list[PoolChild] = []

    def fill(self) -> None:
        """Fork until ``size`` children are alive (a failed fork waits for the next job)."""
        try:
            while sum(not c.retired for c in self.children) < self.size:
                self._spawn()
        except OSError as exc:
            log.error("cannot fork a pool child: %s", exc)

    def assign(self, assignment: Assignment) -> PoolChild:
        """Hand a job to an idle child (forking one if none is idle). OSError if none will do."""
        for _ in range(3):
            idle = [c for c in self.children if c.execution_id is None and not c.retired]
            child = idle[0] if idle else self._spawn()
            try:
                child.conn.send(assignment)
            except OSError:  # it died since its last job; its exit is handled as usual
                self.retire(child)
                continue
            child.execution_id = assignment.execution_id
            return child
        raise OSError("pool children die as soon as they start")

    def retire(self, child: PoolChild) -> None:
        """No more jobs for this child: kill its group now (it is idle, or its job is over)."""
        child.retired = True
        if not child.exited:
            kill_group(child.pid, signal.SIGKILL)

    def forget(self, child: PoolChild) -> None:
        """A reaped child with no job: close its descriptors, and fork a replacement."""
        for fd in child.fds():
            _unregister(self._selector, fd)
        child.close()
        self.children.remove(child)
        if self._warden is not None:
            self._warden.forget(child.pid)
        self.fill()

    def fds(self) -> list[int]:
        return [fd for child in self.children for fd in child.fds()]

    def kill_all(self) -> None:
        """SIGKILL every child's group, reap them, close their descriptors."""
        for child in self.children:
            kill_group(child.pid, signal.SIGKILL)
            if not child.exited:
                reap(child.pid, block=True)
            child.close()
        self.children.clear()

    def _spawn(self) -> PoolChild:
        child = fork_child(self._app, inherited=[*self._inherited(), *self.fds()])
        self.children.append(child)
        if self._warden is not None:
            self._warden.watch(child.pid)
        read = selectors.EVENT_READ
        self._selector.register(child.conn.fileno(), read, partial(self._on_message, child))
        for fd in child.streams:
            self._selector.register(fd, read, partial(self._on_output, child, fd))
        if child.pidfd is not None:
            self._selector.register(child.pidfd, read, partial(self._on_exit, child))
        return child


def _unregister(selector: selectors.BaseSelector, fd: int) -> None:
    try:
        selector.unregister(fd)
    except (KeyError, ValueError):
        pass


def fork_child(app: App, *, inherited: Sequence[int]) -> PoolChild:
    """Fork a pool child that serves jobs of ``app``.

    Called only from the supervisor thread. Forking while the store loop thread holds a lock is
    safe for what the child does: it never touches the store, and logging re-creates its locks
    after a fork. ``inherited`` names the worker's own descriptors (other children's pipes, wake-up
    pipes, the warden's pipe): the child closes them so that it holds nothing of theirs open.
    """
    parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    token = secrets.token_hex(8)
    parent_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.setpgid(0, 0)
            die_with_parent(parent_pid)
            parent_conn.close()
            for fd in (out_r, err_r, *inherited):
                _close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            channel = Channel(child_conn)
            child_main(app, channel, token=token, out_fd=out_w, err_fd=err_w)
        except BaseException:
            try:
                os.write(2, traceback.format_exc().encode("utf-8", "replace"))
            finally:
                os._exit(70)
    # Both parent and child call setpgid: whichever runs first makes the group, so the
    # supervisor may signal the group at once (the usual shell idiom against that race).
    try:
        os.setpgid(pid, pid)
    except (PermissionError, ProcessLookupError):
        pass  # the child already did it, or is already gone (its exit is seen as usual)
    child_conn.close()
    os.close(out_w)
    os.close(err_w)
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    child = PoolChild(pid, parent_conn, open_pidfd(pid))
    child.streams = {out_r: ChildStream("stdout", token), err_r: ChildStream("stderr", token)}
    log.debug("pool child %d started", pid)
    return child


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
