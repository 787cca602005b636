"""Services and the process table, the pure parts: definitions, readiness, order, keys, App."""

from __future__ import annotations

import random
import sys

import pytest

from jobyard.app import App
from jobyard.core.errors import Duplicate, Invalid
from jobyard.core.models import TypeKind
from jobyard.core.processes import app_guid, execution_id_of, execution_key
from jobyard.core.services import (
    Readiness,
    RestartPolicy,
    ServiceDefinition,
    closure,
    dependency_order,
    instance_key,
    message_text,
    parse_instance_key,
    startup_percentage,
)


def test_execution_keys_name_each_execution_once_and_read_back() -> None:
    ids = [
        1,
        2,
        3,
        41,
        1000,
        2**31,
        2**62,
        2**63 - 1,
        *random.Random(8).sample(range(1, 2**40), 500),
    ]
    keys = [execution_key(i) for i in ids]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 11 and k.isalnum() for k in keys)
    assert [execution_id_of(k) for k in keys] == ids
    assert execution_key(1)[:4] != execution_key(2)[:4]  # they look unrelated


@pytest.mark.parametrize("text", ["", "abc", "zzzzzzzzzzz", "0000000000!", "a" * 12, "00000000000"])
def test_text_that_is_not_a_key_names_no_execution(text: str) -> None:
    assert execution_id_of(text) is None


def test_app_guids_are_stable_and_differ_by_name() -> None:
    assert app_guid("demo") == app_guid("demo") == App("demo").guid
    assert app_guid("demo") != app_guid("demo2")
    with pytest.raises(Invalid):
        app_guid("no spaces")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (2, "after"),
        (0.5, "after"),
        ("http://127.0.0.1:8000/health", "http"),
        (["pg_isready", "-q"], "command"),
        ({"url": "https://x/", "interval": 1, "timeout": 5}, "http"),
        ({"command": ["true"]}, "command"),
        (Readiness(after=3), "after"),
    ],
)
def test_readiness_is_seconds_an_url_or_a_command(value: object, kind: str) -> None:
    ready = Readiness.parse(value)
    assert ready.kind == kind
    assert Readiness.parse(ready.to_dict()) == ready


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (-1, "ready.after"),
        ("ftp://x", "ready.url"),
        ({"after": 1, "nope": 2}, "ready"),
        ({"command": "true"}, "ready.command"),
        ({"command": ["true"], "url": "http://x/"}, "ready"),
        ({"interval": 0}, "ready.interval"),
        (True, "ready"),
    ],
)
def test_bad_readiness_names_its_field(value: object, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        Readiness.parse(value)
    assert caught.value.field == field


def test_a_definition_round_trips_and_checks_its_fields() -> None:
    d = ServiceDefinition(
        "web", app="site", restart="on-failure", depends_on=("db",), instances=2,  # type: ignore[arg-type]
        reload_signal="hup", args={"port": 8000},
    )  # fmt: skip
    assert d.restart is RestartPolicy.ON_FAILURE and d.reload_signal == "SIGHUP"
    assert ServiceDefinition.from_dict(d.to_dict()) == d
    for bad, field in (
        ({"restart": "sometimes"}, "restart"),
        ({"depends_on": ("web",)}, "depends_on"),
        ({"instances": 0}, "instances"),
        ({"instances": True}, "instances"),
        ({"reload_signal": "SIGNOPE"}, "reload_signal"),
        ({"args": {1, 2}}, "args"),
    ):
        with pytest.raises(Invalid) as caught:
            ServiceDefinition("web", **bad)  # type: ignore[arg-type]
        assert caught.value.field == field, bad
    with pytest.raises(Invalid, match="letter"):
        ServiceDefinition("123")


def test_dependencies_come_first_and_a_cycle_is_named() -> None:
    defs = [
        ServiceDefinition("c", depends_on=("b",)),
        ServiceDefinition("a"),
        ServiceDefinition("b", depends_on=("a", "elsewhere")),
        ServiceDefinition("z", depends_on=("a",)),
    ]
    assert [d.name for d in dependency_order(defs)] == ["a", "b", "c", "z"]
    with pytest.raises(Invalid, match=r"a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c"):
        dependency_order([*defs[1:3], ServiceDefinition("a", depends_on=("c",)), defs[0]])
    edges = {"c": ["b"], "b": ["a"], "a": []}
    assert closure("c", edges) == ["c", "b", "a"]


def test_instance_keys_and_texts() -> None:
    assert parse_instance_key(instance_key("web.x", 3)) == ("web.x", 3)
    assert parse_instance_key("service:web#") is None and parse_instance_key("other") is None
    assert message_text("ulogd", ok=True, word="Start") == "ULOGD-I-Start"
    assert message_text("ssh", ok=False, word="Exit") == "SSH-E-Exit"
    assert [startup_percentage(3, n) for n in range(4)] == [0, 33, 67, 100]
    assert startup_percentage(0, 0) == 100


def test_an_app_declares_python_and_command_services_as_job_types() -> None:
    app = App("site")

    @app.service(name="site.cache", ready="http://127.0.0.1:1/", depends_on=["site.db"])
    def cache(ctx: object) -> None:
        """Serves the cache."""

    db = app.command_service(
        "site.db",
        [sys.executable, "-c", "pass"],
        reload_signal="SIGHUP",
        instances=2,
        ready=["true"],
    )
    assert [s.name for s in app.services()] == ["site.cache", "site.db"]
    assert app.service_definition("site.db") == db and db.app == "site"
    types = {d.name: d for d in app.definitions()}
    assert types["site.cache"].kind is TypeKind.PYTHON and types["site.db"].kind is TypeKind.COMMAND
    assert all(
        t.max_tries == 1 and t.timeout is None and "service" in t.tags for t in types.values()
    )
    assert types["site.cache"].description == "Serves the cache."
    assert app.function("site.cache") is cache
    with pytest.raises(Duplicate):
        app.command_service("site.db", ["true"])
    with pytest.raises(Invalid, match="shell"):
        app.command_service("site.sh", "echo hi")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="parentheses"):
        app.service(cache)  # type: ignore[arg-type]
