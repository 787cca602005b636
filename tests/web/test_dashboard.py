"""The dashboard as a person uses it, in headless chromium, on both backends.

Everything the page shows comes from the public API; these tests act through the page and check
the result through the API (and the other way round).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlparse

from support.servers import ADMIN_TOKEN, jobyard_env, wait_for

from .conftest import PHONE, SCREENSHOTS, WIDE, Site

PAGES = ["/ui/", "/ui/jobs", "/ui/types", "/ui/recipes", "/ui/schedules", "/ui/services",
         "/ui/workers", "/ui/processes"]  # fmt: skip


def cli(site: Site, *args: str) -> str:
    """`jobyard …` against the site's server, as a person would type it."""
    done = subprocess.run(
        [sys.executable, "-m", "jobyard.cli.main", *args, "--url", site.url,
         "--token", ADMIN_TOKEN],
        env=jobyard_env(""), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_sign_in_then_the_overview_counts_and_charts_match_the_api(site: Site) -> None:
    done = [site.enqueue("demo.echo", message=f"hello {i}") for i in range(2)]
    wait_for(lambda: all(site.job(j)["status"] == "completed" for j in done), message="echoes")
    page = site.page("operator")
    assert urlparse(page.url).path == "/ui/"
    assert page.inner_text("#who").startswith("operator (operator)")

    def card(state: str) -> int:
        return int(page.inner_text(f'.card[data-state="{state}"] .n').replace(",", ""))

    completed = site.api.get("/api/v1/jobs", params={"status": "completed", "per_page": 1})
    wait_for(lambda: card("completed") >= completed.json()["count"] >= 2, timeout=10)

    chart = page.wait_for_selector("#load-chart[data-count]")
    started, ended = chart.get_attribute("data-started"), chart.get_attribute("data-ended")
    load = site.api.get(
        "/api/v1/load", params={"started": started, "ended": ended, "per_page": 1000}
    )
    samples = load.json()["results"]
    assert int(chart.get_attribute("data-count") or -1) == load.json()["count"]
    total = sum(p["queued"] + p["running"] + p["pending"] + p["blocked"] for p in samples)
    assert int(chart.get_attribute("data-sum") or -1) == total
    page.context.close()


def test_the_jobs_list_follows_enqueues_from_the_cli_and_filters_live_in_the_url(
    site: Site,
) -> None:
    page = site.page("operator")
    page.goto(f"{site.url}/ui/jobs?type=demo.count&status=queued,running,completed")
    page.wait_for_selector("#jobs-count")
    out = cli(site, "enqueue", "demo.count", "n=3", "--json")
    job_id = int(re.search(r'"id":\s*(\d+)', out).group(1))  # type: ignore[union-attr]
    row = page.wait_for_selector(f'#jobs-table tr[data-id="{job_id}"]')
    assert row is not None
    wait_for(lambda: page.get_attribute(f'tr[data-id="{job_id}"]', "data-status") == "completed",
             message="the row turns completed without a reload")  # fmt: skip

    page.click('button.chip[data-state="failed"]')
    wait_for(lambda: "failed" in parse_qs(urlparse(page.url).query).get("status", [""])[0])
    shared = page.url
    fresh = page.context.new_page()
    site.watch(fresh)
    fresh.goto(shared)
    fresh.wait_for_selector("#jobs-count")
    for state in ("queued", "running", "completed", "failed"):
        assert fresh.get_attribute(f'button.chip[data-state="{state}"]', "aria-pressed") == "true"
    assert fresh.get_attribute('button.chip[data-state="canceled"]', "aria-pressed") == "false"
    assert fresh.input_value("select[name=type]") == "demo.count"
    assert fresh.is_visible(f'tr[data-id="{job_id}"]')
    page.context.close()


def test_a_job_page_follows_its_log_and_progress_and_kills_it(site: Site) -> None:
    job_id = site.enqueue("demo.sleep", sleep=60)
    page = site.page("operator")
    page.goto(f"{site.url}/ui/jobs/{job_id}")

    def lines() -> int:
        return page.locator("#log .line").count()

    def percent() -> float:
        return float(page.get_attribute("#progress .progress", "aria-valuenow") or 0)

    wait_for(lambda: lines() >= 2 and percent() > 0, message="log and progress arrive")
    seen_lines, seen_percent = lines(), percent()
    wait_for(lambda: lines() > seen_lines and percent() > seen_percent, message="they move")

    page.fill("#log + * input, input[aria-label='Search the log']", "step 2 ")
    assert page.locator("#log mark").first.inner_text() == "step 2 "
    page.fill("input[aria-label='Search the log']", "")
    page.click("#follow")  # pause: new lines wait behind a button
    paused_at = lines()
    page.wait_for_selector("text=/new lines? ↓/")
    assert lines() == paused_at
    page.click("#follow")

    page.click('#actions button[data-action="kill"]')
    page.click("dialog[open] button.danger")
    wait_for(lambda: site.job(job_id)["status"] == "canceled", message="the kill lands")
    page.wait_for_selector("h1 .badge.s-canceled")
    assert site.job(job_id)["kill_requested_by"] == "operator"
    assert page.locator("#executions tbody tr").count() == 1
    page.context.close()


def test_a_viewer_sees_no_actions_and_a_forged_change_is_refused(site: Site) -> None:
    job_id = site.enqueue("demo.sleep", sleep=30)
    page = site.page("viewer")
    page.goto(f"{site.url}/ui/jobs/{job_id}")
    page.wait_for_selector("#executions")
    assert page.locator("#actions").count() == 0
    assert page.locator("button[data-action]").count() == 0
    page.goto(f"{site.url}/ui/jobs")
    page.wait_for_selector("#jobs-table tbody tr")
    assert page.locator("#jobs-table input[type=checkbox]").count() == 0

    forged: dict[str, Any] = page.evaluate(
        """async (id) => {
            const post = (headers) => fetch(`/api/v1/jobs/${id}/kill`, {method: "POST", headers})
                .then((r) => r.status);
            const session = await fetch("/api/v1/session").then((r) => r.json());
            return {bare: await post({}), token: await post({"X-CSRF-Token": session.csrf_token})};
        }""",
        job_id,
    )
    assert forged == {"bare": 403, "token": 403}
    refused = [e for e in site.console_errors if "403 (Forbidden)" in e]
    assert len(refused) == 2  # the browser logs each refusal; they were the point here
    site.console_errors[:] = [e for e in site.console_errors if e not in refused]
    assert site.job(job_id)["status"] in ("queued", "running")
    site.api.post(f"/api/v1/jobs/{job_id}/kill")
    page.context.close()


def test_a_bulk_requeue_from_the_jobs_page(site: Site) -> None:
    # delayed, so that the site's worker cannot finish them before they are canceled
    ids = [site.enqueue("demo.sleep", sleep=0.01 * i, _delay=3600) for i in range(2)]
    for job_id in ids:
        site.api.post(f"/api/v1/jobs/{job_id}/cancel")
    page = site.page("operator")
    page.goto(f"{site.url}/ui/jobs?status=canceled&type=demo.sleep")
    for job_id in ids:
        page.check(f'tr[data-id="{job_id}"] input[type=checkbox]')
    page.click('.bulk button[data-action="requeue"]')
    page.click("dialog[open] button.primary")
    page.wait_for_selector("text=/Requeue: 2 done/")
    for job_id in ids:  # requeued to run now, not at the hour's delay
        wait_for(lambda job_id=job_id: site.job(job_id)["status"] == "completed",
                 message=f"requeued job {job_id} runs to completion")  # fmt: skip
    page.context.close()


def test_a_recipe_graph_colours_each_job_by_its_state(site: Site) -> None:
    steps = [
        {"name": "fetch", "job_type": {"name": "demo.echo"}, "args": {"message": "a"}},
        {"name": "split", "job_type": {"name": "demo.echo"}, "args": {"message": "b"},
         "dependencies": [{"name": "fetch"}]},
        {"name": "wait", "job_type": {"name": "demo.sleep"}, "args": {"sleep": 60},
         "dependencies": [{"name": "fetch"}]},
        {"name": "join", "job_type": {"name": "demo.echo"}, "args": {"message": "c"},
         "dependencies": [{"name": "split"}, {"name": "wait"}]},
    ]  # fmt: skip
    made = site.api.post("/api/v1/recipe-types", json={"name": f"chain-{site.backend}",
                                                        "definition": {"jobs": steps}})  # fmt: skip
    assert made.status_code == 201, made.text
    recipe = site.api.post("/api/v1/recipes", json={"type": f"chain-{site.backend}"}).json()
    page = site.page("operator")
    page.goto(f"{site.url}/ui/recipes/{recipe['id']}")
    page.wait_for_selector("svg.graph g.node")
    assert page.locator("svg.graph g.node").count() == 4
    assert page.locator("svg.graph path.edge").count() == 4
    wait_for(lambda: page.get_attribute('g.node[aria-label^="wait"]', "data-status") == "running",
             message="the graph follows the running node")  # fmt: skip
    assert page.get_attribute('g.node[aria-label^="join"]', "data-status") == "blocked"
    page.click('g.node[aria-label^="wait"]')
    page.wait_for_url(re.compile(r"/ui/jobs/\d+$"))
    site.api.post(f"/api/v1/recipes/{recipe['id']}/cancel")
    page.context.close()


def test_every_page_renders_at_laptop_and_phone_width_without_console_errors(site: Site) -> None:
    folder = SCREENSHOTS / site.backend
    shutil.rmtree(folder, ignore_errors=True)  # only this run's pictures
    folder.mkdir(parents=True)
    job_id = site.enqueue("demo.echo", message="screenshot")
    for name, viewport in (("1280x800", WIDE), ("390x844", PHONE)):
        page = site.page("admin", viewport=viewport)
        for path in [*PAGES, f"/ui/jobs/{job_id}"]:
            page.goto(f"{site.url}{path}")
            # <main> starts empty and the script fills it: wait for a heading first (an empty
            # <main> has no "Loading…" to wait away), then for the data behind it
            page.wait_for_selector("main h1", timeout=20_000)
            page.wait_for_selector("main > p.muted", state="detached")  # "Loading…" gone
            page.wait_for_timeout(300)  # charts and fonts settle before the picture
            slug = path.removeprefix("/ui/").strip("/").replace("/", "-") or "overview"
            page.screenshot(path=str(folder / f"{slug}-{name}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"] + 1, f"{name}: the page is wider than the screen"
        page.context.close()
    assert site.console_errors == []
