"""The worker end to end, in a thread of the test process: real store, real child processes."""

from __future__ import annotations

import getpass
import os
import socket
import time
from pathlib import Path

import pytest
from worker_harness import (
    FlakyStore,
    enqueue,
    finished,
    log_texts,
    register,
    running,
    wait_until,
    worker_thread,
)

from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.store import Store, open_store


@pytest.fixture(autouse=True)
def _types(store: Store) -> None:
    register(store)


def test_python_job_completes_with_result_and_process(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.add", {"a": 2, "b": 3})
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.result == 5
    [execution] = job.executions
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.ppid == os.getpid()  # the supervisor: this process runs the worker
    assert execution.pid not in (None, os.getpid())
    assert execution.hostname == socket.gethostname()
    assert execution.run_as == getpass.getuser()
    assert execution.exit_code == 0
    assert execution.peak_rss is not None and execution.peak_rss > 1_000_000


def test_list_args_are_positional(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.positional", [1, 2])
    with worker_thread(database_url):
        assert finished(store, job_id).result == [2, 1]


def test_log_progress_and_output_in_order(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.chatty")
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.result["id"] == job_id and job.result["attempt"] == 1
    assert (job.progress, job.progress_desc) == (50.0, "half")
    lines = [(e.data["stream"], e.data["text"], e.data.get("level")) for e in store.job_log(job_id)]
    assert lines == [
        ("stdout", "out 1", None),
        ("log", "log 2", "INFO"),
        ("stderr", "err 3", None),
        ("log", "log 4", "WARNING"),
        ("stdout", "out 5", None),
    ]
    # progress lands between the lines written before and after it
    kinds = [
        e.data.get("text", e.kind)
        for e in store.event_list(job_id=job_id)
        if e.kind in ("log", "progress")
    ]
    assert kinds == ["out 1", "log 2", "err 3", "progress", "log 4", "out 5"]


def test_fd_level_output_of_c_code_and_grandchildren(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.fd_output")
    with worker_thread(database_url):
        assert finished(store, job_id).status is JobStatus.COMPLETED
    streams = {(e.data["stream"], e.data["text"]) for e in store.job_log(job_id)}
    assert streams == {
        ("stdout", "raw fd line"),
        ("stdout", "from printf"),
        ("stdout", "from grandchild"),
        ("stderr", "grandchild err"),
        ("stderr", "bad utf8 \ufffd\ufffd end"),
    }


def test_children_are_reused_and_lines_stay_with_their_job(store: Store, database_url: str) -> None:
    with worker_thread(database_url, concurrency=1):
        first = [finished(store, enqueue(store, "sample.chatty")) for _ in range(3)]
        leaky = finished(store, enqueue(store, "sample.leaky"))
        after = [finished(store, enqueue(store, "sample.chatty")) for _ in range(2)]
    assert len({job.executions[0].pid for job in [*first, leaky]}) == 1  # one child, reused
    # the leaky job left a thread writing on: its child is not reused, nothing leaks over
    assert {job.executions[0].pid for job in after}.isdisjoint({leaky.executions[0].pid})
    for job in [*first, *after]:
        assert log_texts(store, job.id) == ["out 1", "log 2", "err 3", "log 4", "out 5"]


def test_async_job(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.async", {"delay": 0.05})
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.result == "async ok"
    assert log_texts(store, job_id) == ["async done"]


def test_failing_job_retries_then_fails(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.fail")
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.FAILED
    assert [e.status for e in job.executions] == [ExecutionStatus.FAILED] * 2
    assert job.error is not None
    assert job.error["type"] == "ValueError"
    assert job.error["message"] == "attempt 2 broke"
    assert "raise ValueError" in job.error["traceback"]
    assert {e.error_message for e in job.executions} == {"attempt 1 broke", "attempt 2 broke"}


def test_non_retryable_fails_at_once(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.fatal")
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.FAILED
    assert len(job.executions) == 1
    assert job.error is not None and job.error["type"] == "jobyard.core.errors.NonRetryable"


def test_result_that_is_not_json_fails_clearly(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.not_json")
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.FAILED
    assert len(job.executions) == 1
    assert job.error is not None and "result must be JSON" in job.error["message"]


def test_child_that_dies_fails_the_job_and_is_replaced(store: Store, database_url: str) -> None:
    dies = enqueue(store, "sample.die")
    with worker_thread(database_url, concurrency=1):
        job = finished(store, dies)
        after = finished(store, enqueue(store, "sample.add", {"a": 1, "b": 1}))
    assert job.status is JobStatus.FAILED
    assert job.executions[0].exit_code == 3
    assert job.error is not None and "exited with code 3" in job.error["message"]
    assert after.result == 2
    assert after.executions[0].pid != job.executions[0].pid


def test_reserve_extends_the_lease(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.reserve", {"seconds": 500})
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.result > time.time() + 400


def test_command_job_substitutes_args(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.echo", {"message": "hello; $(rm -rf /) world"})
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.result == {"exit_code": 0}
    assert log_texts(store, job_id) == ["hello; $(rm -rf /) world literal ${x}"]
    [execution] = job.executions
    assert execution.exit_code == 0 and execution.ppid == os.getpid()


def test_command_runs_in_a_fresh_directory_removed_after(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.sh", {"script": "pwd; ls -A | wc -l; touch here"})
    with worker_thread(database_url):
        assert finished(store, job_id).status is JobStatus.COMPLETED
    workdir, count = log_texts(store, job_id)
    assert Path(workdir).name.startswith(f"jobyard-{store.job_get(job_id).execution_id}-")
    assert count.strip() == "0"
    assert not Path(workdir).exists()


def test_command_missing_argument_fails_clearly(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.echo", {"other": 1})
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.FAILED
    assert len(job.executions) == 1  # args do not change between tries: no retry
    assert job.error is not None
    assert "${message}" in job.error["message"] and "other" in job.error["message"]


def test_command_nonzero_exit_fails(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.false")
    with worker_thread(database_url):
        job = finished(store, job_id)
    assert job.status is JobStatus.FAILED
    assert job.executions[0].exit_code == 3
    assert job.error is not None and "exited with code 3" in job.error["message"]
    assert log_texts(store, job_id) == ["before failing"]


def test_concurrency_runs_jobs_side_by_side(store: Store, database_url: str) -> None:
    ids = [enqueue(store, "sample.sleep", {"seconds": 0.5}) for _ in range(3)]
    with worker_thread(database_url, concurrency=3):
        jobs = [finished(store, job_id) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    starts = [job.executions[0].started_at for job in jobs]
    ends = [job.executions[0].ended_at for job in jobs]
    assert max(starts) < min(e for e in ends if e is not None)  # all three overlapped


def test_graceful_stop_lets_running_jobs_finish(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.sleep", {"seconds": 0.5})
    with worker_thread(database_url) as worker:
        running(store, job_id)
        worker.stop()
        job = finished(store, job_id)
    assert job.status is JobStatus.COMPLETED and job.result == "slept"


def test_stop_gives_back_what_outlives_the_grace(store: Store, database_url: str) -> None:
    from worker_harness import FAST

    settings = type(FAST)(lease=30.0, heartbeat=0.1, kill_grace=1.0, shutdown_grace=0.3, poll=0.05)
    job_id = enqueue(store, "sample.sleep")
    with worker_thread(database_url, settings=settings) as worker:
        pid = running(store, job_id).executions[0].pid
        worker.stop()
        job = wait_until(
            lambda: (j := store.job_get(job_id)).status is JobStatus.QUEUED and j,
            what="the job to be given back",
        )
    assert job.tries == 0  # untouched: the try does not count
    assert [e.status for e in job.executions] == [ExecutionStatus.RELEASED]
    assert pid is not None
    assert log_texts(store, job_id) == ["cancelled=True"]  # it saw JobCancelled


def test_store_outage_delays_but_loses_nothing(store: Store, database_url: str) -> None:
    ids = [enqueue(store, "sample.chatty"), enqueue(store, "sample.echo", {"message": "hi"})]
    writes = ["job_log_append", "job_progress", "job_finish", "execution_heartbeat"]
    flaky = FlakyStore(open_store(database_url), writes, seconds=60)
    try:
        with worker_thread(database_url, store=flaky) as worker:  # type: ignore[arg-type]
            wait_until(lambda: worker.backlog()["outcomes"] == 2, what="both jobs to end")
            wait_until(lambda: flaky.failures.get("job_log_append", 0) >= 3, what="failures")
            assert all(store.job_get(i).status is JobStatus.RUNNING for i in ids)
            flaky.heal()
            chatty, echo = [finished(store, i) for i in ids]
    finally:
        flaky.close()
    assert chatty.status is JobStatus.COMPLETED and echo.status is JobStatus.COMPLETED
    assert log_texts(store, chatty.id) == ["out 1", "log 2", "err 3", "log 4", "out 5"]
    assert chatty.progress == 50.0
    assert log_texts(store, echo.id) == ["hi literal ${x}"]


def test_process_is_recorded_after_an_outage(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.chatty")
    flaky = FlakyStore(open_store(database_url), ["execution_started_many"], seconds=60)
    try:
        with worker_thread(database_url, store=flaky):  # type: ignore[arg-type]
            wait_until(
                lambda: flaky.failures.get("execution_started_many", 0) >= 2, what="failures"
            )
            flaky.heal()
            job = finished(store, job_id)
    finally:
        flaky.close()
    assert job.status is JobStatus.COMPLETED
    assert job.executions[0].pid == job.result["pid"]


def test_claims_resume_after_an_outage(store: Store, database_url: str) -> None:
    job_id = enqueue(store, "sample.add", {"a": 1, "b": 1})
    flaky = FlakyStore(open_store(database_url), ["job_claim", "wait_for_work"], seconds=60)
    try:
        with worker_thread(database_url, store=flaky):  # type: ignore[arg-type]
            wait_until(lambda: flaky.failures.get("job_claim", 0) >= 2, what="failed claims")
            flaky.heal()
            assert finished(store, job_id).result == 2
    finally:
        flaky.close()
