"""Parsing and validating what callers send: JobSpec, TypeDefinition, PageRequest."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid
from jobyard.core.models import (
    JobSpec,
    OnDuplicate,
    PageRequest,
    TypeDefinition,
    TypeKind,
    epoch,
    job_status,
    utc,
)
from jobyard.core.states import JobStatus


def invalid(data: dict[str, Any]) -> Invalid:
    with pytest.raises(Invalid) as info:
        JobSpec.from_dict(data)
    return info.value


# -- JobSpec.from_dict ----------------------------------------------------------------------


def test_a_full_spec_parses() -> None:
    spec = JobSpec.from_dict(
        {
            "type": "mail.send",
            "args": {"to": ["a@example.com"], "n": 2},
            "queue": "mail",
            "priority": -5,
            "run_at": "2030-01-02T03:04:05+00:00",
            "timeout": 30,
            "max_tries": 7,
            "backoff": {"base": 2, "jitter": 0},
            "tags": ["x", "y"],
            "unique_key": "k1",
            "on_duplicate": "return",
            "external_id": "jid-1",
        }
    )
    assert spec == JobSpec(
        type="mail.send",
        args={"to": ["a@example.com"], "n": 2},
        queue="mail",
        priority=-5,
        run_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        timeout=30,
        max_tries=7,
        backoff=Backoff(base=2, jitter=0),
        tags=("x", "y"),
        unique_key="k1",
        on_duplicate=OnDuplicate.RETURN,
        external_id="jid-1",
    )
    assert spec.on_duplicate is OnDuplicate.RETURN


def test_defaults_are_left_unset() -> None:
    spec = JobSpec.from_dict({"type": "t"})
    assert spec.args == {}
    assert (spec.queue, spec.priority, spec.timeout, spec.max_tries, spec.backoff) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert spec.on_duplicate is OnDuplicate.REFUSE


def test_unknown_option_is_named() -> None:
    err = invalid({"type": "t", "prio": 1})
    assert err.field == "prio"
    assert "'prio'" in err.message
    assert err.details == {"field": "prio"}


def test_first_unknown_option_in_order_is_named() -> None:
    err = invalid({"type": "t", "zeta": 1, "alpha": 2})
    assert err.field == "alpha"


def test_not_an_object() -> None:
    with pytest.raises(Invalid) as info:
        JobSpec.from_dict(["type", "t"])  # type: ignore[arg-type]
    assert info.value.field == "job"


def test_type_is_required() -> None:
    err = invalid({"args": {}})
    assert err.field == "type"


@pytest.mark.parametrize("value", ["", "has space", "x" * 201, "-dash-first", 5, None])
def test_bad_type_name(value: object) -> None:
    assert invalid({"type": value}).field == "type"


@pytest.mark.parametrize(
    "args",
    [
        {1, 2},
        math.nan,
        {"x": math.inf},
        [1, -math.inf],
        {"when": datetime(2030, 1, 1, tzinfo=UTC)},
        object(),
        {(1, 2): "tuple key"},
    ],
    ids=["set", "nan", "inf", "neg-inf", "datetime", "object", "tuple-key"],
)
def test_args_must_be_json(args: object) -> None:
    err = invalid({"type": "t", "args": args})
    assert err.field == "args"
    assert "JSON" in err.message


@pytest.mark.parametrize("args", [None, 1, "s", [1, "a", None], {"a": {"b": [1.5, True]}}])
def test_any_json_value_is_accepted_as_args(args: object) -> None:
    assert JobSpec.from_dict({"type": "t", "args": args}).args == args


@pytest.mark.parametrize("timeout", [0, -1, -0.001, math.inf, math.nan, "30", True, [30]])
def test_timeout_must_be_positive_seconds(timeout: object) -> None:
    err = invalid({"type": "t", "timeout": timeout})
    assert err.field == "timeout"


def test_timeout_may_be_fractional() -> None:
    assert JobSpec.from_dict({"type": "t", "timeout": 0.25}).timeout == 0.25


@pytest.mark.parametrize("queue", ["", "a b", "q/1", "x" * 201, ".hidden", 7, ["q"]])
def test_bad_queue_name(queue: object) -> None:
    err = invalid({"type": "t", "queue": queue})
    assert err.field == "queue"


@pytest.mark.parametrize("queue", ["q", "high-priority", "a.b:c_d", "0", "x" * 200])
def test_good_queue_names(queue: str) -> None:
    assert JobSpec.from_dict({"type": "t", "queue": queue}).queue == queue


def test_run_at_and_delay_together() -> None:
    err = invalid({"type": "t", "run_at": "2030-01-01T00:00:00+00:00", "delay": 5})
    assert err.field == "delay"
    assert "run_at" in err.message and "delay" in err.message


def test_run_at_needs_a_time_zone() -> None:
    assert invalid({"type": "t", "run_at": "2030-01-01T00:00:00"}).field == "run_at"


def test_run_at_must_be_iso() -> None:
    assert invalid({"type": "t", "run_at": "tomorrow"}).field == "run_at"


def test_run_at_keeps_its_offset() -> None:
    spec = JobSpec.from_dict({"type": "t", "run_at": "2030-01-01T02:00:00+02:00"})
    assert spec.run_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert spec.run_at.utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]


@pytest.mark.parametrize("run_at", [[2030], {"at": 1}])
def test_run_at_of_another_type_is_invalid(run_at: object) -> None:
    assert invalid({"type": "t", "run_at": run_at}).field == "run_at"


@pytest.mark.parametrize("delay", [-1, math.inf, math.nan, "5"])
def test_bad_delay(delay: object) -> None:
    assert invalid({"type": "t", "delay": delay}).field == "delay"


def test_zero_delay_is_allowed() -> None:
    assert JobSpec.from_dict({"type": "t", "delay": 0}).delay == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("priority", 1.5),
        ("priority", True),
        ("priority", 2**31),
        ("priority", -(2**31) - 1),
        ("max_tries", 0),
        ("max_tries", 10_001),
        ("max_tries", "3"),
        ("unique_key", ""),
        ("unique_key", "k" * 256),
        ("unique_key", 5),
        ("external_id", ""),
        ("external_id", 12),
        ("on_duplicate", "ignore"),
        ("tags", "one-string"),
        ("tags", [""]),
        ("tags", [1]),
        ("tags", {"a": 1}),
        ("backoff", "fast"),
    ],
)
def test_bad_option_names_its_field(option: str, value: object) -> None:
    assert invalid({"type": "t", option: value}).field == option


def test_priority_bounds_are_inclusive() -> None:
    assert JobSpec.from_dict({"type": "t", "priority": 2**31 - 1}).priority == 2**31 - 1
    assert JobSpec.from_dict({"type": "t", "priority": -(2**31)}).priority == -(2**31)


def test_backoff_number_is_the_base() -> None:
    assert JobSpec.from_dict({"type": "t", "backoff": 9}).backoff == Backoff(base=9.0)


def test_spec_is_frozen() -> None:
    spec = JobSpec(type="t")
    with pytest.raises(AttributeError):
        spec.type = "u"  # type: ignore[misc]


# -- TypeDefinition ---------------------------------------------------------------------------


def test_type_definition_round_trips() -> None:
    d = TypeDefinition(
        name="convert",
        kind=TypeKind.COMMAND,
        target=("convert", "${input}", "out.png"),
        queue="img",
        priority=3,
        timeout=60,
        max_tries=5,
        backoff=Backoff(base=1, jitter=0),
        cpus=2,
        mem=512,
        tags=("media",),
        description="make a png",
    )
    assert TypeDefinition.from_dict(d.to_dict()) == d
    assert d.to_dict()["target"] == ["convert", "${input}", "out.png"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"queue": ""}, "queue"),
        ({"priority": "1"}, "priority"),
        ({"max_tries": 0}, "max_tries"),
        ({"timeout": 0}, "timeout"),
        ({"cpus": -1}, "cpus"),
        ({"mem": math.nan}, "mem"),
        ({"target": "no_colon"}, "target"),
    ],
)
def test_type_definition_validates(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"name": "t", "kind": TypeKind.PYTHON, "target": "m:f", **kwargs}
    with pytest.raises(Invalid) as info:
        TypeDefinition(**values)
    assert info.value.field == field


@pytest.mark.parametrize("target", [(), ("ok", 1)])
def test_command_type_needs_an_argv_of_strings(target: tuple[Any, ...]) -> None:
    with pytest.raises(Invalid) as info:
        TypeDefinition(name="c", kind=TypeKind.COMMAND, target=target)
    assert info.value.field == "command"


# -- paging, statuses, times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "1"}, "page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 1001}, "per_page"),
        ({"sort": "args"}, "sort"),
        ({"sort": "-id; DROP TABLE job"}, "sort"),
        ({"sort": ""}, "sort"),
    ],
)
def test_bad_page_request(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as info:
        PageRequest(**kwargs)
    assert info.value.field == field


def test_page_request_accepts_every_sortable_field_both_ways() -> None:
    for field in ("id", "created_at", "updated_at", "priority", "status", "type", "queue"):
        assert PageRequest(sort=field).sort == field
        assert PageRequest(sort=f"-{field}").sort == f"-{field}"


def test_job_status_parses_or_names_the_choices() -> None:
    assert job_status("running") is JobStatus.RUNNING
    with pytest.raises(Invalid, match="scheduled, blocked, queued") as info:
        job_status("done")
    assert info.value.field == "status"


def test_utc_and_epoch() -> None:
    assert utc(None) is None
    assert utc(0.0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert epoch(None) is None
    assert epoch(5) == 5.0
    plus_one = timezone(timedelta(hours=1))
    assert epoch(datetime(1970, 1, 1, 1, tzinfo=plus_one)) == 0.0
    with pytest.raises(Invalid):
        epoch(datetime(2030, 1, 1))
