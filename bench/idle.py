"""The idle workload: statements per second that one idle ``jobyard up`` sends PostgreSQL.

pg_stat_statements is not loaded on every server, so the count is taken on the wire: ``jobyard
up`` connects through a small proxy that counts each statement the client sends (a simple
``Query`` message, or an extended-protocol ``Execute``). The transactions the database committed
(``pg_stat_database.xact_commit``) over the same window are reported beside it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from typing import Any

import psycopg

from bench.adapters.base import Adapter, NotApplicable
from bench.common import PG_ADMIN_URL, Proc, venv_bin

SETTLE = 10.0  # seconds after the server answers before counting starts


class CountingProxy:
    """Forwards TCP to PostgreSQL; counts the statements clients send (no TLS: sslmode=disable)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.statements = 0
        self.connections = 0
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _upstream(self, client: socket.socket, server: socket.socket) -> None:
        buf = b""
        started = False  # past the startup message (which has no type byte)
        try:
            while data := client.recv(65536):
                server.sendall(data)
                buf += data
                while True:
                    if not started:
                        if len(buf) < 8:
                            break
                        (length,) = struct.unpack("!I", buf[:4])
                        if len(buf) < length:
                            break
                        (code,) = struct.unpack("!I", buf[4:8])
                        buf = buf[length:]
                        # SSLRequest / GSSENCRequest are answered 'N' (sslmode=disable): the
                        # real startup message follows
                        started = code not in (80877103, 80877104)
                        continue
                    if len(buf) < 5:
                        break
                    kind = buf[:1]
                    (length,) = struct.unpack("!I", buf[1:5])
                    if len(buf) < 1 + length:
                        break
                    buf = buf[1 + length :]
                    if kind in (b"Q", b"E"):
                        with self._lock:
                            self.statements += 1
        except OSError:
            pass
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _xacts(database: str) -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def idle(adapter: Adapter, seconds: int, run: Any) -> dict[str, Any]:
    if adapter.name != "jobyard-pg":
        raise NotApplicable("the idle workload runs jobyard on PostgreSQL only")
    from bench.adapters.jobyard_pg import DATABASE

    adapter.setup()
    proxy = CountingProxy(("127.0.0.1", 5432))
    http = _free_port()
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{DATABASE}?sslmode=disable"
    argv = [
        venv_bin("jobyard"), "up", "--database-url", url, "--port", str(http),
        "--faktory-port", "0", "--app", "bench.adapters.jobyard_app:app", "--concurrency", "2",
    ]  # fmt: skip
    proc = Proc(argv, env=run.env, log=run.dir / "jobyard-up.log")
    run.procs.append(proc)
    deadline = time.monotonic() + 60
    while True:
        proc.check()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/api/v1/health", timeout=1)
            break
        except OSError as exc:
            if getattr(exc, "code", None) is not None:  # an HTTP answer: the server is up
                break
            if time.monotonic() > deadline:
                raise RuntimeError("jobyard up did not answer within 60 s") from exc
            time.sleep(0.2)
    time.sleep(SETTLE)
    s0, x0, t0 = proxy.statements, _xacts(DATABASE), time.monotonic()
    time.sleep(seconds)
    s1, x1, t1 = proxy.statements, _xacts(DATABASE), time.monotonic()
    proc.check()
    run.stop()
    proxy.close()
    elapsed = t1 - t0
    return {
        "value": (s1 - s0) / elapsed, "unit": "statements/s", "seconds": elapsed,
        "statements": s1 - s0, "transactions_per_s": (x1 - x0 - 1) / elapsed,
        "connections": proxy.connections,
    }  # fmt: skip
