"""The listener on a real socket: handshake, framing, bad input, blocking FETCH, tracking.

One in-process listener per module (SQLite, a password set, reservations of at least 1 s, FETCH
blocking 1 s); each test uses jids and queues of its own.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fkwire import Wire

from jobyard.core.settings import Settings
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.faktory import FaktoryConfig, FaktoryServer
from jobyard.faktory.protocol import password_hash
from jobyard.store import Store, open_store

PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaktoryServer]:
    path: Path = tmp_path_factory.mktemp("faktory") / "wire.db"
    store = open_store(f"sqlite:///{path}")
    store.schema_upgrade()
    config = FaktoryConfig(password=PASSWORD, reserve_min=1.0, fetch_timeout=1.0)
    listener = FaktoryServer(store, Settings(), port=0, config=config)  # lines up to 8 MiB
    listener.start()
    yield listener
    listener.stop()
    store.close()


@pytest.fixture
def store(server: FaktoryServer) -> Store:
    return server.store


def connect(server: FaktoryServer, **hello: Any) -> Wire:
    wire = Wire(server.port)
    assert wire.hello(PASSWORD, **hello) == "OK"
    return wire


def push(wire: Wire, jid: str, queue: str, **fields: Any) -> None:
    body = {"jid": jid, "jobtype": "wire.job", "args": [jid], "queue": queue, **fields}
    assert wire.call("PUSH", body) == "OK"


def job_of(store: Store, server: FaktoryServer, jid: str) -> Any:
    record = server.faktory.find(jid)
    assert record is not None
    return store.job_get(record.job.id)


def test_hi_is_compact_and_both_hashes_are_accepted(server: FaktoryServer) -> None:
    with Wire(server.port) as w:
        hi = w.reply()
        assert hi.startswith('HI {"v":2,"i":') and " " not in hi[3:]  # node splits on spaces
        data = json.loads(hi[3:])
        assert 4000 <= data["i"] < 8096 and data["s"]
        body = {"v": 2, "pwdhash": password_hash(PASSWORD, data["s"], data["i"])}
        assert w.call("HELLO", body) == "OK"
    with Wire(server.port) as w:  # PyPI faktory: no version, one round
        salt = json.loads(w.reply()[3:])["s"]
        body = {
            "hostname": "h",
            "pid": 1,
            "labels": [],
            "pwdhash": password_hash(PASSWORD, salt, 1),
        }
        assert w.call("HELLO", body) == "OK"


@pytest.mark.parametrize("fields", [{"v": 2, "pwdhash": "0" * 64}, {"v": 2}, {}])
def test_a_wrong_password_closes_the_connection(server: FaktoryServer, fields: Any) -> None:
    with Wire(server.port) as w:
        w.reply()
        assert w.call("HELLO", fields) == ("ERR", "Invalid password")
        with pytest.raises(ConnectionError):
            w.reply()


def test_a_v2_client_must_send_the_iterated_hash(server: FaktoryServer) -> None:
    with Wire(server.port) as w:
        salt = json.loads(w.reply()[3:])["s"]
        body = {"v": 2, "pwdhash": password_hash(PASSWORD, salt, 1)}
        assert w.call("HELLO", body) == ("ERR", "Invalid password")


def test_commands_before_hello_are_refused(server: FaktoryServer) -> None:
    with Wire(server.port) as w:
        w.reply()
        code, message = w.call("PUSH", {"jid": "x" * 10})
        assert code == "ERR" and "HELLO" in message


def test_garbage_fails_only_its_own_request(server: FaktoryServer, store: Store) -> None:
    with connect(server) as w, connect(server) as other:
        w.send(b"\x00\xff\xfe\x80 garbage\r\n")
        assert w.reply()[0] == "ERR"
        w.send(b"PUSH {not json\r\n")
        code, message = w.reply()
        assert code == "ERR" and "invalid JSON" in message
        assert w.call("NOSUCH") == ("ERR", "unknown command NOSUCH")
        assert w.call("FETCH")[0] == "ERR"  # no queue named
        assert w.call("HELLO", {})[0] == "ERR"
        push(w, "jid-garbage-1", "garbage")  # the same connection goes on
        push(other, "jid-garbage-2", "garbage")
        assert job_of(store, server, "jid-garbage-1").status is JobStatus.QUEUED


def test_an_oversized_line_fails_alone(server: FaktoryServer, store: Store) -> None:
    with connect(server) as w, connect(server) as other:
        big = b"PUSH " + b'{"jid":"' + b"x" * (10 * 1024 * 1024) + b'"}\r\n'
        sender = threading.Thread(target=w.send, args=(big[: len(big) // 2],))
        sender.start()
        push(other, "jid-beside-big", "big")  # served while the big line arrives
        sender.join()
        w.send(big[len(big) // 2 :])
        code, message = w.reply()
        assert code == "ERR" and "too large" in message
        push(w, "jid-after-big", "big")
        assert w.call("INFO") is not None
    assert job_of(store, server, "jid-after-big").status is JobStatus.QUEUED


def test_a_half_sent_frame_blocks_nobody(server: FaktoryServer, store: Store) -> None:
    stuck = connect(server)
    stuck.send(b'PUSH {"jid":"jid-half-00001","jobtype":"wire.job","ar')
    with connect(server, wid="wid-half-0001") as w:
        push(w, "jid-half-00002", "half")
        fetched = json.loads(w.call("FETCH", "half"))
        assert fetched["jid"] == "jid-half-00002"
        assert w.call("ACK", {"jid": "jid-half-00002"}) == "OK"
    stuck.close()  # the half line dies with its connection: nothing was pushed
    assert server.faktory.find("jid-half-00001") is None


def test_a_client_that_vanishes_mid_job_loses_nothing(server: FaktoryServer, store: Store) -> None:
    with connect(server) as producer:
        push(producer, "jid-vanish-01", "vanish", reserve_for=1)  # reserved for 1 s here
    gone = connect(server, wid="wid-vanish-01")
    assert json.loads(gone.call("FETCH", "vanish"))["jid"] == "jid-vanish-01"
    gone.sock.shutdown(socket.SHUT_RDWR)  # no ACK, no FAIL, no END
    gone.close()
    with connect(server, wid="wid-vanish-02") as w:
        assert w.call("FETCH", "vanish") is None  # still reserved by the one that left
        deadline = time.monotonic() + 10
        while store.execution_reap() == 0:  # the engine's reaper, called here
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job_of(store, server, "jid-vanish-01").status is JobStatus.RETRYING
        assert w.call("MUTATE", {"cmd": "requeue", "target": "retries"}) == "OK"
        assert json.loads(w.call("FETCH", "vanish"))["jid"] == "jid-vanish-01"
        assert w.call("ACK", {"jid": "jid-vanish-01"}) == "OK"
    job = job_of(store, server, "jid-vanish-01")
    assert job.status is JobStatus.COMPLETED
    assert [(e.status, e.worker_id) for e in job.executions] == [
        (ExecutionStatus.LOST, "wid-vanish-01"), (ExecutionStatus.COMPLETED, "wid-vanish-02"),
    ]  # fmt: skip
    assert store.worker_get("wid-vanish-01").state.value == "stopped"


def test_fetch_blocks_then_wakes_for_a_push(server: FaktoryServer) -> None:
    with connect(server, wid="wid-block-001") as w, connect(server) as producer:
        began = time.monotonic()
        assert w.call("FETCH", "blocking") is None
        assert 0.9 <= time.monotonic() - began < 3
        result: list[Any] = []
        fetcher = threading.Thread(target=lambda: result.append(w.call("FETCH", "blocking")))
        began = time.monotonic()
        fetcher.start()
        time.sleep(0.2)
        push(producer, "jid-block-001", "blocking")
        fetcher.join()
        assert json.loads(result[0])["jid"] == "jid-block-001"
        assert time.monotonic() - began < 0.9  # woken, not polled at the end of the wait


def test_end_closes_without_a_reply(server: FaktoryServer) -> None:
    with connect(server) as w:
        w.send(b"END\r\n")
        with pytest.raises(ConnectionError):
            w.reply()


def test_pushb_info_and_beat(server: FaktoryServer, store: Store) -> None:
    with connect(server, wid="wid-beat-0001", labels=["node"]) as w:
        jobs = [{"jid": f"jid-pushb-{n:03d}", "jobtype": "wire.job", "args": []} for n in range(3)]
        assert w.call("PUSHB", json.dumps(jobs)) == "{}"
        info = json.loads(w.call("INFO"))
        assert info["faktory"]["queues"]["default"] >= 3
        assert w.call("BEAT", {"wid": "wid-beat-0001"}) == "OK"
        store.worker_control("wid-beat-0001", "quiet")
        assert w.call("BEAT", {"wid": "wid-beat-0001"}) == '{"state":"quiet"}'  # bulk, not +
        assert w.call("FETCH", "default") is None  # a quiet worker is given nothing
        store.worker_control("wid-beat-0001", "stopping")
        assert w.call("BEAT", {"wid": "wid-beat-0001"}) == '{"state":"terminate"}'
        assert w.call("BEAT", {"wid": "wid-nobody-01"}) == ("ERR", "unknown worker wid-nobody-01")


@pytest.mark.parametrize("spelling", ["legacy", "track"])
def test_tracking_over_the_wire(server: FaktoryServer, store: Store, spelling: str) -> None:
    jid = f"jid-track-{spelling}"

    def get(w: Wire, j: str) -> dict[str, Any]:
        reply = w.call("GETSTATUS", j) if spelling == "legacy" else w.call("TRACK", f"GET {j}")
        return dict(json.loads(reply))

    def set_(w: Wire, **fields: Any) -> Any:
        body = {"jid": jid, **fields}
        if spelling == "legacy":
            return w.call("SETSTATUS", body)
        return w.call("TRACK", "SET " + json.dumps(body, separators=(",", ":")))

    with connect(server, wid=f"wid-{spelling}") as w:
        push(w, jid, f"track-{spelling}", custom={"track": 1}, reserve_for=60)
        assert get(w, jid)["state"] == "enqueued"
        assert get(w, "jid-unknown-x") == {"jid": "jid-unknown-x", "state": "unknown"}
        assert json.loads(w.call("FETCH", f"track-{spelling}"))["jid"] == jid
        assert set_(w, percent=12, desc="Calculating...") == "OK"
        status = get(w, jid)
        assert (status["state"], status["percent"], status["desc"]) == (
            "working", 12, "Calculating...",
        )  # fmt: skip
        e = job_of(store, server, jid).executions[0]
        before = e.lease_expires_at.timestamp()
        if spelling == "legacy":
            assert set_(w, reserve_for=600) == "OK"
        else:
            assert set_(w, reserve_until="2099-01-01T00:00:00Z") == "OK"
        after = job_of(store, server, jid).executions[0].lease_expires_at.timestamp()
        assert after >= before + 500
        soon = datetime.now(UTC) + timedelta(seconds=1)
        shorter = (
            {"reserve_for": 1} if spelling == "legacy" else {"reserve_until": soon.isoformat()}
        )
        assert set_(w, **shorter) == "OK"  # shorter: changes nothing
        assert job_of(store, server, jid).executions[0].lease_expires_at.timestamp() == after
        assert set_(w, percent=98, desc="Clearing caches...") == "OK"
        assert w.call("ACK", {"jid": jid}) == "OK"
        status = get(w, jid)
        assert (status["state"], status["percent"], status["desc"]) == (
            "success", 98, "Clearing caches...",
        )  # fmt: skip
        assert set_(w, percent=99)[0] == "ERR"  # finished: nothing more to set


def test_the_listener_in_up_and_server(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--faktory-port: 0 is off; a port asked for and taken is an error; the default port
    taken is a warning, and the server runs without the listener."""
    from jobyard.cli.commands.server import _start_faktory
    from jobyard.faktory import protocol

    monkeypatch.setenv("JOBYARD_FAKTORY_PASSWORD", PASSWORD)  # without one: the test below

    def args(port: int | None) -> argparse.Namespace:
        return argparse.Namespace(faktory_port=port, host="127.0.0.1")

    assert _start_faktory(store, Settings(), args(0)) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port}"):
            _start_faktory(store, Settings(), args(port))
        monkeypatch.setattr(protocol, "DEFAULT_PORT", port)
        assert _start_faktory(store, Settings(), args(None)) is None
        assert f"Faktory listener off: port {port} is taken" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="1 to 65535"):
        _start_faktory(store, Settings(), args(70000))
    listener = _start_faktory(store, Settings(), args(None))  # the default port, free again
    try:
        with Wire(port) as w:
            assert w.hello(PASSWORD) == "OK"
    finally:
        listener.stop()


