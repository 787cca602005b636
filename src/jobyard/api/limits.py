"""Limits the HTTP app keeps: request body size, failed sign-ins, live event streams per user.

A chunked request has no Content-Length, so the header alone cannot keep a huge body out of memory;
the count is kept as the body arrives and reading stops at the limit with a 413.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobyard.api.errors import error_response
from jobyard.core.throttle import Throttle


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.message = f"request bodies are limited to {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await error_response(413, "too_large", self.message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # raised where the app reads the body, so its error handler answers 413
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)


class LoginLimiter:
    """Failed password checks in a sliding window, per user name and per client address.

    Once a name (or an address) has ``per_name`` (``per_address``) failures in the last
    ``window`` seconds, further password checks for it are refused with 429 until the oldest of
    those failures leaves the window; they are not even verified, so guessing costs the server
    nothing. A success clears its name's failures. Kept in memory: each server process counts
    on its own (docs/operations/security.md).
    """

    def __init__(
        self,
        *,
        per_name: int,
        per_address: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = Throttle(limit=per_name, window=window, clock=clock)
        self.addresses = Throttle(limit=per_address, window=window, clock=clock)

    def wait(self, name: str, address: str | None) -> float:
        """Seconds before a password check for ``name`` from ``address`` may be tried (0: now)."""
        return max(self.names.wait(name), self.addresses.wait(address) if address else 0.0)

    def failed(self, name: str, address: str | None) -> None:
        self.names.failed(name)
        if address:
            self.addresses.failed(address)

    def succeeded(self, name: str) -> None:
        self.names.clear(name)


def too_many(wait: float, what: str) -> HTTPException:
    """429 with Retry-After in whole seconds (at least 1)."""
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429, f"too many {what}; try again in {seconds} s", headers={"Retry-After": str(seconds)}
    )


class Subscribers:
    """Live event streams held open per user on this server; one more than ``limit`` gets 429."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, name: str) -> int:
        with self._lock:
            return self._open.get(name, 0)

    def hold(self, name: str, stream: AsyncIterator[str]) -> AsyncIterable[str]:
        """``stream``, counted against ``name`` until it ends, fails or its client goes away."""
        with self._lock:
            held = self._open.get(name, 0)
            if held >= self.limit:
                raise HTTPException(
                    429,
                    f"{name} already has {held} live event streams open on this server (the "
                    f"limit is {self.limit}); close one first",
                    headers={"Retry-After": "5"},
                )
            self._open[name] = held + 1
        return _Held(self, name, stream)

    def _release(self, name: str) -> None:
        with self._lock:
            left = self._open.get(name, 0) - 1
            if left > 0:
                self._open[name] = left
            else:
                self._open.pop(name, None)


class _Held:
    """An event stream that gives its slot back exactly once: at its end, or when dropped
    unread (a response that never started streaming)."""

    def __init__(self, owner: Subscribers, name: str, stream: AsyncIterator[str]) -> None:
        self._owner, self._name, self._stream = owner, name, stream
        self._released = False

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._release(self._name)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        try:
            async for chunk in self._stream:
                yield chunk
        finally:
            self._release()

    def __del__(self) -> None:
        self._release()
