"""The chaos report: every record the chaos cases kept (support/chaos.py ``record``), as one
Markdown table per run in ``test-output/chaos-report.md``. tests/conftest.py calls these hooks
on the controlling process (the xdist workers only write records)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime

import pytest

from support.chaos import LONG, REPORT_DIR, SESSION_ENV, session_records

REPORT = REPORT_DIR / "chaos-report.md"


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def start(config: pytest.Config) -> None:
    # A folder of records per session, named in the environment the xdist workers inherit
    # (they start after this hook): another pytest session in the same checkout (someone
    # running a few tests) neither takes this one's records nor mixes in its own.
    if _controller(config):
        os.environ[SESSION_ENV] = uuid.uuid4().hex


def finish(config: pytest.Config) -> None:
    folder = session_records()
    if not _controller(config) or not folder.exists():
        return
    rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    shutil.rmtree(folder, ignore_errors=True)
    if not rows:
        return
    rows.sort(key=lambda r: (r["case"], r["backend"]))

    def cell(value: object, fmt: str = "{}") -> str:
        return "-" if value is None else fmt.format(value)

    lines = [
        "# jobyard chaos report",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, scale "
        f"{'long (make chaos)' if LONG else 'short (make test)'}. Each row is one case: the "
        "fault, how many times it was injected, the jobs it covered, jobs lost and attempts "
        "that overlapped (both must be 0), the longest recovery after a fault, and the "
        "memory slope of soaks. Written by tests/support/chaos_report.py.",
        "",
        "| case | backend | fault | injected | jobs | lost | overlapping | recovery (s) "
        "| memory slope (KiB/min) | notes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['backend']} | {r['fault']} | {r['injected']} | {r['jobs']} "
            f"| {r['lost']} | {r['overlapping']} | {cell(r['recovery_s'], '{:.1f}')} "
            f"| {cell(r.get('memory_slope_kib_min'), '{:+.0f}')} | {r['note']} |"
        )
    lost = sum(r["lost"] for r in rows)
    overlapping = sum(r["overlapping"] for r in rows)
    lines += ["", f"Total: {len(rows)} cases, {lost} jobs lost, {overlapping} overlapping "
              "attempts.", ""]  # fmt: skip
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"chaos report: {REPORT} ({len(rows)} cases, {lost} lost, "
                            f"{overlapping} overlapping)")  # fmt: skip
