"""The supervisor thread: every process and pipe of a worker, and nothing of the store.

One thread, one selector over: its wake-up pipe (commands from the store loop), each pool child's
control channel and output pipes, each command's output pipes, and a pidfd per process (readable
when it exits). It starts executions, captures their output line by line, enforces timeouts,
stops executions (SIGTERM to the process group, SIGKILL after the grace period), reaps processes
and reports everything as events (:mod:`jobyard.worker.protocol`) through ``emit``.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial

from jobyard.app import App
from jobyard.core.models import Claim, LogLine, Outcome, TypeDefinition, TypeKind
from jobyard.core.states import ExecutionStatus
from jobyard.worker.capture import decode, read_available
from jobyard.worker.executors.command import CommandError, RunAs, spawn
from jobyard.worker.executors.python import peak_rss
from jobyard.worker.outcomes import Running, outcome_of
from jobyard.worker.pool import Pool, PoolChild
from jobyard.worker.processes import kill_group, open_pidfd, reap
from jobyard.worker.protocol import (
    Assignment,
    Done,
    Ended,
    Progress,
    Reply,
    ReserveRequest,
    Started,
    StopReason,
)
from jobyard.worker.warden import Warden

log = logging.getLogger("jobyard.worker")

DRAIN = 1.0  # seconds to wait for the rest of an execution's output once it has ended
# Seconds between peak-RSS samples (VmHWM) of running executions. Not wait4's ru_maxrss: a
# command inherits the worker's high-water mark through fork and exec, so it would be wrong.
SAMPLE = 0.25
Event = Started | LogLine | Progress | ReserveRequest | Ended


class Supervisor(threading.Thread):
    def __init__(
        self,
        app: App,
        *,
        pool_size: int,
        kill_grace: float,
        emit: Callable[[Event], None],
        warden: Warden | None,
        keep_out: Callable[[], list[int]],
        run_as: RunAs | None = None,
    ) -> None:
        super().__init__(name="jobyard-supervisor", daemon=True)
        self._kill_grace = kill_grace
        self._emit = emit
        self._warden = warden
        self._keep_out = keep_out  # the store loop's descriptors, closed in pool children
        self._run_as = run_as  # the user command jobs run as (None: the worker's own)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._commands: deque[Callable[[], None]] = deque()  # run in this thread, in order
        self._pool = Pool(
            app,
            size=pool_size,
            selector=self._selector,
            warden=warden,
            inherited=self._fds,
            on_message=self._read_channel,
            on_output=self._read_child_output,
            on_exit=partial(self._exited, known=True),
        )
        self._running: dict[int, Running] = {}
        self._closing = False
        self._next_sample = 0.0

    # -- commands, from the store loop's thread ---------------------------------------------

    def start_execution(self, claim: Claim, definition: TypeDefinition) -> None:
        self._command(lambda: self._start(claim, definition))

    def stop_execution(self, execution_id: int, reason: StopReason, *, grace: float | None) -> None:
        """SIGTERM the execution's process group, SIGKILL after ``grace`` (default kill_grace)."""
        grace = self._kill_grace if grace is None else grace
        self._command(lambda: self._stop_execution(execution_id, reason, grace))

    def signal_execution(self, execution_id: int, signum: int) -> None:
        """Send ``signum`` to the execution's process group (a service's reload), if it runs."""
        self._command(lambda: self._signal(execution_id, signum))

    def _signal(self, execution_id: int, signum: int) -> None:
        r = self._running.get(execution_id)
        if r is not None and not r.exited and r.stop_reason is None:
            kill_group(r.pid, signal.Signals(signum))

    def drain(self) -> None:
        """The worker is stopping: replace no more pool children."""
        self._command(lambda: setattr(self._pool, "size", 0))

    def reply(self, execution_id: int, reply: Reply) -> None:
        self._command(lambda: self._reply(execution_id, reply))

    def close(self, timeout: float = 10.0) -> bool:
        """Kill whatever still runs, reap every process and end the thread; True once it did."""
        if self.ident is None:  # never started
            self._kill_all()
            return True
        self._command(self._close)
        self.join(timeout)
        return not self.is_alive()

    def _command(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    # -- the thread -------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._selector.register(self._wake_r, selectors.EVENT_READ, self._woken)
            self._pool.fill()
            while not (self._closing and not self._running and not self._pool.children):
                for key, _ in self._selector.select(self._timeout()):
                    key.data()  # the handler registered with the descriptor
                while self._commands:
                    self._commands.popleft()()
                self._tick(time.monotonic())
        except Exception:
            log.exception("the process supervisor failed; killing every job process")
        finally:
            self._kill_all()

    def _timeout(self) -> float:
        now = time.monotonic()
        times = [self._next_sample] if self._running else []
        for r in self._running.values():
            times += [t for t in (r.deadline, r.kill_at, r.drain_until) if t is not None]
        if (
            self._closing
            or any(c.pidfd is None for c in self._pool.children)
            or any(r.command is not None and r.pidfd is None for r in self._running.values())
        ):
            times.append(now + 0.05)  # no pidfd: poll for exits
        return max(0.0, min(times) - now) if times else 1.0

    def _woken(self) -> None:
        while read_available(self._wake_r):
            pass

    def _reply(self, execution_id: int, reply: Reply) -> None:
        r = self._running.get(execution_id)
        if r is not None and r.child is not None and not r.child.exited:
            try:
                r.child.conn.send(reply)
            except OSError:
                pass  # the child is gone; its exit is handled as usual

    def _close(self) -> None:
        self._closing = True
        self._pool.size = 0
        for execution_id in list(self._running):
            self._stop_execution(execution_id, StopReason.RELEASE, 0.0)
        for child in self._pool.children:
            if child.execution_id is None:
                self._pool.retire(child)

    def _tick(self, now: float) -> None:
        for r in list(self._running.values()):
            if r.deadline is not None and now >= r.deadline and r.stop_reason is None:
                log.info("execution %d ran past its timeout: stopping it", r.claim.execution_id)
                self._stop_execution(r.claim.execution_id, StopReason.TIMEOUT, self._kill_grace)
            if r.kill_at is not None and now >= r.kill_at:
                r.kill_at = None
                kill_group(r.pid, signal.SIGKILL)  # the grace period is over
            self._maybe_finish(r, now)
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE
            for r in self._running.values():
                if not r.exited:
                    r.sample_rss(peak_rss(r.pid))
        for child in list(self._pool.children):
            if child.pidfd is None and not child.exited:
                self._exited(child, known=False)
        for r in list(self._running.values()):
            if r.command is not None and r.pidfd is None and r.exit_status is None:
                self._exited(r, known=False)

    # -- starting and stopping ----------------------------------------------------------------

    def _start(self, claim: Claim, definition: TypeDefinition) -> None:
        now = time.monotonic()
        deadline = None if claim.timeout is None else now + claim.timeout
        if self._closing:
            self._emit(
                Ended(claim.execution_id, Outcome(claim.execution_id, ExecutionStatus.RELEASED))
            )
            return
        if definition.kind is TypeKind.COMMAND:
            assert isinstance(definition.target, tuple)
            try:
                command = spawn(claim, definition.target, user=self._run_as)
            except CommandError as exc:
                self._emit(Ended(claim.execution_id, Outcome(
                    claim.execution_id, ExecutionStatus.FAILED, error_type="CommandError",
                    error_message=str(exc), retryable=exc.retryable,
                )))  # fmt: skip
                return
            r = Running(claim, command.pid, deadline, command=command)
            r.sample_rss(peak_rss(command.pid))  # Popen returns after the exec: its own memory
            r.pidfd = self._watch(command.pid, partial(self._exited, r, known=True))
            for fd in command.streams:
                self._selector.register(
                    fd, selectors.EVENT_READ, partial(self._read_command_output, r, fd)
                )
        else:
            try:
                child = self._pool.assign(Assignment(
                    claim.job_id, claim.execution_id, claim.type, claim.args, claim.attempt,
                    claim.max_tries, claim.timeout,
                ))  # fmt: skip
            except OSError as exc:
                log.error("cannot start a pool child for execution %d: %s", claim.execution_id, exc)
                self._emit(Ended(claim.execution_id, Outcome(
                    claim.execution_id, ExecutionStatus.FAILED, error_type="ChildDied",
                    error_message=f"the worker could not start a process for the job: {exc}",
                )))  # fmt: skip
                return
            r = Running(claim, child.pid, deadline, child=child)
        self._running[claim.execution_id] = r
        user = self._run_as.name if self._run_as and r.command is not None else None
        self._emit(Started(claim.execution_id, r.pid, run_as=user))

    def _fds(self) -> list[int]:
        """The supervisor's descriptors besides the pool's, for a new child to close."""
        fds = [self._wake_r, self._wake_w, *self._keep_out()]
        selector_fd = getattr(self._selector, "fileno", None)
        if selector_fd is not None:
            fds.append(selector_fd())
        for r in self._running.values():
            if r.command is not None:
                fds += list(r.command.streams)
                if r.pidfd is not None:
                    fds.append(r.pidfd)
        return fds

    def _watch(self, pid: int, on_exit: Callable[[], None]) -> int | None:
        if self._warden is not None:
            self._warden.watch(pid)
        pidfd = open_pidfd(pid)
        if pidfd is not None:
            self._selector.register(pidfd, selectors.EVENT_READ, on_exit)
        return pidfd

    def _stop_execution(self, execution_id: int, reason: StopReason, grace: float) -> None:
        r = self._running.get(execution_id)
        if r is None:
            return
        if r.stop_reason is None or reason is StopReason.GONE:
            r.stop_reason = reason
        if reason is StopReason.GONE:
            grace = 0.0  # another attempt may hold the job now: no overlap, not even for a grace
        if r.exited:
            return
        kill_at = time.monotonic() + grace
        if r.kill_at is None or kill_at < r.kill_at:
            # The graceful signal to the whole group: a Python child raises JobCancelled in the
            # job; a command and its children get the usual SIGTERM. SIGKILL at kill_at.
            if grace > 0 and r.kill_at is None:
                kill_group(r.pid, signal.SIGTERM)
            r.kill_at = kill_at
        if grace <= 0:
            r.kill_at = None
            kill_group(r.pid, signal.SIGKILL)

    # -- pool children ------------------------------------------------------------------------

    def _read_channel(self, child: PoolChild) -> None:
        try:
            for _ in range(1000):  # then let the other descriptors have their turn
                if not child.conn.poll():
                    break
                self._message(child, child.conn.recv())
        except (EOFError, OSError):
            self._unregister(child.conn.fileno())  # closed: the child is dying; pidfd tells
        except Exception:  # a torn or foreign message: the channel cannot be trusted
            log.exception("pool child %d: unreadable message; retiring it", child.pid)
            self._unregister(child.conn.fileno())
            self._pool.retire(child)

    def _message(self, child: PoolChild, message: object) -> None:
        r = self._running.get(child.execution_id) if child.execution_id is not None else None
        if isinstance(message, LogLine | Progress | ReserveRequest):
            if r is not None and message.execution_id == r.claim.execution_id:
                self._emit(message)
            elif isinstance(message, LogLine):
                log.info("stray %s of pool child %d: %s", message.stream, child.pid, message.text)
        elif isinstance(message, Done) and r is not None:
            if message.execution_id == r.claim.execution_id:
                r.report = message.report
                r.drain_until = time.monotonic() + DRAIN
                self._maybe_finish(r, time.monotonic())

    def _read_child_output(self, child: PoolChild, fd: int) -> None:
        stream = child.streams[fd]
        data = read_available(fd)
        if data is None:
            return
        if data:
            lines = stream.feed(data)
        else:
            lines = stream.close()
            self._unregister(fd)
            os.close(fd)
            del child.streams[fd]
        now = time.time()
        for execution_id, line in lines:
            r = self._running.get(execution_id) if execution_id is not None else None
            if r is None or r.child is not child:
                log.info("stray %s of pool child %d: %s", stream.name, child.pid, decode(line))
                continue
            self._emit(
                LogLine(r.claim.job_id, r.claim.execution_id, now, stream.name, decode(line))
            )
        r = self._running.get(child.execution_id) if child.execution_id is not None else None
        if r is not None:
            self._maybe_finish(r, time.monotonic())

    def _exited(self, process: PoolChild | Running, *, known: bool) -> None:
        """Reap a pool child or a command; ``known``: its pidfd said it exited."""
        if known:
            # Kill the group before reaping: until the zombie is reaped its pid (the group id)
            # cannot be reused, so the SIGKILL reaches only what the process started.
            kill_group(process.pid, signal.SIGKILL)
        status = reap(process.pid, block=known)
        if status is None:
            return  # polled: still running
        if not known:
            kill_group(process.pid, signal.SIGKILL)  # no pidfd: best effort, after the fact
        if process.pidfd is not None:
            self._unregister(process.pidfd)
            os.close(process.pidfd)
            process.pidfd = None
        if isinstance(process, PoolChild):
            self._child_reaped(process, status)
        else:
            self._command_reaped(process, status)

    def _child_reaped(self, child: PoolChild, status: int) -> None:
        child.exited = True
        child.status = status
        if not child.retired and child.execution_id is None and not self._closing:
            log.warning("pool child %d ended on its own (status %d)", child.pid, child.status)
        r = self._running.get(child.execution_id) if child.execution_id is not None else None
        if r is not None:
            r.exit_status = child.status
            r.drain_until = time.monotonic() + DRAIN
            self._maybe_finish(r, time.monotonic())
        else:
            self._pool.forget(child)

    # -- commands -----------------------------------------------------------------------------

    def _read_command_output(self, r: Running, fd: int) -> None:
        assert r.command is not None
        name, lines = r.command.read(fd)
        if fd in r.command.closed:
            self._unregister(fd)
        now = time.time()
        for line in lines:
            self._emit(LogLine(r.claim.job_id, r.claim.execution_id, now, name, decode(line)))
        self._maybe_finish(r, time.monotonic())

    def _command_reaped(self, r: Running, status: int) -> None:
        assert r.command is not None
        r.exit_status = status
        r.command.proc.returncode = os.waitstatus_to_exitcode(status)
        r.drain_until = time.monotonic() + DRAIN
        self._maybe_finish(r, time.monotonic())

    # -- the end of an execution ----------------------------------------------------------------

    def _maybe_finish(self, r: Running, now: float) -> None:
        if r.claim.execution_id not in self._running or not r.ready(now):
            return
        del self._running[r.claim.execution_id]
        outcome = outcome_of(r)
        if r.command is not None:
            for fd in r.command.streams:
                self._unregister(fd)
            r.command.close()
            if self._warden is not None:
                self._warden.forget(r.pid)
        elif r.child is not None:
            child = r.child
            child.execution_id = None
            if r.stop_reason is not None or not r.clean_end():
                self._pool.retire(child)  # unknown state after a signal, lost markers, leftovers
            if child.exited:
                self._pool.forget(child)
        self._emit(Ended(r.claim.execution_id, outcome))

    def _unregister(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    def _kill_all(self) -> None:
        """On the way out: SIGKILL every group, reap every process, close every descriptor."""
        for r in self._running.values():
            kill_group(r.pid, signal.SIGKILL)
            if r.command is not None:
                if r.exit_status is None:
                    r.command.proc.returncode = os.waitstatus_to_exitcode(
                        reap(r.pid, block=True) or 0
                    )
                r.command.close()
            if r.pidfd is not None:
                os.close(r.pidfd)
        self._pool.kill_all()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
