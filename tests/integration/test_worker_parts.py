"""The worker's pure parts: the App facade, argv substitution, line capture and markers."""

from __future__ import annotations

import pytest
from worker_harness import FAST

from jobyard.app import App, load_app
from jobyard.core.backoff import Backoff
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import TypeKind
from jobyard.worker import Worker
from jobyard.worker.capture import MAX_LINE, ChildStream, LineSplitter, marker
from jobyard.worker.executors.command import CommandError, substitute


def test_job_decorator_records_a_python_type() -> None:
    app = App("t")

    @app.job(name="t.resize", queue="images", priority=5, timeout=60, max_tries=4, backoff=2)
    def resize(ctx: object, path: str) -> None:
        """Resize an image.

        More words."""

    [definition] = app.definitions()
    assert definition.kind is TypeKind.PYTHON
    assert (
        definition.target == f"{__name__}:test_job_decorator_records_a_python_type.<locals>.resize"
    )
    assert (definition.queue, definition.priority, definition.timeout) == ("images", 5, 60)
    assert definition.max_tries == 4 and definition.backoff == Backoff(base=2.0)
    assert definition.description == "Resize an image."
    assert app.function("t.resize") is resize


def plain() -> None: ...


async def coro() -> None: ...


def test_default_name_and_bare_decorator() -> None:
    app = App("t")
    assert app.job(plain) is plain
    app.job()(coro)
    names = [d.name for d in app.definitions()]
    assert names == [f"{__name__}.plain", f"{__name__}.coro"]
    assert app.definitions()[0].target == f"{__name__}:plain"

    def local() -> None: ...

    with pytest.raises(Invalid, match="give one"):
        app.job(local)


def test_command_type_and_bad_definitions() -> None:
    app = App("t")
    definition = app.command("t.echo", ["echo", "${message}"], timeout=5, tags=("x",))
    assert definition.kind is TypeKind.COMMAND and definition.target == ("echo", "${message}")
    assert app.definitions() == [definition]
    with pytest.raises(Duplicate):
        app.command("t.echo", ["true"])
    with pytest.raises(Invalid, match="not a shell string"):
        app.command("t.shell", "echo hi")  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        app.command("t.empty", [])
    with pytest.raises(Invalid):
        app.command("bad name", ["true"])
    with pytest.raises(NotFound):
        app.function("t.echo")  # a command has no function


def test_load_app() -> None:
    import sample

    assert load_app("sample:app") is sample.app
    for spec, words in [
        ("sample", "module:attribute"),
        ("no_such_module_here:app", "cannot import"),
        ("sample:nothing", "no attribute"),
        ("sample:add", "not a jobyard App"),
    ]:
        with pytest.raises(Invalid, match=words):
            load_app(spec)


def test_worker_refuses_bad_options(tmp_path: object) -> None:
    import sample

    store: object = None
    for options in [{"queues": []}, {"queues": "default"}, {"concurrency": 0}]:
        with pytest.raises(Invalid):
            Worker(store, sample.app, settings=FAST, **options)  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="no job types"):
        Worker(store, App("empty"), settings=FAST)  # type: ignore[arg-type]


def test_substitute() -> None:
    argv = ["cp", "${src}", "--n=${n}", "${flags}", "$${src}", "${ok}"]
    args = {"src": "a b;$(x)", "n": 3, "flags": [1], "ok": True}
    assert substitute(argv, args) == ["cp", "a b;$(x)", "--n=3", "[1]", "${src}", "true"]
    with pytest.raises(CommandError, match=r"\$\{src\}.*no 'src'.*they have: n") as missing:
        substitute(["${src}"], {"n": 1})
    assert not missing.value.retryable
    with pytest.raises(CommandError, match="not an object"):
        substitute(["${src}"], ["a"])
    assert substitute(["plain"], ["a"]) == ["plain"]


def test_line_splitter_keeps_partial_lines_and_cuts_long_ones() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"c\nde\n\nf") == [b"abc", b"de", b""]
    fits = b"x" * (MAX_LINE - 1)
    assert splitter.feed(fits + b"\n") == [b"f" + fits]
    long = b"x" * 1_000_000
    [cut] = splitter.feed(long + b"\n")  # start and end kept, the middle counted
    assert len(cut) <= MAX_LINE and b"bytes cut ...]" in cut and cut.startswith(b"x" * 1000)
    assert splitter.feed(b"tail") == []
    assert splitter.tail() == b"tail"
    assert splitter.tail() is None


def test_child_stream_attributes_lines_by_markers() -> None:
    stream = ChildStream("stdout", "tok")
    data = (
        b"stray before\n"
        + marker("tok", "begin", 7)
        + b"one\ntwo without newline"
        + marker("tok", "end", 7)
        + b"stray after\n"
        + marker("other", "begin", 8)  # another token: job output that looks like a marker
        + marker("tok", "begin", 8)
        + b"three\n"
    )
    assert stream.feed(data) == [
        (None, b"stray before"),
        (7, b"one"),
        (7, b"two without newline"),
        (None, b"stray after"),
        (None, marker("other", "begin", 8).rstrip(b"\n")),
        (8, b"three"),
    ]
    assert stream.ended == {7}
    assert stream.close() == []
    assert stream.ended == {7, 8}  # end of file ends the current execution's stream too
