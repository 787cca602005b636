"""Recipes and schedules through the client, run by a real `jobyard up` (workers and engine)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jobyard.client import Client
from jobyard.core.recipes import RecipeStatus
from jobyard.core.states import JobStatus
from support.remote import wait_until

LAYERS, WIDTH = 10, 5  # 50 jobs: each after two jobs of the layer before it


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def dag() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The recipe's jobs (listed children first, to show the order comes from the graph) and
    each job's parents."""
    parents: dict[str, list[str]] = {}
    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"n{layer}{i}"
            if layer == 0:
                parents[name] = []
            else:
                parents[name] = sorted({f"n{layer - 1}{i}", f"n{layer - 1}{(i + 2) % WIDTH}"})
    jobs = [
        {
            "name": name,
            "job_type": {"name": "sample.node"},
            "args": {"name": name},
            "dependencies": [
                {"name": p, "connections": [{"output": "total", "input": f"from_{p}"}]} for p in ps
            ],
        }
        for name, ps in reversed(parents.items())
    ]
    return jobs, parents


def test_a_50_job_recipe_runs_in_dependency_order_and_a_failed_job_blocks_until_requeued(
    client: Client, tmp_path: Path
) -> None:
    jobs, parents = dag()
    name = unique("dag")
    client.create_recipe_type({"name": name, "definition": {"jobs": jobs}})
    recipe = client.create_recipe(name)
    assert len(recipe.nodes) == 50
    done = wait_until(
        lambda: (r := client.recipe(recipe.id)).status is RecipeStatus.COMPLETED and r,
        timeout=120, every=0.2, what="the 50-job recipe to complete",
    )  # fmt: skip
    ids = {n.name: n.job_id for n in done.nodes}
    jobs_by_name = {n: client.job(i) for n, i in ids.items()}
    total: dict[str, int] = {}
    for node in (n for layer in range(LAYERS) for n in parents if n.startswith(f"n{layer}")):
        total[node] = 1 + sum(total[p] for p in parents[node])
        job = jobs_by_name[node]
        assert job.status is JobStatus.COMPLETED
        assert job.result == {"name": node, "total": total[node], "job": job.id}
        [execution] = job.executions
        for p in parents[node]:  # started only after each parent had ended
            [before] = jobs_by_name[p].executions
            assert before.ended_at is not None and execution.started_at >= before.ended_at
        assert job.links is not None and sorted(x.name for x in job.links.parents) == parents[node]

    # a failed job in the middle keeps what follows it blocked until it is requeued
    closed = tmp_path / "closed"
    closed.write_text("")
    gated = unique("gated")
    client.create_recipe_type(
        {
            "name": gated,
            "definition": {
                "jobs": [
                    {"name": "a", "job_type": {"name": "sample.node"}, "args": {"name": "a"}},
                    {"name": "b", "job_type": {"name": "sample.gate"},
                     "args": {"closed": str(closed)},
                     "dependencies": [{"name": "a", "connections": [
                         {"output": "total", "input": "a"}]}]},
                    {"name": "c", "job_type": {"name": "sample.node"}, "args": {"name": "c"},
                     "dependencies": [{"name": "b", "connections": [
                         {"output": "total", "input": "b"}]}]},
                    {"name": "d", "job_type": {"name": "sample.node"}, "args": {"name": "d"},
                     "dependencies": [{"name": "a"}]},
                ]
            },
        }
    )  # fmt: skip
    second = client.create_recipe(gated)
    failed = wait_until(
        lambda: (r := client.recipe(second.id)).status is RecipeStatus.FAILED
        and r.node("d").status is JobStatus.COMPLETED and r,
        timeout=60, every=0.1, what="b to fail and d to complete",
    )  # fmt: skip
    assert failed.node("b").status is JobStatus.FAILED
    assert failed.node("c").status is JobStatus.BLOCKED
    closed.unlink()
    client.requeue_recipe(second.id)
    finished = wait_until(
        lambda: (r := client.recipe(second.id)).status is RecipeStatus.COMPLETED and r,
        timeout=60, every=0.1, what="the requeued recipe to complete",
    )  # fmt: skip
    c = client.job(finished.node("c").job_id)
    assert c.result == {"name": "c", "total": 3, "job": c.id}  # 1 + b's 2 (1 + a's 1)


def test_a_schedule_on_a_real_engine_makes_a_job_per_tick(client: Client) -> None:
    name = unique("every-second")
    made = client.create_schedule(
        {"name": name, "cron": "* * * * * *", "type": "sample.add", "args": {"a": 1, "b": 2}}
    )
    assert made.spec.enabled and made.next_fire_at is not None
    detail = wait_until(
        lambda: (d := client.schedule(name)).history and d.history[-1].job_id is not None and d,
        timeout=30, every=0.1, what="the engine to fire the schedule",
    )  # fmt: skip
    job = client.wait(detail.history[-1].job_id, timeout=30)
    assert (job.status, job.result, job.created_by) == (JobStatus.COMPLETED, 3, f"schedule:{name}")
    assert len(detail.next_runs) == 5
    disabled = client.update_schedule(name, {"enabled": False})
    assert not disabled.spec.enabled
    runs = client.schedule(name, history=1000)
    assert runs.next_runs == ()
    ticks = [r.fire_at for r in runs.history]
    assert len(set(ticks)) == len(ticks)  # one run, and at most one job, per tick
    client.delete_schedule(name)
