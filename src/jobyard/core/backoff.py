"""Retry policy: pure functions from tries and error to the next step.

Two kinds of backoff: jobyard's own exponential one (``base * factor ** (tries - 1)``, capped,
with jitter), and Faktory's (``count ** 4 + 15 + rand(30) * (count + 1)`` seconds, ``count``
being the number of failures before this one), which jobs pushed by Faktory clients keep so that
they retry on the schedule their authors expect.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from jobyard.core.errors import Invalid
from jobyard.core.states import Event

EXPONENTIAL = "exponential"
FAKTORY = "faktory"
KINDS = (EXPONENTIAL, FAKTORY)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``base * factor ** (tries - 1)``, capped, then ± jitter.

    ``kind="faktory"`` uses Faktory's formula instead, and base, factor, max and jitter do not
    apply (Faktory caps nothing: the 25th retry waits about 4 days).
    """

    base: float = 5.0  # seconds before the second try
    factor: float = 2.0  # growth per try
    max: float = 3600.0  # never wait longer than this
    jitter: float = 0.1  # fraction of the delay added or removed at random
    kind: str = EXPONENTIAL  # "exponential", or "faktory" for Faktory's formula

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise Invalid(f"backoff.kind is one of {', '.join(KINDS)}", field="backoff.kind")
        for name in ("base", "factor", "max", "jitter"):
            if not math.isfinite(getattr(self, name)):
                raise Invalid(f"backoff.{name} must be a finite number", field=f"backoff.{name}")
        for name in ("base", "max", "jitter"):
            if getattr(self, name) < 0:
                raise Invalid(f"backoff.{name} must be >= 0", field=f"backoff.{name}")
        if self.factor < 1:
            raise Invalid("backoff.factor must be >= 1", field="backoff.factor")
        if self.jitter > 1:
            raise Invalid("backoff.jitter must be <= 1", field="backoff.jitter")

    def delay(self, tries: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``tries``-th failed attempt."""
        if self.kind == FAKTORY:
            return faktory_delay(max(tries - 1, 0), rng)
        raw = min(self.base * self.factor ** max(tries - 1, 0), self.max)
        if self.jitter == 0 or raw == 0:
            return raw
        spread = raw * self.jitter
        return max(0.0, raw + (rng or random).uniform(-spread, spread))

    def to_dict(self) -> dict[str, float | str]:
        d: dict[str, float | str] = {
            "base": self.base,
            "factor": self.factor,
            "max": self.max,
            "jitter": self.jitter,
        }
        if self.kind != EXPONENTIAL:  # stored definitions from before kinds existed stay equal
            d["kind"] = self.kind
        return d

    @classmethod
    def parse(cls, value: object) -> Backoff:
        """Accept a Backoff, a number of seconds (the base) or a mapping of its fields."""
        if isinstance(value, Backoff):
            return value
        if isinstance(value, bool):
            raise Invalid("backoff must be seconds or an object", field="backoff")
        if isinstance(value, int | float):
            return cls(base=float(value))
        if isinstance(value, dict):
            unknown = set(value) - {"base", "factor", "max", "jitter", "kind"}
            if unknown:
                raise Invalid(f"unknown backoff option {sorted(unknown)[0]!r}", field="backoff")
            numbers = {k: v for k, v in value.items() if k != "kind"}
            kind = value.get("kind", EXPONENTIAL)
            if not isinstance(kind, str):
                raise Invalid(f"backoff.kind is one of {', '.join(KINDS)}", field="backoff.kind")
            try:
                return cls(**{k: float(v) for k, v in numbers.items()}, kind=kind)
            except (TypeError, ValueError) as exc:
                raise Invalid(f"backoff values must be numbers: {exc}", field="backoff") from exc
        raise Invalid("backoff must be seconds or an object", field="backoff")


def faktory_delay(count: int, rng: random.Random | None = None) -> float:
    """Faktory's retry delay after a failure that had ``count`` failures before it (from 0).

    ``count ** 4 + 15 + rand(30) * (count + 1)`` seconds (Faktory ``manager/retry.go``): 15 to
    44 s after the first failure, about 4 days after the 25th.
    """
    count = max(count, 0)
    return float(count**4 + 15 + (rng or random).randrange(30) * (count + 1))


@dataclass(frozen=True, slots=True)
class RetryDecision:
    event: Event  # RETRY or FAIL
    run_at: float | None  # when the retry may run; None when failing


def after_failure(
    *,
    tries: int,
    max_tries: int,
    retryable: bool,
    backoff: Backoff,
    now: float,
    rng: random.Random | None = None,
) -> RetryDecision:
    """What happens to a job whose ``tries``-th attempt failed."""
    if not retryable or tries >= max_tries:
        return RetryDecision(Event.FAIL, None)
    return RetryDecision(Event.RETRY, now + backoff.delay(tries, rng))
