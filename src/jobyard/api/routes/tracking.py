"""Job tracking for every job (seed 001, Faktory Enterprise's, here free and always on).

States: ``unknown`` (no such job, or finished longer ago than the retention), ``enqueued``,
``working``, ``success``, ``failed`` (an attempt failed and it will retry) and ``dead`` (failed
with no tries left, or canceled). Percent and desc keep their last values after the job ends.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from jobyard.api.auth import Operator, Viewer
from jobyard.api.deps import SettingsDep, StoreDep
from jobyard.api.schemas import TrackingIn, TrackingOut
from jobyard.core.errors import InvalidTransition, NotFound
from jobyard.core.models import Job, JobFilter, PageRequest
from jobyard.core.states import JobStatus
from jobyard.core.tracking import TRACKING_STATE
from jobyard.store.base import Store

router = APIRouter(tags=["tracking"])


def find_job(store: Store, jid: str) -> Job | None:
    """By jobyard id, or by the caller's own id (a Faktory jid)."""
    if jid.isdigit() and len(jid) < 19:
        try:
            return store.job_get(int(jid))
        except NotFound:
            pass
    found = store.job_list(
        JobFilter(external_ids=(jid,), include_removed=True), PageRequest(per_page=1)
    )
    return store.job_get(found.results[0].id) if found.results else None


def tracking_of(job: Job | None, jid: str, *, retention: float) -> TrackingOut:
    if job is None:
        return TrackingOut(jid=jid, state="unknown", updated_at=None)
    if job.finished_at is not None:
        age = datetime.now(UTC).timestamp() - job.finished_at.timestamp()
        if age > retention:
            return TrackingOut(jid=jid, state="unknown", updated_at=None)
    return TrackingOut(
        jid=jid,
        state=TRACKING_STATE[job.status],
        updated_at=job.updated_at,
        percent=job.progress,
        desc=job.progress_desc,
    )


@router.get("/tracking/{jid}", response_model=TrackingOut)
def get_tracking(jid: str, store: StoreDep, settings: SettingsDep, _: Viewer) -> TrackingOut:
    """The tracking status of a job by id or external id; ``unknown`` when there is none."""
    return tracking_of(find_job(store, jid), jid, retention=settings.tracking_retention)


@router.post("/tracking/{jid}", response_model=TrackingOut)
def set_tracking(
    jid: str, body: TrackingIn, store: StoreDep, settings: SettingsDep, _: Operator
) -> TrackingOut:
    """Set percent and desc, and extend the lease with ``reserve_for`` (never shortens it)."""
    job = find_job(store, jid)
    if job is None:
        raise NotFound(f"no job {jid!r}", field="jid")
    if job.status is not JobStatus.RUNNING or job.execution_id is None:
        raise InvalidTransition(job_id=job.id, status=job.status.value, operation="track")
    if body.percent is not None or body.desc is not None:
        store.job_progress(
            job.execution_id,
            job.progress if body.percent is None else body.percent,
            job.progress_desc if body.desc is None else body.desc,
        )
    if body.reserve_for is not None:
        store.execution_reserve(job.execution_id, body.reserve_for)
    return tracking_of(store.job_get(job.id), jid, retention=settings.tracking_retention)
