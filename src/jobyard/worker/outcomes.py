"""One running execution as the supervisor tracks it, and the Outcome it ends with.

The outcome depends on two things only: what the process reported or how it exited, and why the
supervisor stopped it (if it did). A job that completed wins over a late kill; otherwise the stop
reason decides (kill: canceled, timeout: timed_out, shutdown: released, gone: no outcome).
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

from jobyard.core.models import Claim, Outcome
from jobyard.core.states import ExecutionStatus
from jobyard.worker.executors.command import CommandProcess
from jobyard.worker.pool import PoolChild
from jobyard.worker.processes import describe_status
from jobyard.worker.protocol import Report, StopReason

_STOPPED = {
    StopReason.KILL: (
        ExecutionStatus.CANCELED,
        "jobyard.core.errors.JobCancelled",
        "the job was killed",
    ),
    StopReason.TIMEOUT: (ExecutionStatus.TIMED_OUT, "TimeoutError", "the job ran past its timeout"),
    StopReason.RELEASE: (ExecutionStatus.RELEASED, None, None),
}


@dataclass(eq=False)
class Running:
    claim: Claim
    pid: int  # the process running it, leader of its process group
    deadline: float | None  # monotonic time its timeout ends
    child: PoolChild | None = None  # a Python job's pool child
    command: CommandProcess | None = None  # a command job's process
    pidfd: int | None = None  # a command's pidfd (pool children carry their own)
    stop_reason: StopReason | None = None
    kill_at: float | None = None  # monotonic time to SIGKILL the group
    drain_until: float | None = None  # stop waiting for output after this
    report: Report | None = None  # what the pool child said when the job ended
    exit_status: int | None = None  # wait status, once the process exited
    peak_rss: int | None = None  # bytes, the highest sample

    @property
    def exited(self) -> bool:
        return self.exit_status is not None

    def sample_rss(self, value: int | None) -> None:
        if value is not None and (self.peak_rss is None or value > self.peak_rss):
            self.peak_rss = value

    def clean_end(self) -> bool:
        """A Python job ended by itself, left nothing running, and both end markers arrived."""
        assert self.child is not None
        report = self.report
        return (
            report is not None
            and report.reusable
            and not self.child.exited
            and self._markers_seen()
        )

    def _markers_seen(self) -> bool:
        assert self.child is not None
        execution_id = self.claim.execution_id
        return all(execution_id in stream.ended for stream in self.child.streams.values())

    def ready(self, now: float) -> bool:
        """All there is to know has arrived, or waiting longer would not bring it."""
        late = self.drain_until is not None and now >= self.drain_until
        if self.command is not None:
            return self.exited and (self.command.output_done or late)
        assert self.child is not None
        if self.child.exited:
            return self._markers_seen() or late
        return self.report is not None and (self._markers_seen() or late)


def outcome_of(r: Running) -> Outcome | None:
    execution_id = r.claim.execution_id
    report = r.report
    exit_code, sig, words = (None, None, "")
    if r.exit_status is not None:
        exit_code, sig, words = describe_status(r.exit_status)
    if report is not None and report.peak_rss:
        r.sample_rss(report.peak_rss)
    completed = (report is not None and report.ok) or (
        r.command is not None and r.exit_status is not None and exit_code == 0
    )
    if completed and r.stop_reason is not StopReason.GONE:
        result = {"exit_code": 0} if report is None else json.loads(report.result_json or "null")
        return Outcome(
            execution_id,
            ExecutionStatus.COMPLETED,
            result=result,
            exit_code=0,
            peak_rss=r.peak_rss,
        )
    if r.stop_reason is StopReason.GONE:
        return None
    if r.stop_reason is not None:
        status, error_type, message = _STOPPED[r.stop_reason]
        if r.stop_reason is StopReason.TIMEOUT:
            message = f"the job ran past its timeout of {r.claim.timeout:g} s and was killed"
        if report is not None and report.cancelled and r.child is not None and not r.child.exited:
            exit_code, sig = None, int(signal.SIGTERM)  # it ended on the graceful signal
        return Outcome(
            execution_id,
            status,
            error_type=error_type,
            error_message=message,
            traceback=report.traceback if report is not None else None,
            exit_code=exit_code,
            signal=sig,
            peak_rss=r.peak_rss,
        )
    if report is not None:  # the job raised
        return Outcome(
            execution_id,
            ExecutionStatus.FAILED,
            error_type=report.error_type,
            error_message=report.error_message,
            traceback=report.traceback,
            retryable=report.retryable,
            exit_code=1,
            peak_rss=r.peak_rss,
        )
    if r.command is not None:
        program = os.path.basename(r.command.argv[0])
        return Outcome(
            execution_id,
            ExecutionStatus.FAILED,
            error_type="CommandFailed",
            error_message=f"{program} {words}",
            exit_code=exit_code,
            signal=sig,
            peak_rss=r.peak_rss,
        )
    return Outcome(  # the pool child died under the job (os._exit, a crash, the OOM killer)
        execution_id,
        ExecutionStatus.FAILED,
        error_type="ChildDied",
        error_message=f"the process running the job {words}",
        exit_code=exit_code,
        signal=sig,
        peak_rss=r.peak_rss,
    )