def test_without_a_password_the_listener_is_off_unless_asked_for_on_loopback(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Faktory port has no roles: without a password, `jobyard up` leaves it shut; asked
    for by --faktory-port it listens on a loopback --host only."""
    from jobyard.cli.commands.server import _start_faktory
    from jobyard.faktory import protocol

    monkeypatch.delenv("JOBYARD_FAKTORY_PASSWORD", raising=False)
    monkeypatch.delenv("FAKTORY_PASSWORD", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(protocol, "DEFAULT_PORT", port)

    def args(port: int | None, host: str = "127.0.0.1") -> argparse.Namespace:
        return argparse.Namespace(faktory_port=port, host=host)

    assert _start_faktory(store, Settings(), args(None)) is None
    assert "Faktory listener off: no JOBYARD_FAKTORY_PASSWORD" in capsys.readouterr().out
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    for host in ("0.0.0.0", "::"):
        with pytest.raises(SystemExit, match="without a password: set JOBYARD_FAKTORY_PASSWORD"):
            _start_faktory(store, Settings(), args(port, host))
    listener = _start_faktory(store, Settings(), args(port, "localhost"))
    try:
        assert "no password: any local process may use it" in capsys.readouterr().out
        with Wire(port) as w:
            assert w.hello() == "OK"
    finally:
        listener.stop()
