"""The App: where an application declares its job types, in Python.

```python
app = App("demo")

@app.job(name="demo.sleep", timeout=60)
def sleep(ctx, seconds: float = 3.0) -> dict: ...

app.command("demo.echo", ["echo", "${message}"])
```

An App only collects definitions; a worker registers them in the store and runs them
(:mod:`jobyard.worker`). ``load_app("module:attr")`` finds one by name, as ``jobyard worker --app``
does.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from jobyard.appservices import ServiceDeclarations
from jobyard.core.backoff import Backoff
from jobyard.core.errors import Duplicate, Invalid, NotFound
from jobyard.core.models import NAME_RE, TypeDefinition, TypeKind, check_name
from jobyard.core.processes import app_guid
from jobyard.core.services import ServiceDefinition

F = TypeVar("F", bound=Callable[..., Any])
BackoffOption = Backoff | float | Mapping[str, float]


class App(ServiceDeclarations):
    """A named set of job types: Python functions and command lines; and services."""

    def __init__(self, name: str) -> None:
        self.name = check_name(name, "app")
        self._definitions: dict[str, TypeDefinition] = {}  # in registration order
        self._functions: dict[str, Callable[..., Any]] = {}
        self._services: dict[str, ServiceDefinition] = {}  # @app.service, app.command_service

    @property
    def guid(self) -> str:
        """The app's stable guid (the same in every database)."""
        return app_guid(self.name)

    def __repr__(self) -> str:
        return f"App({self.name!r}, types={list(self._definitions)})"

    @overload
    def job(self, name: F, /) -> F: ...

    @overload
    def job(
        self,
        name: str | None = None,
        *,
        queue: str = "default",
        priority: int = 100,
        timeout: float | None = None,
        max_tries: int = 3,
        backoff: BackoffOption = 5.0,
        cpus: float = 0,
        mem: float = 0,
        tags: Iterable[str] = (),
        description: str = "",
        disk: float = 0,
        concurrency: int | None = None,
    ) -> Callable[[F], F]: ...

    def job(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        queue: str = "default",
        priority: int = 100,
        timeout: float | None = None,
        max_tries: int = 3,
        backoff: BackoffOption = 5.0,
        cpus: float = 0,
        mem: float = 0,
        tags: Iterable[str] = (),
        description: str = "",
        disk: float = 0,
        concurrency: int | None = None,
    ) -> Any:
        """Register a function (plain or ``async def``) as a Python job type.

        Used as ``@app.job(...)`` or bare ``@app.job``. The name defaults to
        ``"<module>.<qualname>"``, the description to the first line of the docstring.
        ``cpus``, ``mem`` and ``disk`` (MiB) are what each job needs of its worker;
        ``concurrency`` is how many of its jobs may run at once, cluster-wide (None: no limit).
        """

        def register(function: F) -> F:
            if not callable(function):
                raise Invalid("@app.job decorates a function", field="function")
            module = getattr(function, "__module__", None) or "__main__"
            qualname = getattr(function, "__qualname__", None) or repr(function)
            doc = (inspect.getdoc(function) or "").strip().splitlines()
            type_name = name if isinstance(name, str) else f"{module}.{qualname}"
            if not isinstance(name, str) and not NAME_RE.match(type_name):
                raise Invalid(
                    f"{type_name!r} cannot name a job type: give one, @app.job(name=...)",
                    field="name",
                )
            definition = TypeDefinition(
                name=type_name,
                kind=TypeKind.PYTHON,
                target=f"{module}:{qualname}",
                queue=queue,
                priority=priority,
                timeout=timeout,
                max_tries=max_tries,
                backoff=Backoff.parse(backoff),
                cpus=float(cpus),
                mem=float(mem),
                tags=_tags(tags),
                description=description or (doc[0] if doc else ""),
                disk=float(disk),
                concurrency=concurrency,
            )
            self._add(definition)
            self._functions[definition.name] = function
            return function

        if callable(name):  # bare @app.job
            function, name = name, None
            return register(function)
        return register

    def command(
        self,
        name: str,
        argv: Sequence[str],
        *,
        queue: str = "default",
        priority: int = 100,
        timeout: float | None = None,
        max_tries: int = 3,
        backoff: BackoffOption = 5.0,
        cpus: float = 0,
        mem: float = 0,
        tags: Iterable[str] = (),
        description: str = "",
        disk: float = 0,
        concurrency: int | None = None,
    ) -> TypeDefinition:
        """Register a command type: an argv list whose ``${name}`` parts come from the job's args.

        It never runs through a shell; ``$${`` stands for a literal ``${``.
        """
        if isinstance(argv, str):
            raise Invalid("a command is a list of arguments, not a shell string", field="command")
        definition = TypeDefinition(
            name=name,
            kind=TypeKind.COMMAND,
            target=tuple(argv),
            queue=queue,
            priority=priority,
            timeout=timeout,
            max_tries=max_tries,
            backoff=Backoff.parse(backoff),
            cpus=float(cpus),
            mem=float(mem),
            tags=_tags(tags),
            description=description,
            disk=float(disk),
            concurrency=concurrency,
        )
        self._add(definition)
        return definition

    def definitions(self) -> list[TypeDefinition]:
        """Every registered type, in the order they were registered."""
        return list(self._definitions.values())

    def definition(self, name: str) -> TypeDefinition:
        try:
            return self._definitions[name]
        except KeyError:
            raise NotFound(f"app {self.name!r} has no job type {name!r}", type=name) from None

    def function(self, name: str) -> Callable[..., Any]:
        """The callable of a Python type."""
        try:
            return self._functions[name]
        except KeyError:
            raise NotFound(
                f"app {self.name!r} has no Python job type {name!r}", type=name
            ) from None

    def _add(self, definition: TypeDefinition) -> None:
        if definition.name in self._definitions:
            raise Duplicate(
                f"job type {definition.name!r} is already defined in app {self.name!r}",
                type=definition.name,
            )
        self._definitions[definition.name] = definition


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise Invalid("tags must be a list of strings", field="tags")
    result = tuple(tags)
    if not all(isinstance(t, str) and t for t in result):
        raise Invalid("tags must be non-empty strings", field="tags")
    return result


def load_app(spec: str) -> App:
    """Import the App named by ``"package.module:attribute"`` (the attribute may be dotted)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise Invalid(f"an app is named 'module:attribute', not {spec!r}", field="app")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise Invalid(
            f"cannot import {module_name!r} for app {spec!r}: {exc}", field="app"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise Invalid(f"{module_name!r} has no attribute {attribute!r}", field="app") from None
    if not isinstance(target, App):
        raise Invalid(f"{spec!r} is a {type(target).__name__}, not a jobyard App", field="app")
    return target
