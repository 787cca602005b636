"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a real
`jobyard up` per backend. One server and one browser per module (both are slow to start).

Screenshots go to ``test-output/dashboard/`` at the repository root (or JOBYARD_SCREENSHOTS).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.remote import database
from support.servers import ADMIN_PASSWORD, Server, wait_for

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORDS = {"admin": ADMIN_PASSWORD, "operator": "operator-password", "viewer": "viewer-password"}
SCREENSHOTS = Path(
    os.environ.get("JOBYARD_SCREENSHOTS") or Path(__file__).parents[2] / "test-output" / "dashboard"
)
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Site:
    """A running server, an admin API client, and the browser that looks at it."""

    backend: str
    server: Server
    api: httpx.Client
    browser: Any
    console_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def page(self, who: str = "operator", viewport: dict[str, int] | None = None) -> Any:
        """A new browser context signed in as ``who`` through the login form."""
        context = self.browser.new_context(viewport=viewport or WIDE)
        context.set_default_timeout(15_000)
        page = context.new_page()
        self.watch(page)
        page.goto(f"{self.url}/")
        page.wait_for_url("**/ui/login**")
        page.fill("input[name=name]", who)
        page.fill("input[name=password]", PASSWORDS[who])
        page.click("button[type=submit]")
        page.wait_for_selector("#nav a")
        return page

    def watch(self, page: Any) -> None:
        def console(message: Any) -> None:
            if message.type == "error":
                self.console_errors.append(f"{page.url}: {message.text}")

        page.on("console", console)
        page.on("pageerror", lambda error: self.console_errors.append(f"{page.url}: {error}"))

    def enqueue(self, type: str, _delay: float | None = None, **args: Any) -> int:
        job: dict[str, Any] = {"type": type, "args": args}
        if _delay is not None:
            job["delay"] = _delay
        response = self.api.post("/api/v1/jobs", json=job)
        assert response.status_code == 201, response.text
        job_id: int = response.json()["ids"][0]
        return job_id

    def job(self, job_id: int) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get(f"/api/v1/jobs/{job_id}").json()
        return body


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make browser` installs Debian's")
        pytest.skip("chromium is not installed (make browser)")
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    folder = tmp_path_factory.mktemp(f"web-{request.param}")
    with database(request.param, folder, postgres_databases) as url:
        server = Server(
            database_url=url,
            log_path=folder / "server.log",
            app="jobyard.demo.app:app",
            extra_args=["--faktory-port", "0", "--concurrency", "4"],
        )
        api = server.client()
        try:
            wait_for(
                lambda: api.get("/api/v1/types/demo.sleep").status_code == 200,
                message="the demo worker registers its types",
            )
            for who in ("operator", "viewer"):
                made = api.post(
                    "/api/v1/users", json={"name": who, "role": who, "password": PASSWORDS[who]}
                )
                assert made.status_code == 201, made.text
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
                try:
                    yield Site(request.param, server, api, browser)
                finally:
                    browser.close()
        finally:
            api.close()
            server.stop()
