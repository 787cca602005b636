"""What a worker has to give its jobs: cpus, memory and disk, detected or as the operator says.

A worker claims only jobs that fit what it has free: its capacity minus what its running jobs
reserved (``Claim.cpus`` / ``mem`` / ``disk``). Memory and disk are in MiB.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable

from jobyard.core.limits import Resources, check_amount
from jobyard.core.models import Claim

MIB = 1024 * 1024


def detect_cpus() -> float:
    return float(os.cpu_count() or 1)


def detect_mem(meminfo: str = "/proc/meminfo") -> float:
    """MiB of memory of this machine: MemTotal of /proc/meminfo, or sysconf where there is none."""
    try:
        with open(meminfo, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return float(int(line.split()[1]) // 1024)  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB)
    except (ValueError, OSError, AttributeError):
        return float("inf")  # not known: no limit


def detect_disk(path: str | None = None) -> float:
    """MiB free where the worker's jobs work (command jobs get a directory under the temp dir)."""
    try:
        return float(shutil.disk_usage(path or tempfile.gettempdir()).free // MIB)
    except OSError:
        return float("inf")


def capacity(
    cpus: float | None = None, mem: float | None = None, disk: float | None = None
) -> Resources:
    """What a worker has: each amount as given, or detected when None."""
    return Resources(
        detect_cpus() if cpus is None else check_amount(cpus, "cpus"),
        detect_mem() if mem is None else check_amount(mem, "mem"),
        detect_disk() if disk is None else check_amount(disk, "disk"),
    )


def free(total: Resources, running: Iterable[Claim]) -> Resources:
    """What is left of ``total`` after the resources the running claims reserved."""
    left = total
    for claim in running:
        left = left.minus(Resources(claim.cpus, claim.mem, claim.disk))
    return left
