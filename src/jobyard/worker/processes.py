"""Signalling and reaping the worker's own processes.

Every job runs as the leader of its own process group, so a signal goes to the group
(``killpg``): the job and whatever it started. Processes are reaped by pid, never with
``wait(-1)``, so the worker takes only what it started. Exits are noticed through pidfds where
the kernel has them (no SIGCHLD handler: it stays at its default, and exited children wait as
zombies until reaped here).
"""

from __future__ import annotations

import os
import signal


def open_pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+); None elsewhere."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd: int = pidfd_open(pid)
    except OSError:
        return None
    return fd


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group; it may already be gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(pid: int, *, block: bool) -> int | None:
    """Reap one child by pid: its wait status, or None while it still runs.

    ``waitpid`` by pid, never ``wait(-1)``: the worker reaps only the processes it started, so
    job code in the same process (or a library) keeps its own children to itself.
    """
    try:
        reaped, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return 0  # somebody reaped it already: nothing more to learn
    return None if reaped == 0 else status


def describe_status(status: int) -> tuple[int | None, int | None, str]:
    """``(exit code, signal, words)`` of a wait status."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return None, number, f"killed by signal {name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return code, None, f"exited with code {code}"
