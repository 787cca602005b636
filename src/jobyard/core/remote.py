"""Remote jobs: jobs pushed and run by the clients of a wire protocol (Faktory), no I/O.

A remote job is an ordinary jobyard job whose type is a remote type (``TypeKind.REMOTE``): it is
stored, listed, followed, killed and requeued like any other, and jobyard's own workers never
claim it. What the protocol's client sent beyond jobyard's own fields is kept beside the job as
``meta``, a JSON object. The store reads three keys of it:

``lease``    seconds an execution of the job is reserved for (Faktory's ``reserve_for``,
             clamped); a claim uses it instead of the default it is given
``discard``  true: a failure with no tries left removes the job (Faktory's ``retry: 0``), which
             keeps it readable in history but out of every list and of the dead set
``track``    true: the job's status is readable over the protocol (Faktory's ``custom.track``)

Every other key belongs to the protocol module that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobyard.core.models import JSON, Job, JobSpec


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """A job to enqueue for a remote client: a spec, and what only the protocol uses."""

    spec: JobSpec
    meta: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """A stored job of a remote type with its protocol meta ({} for one enqueued natively)."""

    job: Job
    meta: dict[str, JSON] = field(default_factory=dict)

    @property
    def lease(self) -> float | None:
        value = self.meta.get("lease")
        return float(value) if isinstance(value, int | float) else None

    @property
    def tracked(self) -> bool:
        return self.meta.get("track") is True


#: the sets a remote client can see and change, and the job states they hold
REMOTE_SETS = ("scheduled", "retries", "dead")
