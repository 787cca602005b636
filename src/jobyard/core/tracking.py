"""Job tracking states (seed 001, Faktory Enterprise's): what a job's status reads as, no I/O.

``unknown`` (no such job, or finished longer ago than the retention), ``enqueued``, ``working``,
``success``, ``failed`` (an attempt failed and it will retry) and ``dead`` (failed with no tries
left, or canceled). The REST tracking route and the Faktory listener read the same table.
"""

from __future__ import annotations

from jobyard.core.states import JobStatus

TRACKING_STATE = {
    JobStatus.SCHEDULED: "enqueued",
    JobStatus.BLOCKED: "enqueued",
    JobStatus.QUEUED: "enqueued",
    JobStatus.RUNNING: "working",
    JobStatus.RETRYING: "failed",
    JobStatus.COMPLETED: "success",
    JobStatus.FAILED: "dead",
    JobStatus.CANCELED: "dead",
}
TRACKING_STATES = ("unknown", "enqueued", "working", "success", "failed", "dead")


def tracking_state(status: JobStatus, *, finished_for: float | None, retention: float) -> str:
    """A job's tracking state; ``finished_for``: seconds since it finished, None if it has not."""
    if finished_for is not None and finished_for > retention:
        return "unknown"
    return TRACKING_STATE[status]
