"""The warden: a tiny process that kills the worker's job process groups if the worker dies.

PR_SET_PDEATHSIG takes a pool child with its parent, but not what that child started, and not
command jobs (setting it there needs ``preexec_fn``, unsafe in a threaded process). So the worker
forks a warden first thing, before it starts any thread, in a session of its own. The worker
tells it each process group it starts and ends (``+pgid`` / ``-pgid`` lines on a pipe). When the
pipe reaches end of file — the worker exited, however it died, even by SIGKILL — the warden
SIGKILLs every group still listed and exits. A job that escapes its process group (setsid) on
purpose is beyond its reach.
"""

from __future__ import annotations

import logging
import os
import signal

from jobyard.worker.processes import reap

log = logging.getLogger("jobyard.worker")


class Warden:
    def __init__(self) -> None:
        read_fd, self._fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the warden: never returns
            try:
                _serve(read_fd, keep=read_fd)
            finally:
                os._exit(0)
        os.close(read_fd)
        self._broken = False

    @property
    def fd(self) -> int:
        return self._fd

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def close(self, *, clean: bool) -> None:
        """The worker is done; ``clean``: every job process was reaped, so nothing is to be killed.

        Otherwise the warden kills the groups still listed, as if the worker had died.
        """
        if clean:
            self._send("=\n")  # forget them all: their ids may be reused by now
        try:
            os.close(self._fd)
        except OSError:
            pass
        reap(self.pid, block=True)

    def _send(self, line: str) -> None:
        if self._broken:
            return
        try:
            os.write(self._fd, line.encode())  # short writes to a pipe are atomic
        except OSError as exc:
            self._broken = True
            log.error("the warden (pid %d) is gone, jobs may outlive the worker: %s", self.pid, exc)


def _serve(read_fd: int, *, keep: int) -> None:
    os.setsid()  # its own session: a signal to the worker's process group does not reach it
    # Signals that stop the worker must not stop the warden before it did its job.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    os.closerange(3, keep)  # holds nothing of the worker open (store, sockets, other pipes)
    os.closerange(keep + 1, _max_fd())
    groups: set[int] = set()
    buffered = b""
    while True:
        try:
            data = os.read(read_fd, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        buffered += data
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            if line.startswith(b"+"):
                groups.add(int(line[1:]))
            elif line.startswith(b"-"):
                groups.discard(int(line[1:]))
            elif line == b"=":
                groups.clear()
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024
