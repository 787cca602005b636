"""The limits behind the security model, on their own: failed sign-ins in a sliding window, live
streams per user, cut log lines; and secrets compared only in constant time (a source check)."""

from __future__ import annotations

import asyncio
import gc
import pwd
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException

from jobyard.api.limits import LoginLimiter, Subscribers
from jobyard.core.errors import Invalid
from jobyard.core.models import LOG_TAIL, MAX_LOG_LINE, LogLine, cut_line
from jobyard.core.throttle import Throttle
from jobyard.worker.capture import LineSplitter
from jobyard.worker.executors import command
from jobyard.worker.executors.command import RunAs

SRC = Path(__file__).parents[2] / "src" / "jobyard"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_per_name_slide_out_of_the_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_name=3, per_address=100, window=60.0, clock=clock)
    for _ in range(3):
        assert limiter.wait("ann", "10.0.0.1") == 0
        limiter.failed("ann", "10.0.0.1")
        clock.now += 10  # failures at 1000, 1010, 1020
    assert limiter.wait("ann", "10.0.0.9") == pytest.approx(30.0)  # until 1000 + 60; any address
    assert limiter.wait("bob", "10.0.0.1") == 0  # another name
    clock.now = 1060.0  # the first failure has left the window: one try
    assert limiter.wait("ann", None) == 0
    limiter.failed("ann", None)
    assert limiter.wait("ann", None) == pytest.approx(10.0)  # the 1010 one leaves next
    clock.now = 1200.0
    assert limiter.wait("ann", None) == 0


def test_a_success_clears_its_name_but_not_its_address() -> None:
    clock = Clock()
    limiter = LoginLimiter(per_name=2, per_address=3, window=60.0, clock=clock)
    limiter.failed("ann", "10.0.0.1")
    limiter.failed("ann", "10.0.0.1")
    assert limiter.wait("ann", "10.0.0.2") > 0
    limiter.succeeded("ann")
    assert limiter.wait("ann", "10.0.0.2") == 0
    limiter.failed("cat", "10.0.0.1")  # the address's third failure, under three names
    assert limiter.wait("dan", "10.0.0.1") == pytest.approx(60.0)
    assert limiter.wait("dan", "10.0.0.2") == 0


def test_the_throttle_forgets_in_bulk_rather_than_grow() -> None:
    clock = Clock()
    throttle = Throttle(limit=1, window=1.0, clock=clock, max_keys=10)
    for n in range(10):
        throttle.failed(f"user{n}")
    clock.now += 2  # all stale
    throttle.failed("late")
    assert len(throttle) == 1
    for n in range(20):  # fresh ones past the bound: it starts over
        throttle.failed(f"x{n}")
        assert len(throttle) <= 10
    assert throttle.wait("x19") == pytest.approx(1.0)


def test_live_streams_per_user_are_counted_until_they_end() -> None:
    subscribers = Subscribers(2)

    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield f"{i}"

    async def drain(held: object) -> list[str]:
        return [chunk async for chunk in held]  # type: ignore[attr-defined]

    one = subscribers.hold("ann", stream(2))
    two = subscribers.hold("ann", stream(1))
    with pytest.raises(HTTPException) as refused:
        subscribers.hold("ann", stream(1))
    assert refused.value.status_code == 429 and refused.value.headers == {"Retry-After": "5"}
    assert subscribers.hold("bob", stream(0)) is not None  # per user
    assert asyncio.run(drain(one)) == ["0", "1"]
    assert subscribers.count("ann") == 1
    del two  # a response that never started streaming still gives its slot back
    gc.collect()
    assert subscribers.count("ann") == 0


def test_a_long_captured_line_keeps_its_start_and_end() -> None:
    splitter = LineSplitter()
    lines: list[bytes] = []
    for _ in range(50):  # 50 x 64 KiB without a newline
        lines += splitter.feed(b"a" * 65536)
    assert lines == []
    lines += splitter.feed(b"Z\nshort\n" + b"b" * 100_000 + b"\nlast")
    tail = splitter.tail()
    assert tail == b"last"
    first, short, second = lines
    for line, fill in ((first, b"a"), (second, b"b")):
        assert len(line) <= MAX_LOG_LINE
        assert line.startswith(fill * 1000)
        assert re.search(rb" \[\.\.\. \d+ bytes cut \.\.\.\] ", line)
    assert first.endswith(b"a" * (LOG_TAIL - 1) + b"Z") and short == b"short"
    dropped = int(re.search(rb"(\d+) bytes cut", first).group(1))  # type: ignore[union-attr]
    kept = len(first) - len(re.search(rb" \[.*\] ", first).group(0))  # type: ignore[union-attr]
    assert kept + dropped == 50 * 65536 + 1  # every byte is kept or counted


def test_a_long_log_line_from_python_is_cut_the_same_way() -> None:
    text = "c" * 1_000_000 + "END"
    line = LogLine(1, 1, 0.0, "stdout", text)
    assert len(line.text) <= MAX_LOG_LINE and line.text.endswith("END")
    assert "characters cut" in line.text and line.text == cut_line(text)
    assert LogLine(1, 1, 0.0, "stdout", "fine").text == "fine"


SECRET_NAMES = r"(token|csrf|pwdhash|password|signature|secret|digest|wanted|expected|given)"


def test_secrets_are_compared_in_constant_time() -> None:
    """No ``==`` or ``!=`` between values named like secrets in the code that checks them;
    those comparisons go through hmac.compare_digest."""
    compare = re.compile(
        rf"\b\w*{SECRET_NAMES}\w*\b(\([^)]*\)|\[[^\]]*\]|\.\w+)*\s*(==|!=)\s*[\w\"']"
        rf"|[\w)\]]\s*(==|!=)\s*\b[\w.]*{SECRET_NAMES}"
    )
    checked = [
        SRC / "api" / "auth.py",
        SRC / "api" / "session.py",
        SRC / "api" / "dialects" / "core4" / "protocol.py",
        SRC / "faktory" / "protocol.py",
        SRC / "faktory" / "server.py",
    ]
    found = []
    for path in checked:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if compare.search(code) and "is None" not in code:
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not found, "secrets compared with == or !=:\n" + "\n".join(found)
    for path in (SRC / "api" / "session.py", SRC / "faktory" / "protocol.py"):
        assert "hmac.compare_digest" in path.read_text(), path


def test_run_as_needs_root_for_anyone_else(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setattr(command.os, "geteuid", lambda: 1000)
    with pytest.raises(Invalid, match="needs a worker running as root"):
        RunAs.named("nobody")
    monkeypatch.setattr(command.os, "geteuid", lambda: nobody.pw_uid)
    assert RunAs.named("nobody").uid == nobody.pw_uid  # oneself: nothing to switch
    with pytest.raises(Invalid, match="no user 'no-such-user-xq'"):
        RunAs.named("no-such-user-xq")
