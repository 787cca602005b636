"""Settings with named, validated defaults, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from jobyard.core.errors import Invalid

DEFAULT_DATABASE_URL = "sqlite:///./jobyard.db"
TEXT = frozenset({"database_url", "secret_key"})  # settings that are text, not positive numbers


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    lease: float = 60.0  # seconds an execution's lease lasts between heartbeats
    heartbeat: float = 1.0  # seconds between a worker's heartbeats (also how fast kills land)
    kill_grace: float = 3.0  # seconds between the graceful signal and SIGKILL
    shutdown_grace: float = 30.0  # seconds a stopping worker lets running jobs finish
    poll: float = 0.5  # longest wait between claim attempts when idle
    # ... while every process announces new work to this one (PostgreSQL LISTEN, SQLite's change
    # counter): an idle worker claims when told, and this often to be safe
    idle_poll: float = 5.0
    event_retention: float = 7 * 86400.0  # seconds events and log lines are kept
    history_retention: float = 30 * 86400.0  # seconds finished jobs are kept
    tracking_retention: float = 1800.0  # seconds a finished job's tracking status stays known
    # signs dashboard session cookies (with each user's password hash); the same on every server
    secret_key: str = field(default="", repr=False)
    session_lifetime: float = 12 * 3600.0  # seconds a dashboard sign-in lasts
    service_interval: float = 0.5  # seconds between rounds of the engine's service duty
    # failed password checks a user name (an address) may have in login_window seconds; past
    # that its sign-ins get 429 until the oldest failure leaves the window (per server process)
    login_failures: float = 10.0
    login_failures_per_address: float = 50.0
    login_window: float = 300.0
    sse_per_user: float = 20.0  # live event streams one user may hold open on one server

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in TEXT and not value > 0:
                raise Invalid(f"{f.name} must be a positive number", field=f.name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """``JOBYARD_<FIELD>`` variables, then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"JOBYARD_{f.name.upper()}")
            if raw is None:
                continue
            if f.name in TEXT:
                values[f.name] = raw
                continue
            try:
                values[f.name] = float(raw)
            except ValueError as exc:
                raise Invalid(f"JOBYARD_{f.name.upper()} must be a number", field=f.name) from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
