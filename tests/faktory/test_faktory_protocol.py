"""The protocol without I/O: the password hash (vectors checked against the real clients),
request lines, replies, HELLO checks, and the job payload's mapping."""

from __future__ import annotations

import asyncio
import json

import pytest

from jobyard.faktory.payload import parse_fail, parse_job, to_faktory
from jobyard.faktory.protocol import (
    Challenge,
    FaktoryError,
    Fatal,
    bulk,
    challenge,
    error,
    parse_hello,
    parse_line,
    password_hash,
)
from jobyard.faktory.server import _TOO_LONG, LineReader


def test_password_hash_vectors() -> None:
    # research/seed-systems.md §1.2: probe-verified against pyfaktory, the node client and cdrx
    iterated = "cd6569dd7f5dba1a8a1fb7926a9eb32a62561c230f8a8ac38dcea7c78d5f024e"
    single = "29f8f9e3def03ac9b3b7926f4d3526da99e5224ec8c775b22a4b08910cb3b188"
    assert password_hash("s3cret", "1a2b3c4d5e6f", 4321) == iterated
    assert password_hash("s3cret", "1a2b3c4d5e6f", 1) == single


def test_hello_hash_rounds_follow_the_client_version() -> None:
    offer = Challenge("1a2b3c4d5e6f", 4321)
    v2 = parse_line(b'HELLO {"v": 2, "wid": "w1", "pwdhash": "%s"}' % (
        password_hash("s3cret", "1a2b3c4d5e6f", 4321).encode()
    ))  # fmt: skip
    assert parse_hello(v2, password="s3cret", offer=offer).wid == "w1"
    v1 = parse_line(b'HELLO {"hostname": "vm", "pid": 7, "labels": [], "pwdhash": "%s"}' % (
        password_hash("s3cret", "1a2b3c4d5e6f", 1).encode()
    ))  # fmt: skip
    hello = parse_hello(v1, password="s3cret", offer=offer)
    assert (hello.hostname, hello.pid, hello.wid) == ("vm", 7, None)
    with pytest.raises(Fatal, match="Invalid password"):
        parse_hello(v1, password="other", offer=offer)
    beyond_ascii = parse_line('HELLO {"v": 2, "pwdhash": "ü€"}'.encode())
    with pytest.raises(Fatal, match="Invalid password"):  # not a TypeError from compare_digest
        parse_hello(beyond_ascii, password="s3cret", offer=offer)
    with pytest.raises(Fatal, match="expected HELLO"):
        parse_hello(parse_line(b"PUSH {}"), password=None, offer=challenge(None))


def test_challenge_lines() -> None:
    assert challenge(None).line() == b'+HI {"v":2}\r\n'
    offer = challenge("pw")
    data = json.loads(offer.line()[4:])
    assert data == {"v": 2, "i": offer.iterations, "s": offer.salt}
    assert 4000 <= offer.iterations < 8096


def test_request_lines_and_replies() -> None:
    assert parse_line(b"fetch  q1 q2\r").verb == "FETCH"
    assert parse_line(b"fetch  q1 q2\r").payload == "q1 q2"
    for bad in (b"", b" ", b"\xff\xfe", b"P\x00SH {}", b"X" * 30):
        with pytest.raises(FaktoryError):
            parse_line(bad)
    assert error("two\r\nlines") == b"-ERR two lines\r\n"
    assert bulk("{}") == b"$2\r\n{}\r\n"
    assert bulk("Zürich") == b"$7\r\nZ\xc3\xbcrich\r\n"  # bytes, not characters


def test_line_reader_skips_an_oversized_line() -> None:
    async def read() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"A\r\n" + b"x" * 5000 + b"\r\nB\nC")
        reader.feed_eof()
        lines = LineReader(reader, limit=1000)
        return [await lines.next() for _ in range(4)]

    assert asyncio.run(read()) == [b"A\r", _TOO_LONG, b"B", None]  # C never ended: dropped


def test_job_payload_mapping() -> None:
    pushed = parse_job(
        {"jid": "abcdefgh12", "jobtype": "T", "args": [1], "retry": 0, "reserve_for": 30,
         "at": "2099-01-01T00:00:00Z", "priority": 1, "custom": {"track": 1}, "extra": "dropped"}
    )  # fmt: skip
    spec, meta = pushed.job.spec, pushed.job.meta
    assert (spec.max_tries, spec.priority, spec.external_id) == (1, 104, "abcdefgh12")
    assert meta["discard"] and meta["track"] and meta["lease"] == 60  # Faktory's minimum
    assert "extra" not in meta
    assert (
        parse_job({"jid": "abcdefgh12", "jobtype": "T", "args": [], "retry": -1}).job.meta[
            "discard"
        ]
        is False
    )


def test_fail_payload_is_cut_as_faktory_cuts_it() -> None:
    f = parse_fail({"jid": "j", "errtype": " E " * 80, "message": "m" * 2000,
                    "backtrace": [f"line {n}" for n in range(80)]})  # fmt: skip
    assert len(f.errtype) == 100 and len(f.message) == 1000
    assert f.backtrace is not None and f.backtrace.count("\n") == 49
    assert parse_fail({"jid": "j"}) == parse_fail({"jid": "j", "errtype": "", "message": " "})


def test_to_faktory_keeps_what_the_client_sent() -> None:
    from datetime import UTC, datetime

    from jobyard.core.backoff import Backoff
    from jobyard.core.models import Job
    from jobyard.core.remote import RemoteRecord
    from jobyard.core.states import JobStatus

    t = datetime(2027, 1, 1, tzinfo=UTC)
    job = Job(
        id=3, type="T", type_revision=1, status=JobStatus.RUNNING, queue="q", priority=100,
        args=[1], tags=(), unique_key=None, external_id=None, tries=2, max_tries=4,
        timeout=None, backoff=Backoff(kind="faktory"), run_at=t, created_at=t, started_at=t,
        finished_at=None, updated_at=t, result=None,
        error={"type": "E", "message": "m", "traceback": "a\nb"}, progress=None,
        progress_desc=None, execution_id=9, kill_requested_at=None, kill_requested_by=None,
        canceled_by=None, canceled_at=None, removed_at=None, removed_by=None, restart_of=None,
        restarted_as=None, created_by=None,
    )  # fmt: skip
    payload = to_faktory(RemoteRecord(job, {"retry": 3, "backtrace": 5, "custom": {"a": 1}}))
    assert payload["jid"] == "jobyard-3" and payload["backtrace"] == 5
    assert payload["failure"] == {
        "retry_count": 0, "remaining": 3, "failed_at": "2027-01-01T00:00:00Z", "errtype": "E",
        "message": "m", "backtrace": ["a", "b"],
    }  # fmt: skip
