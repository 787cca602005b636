"""GET /api/v1/jobs: filters (status, type, queue, tag, time range, search, removed) and pages.

Jobs are made at known times by a store whose clock the test owns, so time-range boundaries are
exact: ``created_after`` includes its moment, ``created_before`` excludes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from jobyard.core.backoff import Backoff
from jobyard.core.models import Outcome, TypeDefinition, TypeKind
from jobyard.core.states import ExecutionStatus
from jobyard.store import Store

from .conftest import Api

V1 = "/api/v1"
T0 = 1_800_000_000.0  # 2027-01-15


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@dataclass(frozen=True)
class Jobs:
    """Four jobs, ten seconds apart, each different in every filtered field."""

    api: Api
    alpha: int  # t.echo, qa, [red], queued
    beta: int  # t.other, qb, [blue], canceled
    gamma: int  # t.echo, qb, [red, blue], completed
    delta: int  # t.other, qa, [], failed with "kaboom"

    def ids(self, **params: Any) -> list[int]:
        response = self.api.get(f"{V1}/jobs", params={"sort": "id", **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["results"]), body  # all on one page here
        return [job["id"] for job in body["results"]]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.fixture
def jobs(make_store: Callable[..., Store]) -> Iterator[Jobs]:
    clock = Clock()
    api = Api(make_store(clock=clock))
    api.store.type_register(
        TypeDefinition(name="t.other", kind=TypeKind.PYTHON, target="apitest:quick", max_tries=1,
                       backoff=Backoff(base=1, jitter=0))
    )  # fmt: skip

    def make(type: str, queue: str, tags: list[str], name: str) -> int:
        clock.t += 10
        return api.enqueue(type=type, queue=queue, tags=tuple(tags), args={"name": name})

    def run(queue: str, type: str, **outcome: Any) -> None:
        [claim] = api.store.job_claim(
            worker_id="w", queues=[queue], types=[type], limit=1, lease=60
        )
        api.store.job_finish([Outcome(execution_id=claim.execution_id, **outcome)])

    alpha = make("t.echo", "qa", ["red"], "alpha")
    beta = make("t.other", "qb", ["blue"], "beta")
    api.store.job_cancel(beta)
    gamma = make("t.echo", "qb", ["red", "blue"], "gamma")
    run("qb", "t.echo", status=ExecutionStatus.COMPLETED, result={"ok": True})
    delta = make("t.other", "qa", [], "alphabet")
    run("qa", "t.other", status=ExecutionStatus.FAILED, error_type="ValueError",
        error_message="kaboom", retryable=False)  # fmt: skip
    yield Jobs(api, alpha, beta, gamma, delta)
    api.close()


def test_each_filter_narrows_the_list(jobs: Jobs) -> None:
    a, b, c, d = jobs.alpha, jobs.beta, jobs.gamma, jobs.delta
    assert jobs.ids() == [a, b, c, d]
    # status: one, several, comma-separated or repeated
    assert jobs.ids(status="queued") == [a]
    assert jobs.ids(status="queued,canceled") == [a, b]
    assert jobs.ids(status=["completed", "failed"]) == [c, d]
    # type, queue, tag
    assert jobs.ids(type="t.other") == [b, d]
    assert jobs.ids(queue="qa") == [a, d]
    assert jobs.ids(queue="qa,qb") == [a, b, c, d]
    assert jobs.ids(tag="red") == [a, c]
    assert jobs.ids(tag="blue") == [b, c]
    assert jobs.ids(tag="green") == []
    # filters combine
    assert jobs.ids(type="t.echo", tag="blue") == [c]
    assert jobs.ids(queue="qa", status="failed") == [d]


def test_time_range_includes_its_start_and_excludes_its_end(jobs: Jobs) -> None:
    a, b, c, d = jobs.alpha, jobs.beta, jobs.gamma, jobs.delta
    created = {j: jobs.api.get(f"{V1}/jobs/{j}").json()["created_at"] for j in (a, b, c, d)}
    assert created[b] == iso(T0 + 20).replace("+00:00", "Z")
    assert jobs.ids(created_after=iso(T0 + 20)) == [b, c, d]
    assert jobs.ids(created_before=iso(T0 + 30)) == [a, b]
    assert jobs.ids(created_after=iso(T0 + 20), created_before=iso(T0 + 40)) == [b, c]
    assert jobs.ids(created_after=iso(T0 + 41)) == []
    # any zone means the same moment
    assert jobs.ids(created_after="2027-01-15T10:00:20+02:00") == [b, c, d]


def test_search_finds_text_in_args_error_and_type_literally(jobs: Jobs) -> None:
    a, b, c, d = jobs.alpha, jobs.beta, jobs.gamma, jobs.delta
    assert jobs.ids(search="alpha") == [a, d]
    assert jobs.ids(search="kaboom") == [d]
    assert jobs.ids(search="t.oth") == [b, d]
    assert jobs.ids(search="gamma", status="completed") == [c]
    # LIKE wildcards are text, not patterns
    assert jobs.ids(search="%") == []
    assert jobs.ids(search="_") == []


def test_removed_jobs_are_hidden_unless_asked_for(jobs: Jobs) -> None:
    a, b, c, d = jobs.alpha, jobs.beta, jobs.gamma, jobs.delta
    assert jobs.api.post(f"{V1}/jobs/{b}/remove").status_code == 200
    assert jobs.ids() == [a, c, d]
    assert jobs.ids(include_removed="true") == [a, b, c, d]
    assert jobs.api.get(f"{V1}/jobs/{b}").json()["removed_by"] == "admin"  # still readable


def test_pages_count_every_match_and_link_next_and_previous(jobs: Jobs) -> None:
    api = jobs.api
    more = [api.enqueue(queue="qc", args={"n": n}) for n in range(5)]
    every = [jobs.alpha, jobs.beta, jobs.gamma, jobs.delta, *more]

    def page(url: str, **params: Any) -> dict[str, Any]:
        response = api.get(url, params=params or None)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = page(f"{V1}/jobs", per_page=4, sort="id")
    assert first["count"] == 9 and first["previous"] is None
    assert [j["id"] for j in first["results"]] == every[:4]
    seen, url, pages = [], f"{V1}/jobs?per_page=4&sort=id", 0
    while url:
        body = page(url.removeprefix("http://testserver"))
        assert body["count"] == 9
        seen += [j["id"] for j in body["results"]]
        pages += 1
        url = body["next"]
    assert seen == every and pages == 3
    last = page(f"{V1}/jobs", per_page=4, sort="id", page=3)
    assert last["next"] is None and "page=2" in last["previous"]
    assert "per_page=4" in last["previous"] and "sort=id" in last["previous"]

    # links keep the filters; counts are of the matches, not of all jobs
    filtered = page(f"{V1}/jobs", queue="qc", per_page=2)
    assert filtered["count"] == 5 and len(filtered["results"]) == 2
    assert "queue=qc" in filtered["next"] and "page=2" in filtered["next"]
    # past the end: nothing, and a way back to the last page
    beyond = page(f"{V1}/jobs", per_page=4, page=10)
    assert beyond["results"] == [] and beyond["count"] == 9 and beyond["next"] is None
    assert "page=3" in beyond["previous"]
    # sorting
    assert [j["id"] for j in page(f"{V1}/jobs", per_page=3)["results"]] == every[::-1][:3]
