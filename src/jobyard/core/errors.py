"""Every error jobyard raises on purpose.

    JobyardError
    ├── NotFound            404  no job, type or queue by that name or id
    ├── Invalid             422  bad input: names the field at fault
    ├── Duplicate           409  a unique key or external id is already taken
    ├── InvalidTransition   409  the job is not in a state where the operation applies
    ├── LeaseLost           409  a stale worker named an execution that is no longer current
    ├── Unauthorized        401  no credentials, or wrong ones
    ├── Forbidden           403  signed in, but the role does not allow it
    ├── StoreUnavailable    503  the database cannot be reached
    └── Unreachable         503  (client side) the server cannot be reached

Each class's docstring is its default message; ``code`` is stable and the HTTP API maps it to a
status. Errors raised inside job code are the job's business and are recorded, not raised here;
:class:`NonRetryable` is the one exception class job code raises to say "do not try again".
"""

from __future__ import annotations

from typing import Any


class JobyardError(Exception):
    """Something went wrong in jobyard."""

    code = "error"
    http_status = 500

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip().splitlines()[0]
        self.details = details
        super().__init__(self.message)


class NotFound(JobyardError):
    """Not found."""

    code = "not_found"
    http_status = 404


class Invalid(JobyardError):
    """Invalid input."""

    code = "invalid"
    http_status = 422

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any):
        if field is not None:
            details["field"] = field
        super().__init__(message, **details)
        self.field = field


class Duplicate(JobyardError):
    """Already exists."""

    code = "duplicate"
    http_status = 409


class InvalidTransition(JobyardError):
    """The job is not in a state where this operation applies."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, job_id: int, status: str, operation: str) -> None:
        super().__init__(
            f"job {job_id} is {status}: cannot {operation} it",
            job_id=job_id,
            status=status,
            operation=operation,
        )
        self.job_id = job_id
        self.status = status
        self.operation = operation


class LeaseLost(JobyardError):
    """The execution no longer holds the job's lease."""

    code = "lease_lost"
    http_status = 409


class Unauthorized(JobyardError):
    """Authentication required: HTTP Basic or a Bearer token."""

    code = "unauthorized"
    http_status = 401


class Forbidden(JobyardError):
    """Your role does not allow this."""

    code = "forbidden"
    http_status = 403


class StoreUnavailable(JobyardError):
    """The database cannot be reached."""

    code = "store_unavailable"
    http_status = 503


class Unreachable(JobyardError):
    """The jobyard server cannot be reached."""

    code = "unreachable"
    http_status = 503


class NonRetryable(Exception):
    """Raised by job code: the job fails now, whatever tries it has left."""


class JobCancelled(BaseException):
    """Raised inside a running job when a person kills it (the graceful signal).

    A ``BaseException`` like ``KeyboardInterrupt`` so that a broad ``except Exception`` in job code
    does not swallow it; catch it by name to clean up before the grace period ends.
    """
