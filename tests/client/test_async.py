"""The asyncio client against the same real server: the same operations, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

import pytest

from jobyard.client import AsyncClient, Event
from jobyard.core.errors import Forbidden, Invalid, InvalidTransition, NotFound, Unreachable
from jobyard.core.states import JobStatus
from support.remote import ADMIN_TOKEN, Server
from support.servers import free_port

T = TypeVar("T")


def run(server: Server, scenario: Callable[[AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AsyncClient(server.url, token=ADMIN_TOKEN) as client:
            return await scenario(client)

    return asyncio.run(main())


async def until_running(client: AsyncClient, job_id: int, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while (await client.job(job_id)).status is not JobStatus.RUNNING:
            await asyncio.sleep(0.05)


def test_enqueue_follow_wait(server: Server) -> None:
    async def scenario(client: AsyncClient) -> list[Event]:
        job_id = await client.enqueue("sample.chatty")
        async with aclosing(client.follow(job_id)) as stream:
            events = [event async for event in stream]
        job = await client.wait(job_id, timeout=10)
        assert job.status is JobStatus.COMPLETED and job.result["id"] == job_id
        return events

    events = run(server, scenario)
    assert events[0].job is not None and events[-1].kind == "close"
    assert [e.text for e in events if e.kind == "log"] == ["out 1", "log 2", "err 3", "log 4",
                                                         "out 5"]  # fmt: skip
    assert [e.desc for e in events if e.kind == "progress"] == ["half"]


def test_pages_log_and_many(server: Server) -> None:
    async def scenario(client: AsyncClient) -> None:
        ids = await client.enqueue_many(
            [{"type": "sample.add", "args": {"a": i, "b": i}, "tags": ["async-many"]}
             for i in range(3)]
        )  # fmt: skip
        for job_id in ids:
            await client.wait(job_id, timeout=30)
        listed = [j.id async for j in client.iter_jobs(tag="async-many", per_page=1)]
        assert listed[-3:] == ids

        chatty = await client.enqueue("sample.chatty")
        await client.wait(chatty, timeout=30)
        first = await client.log(chatty, limit=3)
        rest = await client.log(chatty, after=first.next_after)
        assert [x.text for x in first.lines + rest.lines] == ["out 1", "log 2", "err 3",
                                                              "log 4", "out 5"]  # fmt: skip
        async with aclosing(client.follow_log(chatty, after=first.next_after)) as lines:
            assert [x.text async for x in lines] == ["log 4", "out 5"]

    run(server, scenario)


def test_kill_restart_and_errors(server: Server) -> None:
    async def scenario(client: AsyncClient) -> None:
        job_id = await client.enqueue("sample.sleep", {"seconds": 60})
        await until_running(client, job_id)
        await client.kill(job_id)
        assert (await client.wait(job_id, timeout=30)).status is JobStatus.CANCELED
        new = await client.restart(job_id)
        assert new.restart_of == job_id and new.args == {"seconds": 60}
        await client.kill(new.id)  # waiting: canceled at once; running: stopped by its worker
        assert (await client.wait(new.id, timeout=30)).status is JobStatus.CANCELED

        with pytest.raises(NotFound):
            await client.job(10**12)
        with pytest.raises(InvalidTransition):
            await client.cancel(job_id)
        with pytest.raises(Invalid) as invalid:
            await client.enqueue("sample.add", delay=-1)
        assert invalid.value.field == "delay"

    run(server, scenario)


def test_viewer_is_refused_and_nobody_is_unreachable(server: Server) -> None:
    async def scenario(client: AsyncClient) -> None:
        await client.add_user("async-viewer", role="viewer", password="viewer-password")
        try:
            job_id = await client.enqueue("sample.add", {"a": 1, "b": 1}, delay=3600)
            async with AsyncClient(server.url, user="async-viewer",
                                   password="viewer-password") as viewer:  # fmt: skip
                assert (await viewer.job(job_id)).id == job_id
                with pytest.raises(Forbidden):
                    await viewer.cancel(job_id)
            await client.cancel(job_id)
        finally:
            await client.remove_user("async-viewer")
        async with AsyncClient(f"http://127.0.0.1:{free_port()}") as nobody:
            with pytest.raises(Unreachable):
                await nobody.health()

    run(server, scenario)
