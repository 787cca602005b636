"""How the CLI shows what the client returns: rich tables for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from jobyard.client.models import Event, Job
from jobyard.core.states import JobStatus

STATUS_STYLE = {
    "queued": "cyan",
    "scheduled": "blue",
    "blocked": "blue",
    "running": "yellow",
    "retrying": "magenta",
    "completed": "green",
    "failed": "red",
    "canceled": "dim",
}


def console() -> Console:
    """Standard output; plain text (no colours, no live display) when it is not a terminal.

    Into a pipe or file, tables get 200 columns (or $COLUMNS) rather than 80, so that rows stay
    whole for grep; scripts should read --json.
    """
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=200 if wide else None)


def plain(value: Any) -> Any:
    """Dataclasses, enums, tuples and datetimes as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # a field kept out of repr is internal (a spec's checked args text): out of output too
        fields = (f for f in dataclasses.fields(value) if f.repr)
        return {f.name: plain(getattr(value, f.name)) for f in fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def print_json(value: Any, *, lines: bool = False) -> None:
    """Pretty JSON, or one compact line (for streams: JSON lines)."""
    if lines:
        sys.stdout.write(json.dumps(plain(value), separators=(",", ":")) + "\n")
        sys.stdout.flush()
    else:
        sys.stdout.write(json.dumps(plain(value), indent=2) + "\n")


def status(value: JobStatus | str | None) -> Text:
    name = "" if value is None else str(getattr(value, "value", value))
    return Text(name, style=STATUS_STYLE.get(name, ""))


def when(moment: datetime | None) -> str:
    """Local time, to the second; the date only when it is not today."""
    if moment is None:
        return ""
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def seconds(job: Job) -> str:
    """How long the job has run (its latest attempt), or ran."""
    if job.started_at is None:
        return ""
    end = job.finished_at or datetime.now(job.started_at.tzinfo)
    return f"{max(0.0, (end - job.started_at).total_seconds()):.1f}s"


def progress(job: Job) -> str:
    if job.progress is None:
        return job.progress_desc or ""
    return f"{job.progress:3.0f}% {job.progress_desc or ''}".rstrip()


def compact(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def jobs_table(jobs: tuple[Job, ...] | list[Job], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("id", "right"), ("type", "left"), ("status", "left"), ("queue", "left"),
        ("pri", "right"), ("tries", "right"), ("progress", "left"), ("created", "left"),
        ("time", "right"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for job in jobs:
        table.add_row(
            str(job.id), job.type, status(job.status), job.queue, str(job.priority),
            f"{job.tries}/{job.max_tries}", Text(progress(job)), when(job.created_at), seconds(job),
        )  # fmt: skip
    return table


def outcome(job: Job, *, named: bool = True) -> Text:
    """One line: how the job ended (or where it is)."""
    line = Text(f"job {job.id} " if named else "")
    line.append_text(status(job.status))
    took = seconds(job)
    if job.status is JobStatus.COMPLETED:
        line.append(f" in {took}" if took else "")
        if job.result is not None:
            line.append(f": {compact(job.result, 200)}")
    elif job.status is JobStatus.FAILED and job.error:
        line.append(
            f" after {job.tries} tries: {job.error.get('type')}: {job.error.get('message')}"
        )
    elif job.status is JobStatus.CANCELED and job.canceled_by:
        line.append(f" by {job.canceled_by}")
    return line


def log_line(event: Event, *, with_time: bool = True) -> Text:
    """A log line, as written; markup in it is shown, never interpreted."""
    stream = event.data.get("stream")
    line = Text()
    if with_time:
        line.append(f"{when(event.at)} ", style="dim")
    line.append(event.text, style="red" if stream == "stderr" else "")
    return line
