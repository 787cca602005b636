"""What every engine duty is: a name, an interval, and a run_once() that tests call directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from jobyard.core.errors import Invalid


class Duty(Protocol):
    name: str  # in logs, and the key of its schedule on the engine

    @property
    def interval(self) -> float:
        """Seconds to the next run on the leader; read after each run, so it may change."""
        ...

    def run_once(self) -> int:
        """Do one round of work; returns how many items it handled."""
        ...


def check_positive(duty: str, **values: float) -> None:
    """A config's numbers must all be positive; Invalid names the first that is not."""
    for name, value in values.items():
        if not value > 0:
            raise Invalid(f"{duty} {name} must be positive", field=f"{duty}.{name}")


def in_batches(step: Callable[[int], int], batch: int) -> int:
    """Run ``step(batch)`` until a round handles less than a full batch; the total handled."""
    total = 0
    while True:
        handled = step(batch)
        total += handled
        if handled < batch:
            return total


def wait_until(moment: float | None, now: float, *, shortest: float, longest: float) -> float:
    """Seconds a duty sleeps before its next round: until ``moment`` (when its next work is due;
    None when none waits), never less than ``shortest`` nor more than ``longest``. ``longest``
    bounds how late the duty sees work that another process made without telling it."""
    if moment is None:
        return longest
    return min(longest, max(shortest, moment - now))
