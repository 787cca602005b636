"""`jobyard up` stops cleanly on SIGTERM (systemd, docker stop): its worker goes with it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from jobyard.client import Client
from support.remote import FAST_ENV, wait_until
from support.servers import ADMIN_TOKEN, Server


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie that init has not reaped yet counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_sigterm_to_up_stops_its_worker(database_url: str, tmp_path: Path) -> None:
    server = Server(database_url=database_url, log_path=tmp_path / "up.log", **FAST_ENV)
    try:
        with Client(server.url, token=ADMIN_TOKEN) as client:
            wait_until(lambda: client.job_types().count, what="the worker's types")
            job = client.wait(client.enqueue("sample.add", {"a": 1, "b": 2}), timeout=30)
        worker = job.executions[0].ppid  # the worker's supervisor ran it
        assert worker is not None and not gone(worker)

        os.kill(server.proc.pid, signal.SIGTERM)  # the `up` process alone, not its group
        assert server.proc.wait(timeout=30) == 0
        wait_until(lambda: gone(worker), what=f"the worker {worker} to stop")
        assert "stopped" in server.log()
    finally:
        server.stop()
        try:  # whatever of its session is left if the test failed (stop() skips a dead leader)
            os.killpg(server.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
