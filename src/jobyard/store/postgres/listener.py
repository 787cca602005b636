"""One LISTEN connection per store and process, on its own thread, for wake-ups across hosts.

Writers call ``pg_notify(CHANNEL, queue)`` inside the transaction that makes work ready (at most
one per queue per transaction; PostgreSQL delivers it at commit). This thread receives those
notifications and hands each queue name to ``on_notify``. It never queries while notifications
flow; when idle it proves the connection alive with one ``SELECT 1`` every ``health_every``
seconds, so a connection that died silently is noticed. Any failure closes the connection and
retries with backoff; after every connect ``on_connect`` runs, since notifications sent before
LISTEN took effect are lost. Callers poll with a timeout in any case, so a listener that cannot
connect (PgBouncer in transaction mode, a restart) only costs latency, never work.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

import psycopg

CHANNEL = "jobyard_work"

log = logging.getLogger(__name__)


class Listener:
    def __init__(
        self,
        conninfo: str,
        *,
        on_notify: Callable[[str], None],
        on_connect: Callable[[], None],
        health_every: float = 30.0,
    ) -> None:
        self._conninfo = conninfo
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._health_every = health_every
        self._stop = threading.Event()
        # a byte written here wakes the thread out of select() at once when the store closes
        self._wake_r, self._wake_w = os.pipe()
        self.listening = False
        self._thread = threading.Thread(target=self._run, name="jobyard-listen", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.1
                    # what was announced before LISTEN took effect never reaches this thread:
                    # on a first connect (a worker's claim may have just missed a notification)
                    # as after a failure, the waiters look once for themselves
                    self._on_connect()
                    self.listening = True  # after that wake-up: who sees it set has had it
                    self._listen(conn)
            except Exception as exc:  # any failure: reconnect; the waiters poll meanwhile
                if not self._stop.is_set():
                    log.warning("LISTEN connection failed (%s); retrying in %.1fs", exc, delay)
            finally:
                self.listening = False
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], self._health_every)
            if self._wake_r in ready:
                return
            if not ready:
                conn.execute("SELECT 1")  # idle: is the connection still there?
            # timeout=0: take what has arrived (the socket was readable), never block here
            for notify in conn.notifies(timeout=0):
                self._on_notify(notify.payload)
