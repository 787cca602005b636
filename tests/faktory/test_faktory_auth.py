"""The Faktory port of a real `jobyard server` with a password: nothing happens without it.

Both backends. Every command the listener knows, sent before HELLO or after a HELLO with a wrong
password, is refused and the connection closed; afterwards the database holds no job, no
worker and no remote type. Without a password, a server asked to listen on a non-loopback
address refuses to start.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fkwire import Wire

from jobyard.core.models import JobFilter, PageRequest
from jobyard.core.settings import Settings
from jobyard.faktory import FaktoryConfig, FaktoryServer
from jobyard.store import Store
from support.remote import database
from support.servers import JobyardProcess, Server, free_port

PASSWORD = "fk-auth-s3cret"
COMMANDS = [
    'PUSH {"jid":"auth-00000001","jobtype":"fk.auth","args":[1]}',
    'PUSHB [{"jid":"auth-00000002","jobtype":"fk.auth","args":[1]}]',
    "FETCH default",
    'ACK {"jid":"auth-00000001"}',
    'FAIL {"jid":"auth-00000001","errtype":"E","message":"m"}',
    'BEAT {"wid":"w-auth"}',
    "INFO",
    "FLUSH",
    "QUEUE REMOVE default",
    'MUTATE {"cmd":"clear","target":"retries"}',
    'SETSTATUS {"jid":"auth-00000001","percent":50}',
    'GETSTATUS {"jid":"auth-00000001"}',
    'TRACK GET {"jid":"auth-00000001"}',
    'BATCH NEW {"description":"x"}',
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def guarded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: Any,
) -> Iterator[tuple[Server, int]]:
    folder = tmp_path_factory.mktemp(f"faktory-auth-{request.param}")
    port = free_port()
    with database(request.param, folder, postgres_databases) as url:
        server = Server(
            database_url=url,
            log_path=folder / "server.log",
            command="server",
            app=None,
            extra_args=["--faktory-port", str(port)],
            JOBYARD_FAKTORY_PASSWORD=PASSWORD,
            JOBYARD_FAKTORY_HANDSHAKE_FAILURES="1000",  # every test here guesses wrong
        )
        try:
            yield server, port
        finally:
            server.stop()


def nothing_happened(server: Server) -> None:
    with server.client() as http:
        assert http.get("/api/v1/jobs").json()["count"] == 0
        workers = http.get("/api/v1/workers", params={"include_stopped": "true"}).json()
        assert workers == []
        assert http.get("/api/v1/types").json()["count"] == 0


def closed(wire: Wire) -> bool:
    try:
        wire.reply()
    except (ConnectionError, OSError):
        return True
    return False


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.split(" ")[0])
def test_every_command_needs_the_password(guarded: tuple[Server, int], command: str) -> None:
    server, port = guarded
    with Wire(port) as w:  # before HELLO
        hi = json.loads(w.reply()[3:])
        assert hi["s"] and hi["i"] >= 4000  # a salt and rounds: a password is set
        code, message = w.call(*command.split(" ", 1))
        assert code == "ERR" and "expected HELLO" in message
        assert closed(w)
    for wrong in ("not-it", None):  # a wrong password, and none at all
        with Wire(port) as w:
            assert w.hello(wrong) == ("ERR", "Invalid password")
            with pytest.raises((ConnectionError, OSError)):
                w.call(*command.split(" ", 1))
    nothing_happened(server)


def test_the_right_password_opens_it(guarded: tuple[Server, int]) -> None:
    server, port = guarded
    with Wire(port) as w:
        assert w.hello(PASSWORD) == "OK"
        info = json.loads(w.call("INFO"))
        assert "faktory" in info
    nothing_happened(server)  # INFO reads, it writes nothing


def test_wrong_passwords_are_limited_per_address(store: Store) -> None:
    """Past the limit a connection from that address is refused before HI, right password or
    not; each refusal says for how long."""
    config = FaktoryConfig(password=PASSWORD, handshake_failures=3)
    listener = FaktoryServer(store, Settings(), port=0, config=config)
    listener.start()
    try:
        for _ in range(3):
            with Wire(listener.port) as w:
                assert w.hello("guess") == ("ERR", "Invalid password")
        with Wire(listener.port) as w:
            code, message = w.reply()
            assert code == "ERR" and "too many failed handshakes from 127.0.0.1" in message
            seconds = int(message.rsplit("try again in ", 1)[1].split(" ")[0])
            assert 1 <= seconds <= 300
            assert closed(w)
    finally:
        listener.stop()
    assert store.job_list(JobFilter(), PageRequest()).count == 0


def test_no_password_on_a_public_address_refuses_to_start(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    port, http_port = free_port(), free_port()
    process = JobyardProcess(
        ["server", "--host", "0.0.0.0", "--port", str(http_port), "--faktory-port", str(port)],
        database_url=f"sqlite:///{tmp_path}/jobyard.db",
        log_path=log,
    )
    try:
        assert process.proc.wait(timeout=60) != 0
    finally:
        process.stop()
    assert "refusing to listen for Faktory clients on 0.0.0.0 without a password" in log.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{http_port}/api/v1/health", timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
