"""How an App declares services: ``@app.service(...)`` and ``app.command_service(...)``.

```python
@app.service(name="web.cache", ready="http://127.0.0.1:8001/health", depends_on=["web.db"])
def cache(ctx) -> None:
    serve_forever(stop=lambda: ctx.cancelled)

app.command_service("web.db", ["postgres", "-D", "${data}"], args={"data": "/srv/pg"},
                    ready=["pg_isready"], reload_signal="SIGHUP")
```

A service is also a job type of the same name (one attempt per start: the restart policy, not
job retries, brings it back), so the worker runs its instances like any job. Mixed into
:class:`jobyard.app.App`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from jobyard.core.backoff import Backoff
from jobyard.core.errors import Invalid, NotFound
from jobyard.core.models import JSON, NAME_RE, TypeDefinition, TypeKind
from jobyard.core.services import (
    DEFAULT_BACKOFF,
    SERVICE_TAG,
    Readiness,
    RestartPolicy,
    ServiceDefinition,
)

F = TypeVar("F", bound=Callable[..., Any])
ReadyOption = Readiness | float | str | Sequence[str] | Mapping[str, Any]
BackoffOption = Backoff | float | Mapping[str, float]


class ServiceDeclarations:
    name: str
    _services: dict[str, ServiceDefinition]
    _functions: dict[str, Callable[..., Any]]

    if TYPE_CHECKING:  # provided by App, which this is mixed into

        def _add(self, definition: TypeDefinition) -> None: ...

    def service(
        self,
        name: str | None = None,
        *,
        queue: str = "default",
        restart: RestartPolicy | str = RestartPolicy.ALWAYS,
        backoff: BackoffOption = DEFAULT_BACKOFF,
        ready: ReadyOption = 1.0,
        depends_on: Iterable[str] = (),
        instances: int = 1,
        autostart: bool = True,
        args: JSON = None,
        cpus: float = 0,
        mem: float = 0,
        tags: Iterable[str] = (),
        description: str = "",
    ) -> Callable[[F], F]:
        """Declare a function that runs as long as its service should, as a Python service.

        It is called like a job, ``function(ctx, **args)``; ``ctx.cancelled`` turns true when
        the service is stopped (the process is killed after the grace period). ``ready``: seconds
        up, an URL to probe, a probe command, or ``{"after"|"url"|"command", "interval",
        "timeout"}``. The name defaults to ``"<module>.<qualname>"``.
        """

        def register(function: F) -> F:
            if not callable(function):
                raise Invalid("@app.service decorates a function", field="function")
            module = getattr(function, "__module__", None) or "__main__"
            qualname = getattr(function, "__qualname__", None) or repr(function)
            service_name = name if isinstance(name, str) else f"{module}.{qualname}"
            if not isinstance(name, str) and not NAME_RE.match(service_name):
                raise Invalid(
                    f"{service_name!r} cannot name a service: give one, @app.service(name=...)",
                    field="name",
                )
            doc = (inspect.getdoc(function) or "").strip().splitlines()
            self._declare(
                TypeKind.PYTHON, service_name, f"{module}:{qualname}", queue=queue,
                restart=restart, backoff=backoff, ready=ready, depends_on=depends_on,
                instances=instances, autostart=autostart, args=args, reload_signal=None,
                cpus=cpus, mem=mem, tags=tags,
                description=description or (doc[0] if doc else ""),
            )  # fmt: skip
            self._functions[service_name] = function
            return function

        if callable(name):
            raise Invalid("use @app.service(...) with parentheses", field="name")
        return register

    def command_service(
        self,
        name: str,
        argv: Sequence[str],
        *,
        queue: str = "default",
        restart: RestartPolicy | str = RestartPolicy.ALWAYS,
        backoff: BackoffOption = DEFAULT_BACKOFF,
        ready: ReadyOption = 1.0,
        depends_on: Iterable[str] = (),
        instances: int = 1,
        autostart: bool = True,
        args: JSON = None,
        reload_signal: str | None = None,
        cpus: float = 0,
        mem: float = 0,
        tags: Iterable[str] = (),
        description: str = "",
    ) -> ServiceDefinition:
        """Declare a command line (argv, ``${name}`` from ``args``, never a shell) as a service.

        ``reload_signal`` (e.g. ``"SIGHUP"``): what ``reload`` sends to its process group;
        without one, reload restarts it.
        """
        if isinstance(argv, str):
            raise Invalid("a command is a list of arguments, not a shell string", field="command")
        return self._declare(
            TypeKind.COMMAND, name, tuple(argv), queue=queue, restart=restart, backoff=backoff,
            ready=ready, depends_on=depends_on, instances=instances, autostart=autostart,
            args=args, reload_signal=reload_signal, cpus=cpus, mem=mem, tags=tags,
            description=description,
        )  # fmt: skip

    def _declare(
        self,
        kind: TypeKind,
        name: str,
        target: str | tuple[str, ...],
        *,
        queue: str,
        restart: RestartPolicy | str,
        backoff: BackoffOption,
        ready: ReadyOption,
        depends_on: Iterable[str],
        instances: int,
        autostart: bool,
        args: JSON,
        reload_signal: str | None,
        cpus: float,
        mem: float,
        tags: Iterable[str],
        description: str,
    ) -> ServiceDefinition:
        if isinstance(depends_on, str):
            raise Invalid("depends_on is a list of service names", field="depends_on")
        if isinstance(tags, str):
            raise Invalid("tags must be a list of strings", field="tags")
        service = ServiceDefinition(
            name=name,
            app=self.name,
            restart=restart,  # type: ignore[arg-type]  # checked (Invalid) by the definition
            backoff=Backoff.parse(backoff),
            ready=Readiness.parse(ready),
            depends_on=tuple(depends_on),
            instances=instances,
            autostart=autostart,
            args={} if args is None else args,
            reload_signal=reload_signal,
            description=description,
        )
        extra = tuple(t for t in tags if t != SERVICE_TAG)
        self._add(
            TypeDefinition(
                name=name,
                kind=kind,
                target=target,
                queue=queue,
                timeout=None,  # a service runs until it is stopped
                max_tries=1,  # its restart policy brings it back, not job retries
                cpus=float(cpus),
                mem=float(mem),
                tags=(SERVICE_TAG, *extra),
                description=description,
            )
        )
        self._services[name] = service
        return service

    def services(self) -> list[ServiceDefinition]:
        """Every declared service, in the order they were declared."""
        return list(self._services.values())

    def service_definition(self, name: str) -> ServiceDefinition:
        try:
            return self._services[name]
        except KeyError:
            raise NotFound(f"app {self.name!r} has no service {name!r}", service=name) from None
