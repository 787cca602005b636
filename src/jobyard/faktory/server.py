"""The Faktory listener: an asyncio server on its own thread and event loop.

Each connection reads one request line at a time (at most ``MAX_LINE`` bytes: a longer one is
skipped to its end and answered with an error, the connection kept) and answers it with one
write. Store calls block, so they run on a small thread pool; FETCH waits on the event loop, woken
by pushes through this listener, by the store's own wake-ups (enqueues in this process, NOTIFY on
PostgreSQL) and by a short poll. A connection that breaks, sends garbage or stops half-way through
a line harms nobody else; the jobs it had fetched stay reserved until their reservations expire
and then run again (the engine's reaper).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from jobyard.core.errors import Duplicate, Invalid, JobyardError, StoreUnavailable
from jobyard.core.models import check_name
from jobyard.core.settings import Settings
from jobyard.core.throttle import Throttle
from jobyard.core.workers import WorkerState
from jobyard.faktory.protocol import (
    INVALID_PASSWORD,
    MAX_LINE,
    NULL,
    OK,
    FaktoryError,
    Fatal,
    Hello,
    Request,
    bulk,
    bulk_json,
    challenge,
    error,
    json_object,
    json_value,
    parse_hello,
    parse_line,
)
from jobyard.faktory.service import Faktory, FaktoryConfig, Peer
from jobyard.store.base import Store

log = logging.getLogger("jobyard.faktory")

T = TypeVar("T")
HANDSHAKE_TIMEOUT = 10.0  # seconds a new connection has to send its HELLO
HANDSHAKE_WINDOW = 300.0  # seconds a wrong password counts against its address
POLL = 0.5  # longest wait between claim attempts of a blocked FETCH
QUIET_FETCH = 2.0  # a quiet or stopping worker's FETCH waits this long, then gets nothing
_TOO_LONG = object()


class LineReader:
    """Lines of at most ``limit`` bytes; a longer one is read past, not kept, and reported."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit
        self.buffer = bytearray()
        self.skipping = False

    async def next(self) -> bytes | object | None:
        """A line without its ``\\n``, ``_TOO_LONG``, or None at the end of the stream."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                too_long = self.skipping or end > self.limit
                line = b"" if too_long else bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                self.skipping = False
                return _TOO_LONG if too_long else line
            if self.skipping:
                self.buffer.clear()
            elif len(self.buffer) > self.limit:
                self.buffer.clear()
                self.skipping = True
            chunk = await self.reader.read(64 * 1024)
            if not chunk:
                return None  # a half-sent last line is dropped with the connection
            self.buffer += chunk


class FaktoryServer:
    """Listens for Faktory clients on ``host:port`` until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 7419,
        config: FaktoryConfig | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        self.host = host
        self.config = config or FaktoryConfig()
        # wrong passwords per client address: past the limit, a connection is refused unheard
        self._guesses = Throttle(limit=self.config.handshake_failures, window=HANDSHAKE_WINDOW)
        self.port = port
        self.faktory = Faktory(store, settings, self.config)
        self.store = store
        self.max_line = max_line
        self._ids = itertools.count(1)
        self._pool = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="faktory")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._work: asyncio.Event | None = None
        self._fetching: Counter[str] = Counter()  # queues blocked FETCHes wait on
        self._wids: Counter[str] = Counter()  # open connections per wid
        self._writers: dict[int, tuple[Peer, asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # one per open connection
        self._closed = threading.Event()

    # -- life -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Listen, on a thread of its own; raises what stopped it from listening."""
        self._thread = threading.Thread(target=self._main, name="jobyard-faktory", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self._failed is not None:
            raise self._failed
        threading.Thread(target=self._waker, name="jobyard-faktory-waker", daemon=True).start()

    def stop(self) -> None:
        self._closed.set()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        # store calls still running finish before the caller may close the store under them
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve_forever())
        except BaseException as exc:  # reported by start()
            self._failed = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve_forever(self) -> None:
        self._stopping = asyncio.Event()
        self._work = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        reaper = asyncio.create_task(self._reap_loop())
        try:
            await self._stopping.wait()
        finally:
            reaper.cancel()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, reaper, return_exceptions=True)
            await server.wait_closed()

    # -- wake-ups -------------------------------------------------------------------------

    def _wake(self) -> None:
        """Every blocked FETCH tries again now."""
        if self._work is not None:
            self._work.set()
            self._work = asyncio.Event()

    def _waker(self) -> None:
        """Passes the store's wake-ups (enqueues, NOTIFY) on to the blocked FETCHes."""
        while not self._closed.is_set():
            try:
                queues = list(self._fetching) or ["default"]
            except RuntimeError:  # changed by the event loop while copied
                queues = ["default"]
            began = time.monotonic()
            try:
                self.store.wait_for_work(queues, 1.0)
            except Exception:  # the store is down: FETCH's own poll carries on
                self._closed.wait(1.0)
                continue
            if time.monotonic() - began < 0.95 and self._loop is not None:
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._wake)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.reap_interval)
            try:
                gone = set(await self._run(self.faktory.reap))
            except Exception:
                log.exception("cannot reap silent Faktory workers")
                continue
            for peer, writer in list(self._writers.values()):
                if peer.wid in gone:
                    log.info("Faktory worker %s was silent; closing its connection", peer.wid)
                    writer.close()

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args))

    # -- one connection -------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(id=next(self._ids))
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers[peer.id] = (peer, writer)
        self.faktory.stats.connections += 1
        lines = LineReader(reader, self.max_line)
        try:
            if await self._handshake(peer, lines, writer):
                await self._requests(peer, lines, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away; its fetched jobs stay reserved
        except Exception:
            log.exception("Faktory connection %d failed", peer.id)
        finally:
            if task is not None:
                self._tasks.discard(task)
            self._writers.pop(peer.id, None)
            self.faktory.stats.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            await self._forget(peer)

    async def _handshake(self, peer: Peer, lines: LineReader, writer: asyncio.StreamWriter) -> bool:
        peername = writer.get_extra_info("peername")
        address = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        wait = self._guesses.wait(address) if self.config.password else 0.0
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            message = f"too many failed handshakes from {address}; try again in {seconds} s"
            writer.write(error(message))
            await writer.drain()
            return False
        offer = challenge(self.config.password)
        writer.write(offer.line())
        await writer.drain()
        line = await asyncio.wait_for(lines.next(), HANDSHAKE_TIMEOUT)
        if line is None:
            return False
        try:
            if line is _TOO_LONG or not isinstance(line, bytes):
                raise Fatal("HELLO is too long")
            hello: Hello = parse_hello(parse_line(line), password=self.config.password, offer=offer)
        except FaktoryError as exc:
            if exc.message == INVALID_PASSWORD:
                self._guesses.failed(address)
            writer.write(error(exc.message, exc.code))
            await writer.drain()
            return False
        peer.hostname, peer.pid, peer.wid = hello.hostname, hello.pid, hello.wid
        if peer.wid:
            await self._run(self.faktory.hello, peer, hello.labels)
            self._wids[peer.wid] += 1
        writer.write(OK)
        await writer.drain()
        return True

    async def _forget(self, peer: Peer) -> None:
        last = False
        if peer.wid and peer.wid in self._wids:
            self._wids[peer.wid] -= 1
            if self._wids[peer.wid] <= 0:
                del self._wids[peer.wid]
                last = True
        with contextlib.suppress(Exception):
            await self._run(functools.partial(self.faktory.goodbye, peer, last=last))

    async def _requests(self, peer: Peer, lines: LineReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await lines.next()
            if line is None:
                return
            if line is _TOO_LONG or not isinstance(line, bytes):
                reply = error(f"request too large: at most {self.max_line} bytes a line")
            elif not line.strip():
                continue  # a stray line ending
            else:
                try:
                    request = parse_line(line)
                except FaktoryError as exc:
                    reply = error(exc.message, exc.code)
                else:
                    if request.verb == "END":
                        return  # as the real server does: closed without a reply
                    self.faktory.stats.commands += 1
                    reply = await self._answer(peer, request)
            writer.write(reply)
            await writer.drain()

    async def _answer(self, peer: Peer, request: Request) -> bytes:
        try:
            return await self._dispatch(peer, request)
        except FaktoryError as exc:
            return error(exc.message, exc.code)
        except Duplicate as exc:
            return error(exc.message, "NOTUNIQUE")
        except (Invalid, StoreUnavailable, JobyardError) as exc:
            return error(exc.message)
        except Exception:
            log.exception("Faktory command %s failed", request.verb)
            return error("internal error")

    async def _dispatch(self, peer: Peer, request: Request) -> bytes:
        verb, payload = request.verb, request.payload
        f = self.faktory
        if verb == "PUSH":
            await self._run(f.push, json_object(payload, "PUSH"))
            self._wake()
            return OK
        if verb == "PUSHB":
            errors = await self._run(f.push_bulk, json_value(payload, "PUSHB"))
            self._wake()
            return bulk_json(errors)
        if verb == "FETCH":
            return await self._fetch(peer, payload.split())
        if verb == "ACK":
            await self._run(f.ack, peer, json_object(payload, "ACK"))
            return OK
        if verb == "FAIL":
            await self._run(f.fail, peer, json_object(payload, "FAIL"))
            return OK
        if verb == "BEAT":
            state = await self._run(f.beat, json_object(payload, "BEAT"))
            return OK if state is None else bulk(state)
        if verb == "INFO":
            return bulk_json(await self._run(f.info))
        if verb == "FLUSH":
            await self._run(f.flush)
            return OK
        if verb == "QUEUE":
            latency = await self._run(f.queue, payload)
            self._wake()
            return OK if latency is None else bulk_json(latency)
        if verb == "MUTATE":
            await self._run(f.mutate, json_object(payload, "MUTATE"))
            self._wake()
            return OK
        if verb == "SETSTATUS":
            await self._run(f.track_set, json_object(payload, "SETSTATUS"))
            return OK
        if verb == "GETSTATUS":
            return bulk_json(await self._run(f.track_get, payload))
        if verb == "TRACK":
            sub, _, rest = payload.partition(" ")
            if sub.upper() == "SET":
                await self._run(f.track_set, json_object(rest.strip(), "TRACK SET"))
                return OK
            if sub.upper() == "GET":
                return bulk_json(await self._run(f.track_get, rest))
            raise FaktoryError("TRACK is TRACK SET {json} or TRACK GET <jid>")
        if verb == "HELLO":
            raise FaktoryError("HELLO was already received on this connection")
        if verb == "BATCH":
            raise FaktoryError("batches are not supported by jobyard's Faktory listener")
        raise FaktoryError(f"unknown command {verb}")

    async def _fetch(self, peer: Peer, queues: list[str]) -> bytes:
        if not queues:
            raise FaktoryError("must call fetch with at least one queue")
        for name in queues:
            check_name(name, "queue")
        state = await self._run(self.faktory.worker_state, peer)
        if state in (WorkerState.QUIET, WorkerState.STOPPING):
            await asyncio.sleep(QUIET_FETCH)
            return NULL
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.fetch_timeout
        self._fetching.update(queues)
        try:
            while True:
                work = self._work
                job = await self._run(self.faktory.fetch_once, peer, queues)
                if job is not None:
                    return bulk_json(job)
                remaining = deadline - loop.time()
                if remaining <= 0 or work is None:
                    return NULL
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(work.wait(), min(remaining, POLL))
        finally:
            self._fetching.subtract(queues)
            self._fetching += Counter()  # drop queues nobody waits on any more
