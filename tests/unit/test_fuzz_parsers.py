"""Parsers of outside input, fuzzed: bad input raises the project's clear error, nothing else.

The Faktory frame parser and the handshake (:class:`FaktoryError`), the Faktory job payload
(:class:`FaktoryError`), cron expressions and time zones (:class:`Invalid`), moments and ISO-8601
durations (:class:`Invalid`, or None from ``parse_duration``). Whatever they accept must also
work where it is used next: a cron expression that passes ``check_cron`` yields its next tick.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobyard.core.errors import Invalid
from jobyard.core.schedules import check_cron, check_timezone, next_tick
from jobyard.core.times import parse_duration, parse_moment
from jobyard.faktory.payload import parse_fail, parse_job
from jobyard.faktory.protocol import (
    Challenge,
    FaktoryError,
    Request,
    challenge,
    error,
    json_object,
    parse_hello,
    parse_line,
    password_hash,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
VERBS = ["PUSH", "HELLO", "FETCH", "ACK", "FAIL", "BEAT", "INFO", "x", "", "PUSH\x00", "Ω"]


@FUZZ
@given(st.binary(max_size=200))
@example(b"\xff\xfe")
@example(b"   \r\n")
@example(b"PUSH" * 10)
def test_frame_parser_raises_only_its_error(line: bytes) -> None:
    try:
        request = parse_line(line)
    except FaktoryError as exc:
        reply = error(exc.message, exc.code)  # what the listener writes: one line, whatever
        assert exc.message and reply.endswith(b"\r\n") and reply.count(b"\n") == 1
        return
    assert request.verb.isascii() and request.verb.isalpha() and len(request.verb) <= 20


@FUZZ
@given(st.sampled_from(VERBS), st.text(max_size=100) | json_values.map(json.dumps))
def test_lines_with_json_payloads(verb: str, payload: str) -> None:
    try:
        request = parse_line(f"{verb} {payload}".encode())
        json_object(request.payload, request.verb)
    except FaktoryError:
        pass


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["v", "pwdhash", "wid", "labels", "pid", "hostname", "x"]),
        json_values,
        max_size=6,
    ),
    st.sampled_from([None, "", "s3cret"]),
)
def test_hello_raises_only_its_error(data: dict[str, Any], password: str | None) -> None:
    offer = challenge(password)
    try:
        hello = parse_hello(Request("HELLO", json.dumps(data)), password=password, offer=offer)
    except FaktoryError:
        return
    assert not password, "a HELLO without the right hash got in"
    assert isinstance(hello.hostname, str) and isinstance(hello.pid, int)
    assert hello.wid is None or isinstance(hello.wid, str)


def test_the_right_hash_passes_and_only_it() -> None:
    offer = Challenge("abcdef", 4001)
    good = password_hash("pw", "abcdef", 4001)
    hello = parse_hello(Request("HELLO", json.dumps({"v": 2, "pwdhash": good})), password="pw",
                        offer=offer)  # fmt: skip
    assert hello.version == 2
    for bad in (good[:-1] + "0", good.upper() + " ", "", None, 7):
        try:
            parse_hello(Request("HELLO", json.dumps({"v": 2, "pwdhash": bad})), password="pw",
                        offer=offer)  # fmt: skip
        except FaktoryError as exc:
            assert exc.message == "Invalid password"
        else:
            raise AssertionError(f"{bad!r} was accepted")


job_fields = st.fixed_dictionaries(
    {},
    optional={
        "jid": st.text(max_size=20) | json_values,
        "jobtype": st.sampled_from(["a.b", "", "x y", "ok_1"]) | json_values,
        "args": st.lists(json_values, max_size=3) | json_values,
        "queue": st.sampled_from(["default", "", "q!", "x" * 300]) | json_values,
        "priority": st.integers(-5, 15) | json_values,
        "retry": st.integers(-3, 2**40) | json_values,
        "reserve_for": st.integers(-1, 2**40) | st.floats() | json_values,
        "at": st.sampled_from(
            [
                "",
                "2030-01-01T00:00:00Z",
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00",
                "tomorrow",
                "2030-01-01",
            ]
        )
        | json_values,
        "custom": json_values,
        "backtrace": json_values,
    },
)


@FUZZ
@given(job_fields | json_values)
def test_faktory_jobs_raise_only_its_error(data: Any) -> None:
    try:
        pushed = parse_job(data)
    except FaktoryError as exc:
        assert exc.message
        return
    assert pushed.jid == data["jid"] and isinstance(pushed.job.meta["lease"], float)


@FUZZ
@given(st.dictionaries(st.sampled_from(["jid", "errtype", "message", "backtrace"]), json_values))
def test_faktory_failures_raise_only_its_error(data: dict[str, Any]) -> None:
    try:
        failure = parse_fail(data)
    except FaktoryError:
        return
    assert len(failure.errtype) <= 100 and len(failure.message) <= 1000


cron_parts = st.sampled_from(
    [
        "*",
        "*/5",
        "0",
        "59",
        "60",
        "1-5",
        "5-1",
        "1,2",
        "*/0",
        "L",
        "?",
        "MON",
        "JAN",
        "#",
        "-",
        "",
        "1/2",
        "32",
        "0-59/15",
        "7",
        "15W",
        "5L",
        "2#3",
        "@daily",
    ]
)
crons = st.lists(cron_parts, min_size=0, max_size=8).map(" ".join) | st.text(max_size=40)


@FUZZ
@given(crons)
@example("@hourly")
@example("0 0 30 2 *")
@example("* * * * * *")
def test_cron_raises_invalid_and_what_passes_ticks(expr: str) -> None:
    try:
        text = check_cron(expr)
    except Invalid as exc:
        assert exc.field == "cron" and exc.message
        return
    tick = next_tick(text, "UTC", 1_700_000_000.0)
    assert tick is None or tick > 1_700_000_000.0


@FUZZ
@given(st.text(max_size=40) | st.sampled_from(["America", "Europe", "Etc", "../etc", "UTC"]))
@example("America")
@example("Europe/Berlin")
def test_time_zones_raise_invalid(name: str) -> None:
    try:
        check_timezone(name)
    except Invalid as exc:
        assert exc.field == "timezone"
        return
    assert next_tick("@daily", name, 0.0) is not None


durations = st.from_regex(r"P(\d{1,25}(\.\d{1,5})?[WD])?(T(\d{1,25}(\.\d{1,3})?[HMS]){0,3})?",
                          fullmatch=True)  # fmt: skip


@FUZZ
@given(durations | st.text(max_size=40))
@example("P")
@example("PT")
@example("P" + "9" * 400 + "D")
def test_durations_are_seconds_or_none(text: str) -> None:
    seconds = parse_duration(text)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds)


moments = (
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat())
    | st.text(max_size=40)
    | durations
)


@FUZZ
@given(moments)
@example("0001-01-01T00:00:00+14:00")
@example("9999-12-31T23:59:59-14:00")
@example("2015-01-01T00:00:00z")
def test_moments_raise_invalid(text: str) -> None:
    try:
        value = parse_moment(text, now=1_700_000_000.0, field="started")
    except Invalid as exc:
        assert exc.field == "started" and exc.message
        return
    assert math.isfinite(value)
