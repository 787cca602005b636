"""SQLite under pressure: several processes on one file under load never show a user
`database is locked`; a full disk gives a clear error, no corrupt file, and work resumes once
there is room again."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jobyard.store import Store, open_store
from support.chaos import (
    CASE_TIMEOUT,
    WORKER_ENV,
    Record,
    assert_ledger,
    chaos_worker,
    check_ledger,
    record,
    record_ledger,
    register,
    size,
    wait_drained,
)
from support.servers import Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(CASE_TIMEOUT)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_processes_sharing_one_file_never_show_locked(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    register(store)
    starts = tmp_path / "starts"
    env = {**WORKER_ENV, "JOBYARD_CHAOS_STARTS": str(starts)}
    up = Server(
        database_url=database_url,
        log_path=tmp_path / "up.log",
        app="chaosapp:app",
        extra_args=["--concurrency", "2", "--faktory-port", "0"],
        **env,
    )
    worker = chaos_worker(database_url, tmp_path / "worker.log", starts=starts)
    ids: list[int] = []
    failures: list[str] = []
    seconds = size(8, 120)

    def client(offset: int) -> None:
        # one job per request: as many small write transactions as possible, from two threads,
        # while the workers claim and finish and readers list
        with up.client() as http:
            deadline, n = time.monotonic() + seconds, offset
            while time.monotonic() < deadline:
                reply = http.post(
                    "/api/v1/jobs", json={"type": "chaos.work", "args": {"n": n, "ms": 1}}
                )
                if reply.status_code != 201:
                    failures.append(reply.text)
                else:
                    ids.extend(reply.json()["ids"])
                listing = http.get("/api/v1/jobs", params={"per_page": 5})
                if listing.status_code != 200:
                    failures.append(listing.text)
                n += 2

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 60)
        wait_drained(store, sorted(ids), timeout=120)
    finally:
        up.stop()
        worker.stop()
    logs = up.log() + worker.log()
    ledger = check_ledger(store, sorted(ids), starts_file=starts)
    record_ledger(
        "SQLite: 3 processes, one file, under load",
        "sqlite",
        "lock contention",
        0,
        ledger,
        note=f"{len(ids)} jobs in {seconds} s",
    )
    assert not failures, failures[:5]
    assert "locked" not in logs.lower(), logs[-3000:]
    assert_ledger(ledger)
    assert len(ids) > 50


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (mount needs root; without it, the case is skipped by name)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs needs root (mount: {mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_gives_a_clear_error_and_no_corrupt_file(
    small_disk: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{small_disk}/jobyard.db"
    setup = open_store(url)
    setup.schema_upgrade()
    register(setup)
    setup.close()
    # space the test frees once the disk is full, as an operator would
    (small_disk / "filler").write_bytes(b"\0" * 2**20)
    up = Server(
        database_url=url,
        log_path=tmp_path / "up.log",
        app=None,
        extra_args=["--faktory-port", "0"],
        **WORKER_ENV,
    )
    acknowledged: list[int] = []
    errors: list[httpx.Response] = []
    try:
        with up.client() as http:
            body = [{"type": "chaos.work", "args": {"n": i, "pad": "p" * 2000}} for i in range(20)]
            for _ in range(2000):  # 3 MiB fill up long before
                reply = http.post("/api/v1/jobs", json=body)
                if reply.status_code == 201:
                    acknowledged += reply.json()["ids"]
                    continue
                errors.append(reply)
                if len(errors) >= 3:
                    break
            assert errors, "the disk never filled"
            for reply in errors:
                assert reply.status_code == 503, reply.text
                assert "disk" in reply.json()["error"]["message"], reply.text
            assert up.proc.poll() is None, up.log()
            # room again: the operator frees space, and the next request goes through
            (small_disk / "filler").unlink()
            reply = http.post("/api/v1/jobs", json=body[:1])
            assert reply.status_code == 201, reply.text
            acknowledged += reply.json()["ids"]
    finally:
        up.stop()
    # the file is whole, and holds exactly what was acknowledged
    with sqlite3.connect(small_disk / "jobyard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check = open_store(url)
    try:
        for job_id in acknowledged:
            check.job_get(job_id)
    finally:
        check.close()
    record(
        Record(
            case="SQLite: disk full (3 MiB tmpfs)",
            backend="sqlite",
            fault="ENOSPC",
            injected=len(errors),
            jobs=len(acknowledged),
            lost=0,
            overlapping=0,
        )
    )
