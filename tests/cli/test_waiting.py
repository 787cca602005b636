"""`jobyard show` says why a job waits, against a real `jobyard up` whose worker recorded what it
serves and has."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from jobyard.client import Client
from jobyard.core.limits import WaitCode
from support.remote import ADMIN_TOKEN, Cli, Server


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, token=ADMIN_TOKEN) as client:
        yield client


def test_show_says_why_a_job_waits(cli: Cli, client: Client) -> None:
    nobody = client.enqueue("sample.add", {"a": 1, "b": 2}, queue="cli-nobody")
    shown = cli("show", str(nobody))
    assert shown.code == 0, shown.err
    assert "waiting" in shown.out
    assert "no_worker: no live worker claims from queue 'cli-nobody'" in shown.out
    assert client.job(nobody).waiting.code is WaitCode.NO_WORKER  # type: ignore[union-attr]
    # the worker of `jobyard up` serves the default queue, with the machine's cpus
    ran = cli("enqueue", "sample.add", "a=1", "b=2", "--cpus", "100000", "--concurrency-key",
              "cli-k")  # fmt: skip
    assert ran.code == 0, ran.err
    huge = int(ran.out)
    assert client.job(huge).concurrency_limit == 1
    detail = json.loads(cli("show", str(huge), "--json").out)
    assert detail["waiting"]["code"] == "no_resources"
    assert "needs" in cli("show", str(huge)).out  # what it needs, on its own line
    client.cancel(huge)
    client.cancel(nobody)


def test_enqueue_holds_a_unique_key_for_a_while(cli: Cli, client: Client) -> None:
    args = ("enqueue", "sample.add", "a=1", "b=1", "--unique-key", "cli-once", "--unique-for",
            "3600", "--queue", "cli-nobody")  # fmt: skip
    first = cli(*args)
    assert first.code == 0, first.err
    client.cancel(int(first.out))  # finished: the key stays taken for the hour
    again = cli(*args)
    assert again.code == 1 and "unique key 'cli-once' is taken until" in again.err, again
