"""Command jobs: an argv list, ``${name}`` filled from the job's args, spawned per execution.

Never through a shell. Each execution gets a fresh temporary working directory, removed after it
ends, and its own session (so its own process group: one ``killpg`` ends its whole tree). A root
worker given ``run_as`` starts them as that user, in a directory that user owns.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from jobyard.core.errors import Invalid
from jobyard.core.models import JSON, Claim
from jobyard.worker.capture import LineSplitter, read_available

PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class CommandError(Exception):
    """The command cannot start; the job fails with this message."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def substitute(argv: Sequence[str], args: JSON) -> list[str]:
    """argv with each ``${name}`` replaced by the job's argument ``name`` (``$${`` is ``${``).

    A string is used as it is, anything else as its JSON text. A missing name is an error: the
    job's args will not change between tries, so it is not retryable.
    """

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if not isinstance(args, dict):
            raise CommandError(
                f"the command needs ${{{name}}} but the job's args are not an object",
                retryable=False,
            )
        if name not in args:
            known = ", ".join(sorted(args)) or "none"
            raise CommandError(
                f"the command needs ${{{name}}} but the job's args have no {name!r} "
                f"(they have: {known})",
                retryable=False,
            )
        found = args[name]
        return found if isinstance(found, str) else json.dumps(found)

    return [PLACEHOLDER.sub(value, part) for part in argv]


@dataclass(eq=False)
class CommandProcess:
    """A spawned command: its process, working directory and output pipes."""

    proc: subprocess.Popen[bytes]
    workdir: str
    argv: list[str]
    streams: dict[int, tuple[str, LineSplitter]] = field(default_factory=dict)  # by read fd
    closed: set[int] = field(default_factory=set)  # pipes at end of file

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output_done(self) -> bool:
        return self.closed >= set(self.streams)

    def read(self, fd: int) -> tuple[str, list[bytes]]:
        """The stream name and the complete lines a readable pipe has (all at end of file)."""
        name, splitter = self.streams[fd]
        data = read_available(fd)
        if data is None:
            return name, []
        if data:
            return name, splitter.feed(data)
        self.closed.add(fd)
        tail = splitter.tail()
        return name, [] if tail is None else [tail]

    def close(self) -> None:
        """Close the pipes and remove the working directory (the process is gone by now)."""
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class RunAs:
    """The OS user a root worker runs command jobs as."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def named(cls, name: str) -> RunAs:
        """The user ``name``; Invalid when this machine has none, or when the worker is not root
        and so cannot become anyone else."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise Invalid(f"run_as: no user {name!r} on this machine", field="run_as") from None
        if os.geteuid() not in (0, entry.pw_uid):
            raise Invalid(
                f"run_as {name!r} needs a worker running as root (it runs as uid {os.geteuid()})",
                field="run_as",
            )
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def spawn(claim: Claim, template: Sequence[str], *, user: RunAs | None = None) -> CommandProcess:
    """Start a command job, as ``user`` when given. Raises :class:`CommandError` when it cannot
    start."""
    argv = substitute(template, claim.args)
    workdir = tempfile.mkdtemp(prefix=f"jobyard-{claim.execution_id}-")
    env = {
        **os.environ,
        "JOBYARD_JOB_ID": str(claim.job_id),
        "JOBYARD_EXECUTION_ID": str(claim.execution_id),
        "JOBYARD_ATTEMPT": str(claim.attempt),
    }
    if user is not None:
        os.chown(workdir, user.uid, user.gid)  # still 0700: the job's user's alone
        env.update(USER=user.name, LOGNAME=user.name, HOME=user.home)
    try:
        # start_new_session: setsid in the child, so it leads a new process group (and is not
        # reached by the terminal's Ctrl-C, which is the worker's to handle).
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # the user's own uid and group, none of the worker's supplementary groups
            user=None if user is None else user.uid,
            group=None if user is None else user.gid,
            extra_groups=None if user is None else [],
        )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        missing = isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError)
        raise CommandError(f"cannot run {argv[0]!r}: {exc}", retryable=not missing) from exc
    command = CommandProcess(proc, workdir, argv)
    for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        assert pipe is not None
        os.set_blocking(pipe.fileno(), False)
        command.streams[pipe.fileno()] = (name, LineSplitter())
    return command
