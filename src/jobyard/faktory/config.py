"""The listener's settings from the environment (the password never on a command line)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from jobyard.core.errors import Invalid
from jobyard.faktory.service import FaktoryConfig


def config_from_env(env: Mapping[str, str] | None = None) -> FaktoryConfig:
    """``JOBYARD_FAKTORY_PASSWORD`` (else Faktory's own ``FAKTORY_PASSWORD``),
    ``JOBYARD_FAKTORY_RESERVE_MIN``: the shortest reservation in seconds (Faktory's 60), and
    ``JOBYARD_FAKTORY_HANDSHAKE_FAILURES``: wrong passwords per address in 300 s (10)."""
    env = os.environ if env is None else env
    password = env.get("JOBYARD_FAKTORY_PASSWORD") or env.get("FAKTORY_PASSWORD") or None
    failures = env.get("JOBYARD_FAKTORY_HANDSHAKE_FAILURES")
    if failures is not None and not (failures.isdigit() and int(failures) > 0):
        raise Invalid(
            "JOBYARD_FAKTORY_HANDSHAKE_FAILURES must be a whole number of at least 1",
            field="handshake_failures",
        )
    values: dict[str, float] = {}
    raw = env.get("JOBYARD_FAKTORY_RESERVE_MIN")
    if raw:
        try:
            values["reserve_min"] = float(raw)
        except ValueError as exc:
            raise Invalid(
                "JOBYARD_FAKTORY_RESERVE_MIN must be seconds", field="reserve_min"
            ) from exc
        if not values["reserve_min"] > 0:
            raise Invalid("JOBYARD_FAKTORY_RESERVE_MIN must be positive", field="reserve_min")
    config = FaktoryConfig(password=password)
    if "reserve_min" in values:
        config = replace(config, reserve_min=values["reserve_min"])
    if failures is not None:
        config = replace(config, handshake_failures=int(failures))
    return config
